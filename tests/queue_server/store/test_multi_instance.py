"""Several ``hallcall serve`` processes on one Redis: one hall, one gapless event sequence.

Real processes, a real redis-server and real sockets. Windows are operated by an agent
token (as a call keypad would), so nobody needs to sign in; screens are WebSocket
clients that record every event they are given.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from queue_server.core.clock import SystemClock
from queue_server.core.model import Person, token_key
from queue_server.service import auth
from queue_server.store import open_store

from ...conftest import HALL_FILE, LIFTED_LIMITS_TOML, RedisServer, ServeProcess, free_port  # type: ignore[import-not-found]

HALL_ID = "taikang"
WINDOWS = range(1, 41)
TIMEOUT = 60


def hall_file(dir: Path) -> Path:
    """The sample hall, open around the clock, with room for thousands of tickets a day."""
    text = re.sub(r"daily_limit = \d+", "daily_limit = 9999", HALL_FILE.read_text(encoding="utf-8"))
    path = dir / "hall.toml"
    # No alert checker: its events reach the admin topic only, and these screens, following
    # "hall", check that they see every sequence number.
    path.write_text(text + "\n[policy]\nissue_outside_hours = true\n[alerts]\ncheck_seconds = 0\n" + LIFTED_LIMITS_TOML,
                    encoding="utf-8")
    return path


async def seed(url: str) -> dict[str, str]:
    """A kiosk token, an agent token for every window, and a clerk per window (as the admin CLI makes them)."""
    store = open_store(url, hall_id=HALL_ID, admin=True)
    await store.open()
    try:
        authn = auth.Authenticator(store, SystemClock())
        kiosk, _ = await authn.add_token("kiosk", "kiosk")
        agent, _ = await authn.add_token("agent", "keypads", windows=tuple(WINDOWS))
        for n in WINDOWS:
            await store.put_person(Person(f"p{n}", f"clerk{n}", f"窗口{n}", "clerk", staff_no=f"{n:04d}"))
    finally:
        await store.close()
    return {"kiosk": kiosk, "agent": agent}


async def stored(url: str) -> tuple[list[Any], list[Any]]:
    """The whole log and every ticket, read back from Redis."""
    store = open_store(url, hall_id=HALL_ID, admin=True)
    await store.open()
    try:
        return await store.events_since(0, 10_000_000), await store.tickets("2000-01-01", "2100-01-01")
    finally:
        await store.close()


class Screen:
    """A hall screen: records the seq and name of every event, and can move to another process.

    It says hello with a device agent's token: a display in a rush of tickets gets digests of
    the counts instead of every ``ticket.issued`` (docs/protocol.md), and these tests check
    that every event reaches a client, gapless, whatever process it is connected to.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.session = aiohttp.ClientSession()
        self.events: list[tuple[int, str]] = []
        self.snapshots: list[int] = []
        self.last = 0
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, base: str, since: int | None = None) -> None:
        ws = await self.session.ws_connect(base.replace("http://", "ws://") + "/ws", heartbeat=5)
        # The hall and every window: rating requests go to windows, not to the hall topic.
        hello: dict[str, Any] = {"type": "hello", "token": self.token, "topics": ["hall", *(f"window:{n}" for n in range(1, 41))]}
        if since is not None:
            hello["since"] = since
        await ws.send_json(hello)
        self._reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data["type"] == "snapshot":
                self.snapshots.append(data["seq"])
                self.last = data["seq"]
            elif data["type"] == "event":
                self.events.append((data["seq"], data["name"]))
                self.last = data["seq"]
            self._changed.set()

    async def closed(self) -> None:
        assert self._reader is not None
        await asyncio.wait_for(self._reader, TIMEOUT)

    async def reach(self, seq: int) -> None:
        """Wait until the screen has been given every event up to ``seq``."""
        deadline = time.monotonic() + TIMEOUT
        while self.last < seq:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), max(0.1, deadline - time.monotonic()))

    def assert_gapless(self) -> None:
        seqs = [s for s, _ in self.events]
        assert seqs == list(range(self.snapshots[0] + 1, self.snapshots[0] + 1 + len(seqs))), "a screen missed or repeated an event"

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.session.close()


@pytest.fixture
async def procs() -> AsyncIterator[list[ServeProcess]]:
    """Collects the serve processes a test starts, and stops them."""
    started: list[ServeProcess] = []
    yield started
    await asyncio.gather(*(p.stop() for p in started))


def serve(procs: list[ServeProcess], tmp_path: Path, url: str) -> ServeProcess:
    """A ``hallcall serve`` on ``url`` (not started yet), stopped at the end of the test."""
    p = ServeProcess(hall_file(tmp_path), url, free_port(), tmp_path)
    procs.append(p)
    return p


