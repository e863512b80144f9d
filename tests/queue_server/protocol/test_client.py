"""The shared protocol client against the real server, and its pure parts.

The server is the real application on a real store (both stores, through the
``server`` fixture); outages are real too: a TCP proxy that is cut (connections fail)
or stalled (connections stay open and nothing gets through), and a server stopped and
started again on the same port and store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response

from queue_server.protocol.backoff import Backoff
from queue_server.protocol.client import (
    CommandError,
    Endpoints,
    Fatal,
    HallClient,
    NotConnected,
    classify,
    endpoints,
    StreamState,
    refusal,
)
from queue_server.web.app import LISTEN_BACKLOG, make_app

from ...conftest import Harness, ServeProcess, free_port  # type: ignore[import-not-found]
from ...devices.netcut import Proxy  # type: ignore[import-not-found]

TIMEOUT = 10
SERVICE = "company-registration"  # prefix A


def fast() -> Backoff:
    return Backoff(initial=0.02, cap=0.1)


class Inbox:
    """The messages a client delivered, and a way to await the one a test expects."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()

    def __call__(self, msg: dict[str, Any]) -> None:
        self.items.append(msg)
        self._arrived.set()

    async def expect(self, test: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while (found := next((m for m in self.items if test(m)), None)) is None:
                self._arrived.clear()
                await self._arrived.wait()
        return found

    async def issued(self, number: str) -> dict[str, Any]:
        return await self.expect(lambda m: m.get("name") == "ticket.issued" and m["data"]["ticket"]["number"] == number)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.items if m["type"] == kind]


@contextlib.asynccontextmanager
async def running(client: HallClient) -> AsyncIterator[HallClient]:
    task = client.start()
    try:
        yield client
    finally:
        await client.stop()
        assert task.done() and client.down.is_set() and not client.up.is_set()


async def issue(kiosk: Any, n: int = 1) -> list[str]:
    numbers = []
    for _ in range(n):
        status, body = await kiosk.post("/api/v1/tickets", {"service": SERVICE})
        assert status == 201, body
        numbers.append(body["number"])
    return numbers


def assert_each_event_once_in_order(inbox: Inbox) -> None:
    seqs = [m["seq"] for m in inbox.of("event")]
    assert seqs == sorted(set(seqs)), seqs


# -- against the real server -------------------------------------------------------------------


async def test_first_connection_gets_a_snapshot_then_live_events(server: Harness) -> None:
    inbox = Inbox()
    client = HallClient(server.base, await server.token("display"), ["hall"], on_message=inbox)
    async with running(client):
        await client.wait_connected(timeout=TIMEOUT)
        assert client.welcome is not None and client.welcome["role"] == "display"
        snapshot = await inbox.expect(lambda m: m["type"] == "snapshot")
        assert snapshot["seq"] == client.welcome["seq"] == client.last_seq
        assert {w["number"] for w in snapshot["state"]["windows"]} >= {3, 15}
        (number,) = await issue(await server.kiosk())
        event = await inbox.issued(number)
        assert event["replay"] is False and event["seq"] > snapshot["seq"]
        assert client.last_seq == event["seq"]
    assert len(inbox.of("snapshot")) == 1 and client.connections == 1


async def test_a_cut_connection_resumes_with_since_and_the_missed_events_come_as_replays(server: Harness) -> None:
    proxy = await Proxy(server.base).start()
    kiosk = await server.kiosk()
    inbox = Inbox()
    client = HallClient(proxy.base, await server.token("display"), ["hall"], on_message=inbox, backoff=fast())
    async with running(client):
        await client.wait_connected(timeout=TIMEOUT)
        await inbox.issued((await issue(kiosk))[0])
        await proxy.cut()
        await asyncio.wait_for(client.down.wait(), TIMEOUT)
        missed = await issue(kiosk, 3)
        await proxy.restore()
        await client.wait_connected(2, timeout=TIMEOUT)
        replayed = [await inbox.issued(n) for n in missed]
        (live,) = await issue(kiosk)
        after = await inbox.issued(live)
    assert [m["replay"] for m in replayed] == [True, True, True] and after["replay"] is False
    assert client.welcome is not None and client.welcome["seq"] >= replayed[-1]["seq"]
    assert len(inbox.of("snapshot")) == 1  # the second connection resumed, it did not start over
    assert [m["data"]["ticket"]["number"] for m in inbox.of("event")] == ["A001", "A002", "A003", "A004", "A005"]
    assert_each_event_once_in_order(inbox)
    await proxy.cut()


