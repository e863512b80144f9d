"""The WebSocket hub against a real server: snapshot, replay, live events, commands, bad frames."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

import aiohttp
import aiohttp.web

from queue_server.web.app import HUB_KEY

from ...conftest import Harness  # type: ignore[import-not-found]

TIMEOUT = 10


class Ws:
    """A protocol client for tests: connect, hello, and await the messages expected."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.session = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.seen: list[dict[str, Any]] = []

    async def connect(self, topics: list[str], *, token: str | None = None, since: int | None = None) -> dict[str, Any]:
        self.ws = await self.session.ws_connect(self.harness.ws_url)
        hello: dict[str, Any] = {"type": "hello", "topics": topics}
        if token:
            hello["token"] = token
        if since is not None:
            hello["since"] = since
        await self.ws.send_json(hello)
        return await self.next("welcome")

    async def send(self, message: Any) -> None:
        assert self.ws is not None
        await (self.ws.send_str(message) if isinstance(message, str) else self.ws.send_json(message))

    async def next(self, kind: str | None = None, name: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message of a type (and event name), skipping others."""
        assert self.ws is not None

        async def read() -> dict[str, Any]:
            while True:
                msg = await self.ws.receive()  # type: ignore[union-attr]
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"socket ended: {msg.type} {msg.data!r} {msg.extra!r}")
                data = json.loads(msg.data)
                self.seen.append(data)
                if (kind is None or data["type"] == kind) and (name is None or data.get("name") == name):
                    return data

        return await asyncio.wait_for(read(), timeout)

    async def events_until(self, seq: int) -> list[dict[str, Any]]:
        out = []
        while True:
            msg = await self.next("event")
            out.append(msg)
            if msg["seq"] >= seq:
                return out

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


async def ws_client(harness: Harness) -> Ws:
    client = Ws(harness)
    harness._clients.append(client)  # closed with the harness
    return client


async def test_snapshot_then_live_call(server: Harness) -> None:
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    tv = await ws_client(server)
    welcome = await tv.connect(["hall"])
    snap = await tv.next("snapshot")
    assert snap["seq"] == welcome["seq"] and len(snap["state"]["windows"]) == 40
    assert {s["id"]: s["waiting"] for s in snap["state"]["services"]}["pension"] == 1
    clerk = await server.clerk_at(15)
    await clerk.post("/api/v1/windows/15/call-next")
    called = await tv.next("event", "ticket.called")
    t = called["data"]["ticket"]
    assert (t["number"], t["window"]) == ("K001", 15) and "token" not in t
    assert called["seq"] > snap["seq"] and called["at"].endswith("+08:00")
    assert called["data"]["window"]["clerk_name"] == "clerk15"


async def test_reconnect_with_since_gets_exactly_the_missed_events(server: Harness) -> None:
    watcher = await ws_client(server)
    await server.person("boss", "manager")
    token = await server.token("agent", windows=(15,), kiosk="k1")
    welcome = await watcher.connect(["hall", "kiosk:k1", "window:15"], token=token)
    await watcher.next("snapshot")
    last = welcome["seq"]
    await watcher.close()

    kiosk = await server.kiosk("k1")
    for _ in range(4):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clerk = await server.clerk_at(15)
    await clerk.post("/api/v1/windows/15/call-next")
    await clerk.post("/api/v1/windows/15/finish")
    missed = await server.hall.store.events_since(last)
    assert len(missed) >= 10

    back = await ws_client(server)
    await back.connect(["hall", "kiosk:k1", "window:15"], token=token, since=last)
    got = await back.events_until(missed[-1].seq)
    assert [m["seq"] for m in got] == [e.seq for e in missed]
    assert [m["name"] for m in got] == [e.name for e in missed]
    assert not any(m["type"] == "snapshot" for m in back.seen)
    await clerk.post("/api/v1/windows/15/call-next")  # and it is live afterwards
    live = await back.next("event", "ticket.called")
    assert live["seq"] == missed[-1].seq + 1


async def test_since_older_than_the_ring_gets_a_snapshot(make_server: Any) -> None:
    server = await make_server(ws_ring=5)
    kiosk = await server.kiosk()
    for _ in range(8):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    client = await ws_client(server)
    await client.connect(["hall"], since=1)
    snap = await client.next("snapshot")
    assert {s["id"]: s["waiting"] for s in snap["state"]["services"]}["pension"] == 8
    future = await ws_client(server)
    await future.connect(["hall"], since=10_000)  # a client from before a store reset
    assert (await future.next("snapshot"))["seq"] == server.hall.state.seq


async def _started(app: Any) -> tuple[Harness, aiohttp.web.AppRunner]:
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    return Harness(f"http://127.0.0.1:{port}", app), runner


async def test_after_a_restart_reconnecting_screens_get_the_events_they_missed(hall_config: Any, clock: Any) -> None:
    from queue_server.web.app import make_app

    first, runner = await _started(make_app(hall_config, clock=clock))
    try:
        kiosk = await first.kiosk()
        tv = await ws_client(first)
        await tv.connect(["hall"])
        await tv.next("snapshot")
        for _ in range(6):
            await kiosk.post("/api/v1/tickets", {"service": "pension"})
        issued = [await tv.next("event", "ticket.issued") for _ in range(6)]
    finally:
        await first.close()
        await runner.cleanup()

    again, runner = await _started(make_app(hall_config, clock=clock, ws_ring=8))
    try:
        last = again.hall.last_dispatched
        since = issued[2]["seq"]
        log = await again.hall.store.events_since(since)
        missed = [e.seq for e in log if e.name == "ticket.issued"]  # what a hall screen sees (print jobs go to kiosks)
        assert log[-1].seq == last and len(log) < 8
        # A storm of screens with the same ``since``, and one from long before: the first
        # ones replay from the log, the last one (older than the ring reaches) gets a snapshot.
        screens = [await ws_client(again) for _ in range(3)]
        old = await ws_client(again)
        await asyncio.gather(*(s.connect(["hall"], since=since) for s in screens), old.connect(["hall"], since=1))
        for screen in screens:
            got = await screen.events_until(missed[-1])
            assert [m["seq"] for m in got] == missed
            assert [m["data"]["ticket"]["number"] for m in got if m["name"] == "ticket.issued"] == ["K004", "K005", "K006"]
        assert (await old.next("snapshot"))["seq"] == last
        assert not any(m["type"] == "snapshot" for s in screens for m in s.seen)
        kiosk = await again.kiosk()
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
        for screen in [*screens, old]:  # and live afterwards, with no gap
            assert (await screen.next("event", "ticket.issued"))["seq"] == last + 1
        later = await ws_client(again)  # a replay that reaches back before the restart, joined with live events
        await later.connect(["hall"], since=issued[4]["seq"])
        got = await later.events_until(last + 1)
        assert [m["seq"] for m in got] == [issued[5]["seq"], last + 1]
    finally:
        await again.close()
        await runner.cleanup()


async def test_topics_route_events(server: Harness) -> None:
    kiosk = await server.kiosk("k7")
    social = await ws_client(server)
    await social.connect(["zone:social"])
    await social.next("snapshot")
    printer = await ws_client(server)
    await printer.connect(["kiosk:k7"], token=await server.token("agent", kiosk="k7"))
    await printer.next("snapshot")
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "referral"})  # medical zone
    _, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})  # social zone
    job = await printer.next("event", "print.requested")
    assert job["data"]["ticket"]["token"] == mine["token"] and job["data"]["kiosk"] == "k7"
    issued = await social.next("event", "ticket.issued")
    assert issued["data"]["ticket"]["number"] == t["number"] == "K001"
    assert not any(m.get("data", {}).get("ticket", {}).get("number") == mine["number"] for m in social.seen)


async def test_a_citizen_follows_their_ticket(server: Harness) -> None:
    kiosk = await server.kiosk()
    ahead = [(await kiosk.post("/api/v1/tickets", {"service": "pension"}))[1] for _ in range(2)]
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    phone = await ws_client(server)
    await phone.connect([f"ticket:{mine['token']}"])
    snap = await phone.next("snapshot")
    assert snap["state"]["tickets"][mine["token"]]["ahead"] == 2
    assert snap["state"]["tickets"][mine["token"]]["eta_minutes"] is None  # no window serves pension yet
    clerk = await server.clerk_at(15)
    opened = await phone.next("position")  # a window signing in gives the wait
    # Called after the two visits of the 8-minute prior ahead at the one idle window; uncertain, so also a span.
    assert (opened["ahead"], opened["eta_minutes"], opened["eta_range"]) == (2, 16, [10, 20])
    await clerk.post("/api/v1/windows/15/call-next")
    pos = await phone.next("position")
    assert (pos["ticket"], pos["ahead"]) == (mine["number"], 1)
    await clerk.post("/api/v1/windows/15/finish")  # the queue does not move: its position is told again
    await clerk.post("/api/v1/windows/15/call-next")
    while (pos := await phone.next("position"))["ahead"] == 1:
        pass
    assert pos["ahead"] == 0
    await clerk.post("/api/v1/windows/15/finish")
    await clerk.post("/api/v1/windows/15/call-next")
    called = await phone.next("event", "ticket.called")
    assert called["data"]["ticket"]["number"] == mine["number"] and called["data"]["ticket"]["window"] == 15
    assert not any(m.get("name") == "ticket.called" and m["data"]["ticket"]["number"] == ahead[0]["number"] for m in phone.seen)


async def test_commands_over_the_socket(server: Harness) -> None:
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await server.person("wang", "clerk", staff_no="0777")
    agent = await ws_client(server)
    await agent.connect(["window:16"], token=await server.token("agent", windows=(16,)))
    await agent.next("snapshot")
    await agent.send({"type": "command", "id": 1, "name": "open", "window": 16, "staff_no": "0777"})
    opened = await agent.next("result")
    assert opened["id"] == 1 and opened["ok"] and opened["data"]["clerk_name"] == "wang"
    await agent.send({"type": "command", "id": 2, "name": "call_next", "window": 16})
    result = await agent.next("result")
    assert result["ok"] and result["data"]["number"] == "K001"
    await agent.send({"type": "command", "id": 3, "name": "call_next", "window": 17})
    denied = await agent.next("result")
    assert denied["ok"] is False and denied["error"]["code"] == "forbidden"
    await agent.send({"type": "command", "id": 4, "name": "fly", "window": 16})
    assert (await agent.next("result"))["error"]["code"] == "unknown_command"
    await agent.send({"type": "command", "id": 5, "name": "call_next", "window": "sixteen"})
    assert (await agent.next("result"))["error"]["code"] == "bad_type"

    display = await ws_client(server)
    await display.connect(["hall"], token=await server.token("display"))
    await display.next("snapshot")
    await display.send({"type": "command", "id": 9, "name": "call_next", "window": 16})
    refused = await display.next("result")
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"


async def test_garbage_frames_get_errors_and_the_socket_lives_on(server: Harness) -> None:
    c = await ws_client(server)
    await c.connect(["hall"])
    await c.next("snapshot")
    for frame in ["not json", "[1,2]", '{"no":"type"}', '{"type":"dance"}', '{"type":"command","name":"x"}',
                  '{"type":"hello","topics":["hall"]}', json.dumps({"type": "ping", "pad": "x" * 100_000})]:
        await c.send(frame)
        err = await c.next("error")
        assert err["error"]["code"] and err["error"]["message"]
    assert c.ws is not None
    await c.ws.send_bytes(b"\x00\x01binary")
    assert (await c.next("error"))["error"]["code"] == "bad_message"
    await c.send({"type": "ping"})
    assert (await c.next("pong"))["seq"] >= 0


async def test_bad_hello_is_refused(server: Harness) -> None:
    for hello, code in [({"type": "hello", "token": "hc_bogus", "topics": ["hall"]}, "unauthorized"),
                        ({"type": "hello", "topics": ["admin"]}, "unauthorized"),
                        ({"type": "hello", "topics": ["kiosk:k1"]}, "forbidden"),
                        ({"type": "hello", "topics": ["planet:mars"]}, "bad_topic"),
                        ({"type": "ping"}, "hello_first")]:
        async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
            await ws.send_json(hello)
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert json.loads(msg.data)["error"]["code"] == code
            closed = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_a_kiosk_follows_only_its_own_printers(server: Harness) -> None:
    token = await server.token("kiosk", kiosk="k1")
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "token": token, "topics": ["printer:k2"]})
        assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["error"]["code"] == "forbidden"
    kiosk = await ws_client(server)
    await kiosk.connect(["printer:k1"], token=token)
    assert (await kiosk.next("snapshot"))["state"]["printers"] == []
    agent_token = await server.token("agent", kiosk="k1")
    agent = await ws_client(server)
    await agent.connect(["kiosk:k1"], token=agent_token)
    for n, (device, kiosk_id) in enumerate((("printer-k2", "k2"), ("printer-k1", "k1")), 1):
        await agent.send({"type": "command", "id": n, "name": "device_status", "device": device, "kind": "printer",
                          "status": "online", "kiosk": kiosk_id})
        assert (await agent.next("result"))["ok"]
    report = await kiosk.next("event", "device.status")
    assert [(d["data"]["device"], d["data"]["status"]) for d in report["data"]["docs"]] == [("printer-k1", "online")]
    # The agent's connection ends (its PC lost power): its printer prints nothing now.
    await agent.close()
    gone = await kiosk.next("event", "device.status")
    assert [(d["data"]["device"], d["data"]["status"]) for d in gone["data"]["docs"]] == [("printer-k1", "offline")]
    # Back, it reports again over its new connection.
    agent = await ws_client(server)
    await agent.connect(["kiosk:k1"], token=agent_token)
    await agent.send({"type": "command", "id": 9, "name": "device_status", "device": "printer-k1", "kind": "printer",
                      "status": "online", "kiosk": "k1"})
    back = await kiosk.next("event", "device.status")
    assert back["data"]["docs"][0]["data"]["status"] == "online"
    again = await ws_client(server)
    await again.connect(["printer:k1"], token=token)
    assert [p["status"] for p in (await again.next("snapshot"))["state"]["printers"]] == ["online"]


async def test_subscriptions_return_to_baseline(server: Harness) -> None:
    hub = server.app[HUB_KEY]
    base_listeners = server.hall.listener_count
    clients = [await ws_client(server) for _ in range(5)]
    for i, c in enumerate(clients):
        await c.connect(["hall", f"window:{i + 1}", "zone:social"])
        await c.next("snapshot")
    assert len(hub.clients) == 5 and hub.subscription_count == 15
    for c in clients:
        await c.close()
    await asyncio.wait_for(hub.wait_clients(0), TIMEOUT)
    assert hub.subscription_count == 0 and hub.by_topic == {}
    assert server.hall.listener_count == base_listeners


def _raw_ws(port: int, hello: dict[str, Any]) -> socket.socket:
    """A WebSocket client that never reads: a frozen screen."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    payload = json.dumps(hello).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") if len(payload) > 125 else bytes([0x81, 0x80 | len(payload)])
    s.sendall(header + mask + masked)
    return s


