"""What one WebSocket may cost the hall: topics, tickets it follows, frames it sends."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import aiohttp

from queue_server.service.limits import Rate
from queue_server.web.app import HUB_KEY
from queue_server.web.hub import MAX_TOPICS

from ...conftest import Harness  # type: ignore[import-not-found]
from .test_ws import TIMEOUT, ws_client


def fake_tickets(n: int) -> list[str]:
    return [f"ticket:{secrets.token_urlsafe(18)}" for _ in range(n)]


async def test_topics_are_capped_per_connection_hello_and_subscribes_together(server: Harness) -> None:
    c = await ws_client(server)
    await c.connect(["hall", *fake_tickets(MAX_TOPICS - 51)])
    await c.next("snapshot")
    await c.send({"type": "subscribe", "topics": fake_tickets(51)})
    err = await c.next("error")
    assert err["error"]["code"] == "too_many_topics"
    more = fake_tickets(50)
    await c.send({"type": "subscribe", "topics": more})
    ok = await c.next("subscribed")
    assert ok == {"type": "subscribed", "topics": more, "count": MAX_TOPICS}  # this request's topics, not all 200
    await c.send({"type": "subscribe", "topics": ["hall", more[0]]})  # already held: not counted again
    assert (await c.next("subscribed"))["count"] == MAX_TOPICS
    await c.send({"type": "subscribe", "topics": fake_tickets(1)})
    assert (await c.next("error"))["error"]["code"] == "too_many_topics"
    await c.send({"type": "ping"})
    await c.next("pong")  # the connection lives on


async def test_hello_over_the_limits_is_refused(server: Harness) -> None:
    for topics in (fake_tickets(MAX_TOPICS + 1), ["ticket:" + "x" * 200]):
        async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
            await ws.send_json({"type": "hello", "topics": topics})
            assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["error"]["code"] == "bad_topic"
    c = await ws_client(server)
    await c.connect(["hall"])
    await c.send({"type": "subscribe", "topics": ["ticket:" + "x" * 200]})  # a topic no hall has: not echoed back
    assert (await c.next("error"))["error"]["code"] == "bad_topic"


async def test_unknown_tickets_are_answered_alike_and_followed_by_nobody(server: Harness) -> None:
    kiosk = await server.kiosk()
    _, first = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    hub = server.app[HUB_KEY]
    phone = await ws_client(server)
    await phone.connect([])
    await phone.next("snapshot")
    fake = fake_tickets(1)[0]
    await phone.send({"type": "subscribe", "topics": [fake]})
    unknown = await phone.next("subscribed")
    await phone.send({"type": "subscribe", "topics": [f"ticket:{mine['token']}"]})
    known = await phone.next("subscribed")
    assert {**unknown, "topics": None} == {**known, "topics": None, "count": unknown["count"]}
    assert unknown["topics"] == [fake] and known["count"] == unknown["count"] + 1
    # Only the real ticket is followed; the made-up token takes no place in the routing.
    assert list(hub.following) == [server.hall.state.ticket_by_token(mine["token"]).id]
    assert not any(t.startswith("ticket:") and len(t) > 7 and fake[7:] in t for t in hub.by_topic)
    clerk = await server.clerk_at(15)
    await clerk.post("/api/v1/windows/15/call-next")
    pos = await phone.next("position")
    assert pos["ticket"] == mine["number"]
    await clerk.post("/api/v1/windows/15/finish")
    await clerk.post("/api/v1/windows/15/call-next")
    called = await phone.next("event", "ticket.called")
    assert called["data"]["ticket"]["number"] == mine["number"]
    # Its own ticket's events and positions, nothing of the ticket ahead, nothing for the made-up token.
    about = {m.get("ticket") or m["data"]["ticket"]["number"] for m in phone.seen if m["type"] in ("position", "event")}
    assert about == {mine["number"]} and first["number"] != mine["number"]
    await phone.close()
    await asyncio.wait_for(hub.wait_clients(0), TIMEOUT)
    assert hub.following == {} and hub.awaiting == {} and hub.by_topic == {}


async def test_a_ticket_issued_after_the_hello_is_followed_from_its_issue(server: Harness) -> None:
    """With several processes a phone can reach one before the ticket's event does: it follows it from that event."""
    hub = server.app[HUB_KEY]
    token = server.hall.tracking.token(f"{server.hall.state.day.replace('-', '')}-K001")
    phone = await ws_client(server)
    await phone.connect([f"ticket:{token}"])
    assert "tickets" in (await phone.next("snapshot"))["state"] and not hub.following
    _, t = await (await server.kiosk()).post("/api/v1/tickets", {"service": "pension"})
    assert t["token"] == token
    issued = await phone.next("event", "ticket.issued")
    assert issued["data"]["ticket"]["number"] == "K001"
    await server.clerk_at(15)
    assert (await phone.next("position"))["ticket"] == "K001"
    assert hub.awaiting == {} and len(hub.following) == 1


async def test_positions_go_once_per_followed_ticket_to_each_follower(server: Harness) -> None:
    """Many sockets holding the most topics they may, all made up, add no position work:
    only the tickets somebody really follows are looked at."""
    kiosk = await server.kiosk()
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    hub = server.app[HUB_KEY]
    crowd = []
    for _ in range(3):
        c = await ws_client(server)
        await c.connect(fake_tickets(MAX_TOPICS))
        await c.next("snapshot")
        crowd.append(c)
    phones = []
    for _ in range(2):
        p = await ws_client(server)
        await p.connect([f"ticket:{mine['token']}"])
        await p.next("snapshot")
        phones.append(p)
    assert len(hub.following) == 1 and len(next(iter(hub.following.values()))) == 2
    await server.clerk_at(15)
    for p in phones:
        assert (await p.next("position"))["ticket"] == mine["number"]
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    for c in crowd:
        await c.send({"type": "ping"})
        await c.next("pong")
        assert not any(m["type"] == "position" for m in c.seen)


async def test_a_client_that_floods_frames_is_told_and_closed(make_server: Any) -> None:
    server = await make_server(ws_messages=Rate(per_minute=60, burst=5))
    hub = server.app[HUB_KEY]
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "topics": ["hall"]})
        for _ in range(50):
            await ws.send_json({"type": "ping"})
        seen = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            seen.append(json.loads(msg.data))
        assert seen[-1]["type"] == "error" and seen[-1]["error"]["code"] == "rate_limited"
        assert 5 <= sum(m["type"] == "pong" for m in seen) < 50
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    await asyncio.wait_for(hub.wait_clients(0), TIMEOUT)
    # Other clients are served as before.
    c = await ws_client(server)
    await c.connect(["hall"])
    await c.next("snapshot")