class Restartable:
    """The real server on one port, stopped and started again on the same store and clock."""

    def __init__(self, hall_config: Any, clock: Any) -> None:
        self.hall_config, self.clock = hall_config, clock
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.harness: Harness | None = None
        self.runner: web.AppRunner | None = None

    async def start(self) -> Harness:
        app = make_app(self.hall_config, clock=self.clock)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.harness = Harness(self.base, app)
        return self.harness

    async def stop(self) -> None:
        if self.runner is not None:
            assert self.harness is not None
            await self.harness.close()
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def restartable(hall_config: Any, clock: Any) -> AsyncIterator[Restartable]:
    r = Restartable(hall_config, clock)
    yield r
    await r.stop()


async def test_after_a_server_restart_the_events_missed_meanwhile_are_replayed(restartable: Restartable) -> None:
    first = await restartable.start()
    proxy = await Proxy(restartable.base).start()
    token = await first.token("display")
    inbox = Inbox()
    client = HallClient(proxy.base, token, ["hall"], on_message=inbox, backoff=fast())
    async with running(client):
        await client.wait_connected(timeout=TIMEOUT)
        await inbox.issued((await issue(await first.kiosk()))[0])
        await proxy.cut()  # the agent's side stays away while the server restarts and moves on
        await asyncio.wait_for(client.down.wait(), TIMEOUT)
        await restartable.stop()
        second = await restartable.start()
        missed = await issue(await second.kiosk(), 2)
        await proxy.restore()
        await client.wait_connected(2, timeout=TIMEOUT)
        replayed = [await inbox.issued(n) for n in missed]
    assert [m["replay"] for m in replayed] == [True, True]
    assert len(inbox.of("snapshot")) == 1
    assert [m["data"]["ticket"]["number"] for m in inbox.of("event")] == ["A001", "A002", "A003"]
    assert_each_event_once_in_order(inbox)
    await proxy.cut()


async def test_the_server_holds_a_whole_hall_of_screens_reconnecting_at_once(serve_process: ServeProcess) -> None:
    """After a restart every screen connects at once. The listening socket's queue holds them all;
    with the default 128, the kernel drops the others' SYNs and they retry a second later."""
    await serve_process.start()
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{serve_process.port}"], capture_output=True, text=True, check=True)
    queues = {int(line.split()[2]) for line in listening.stdout.splitlines()}  # Send-Q: the backlog of a listener
    assert queues == {LISTEN_BACKLOG}, listening.stdout
    assert LISTEN_BACKLOG >= 1000


async def test_clients_with_the_default_backoff_resync_after_a_sigkill_and_restart(serve_process: ServeProcess) -> None:
    """A real ``hallcall serve`` killed with SIGKILL and started again: every client comes back by
    itself with the default backoff, resumes with ``since`` (no second snapshot) and misses nothing."""
    display = serve_process.token("--role", "display")
    kiosk = serve_process.token("--role", "kiosk")
    await serve_process.start()
    inboxes = [Inbox() for _ in range(3)]
    clients = [HallClient(serve_process.base, display, ["hall"], on_message=inbox) for inbox in inboxes]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(running(client))
        for client in clients:
            await client.wait_connected(timeout=TIMEOUT)
        before = await post_tickets(serve_process.base, kiosk, 1)
        for inbox in inboxes:
            await inbox.issued(before[0])
        await serve_process.kill()  # SIGKILL: no close frames, nothing flushed
        for client in clients:
            await asyncio.wait_for(client.down.wait(), TIMEOUT)
        await serve_process.start()
        after = await post_tickets(serve_process.base, kiosk, 2)
        for client, inbox in zip(clients, inboxes):
            await client.wait_connected(2, timeout=TIMEOUT)
            for number in after:
                await inbox.issued(number)
            assert len(inbox.of("snapshot")) == 1  # the second connection resumed with since
            assert [m["data"]["ticket"]["number"] for m in inbox.of("event")] == [*before, *after]
            assert_each_event_once_in_order(inbox)


async def post_tickets(base: str, token: str, n: int) -> list[str]:
    numbers = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for _ in range(n):
            async with s.post(base + "/api/v1/tickets", json={"service": SERVICE}) as r:
                assert r.status == 201, await r.text()
                numbers.append((await r.json())["number"])
    return numbers