async def test_a_frozen_screen_is_dropped_and_never_slows_the_hall(make_server: Any) -> None:
    server = await make_server(ws_send_buffer=20_000)
    hub = server.app[HUB_KEY]
    port = int(server.base.rsplit(":", 1)[1])
    # Device agents get every event (a hall screen in a rush gets digests of the counts instead).
    agent = await server.token("agent", kiosk="k9")
    frozen = _raw_ws(port, {"type": "hello", "topics": ["hall"], "token": agent})
    await asyncio.wait_for(hub.wait_clients(1), TIMEOUT)
    # A slow network: the server's send buffer toward the frozen screen is small too.
    [stuck] = hub.clients
    stuck.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    live = await ws_client(server)
    await live.connect(["hall"], token=agent)
    await live.next("snapshot")
    await asyncio.wait_for(hub.wait_clients(2), TIMEOUT)
    kiosk = server.client(await server.token("kiosk"))  # no printer: one event per ticket
    numbers = []
    count = 300  # far more than the frozen socket's buffers and its 20 kB allowance
    reader = asyncio.create_task(live.events_until(server.hall.state.seq + count))
    for _ in range(count):
        status, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
        assert status == 201
        numbers.append(t["number"])
    await asyncio.wait_for(hub.wait_clients(1), TIMEOUT)  # the frozen one was dropped
    got = [m["data"]["ticket"]["number"] for m in await asyncio.wait_for(reader, TIMEOUT) if m["name"] == "ticket.issued"]
    assert got == numbers
    frozen.close()