async def issue_all(bases: list[str], token: str, services: list[str], count: int) -> list[dict[str, Any]]:
    """Issue ``count`` tickets with 32 kiosks spread over the processes."""
    plan = iter(range(count))
    issued: list[dict[str, Any]] = []

    async def kiosk(i: int) -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            for n in plan:
                async with s.post(bases[i % len(bases)] + "/api/v1/tickets", json={"service": services[n % len(services)]}) as r:
                    assert r.status == 201, await r.text()
                    issued.append(await r.json())

    await asyncio.gather(*(kiosk(i) for i in range(32)))
    return issued


async def test_two_processes_forty_windows_two_thousand_tickets(redis_store_url: str, procs: list[ServeProcess],
                                                              tmp_path: Path) -> None:
    tokens = await seed(redis_store_url)
    a, b = serve(procs, tmp_path, redis_store_url), serve(procs, tmp_path, redis_store_url)
    await asyncio.gather(a.start(), b.start())
    screens = [Screen(tokens["agent"]), Screen(tokens["agent"])]
    try:
        await screens[0].connect(a.base)
        await screens[1].connect(b.base)
        async with aiohttp.ClientSession() as s:
            async with s.get(a.base + "/api/v1/hall") as r:
                services = [x["id"] for x in (await r.json())["services"]]
        issued = await issue_all([a.base, b.base], tokens["kiosk"], services, 2000)
        assert len({t["number"] for t in issued}) == 2000, "a number was given twice"

        called: list[str] = []
        headers = {"Authorization": f"Bearer {tokens['agent']}"}

        async def window(n: int, base: str) -> None:
            async with aiohttp.ClientSession(headers=headers) as s:
                async with s.post(f"{base}/api/v1/windows/{n}/open", json={"staff_no": f"{n:04d}"}) as r:
                    assert r.status == 200, await r.text()
                while True:
                    async with s.post(f"{base}/api/v1/windows/{n}/call-next") as r:
                        if r.status == 204:
                            return
                        assert r.status == 200, await r.text()
                        ticket = await r.json()
                    assert ticket["window"] == n
                    called.append(ticket["number"])

        # Odd windows on one process, even on the other, all calling at once.
        await asyncio.gather(*(window(n, (a, b)[n % 2].base) for n in WINDOWS))
        twice = [number for number, c in Counter(called).items() if c > 1]
        assert twice == [], f"tickets called twice: {twice[:10]}"
        assert sorted(called) == sorted(t["number"] for t in issued)

        events, tickets = await stored(redis_store_url)
        final = events[-1].seq
        assert [e.seq for e in events] == list(range(1, final + 1)), "the hall's sequence has a gap"
        assert sum(1 for e in events if e.name == "ticket.called") == 2000
        await asyncio.gather(*(sc.reach(final) for sc in screens))
        for sc in screens:
            sc.assert_gapless()
        start = max(sc.snapshots[0] for sc in screens)
        seen = [[e for e in sc.events if e[0] > start] for sc in screens]
        assert seen[0] == seen[1] == [(e.seq, e.name) for e in events if e.seq > start]
        assert all(t.status.value in ("called", "done") for t in tickets) and len(tickets) == 2000
    finally:
        for sc in screens:
            await sc.close()