@pytest.mark.parametrize(
    ("path", "token", "topics", "about", "words"),
    [
        ("", "not-a-token", ["hall"], "token", "unauthorized"),
        ("", "display", ["admin"], "hello", "forbidden"),
        ("", "display", ["nowhere"], "hello", "bad_topic"),
        ("/elsewhere", "display", ["hall"], "address", "HTTP 404"),
    ],
)  # fmt: skip
async def test_a_refusal_no_retry_can_fix_is_fatal_at_once(server: Harness, path: str, token: str,
                                                           topics: list[str], about: str, words: str) -> None:
    if token == "display":
        token = await server.token("display")
    # A retry would wait a minute first: the refusal must end the client before that.
    client = HallClient(server.base + path, token, topics, backoff=Backoff(initial=60, cap=60))
    task = client.start()
    with pytest.raises(Fatal, match=words) as refused:
        await client.wait_connected(timeout=TIMEOUT)
    assert refused.value.about == about
    with pytest.raises(Fatal):
        await asyncio.wait_for(task, TIMEOUT)
    assert client.connections == 0 and client.down.is_set()


async def test_commands_return_their_data_or_raise_their_error(server: Harness) -> None:
    client = HallClient(server.base, await server.token("kiosk", kiosk="k1"), ["hall"], backoff=fast())
    with pytest.raises(NotConnected):
        await client.command("issue", service=SERVICE)
    async with running(client):
        await client.wait_connected(timeout=TIMEOUT)
        ticket, other = await asyncio.gather(client.command("issue", service=SERVICE),
                                             client.command("issue", service=SERVICE))
        assert {ticket["number"], other["number"]} == {"A001", "A002"}
        with pytest.raises(CommandError) as refused:
            await client.command("issue", service="no-such-service")
        assert refused.value.code == "service_unknown"
        with pytest.raises(CommandError) as unknown:
            await client.command("make_coffee")
        assert unknown.value.code == "unknown_command"
        with pytest.raises(CommandError) as forbidden:
            await client.command("call_next", window=3)
        assert forbidden.value.code == "forbidden"
    with pytest.raises(NotConnected):
        await client.command("issue", service=SERVICE)


async def test_the_heartbeat_drops_a_server_that_stops_answering(server: Harness) -> None:
    proxy = await Proxy(server.base).start()
    inbox = Inbox()
    client = HallClient(proxy.base, await server.token("kiosk", kiosk="k1"), ["hall"], on_message=inbox,
                        backoff=fast(), heartbeat=0.1, heartbeat_timeout=0.5, command_timeout=60)
    async with running(client):
        await client.wait_connected(timeout=TIMEOUT)
        await inbox.expect(lambda m: m["type"] == "pong")  # a live server answers
        proxy.stall()  # the route black-holes: TCP stays open, nothing gets through
        stalled = time.monotonic()
        pending = asyncio.create_task(client.command("issue", service=SERVICE))
        await asyncio.wait_for(client.down.wait(), TIMEOUT)
        # Detected by the heartbeat (0.1 s + 0.5 s), not by TCP or the minute-long command timeout.
        assert time.monotonic() - stalled < 5
        with pytest.raises(NotConnected):
            await pending
        proxy.resume()
        await client.wait_connected(2, timeout=TIMEOUT)
    await proxy.cut()


async def test_a_pong_moves_a_quiet_topic_forward(server: Harness) -> None:
    inbox = Inbox()
    client = HallClient(server.base, await server.token("display"), ["window:3"], on_message=inbox, heartbeat=0.05)
    async with running(client):
        await client.wait_connected(timeout=TIMEOUT)
        snapshot = await inbox.expect(lambda m: m["type"] == "snapshot")
        await issue(await server.kiosk(), 2)  # hall events window 3 does not see
        seq = server.hall.last_dispatched
        assert seq > snapshot["seq"]
        await inbox.expect(lambda m: m["type"] == "pong" and m["seq"] == seq)
        assert client.last_seq == seq  # a reconnect now asks for nothing it has already passed
        assert not inbox.of("event")


# -- pure parts ------------------------------------------------------------------------------