async def test_heartbeats_drop_a_connection_that_stopped_answering(make_server: Any) -> None:
    """A screen whose network died without a FIN does not stay counted for ever."""
    server = await make_server(ws_heartbeat=0.3)
    hub = server.app[HUB_KEY]
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(server.base + "/ws", autoping=False) as dead, s.ws_connect(server.base + "/ws") as alive:
            for ws in (dead, alive):
                await ws.send_json({"type": "hello", "topics": ["hall"]})
                welcome = await ws.receive_json(timeout=TIMEOUT)
                assert welcome["heartbeat"] == 0.3
            received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

            async def read_alive() -> None:  # reading is what answers the pings
                async for msg in alive:
                    received.put_nowait(json.loads(msg.data))

            reader = asyncio.create_task(read_alive())
            await asyncio.wait_for(hub.wait_clients(2), TIMEOUT)
            ping = await dead.receive(timeout=TIMEOUT)
            while ping.type is aiohttp.WSMsgType.TEXT:  # its snapshot
                ping = await dead.receive(timeout=TIMEOUT)
            assert ping.type is aiohttp.WSMsgType.PING  # the server asks; this one never answers
            await asyncio.wait_for(hub.wait_clients(1), TIMEOUT)
            [left] = hub.clients
            kiosk = await server.kiosk()
            await kiosk.post("/api/v1/tickets", {"service": "pension"})
            while (msg := await asyncio.wait_for(received.get(), TIMEOUT))["type"] != "event":
                pass  # the snapshot
            assert msg["name"] == "ticket.issued" and not left.ws.closed and len(hub.clients) == 1
            reader.cancel()