async def test_a_process_killed_under_load_the_other_serves_and_screens_resync(
        redis_store_url: str, procs: list[ServeProcess], tmp_path: Path) -> None:
    tokens = await seed(redis_store_url)
    a, b = serve(procs, tmp_path, redis_store_url), serve(procs, tmp_path, redis_store_url)
    await asyncio.gather(a.start(), b.start())
    on_a, on_b = Screen(tokens["agent"]), Screen(tokens["agent"])
    acked: dict[str, dict[str, Any]] = {}
    after_kill = asyncio.Event()
    enough = asyncio.Event()
    killed = False
    stop = False

    async def kiosk(i: int) -> None:
        # Each kiosk retries a request that got no answer on the surviving process with
        # the same Idempotency-Key, so a ticket is acknowledged once however it went.
        bases = [a.base, b.base] if i % 2 == 0 else [b.base]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {tokens['kiosk']}"}) as s:
            n = 0
            while not stop:
                n += 1
                key = f"k{i}-{n}"
                while True:
                    try:
                        async with s.post(bases[0] + "/api/v1/tickets", json={"service": "pension"},
                                          headers={"Idempotency-Key": key}) as r:
                            assert r.status == 201, await r.text()
                            t = await r.json()
                            break
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        assert len(bases) > 1, "the surviving process stopped answering"
                        bases.pop(0)
                acked[t["token"]] = t
                if len(acked) >= 300:
                    enough.set()
                if killed and len(acked) >= 600:
                    after_kill.set()

    try:
        await on_a.connect(a.base)
        await on_b.connect(b.base)
        workers = [asyncio.create_task(kiosk(i)) for i in range(16)]
        await asyncio.wait_for(enough.wait(), TIMEOUT)
        await a.kill()  # SIGKILL, mid-flight
        killed = True
        await on_a.closed()
        await on_a.connect(b.base, since=on_a.last)  # the screen's reconnect loop, pointed at the survivor
        await asyncio.wait_for(after_kill.wait(), TIMEOUT)
        stop = True
        await asyncio.wait_for(asyncio.gather(*workers), TIMEOUT)

        events, tickets = await stored(redis_store_url)
        final = events[-1].seq
        assert [e.seq for e in events] == list(range(1, final + 1))
        assert {token_key(a) for a in acked} <= {t.token for t in tickets}  # tickets keep their token's hash
        await asyncio.gather(on_a.reach(final), on_b.reach(final))
        assert len(on_a.snapshots) == 1, "the reconnecting screen was sent a snapshot instead of what it missed"
        on_a.assert_gapless()
        on_b.assert_gapless()
        common = max(on_a.snapshots[0], on_b.snapshots[0])
        assert [e for e in on_a.events if e[0] > common] == [e for e in on_b.events if e[0] > common]
        async with aiohttp.ClientSession() as s:
            for token, t in acked.items():
                async with s.get(f"{b.base}/api/v1/tickets/{token}") as r:
                    assert r.status == 200, f"acknowledged ticket {t['number']} is lost"
                    assert (await r.json())["number"] == t["number"]
        numbers = [t["number"] for t in acked.values()]
        assert len(numbers) == len(set(numbers))
    finally:
        await on_a.close()
        await on_b.close()


async def test_redis_killed_and_restarted_keeps_every_acknowledged_ticket(
        make_redis: Any, procs: list[ServeProcess], tmp_path: Path) -> None:
    redis: RedisServer = make_redis()
    await redis.astart()
    url = f"{redis.url}/0"
    tokens = await seed(url)
    server = serve(procs, tmp_path, url)
    await server.start()
    screen = Screen(tokens["agent"])
    acked: dict[str, dict[str, Any]] = {}
    refused: list[float] = []  # how long each 503 took
    before = asyncio.Event()
    after = asyncio.Event()
    restarted = False
    stop = False
    rnd = random.Random(3)

    async def kiosk(i: int) -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {tokens['kiosk']}"}) as s:
            while not stop:
                t0 = time.monotonic()
                async with s.post(server.base + "/api/v1/tickets", json={"service": rnd.choice(["pension", "referral"])}) as r:
                    body = await r.json()
                    if r.status == 503:
                        assert body["error"]["code"] == "unavailable"
                        refused.append(time.monotonic() - t0)
                        if len(refused) >= 20:
                            refused_enough.set()
                            await back.wait()  # enough proof that requests fail fast: wait for Redis
                        continue
                    assert r.status == 201, body
                acked[body["token"]] = body
                if len(acked) >= 300:
                    before.set()
                if restarted and len(acked) >= 500:
                    after.set()

    refused_enough = asyncio.Event()
    back = asyncio.Event()
    try:
        await screen.connect(server.base)
        workers = [asyncio.create_task(kiosk(i)) for i in range(16)]
        await asyncio.wait_for(before.wait(), TIMEOUT)
        redis.kill()  # SIGKILL: only what the append-only file fsynced survives
        await asyncio.wait_for(refused_enough.wait(), TIMEOUT)
        await redis.astart()  # same port, same directory: the AOF is replayed
        restarted = True
        back.set()
        await asyncio.wait_for(after.wait(), TIMEOUT)
        stop = True
        await asyncio.wait_for(asyncio.gather(*workers), TIMEOUT)

        assert max(refused) < 10, "a request hung while Redis was down"
        events, tickets = await stored(url)
        final = events[-1].seq
        assert [e.seq for e in events] == list(range(1, final + 1))
        by_token = {t.token: t for t in tickets}
        lost = [t["number"] for token, t in acked.items() if token_key(token) not in by_token]
        assert lost == [], f"acknowledged tickets lost: {lost[:10]}"
        assert all(by_token[token_key(token)].number == t["number"] for token, t in acked.items())
        await screen.reach(final)  # the server's tail reconnected and its screen missed nothing
        screen.assert_gapless()
    finally:
        await screen.close()
