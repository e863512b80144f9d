"""Taking tickets within limits: per kiosk token, per client address, per phone session; 429 and one alert."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from queue_server.core import config

from ...conftest import Harness  # type: ignore[import-not-found]
from .test_ws import ws_client

KIOSK_HALL = {"X-Forwarded-For": "10.0.5.11"}
OTHER_HALL = {"X-Forwarded-For": "10.0.5.12"}


async def limited(make_server: Any, hall_config: config.HallConfig, **limits: Any) -> Harness:
    settings = replace(config.Limits(), kiosk_per_minute=6, kiosk_burst=3, address_per_minute=6, address_burst=4,
                       phone_per_hour=6, phone_burst=2)
    return await make_server(cfg=replace(hall_config, limits=replace(settings, **limits)))


def rate_alerts(server: Harness) -> list[dict[str, Any]]:
    return [d.data for d in server.hall.state.docs.get("alert", {}).values() if d.data["type"] == "rate_limit"]


async def test_one_kiosk_token_cannot_empty_the_day(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await limited(make_server, hall_config)
    k1 = server.client(await server.token("kiosk", kiosk="k1"))
    k2 = server.client(await server.token("kiosk", kiosk="k2"))
    for _ in range(3):
        assert (await k1.post("/api/v1/tickets", {"service": "pension"}, headers=KIOSK_HALL))[0] == 201
    for _ in range(20):  # a script hammering the API: every try refused, nothing issued
        status, err = await k1.post("/api/v1/tickets", {"service": "pension"}, headers=KIOSK_HALL)
        assert status == 429 and err["error"]["code"] == "rate_limited"
    assert k1.last_headers["Retry-After"] == "10"  # 6 a minute: the next ticket in 10 s
    assert len(server.hall.state.tickets) == 3
    # The kiosk beside it serves citizens as usual.
    assert (await k2.post("/api/v1/tickets", {"service": "pension"}, headers=OTHER_HALL))[0] == 201
    [alert] = rate_alerts(server)  # once per source, not once per refused request
    assert alert["source"] == "kiosk" and alert["kiosk"] == "k1" and alert["level"] == "orange"
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    status, board = await boss.get("/api/v1/alerts")
    assert status == 200 and any("取号过于频繁" in a["message"] for a in board["alerts"])
    server.hall.clock.advance(10)  # type: ignore[attr-defined]
    assert (await k1.post("/api/v1/tickets", {"service": "pension"}, headers=KIOSK_HALL))[0] == 201


async def test_many_tokens_from_one_address_share_its_limit(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await limited(make_server, hall_config)
    tokens = [server.client(await server.token("kiosk", kiosk=f"k{i}")) for i in range(3)]
    statuses = [(await tokens[i % 3].post("/api/v1/tickets", {"service": "pension"}, headers=KIOSK_HALL))[0]
                for i in range(6)]
    assert statuses == [201] * 4 + [429] * 2
    assert [a["source"] for a in rate_alerts(server)] == ["address"]
    assert rate_alerts(server)[0]["key"] == "10.0.5.11"


async def test_a_retried_request_is_not_another_ticket(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await limited(make_server, hall_config)
    k1 = server.client(await server.token("kiosk", kiosk="k1"))
    first = None
    for i in range(3):
        status, t = await k1.post("/api/v1/tickets", {"service": "pension"}, headers={"Idempotency-Key": f"k1-{i}"})
        first = first or t
    status, again = await k1.post("/api/v1/tickets", {"service": "pension"}, headers={"Idempotency-Key": "k1-0"})
    assert status == 201 and again["id"] == first["id"]
    assert (await k1.post("/api/v1/tickets", {"service": "pension"}, headers={"Idempotency-Key": "k1-9"}))[0] == 429


async def test_phone_tickets_are_limited_per_phone_session(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await limited(make_server, hall_config)
    gateway = server.client(await server.token("kiosk", kiosk="wx"))

    async def take(session: str | None) -> int:
        headers = {"X-Phone-Session": session} if session else {}
        return (await gateway.post("/api/v1/tickets", {"service": "pension", "channel": "phone"}, headers=headers))[0]

    assert [await take("openid-aaaa-1") for _ in range(3)] == [201, 201, 429]
    assert [await take("openid-bbbb-2") for _ in range(2)] == [201, 201]  # another phone, through the same gateway
    assert [await take(None) for _ in range(3)] == [201, 201, 429]  # without a session, all such phones are one
    alerts = rate_alerts(server)
    assert [a["source"] for a in alerts] == ["phone", "phone"]
    assert not any("openid" in str(a) for a in alerts)  # only a hash of the session is kept


async def test_over_the_socket_the_same_limit_and_error(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await limited(make_server, hall_config, kiosk_burst=1)
    kiosk = await ws_client(server)
    await kiosk.connect(["kiosk:k1"], token=await server.token("kiosk", kiosk="k1"))
    results = []
    for n in (1, 2):
        await kiosk.send({"type": "command", "id": n, "name": "issue", "service": "pension"})
        results.append(await kiosk.next("result"))
    assert results[0]["ok"] is True
    assert results[1]["ok"] is False and results[1]["error"]["code"] == "rate_limited"
    assert results[1]["error"]["retry_after"] == 10