async def test_queue_events_carry_the_services_counts(server: Harness) -> None:
    """Screens keep waiting counts and ETAs from the frames alone (used by the kiosk, hall TV, monitor)."""
    tv = await ws_client(server)
    await tv.connect(["hall"])
    await tv.next("snapshot")
    kiosk = await server.kiosk()
    for _ in range(3):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    issued = [await tv.next("event", "ticket.issued") for _ in range(3)]
    counts = [{q["id"]: q["waiting"] for q in m["data"]["queues"]}["pension"] for m in issued]
    assert counts[-1] == 3 and counts == sorted(counts)
    clerk = await server.clerk_at(15)
    opened = await tv.next("event", "window.opened")
    assert [q["id"] for q in opened["data"]["queues"]] == ["pension"] and opened["data"]["queues"][0]["windows_open"] == 1
    await clerk.post("/api/v1/windows/15/call-next")
    called = await tv.next("event", "ticket.called")
    [q] = called["data"]["queues"]
    assert (q["id"], q["waiting"]) == ("pension", 2) and q["eta_minutes"] >= 0 and q["oldest_since"]
    await clerk.post("/api/v1/windows/15/transfer", {"service": "retirement"})
    moved = await tv.next("event", "ticket.transferred")
    assert {q["id"]: q["waiting"] for q in moved["data"]["queues"]} == {"retirement": 1, "pension": 2}
    # A reconnect replays the same frames, counts included.
    back = await ws_client(server)
    await back.connect(["hall"], since=issued[0]["seq"])
    replayed = await back.events_until(moved["seq"])
    assert replayed[-1]["data"]["queues"] == moved["data"]["queues"]


