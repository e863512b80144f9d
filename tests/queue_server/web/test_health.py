"""/healthz and /readyz: alive while the Hall runs; ready only with the store answering and caught up."""

from __future__ import annotations

from typing import Any

from queue_server.core import config
from queue_server.core.clock import ManualClock

from ...conftest import HALL_FILE  # type: ignore[import-not-found]
from ..replay_kit import serve  # type: ignore[import-not-found]


async def test_a_running_server_is_alive_and_ready(server: Any) -> None:
    c = server.client()
    assert await c.get("/healthz") == (200, {"alive": True})
    status, body = await c.get("/readyz")
    assert status == 200, body
    assert body["checks"] == {"state_loaded": True, "store_reachable": True, "caught_up": True}
    assert body["ready"] is True and body["seq"] == server.hall.state.seq


async def test_without_its_redis_a_server_is_alive_but_not_ready(make_redis: Any, clock: ManualClock) -> None:
    redis = make_redis()
    await redis.astart()
    cfg = config.load(HALL_FILE, store_url=f"{redis.url}/0")
    async with serve(cfg, clock) as h:
        c = h.client()
        assert (await c.get("/readyz"))[0] == 200
        redis.kill()
        status, body = await c.get("/readyz")
        assert status == 503 and body["ready"] is False
        assert body["checks"]["state_loaded"] is True
        assert "does not answer" in body["checks"]["store_reachable"]
        assert await c.get("/healthz") == (200, {"alive": True})
        await redis.astart()
        status, body = await c.get("/readyz")
        assert status == 200, body