def test_the_client_needs_nothing_of_the_server_but_the_protocol_package() -> None:
    # Agents on window PCs and voice PCs import it; the server's own modules stay out.
    probe = ("import json, sys, queue_server.protocol.client; "
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('queue_server', 'aiohttp'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["queue_server", "queue_server.protocol", "queue_server.protocol.backoff",
                               "queue_server.protocol.client"]


@pytest.mark.parametrize(
    ("server", "ws", "http"),
    [
        ("http://10.0.0.5:8080", "ws://10.0.0.5:8080/ws", "http://10.0.0.5:8080"),
        ("https://hall.example.cn/", "wss://hall.example.cn/ws", "https://hall.example.cn"),
        ("ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080/ws", "http://127.0.0.1:8080"),
        ("wss://hall.example.cn/ws", "wss://hall.example.cn/ws", "https://hall.example.cn"),
        ("127.0.0.1:8080", "ws://127.0.0.1:8080/ws", "http://127.0.0.1:8080"),
        ("HTTPS://gov.example.cn/hallcall", "wss://gov.example.cn/hallcall/ws", "https://gov.example.cn/hallcall"),
    ],
)  # fmt: skip
def test_one_helper_gives_the_websocket_address_and_the_http_base(server: str, ws: str, http: str) -> None:
    assert endpoints(server) == Endpoints(ws, http)


@pytest.mark.parametrize("server", ["ftp://10.0.0.2", "http://", "http:///ws"])
def test_what_is_not_a_server_address_is_refused(server: str) -> None:
    with pytest.raises(ValueError, match="server address"):
        endpoints(server)


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", Headers(), b""))


@pytest.mark.parametrize(
    ("exc", "about"),
    [(_status(401), "token"), (_status(403), "token"), (_status(404), "address"), (_status(400), "address"),
     (InvalidURI("ws://", "no host"), "address"), (_status(408), None), (_status(429), None), (_status(502), None),
     (_status(503), None), (ConnectionRefusedError(), None), (TimeoutError(), None), (RuntimeError("bug"), None)],
)  # fmt: skip
def test_handshake_failures_are_fatal_only_when_no_retry_can_fix_them(exc: Exception, about: str | None) -> None:
    fatal = classify(exc)
    assert (fatal and fatal.about) == about


@pytest.mark.parametrize(
    ("code", "about"),
    [("unauthorized", "token"), ("bad_token", "token"), ("token_revoked", "token"), ("forbidden", "hello"),
     ("bad_topic", "hello"), ("bad_field", "hello"), ("hello_first", "hello"), ("hello_timeout", None),
     ("bad_json", None), ("unavailable", None)],
)  # fmt: skip
def test_refused_hellos_are_fatal_only_when_no_retry_can_fix_them(code: str, about: str | None) -> None:
    fatal = refusal({"code": code, "message": "no"})
    assert (fatal and fatal.about) == about
    assert refusal("garbage") is None


def event(seq: Any) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "name": "ticket.called", "data": {}}


def test_a_new_session_starts_from_a_snapshot_and_everything_after_it_is_live() -> None:
    state = StreamState()
    state.welcomed(None, {"type": "welcome", "seq": 40})
    assert state.take({"type": "snapshot", "seq": 40}) and state.last_seq == 40
    live = event(41)
    assert state.take(live) and live["replay"] is False and state.last_seq == 41


def test_a_resumed_session_marks_events_up_to_the_welcome_seq_as_replays_and_drops_what_it_saw() -> None:
    state = StreamState()
    state.take({"type": "snapshot", "seq": 10})
    state.take(event(11))
    state.welcomed(11, {"type": "welcome", "seq": 13})
    missed, later, live = event(12), event(13), event(14)
    assert [state.take(m) for m in (missed, later, live)] == [True, True, True]
    assert [missed["replay"], later["replay"], live["replay"]] == [True, True, False]
    assert not state.take(event(13)) and not state.take(event(2))  # seen already: dropped
    assert state.last_seq == 14


def test_a_welcome_without_a_seq_makes_every_event_on_the_connection_a_possible_replay() -> None:
    state = StreamState()
    state.take({"type": "snapshot", "seq": 10})
    for welcome_seq in (None, "12", True):
        state.welcomed(10, {"type": "welcome", "seq": welcome_seq})
        assert state.replay_upto == math.inf
    first, much_later, unnumbered = event(11), event(5000), event(None)
    for m in (first, much_later, unnumbered):
        assert state.take(m) and m["replay"] is True
    # A snapshot (the server found since too old) ends the replay: what follows is live.
    assert state.take({"type": "snapshot", "seq": 6000})
    after = event(6001)
    assert state.take(after) and after["replay"] is False


def test_a_snapshot_is_the_truth_even_behind_what_was_seen_and_a_pong_only_moves_forward() -> None:
    state = StreamState()
    assert state.take({"type": "pong", "seq": 99}) and state.last_seq is None  # nothing to move on from yet
    state.take({"type": "snapshot", "seq": 500})
    state.take({"type": "pong", "seq": 520})
    assert state.last_seq == 520
    state.take({"type": "pong", "seq": 510})
    assert state.last_seq == 520
    state.take({"type": "snapshot", "seq": 3})  # the store was reset: seq starts again
    fresh = event(4)
    assert state.take(fresh) and state.last_seq == 4