async def test_in_a_rush_hall_screens_get_digests_of_the_counts_and_calls_at_once(server: Harness) -> None:
    """More than ten tickets a second: a hall TV gets the queue counts a few times a second, not
    one frame per ticket; a device agent still gets every event, and a call reaches the TV at once."""
    tv = await ws_client(server)
    await tv.connect(["hall"])
    await tv.next("snapshot")
    agent = await ws_client(server)  # a device agent following the hall gets every event
    await agent.connect(["hall"], token=await server.token("agent", kiosk="k9"))
    await agent.next("snapshot")
    kiosk = await server.kiosk()
    count = 60
    results = await asyncio.gather(*(kiosk.post("/api/v1/tickets", {"service": "pension"}) for _ in range(count)))
    assert all(status == 201 for status, _ in results)
    counts = []
    while not counts or counts[-1] < count:
        counts.append({q["id"]: q["waiting"] for q in (await tv.next("queues"))["queues"]}["pension"])
    assert counts == sorted(counts) and counts[-1] == count
    issued_events = [m for m in tv.seen if m.get("name") == "ticket.issued"]
    # The first ten of the second came as events; the rush after them as a handful of digests.
    assert len(issued_events) <= 10 + 1 and len(issued_events) + len(counts) < count
    everything = [await agent.next("event", "ticket.issued") for _ in range(count)]
    assert sorted(m["data"]["ticket"]["number"] for m in everything) == [f"K{n:03d}" for n in range(1, count + 1)]
    clerk = await server.clerk_at(15)
    await clerk.post("/api/v1/windows/15/call-next")
    called = await tv.next("event", "ticket.called")
    assert called["data"]["ticket"]["number"] == "K001"
    # A ping's pong follows the counts it vouches for.
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await tv.send({"type": "ping"})
    pong = await tv.next("pong")
    assert pong["seq"] == server.hall.last_dispatched
    before = tv.seen[: tv.seen.index(pong)]
    shown = [q["waiting"] for m in before for q in (m.get("queues") or m.get("data", {}).get("queues") or []) if q["id"] == "pension"]
    assert shown[-1] == count  # one called, one more taken: what the pong vouches for is on the screen
