"""Two server processes' worth of Halls on one Redis: two guides, one on each, race to take a request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from queue_server.core import config

from ...conftest import HALL_FILE, Harness  # type: ignore[import-not-found]
from .test_assist import guide


@pytest.fixture
def hall_config(redis_store_url: str) -> config.HallConfig:
    return config.load(HALL_FILE, store_url=redis_store_url)


async def test_guides_on_two_instances_racing_to_accept_one_wins(make_server: Any) -> None:
    first: Harness = await make_server()
    second: Harness = await make_server()
    li = await guide(first, "li", "李导办")
    await first.person("wang", "guide", name="王帮办")
    wang_there = second.client()
    await wang_there.login("wang")  # the session lives in Redis: any instance knows it
    kiosk = first.client(await first.token("kiosk", kiosk="k1"))
    _, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    _, asked = await kiosk.post("/api/v1/assist", {"token": t["token"]})
    await second.hall.wait_dispatched(first.hall.state.seq)  # the other instance has seen the request
    for _ in range(5):
        results = await asyncio.gather(li.post(f"/api/v1/assist/{asked['id']}/accept"),
                                       wang_there.post(f"/api/v1/assist/{asked['id']}/accept"))
        assert sorted(s for s, _ in results) == [200, 409], results
        winner = next(b for s, b in results if s == 200)
        holder = li if winner["guide_name"] == "李导办" else wang_there
        assert (await holder.post(f"/api/v1/assist/{asked['id']}/release"))[0] == 200
        await first.hall.wait_dispatched(second.hall.state.seq)
        await second.hall.wait_dispatched(first.hall.state.seq)
