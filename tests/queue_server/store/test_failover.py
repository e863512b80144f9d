"""Redis Sentinel fails the hall's Redis over to its replica while kiosks issue tickets.

Real processes on free ports, each with its own directory: a primary, a replica,
three ``redis-sentinel`` processes and a ``hallcall serve`` that finds the primary
through the sentinels. The primary is SIGKILLed under a steady load of ticket issues
and calls; every acknowledged ticket and call must be on the new primary, no number
may be given twice, and a hall screen must see every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import redis.asyncio as aioredis

from queue_server.core.model import token_key
from queue_server.protocol.client import HallClient

from ...conftest import RedisServer, ServeProcess, free_port, require_binary  # type: ignore[import-not-found]
from .test_multi_instance import HALL_ID, hall_file, seed, stored

MASTER = "hallcall"
TIMEOUT = 60
KIOSKS = 8


class SentinelProcess:
    """A real ``redis-sentinel`` watching the primary, quick to judge it down (500 ms)."""

    def __init__(self, dir: Path, primary_port: int) -> None:
        self.dir = dir
        self.port = free_port()
        self.primary_port = primary_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "sentinel.conf"  # sentinel rewrites its file as it learns, so each has its own
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 500\n"
            f"sentinel failover-timeout {MASTER} 10000\n", encoding="utf-8")
        self.proc = subprocess.Popen([require_binary("redis-sentinel"), str(conf), "--daemonize", "no", "--logfile", ""],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ready = threading.Event()

        def drain(out: Any) -> None:
            with open(self.dir / "sentinel.log", "wb") as log:
                for line in out:
                    log.write(line)
                    log.flush()
                    if b"+monitor master" in line:
                        ready.set()
            ready.set()

        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError(f"redis-sentinel did not start: see {self.dir / 'sentinel.log'}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


async def until(check: Callable[[], Awaitable[bool]], what: str, wake: Callable[[], Awaitable[Any]],
                timeout: float = TIMEOUT) -> None:
    """Check ``check`` again each time ``wake`` returns (the news that may have changed it):
    a sentinel's event, a replica's acknowledgement, a screen's message. Fail naming
    ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await wake()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def acked(primary: RedisServer, ms: int = 500) -> Callable[[], Awaitable[Any]]:
    """Waits until the primary's replica has acknowledged everything so far (WAIT), at most ``ms``."""
    return lambda: ask(primary.port, "WAIT", "1", str(ms))


@contextlib.asynccontextmanager
async def sentinel_news(port: int) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """Waits for the sentinel's next event (+sentinel, +slave, +switch-master, …), at most a second."""
    r = aioredis.Redis(port=port, decode_responses=True)
    news = r.pubsub()
    await news.psubscribe("*")
    try:
        yield lambda: news.get_message(timeout=1.0)
    finally:
        await news.aclose()
        await r.aclose()


def messages(screen: Screen) -> Callable[[], Awaitable[Any]]:
    """Waits for the screen's next message, at most a second."""
    async def wake() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(screen.changed.wait(), 1.0)
        screen.changed.clear()
    return wake


async def ask(port: int, *command: Any) -> Any:
    r = aioredis.Redis(port=port, decode_responses=True, socket_timeout=5)
    try:
        return await r.execute_command(*command)
    finally:
        await r.aclose()


@pytest.fixture
async def cluster(make_redis: Any, tmp_path: Path) -> AsyncIterator[tuple[RedisServer, RedisServer, list[SentinelProcess]]]:
    """A primary, its replica and three sentinels that all know both and each other."""
    primary: RedisServer = make_redis()
    await primary.astart()
    replica: RedisServer = make_redis("--replicaof", "127.0.0.1", str(primary.port))
    await replica.astart()
    sentinels = [SentinelProcess(tmp_path / f"sentinel{i}", primary.port) for i in range(3)]
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in sentinels))

        async def replica_online() -> bool:
            info = await ask(primary.port, "INFO", "replication")  # parsed: slave0 = {"state": …}
            return any(isinstance(v, dict) and v.get("state") == "online" for v in info.values())

        async def sentinels_know_everyone() -> bool:
            for s in sentinels:
                master = await ask(s.port, "SENTINEL", "MASTER", MASTER)  # parsed into a dict
                if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                    return False
            return True

        await until(replica_online, "the replica to sync", acked(primary))
        async with sentinel_news(sentinels[0].port) as news:
            await until(sentinels_know_everyone, "the sentinels to find each other and the replica", news)
        yield primary, replica, sentinels
    finally:
        for s in sentinels:
            s.stop()


class Screen:
    """A hall screen: the project's own client, which reconnects with its backoff and resumes
    with ``since`` whenever it is cut, as the pages do; it records what it is given.

    With a device agent's token it gets every event (a display in a rush gets digests of the
    counts instead of each ``ticket.issued``), so the test can check that none is missed.
    """

    def __init__(self, base: str, token: str) -> None:
        self.snapshots: list[int] = []
        self.segments: list[list[tuple[int, str, str]]] = []  # events after each snapshot: seq, name, number
        self.last = 0
        self.changed = asyncio.Event()
        self.client = HallClient(base, token, ["hall", "window:1", "window:2"], on_message=self._take)
        self.task = self.client.start()

    def _take(self, data: dict[str, Any]) -> None:
        if data["type"] == "snapshot":
            self.snapshots.append(data["seq"])
            self.segments.append([])
            self.last = data["seq"]
        elif data["type"] == "event":
            ticket = data["data"].get("ticket") or {}
            self.segments[-1].append((data["seq"], data["name"], ticket.get("number", "")))
            self.last = data["seq"]
        self.changed.set()

    async def reach(self, seq: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while self.last < seq:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.1, deadline - time.monotonic()))

    async def close(self) -> None:
        await self.client.stop()


async def test_sentinel_fails_over_under_load_and_nothing_acknowledged_is_lost(
        cluster: tuple[RedisServer, RedisServer, list[SentinelProcess]], tmp_path: Path) -> None:
    primary, replica, sentinels = cluster
    url = f"redis+sentinel://{','.join(f'127.0.0.1:{s.port}' for s in sentinels)}/{MASTER}/0?replica_timeout_ms=2000"
    tokens = await seed(url)
    server = ServeProcess(hall_file(tmp_path), url, free_port(), tmp_path)
    server.log_level = "INFO"
    await server.start()
    screen = Screen(server.base, tokens["agent"])
    issued: dict[str, dict[str, Any]] = {}  # acknowledged tickets by token
    called: list[str] = []  # acknowledged calls
    refused = Counter[int]()  # answers other than success while Redis failed over
    killed = False
    stop = asyncio.Event()
    enough_before, enough_after = asyncio.Event(), asyncio.Event()

    async def post(s: aiohttp.ClientSession, path: str, body: Any = None, key: str = "") -> tuple[int, Any]:
        """One request, retried (with the same Idempotency-Key) while the hall answers 503."""
        while True:
            headers = {"Idempotency-Key": key} if key else {}
            async with s.post(server.base + path, json=body, headers=headers) as r:
                if r.status != 503:
                    return r.status, (await r.json() if r.status != 204 else None)
                refused[r.status] += 1  # and again at once: the answer itself is the pace

    async def kiosk(i: int) -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {tokens['kiosk']}"}) as s:
            n = 0
            while not stop.is_set():
                n += 1
                status, t = await post(s, "/api/v1/tickets", {"service": "pension"}, key=f"k{i}-{n}")
                assert status == 201, t
                issued[t["token"]] = t
                if len(issued) >= 150:
                    enough_before.set()
                if killed and len(issued) >= 450:
                    enough_after.set()

    async def window(n: int) -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {tokens['agent']}"}) as s:
            status, body = await post(s, f"/api/v1/windows/{n}/open", {"staff_no": f"{n:04d}"})
            assert status == 200, body
            while not stop.is_set():
                status, t = await post(s, f"/api/v1/windows/{n}/call-next")
                assert status in (200, 204), t
                if status == 200:
                    called.append(t["number"])

    try:
        await screen.reach(1)
        workers = [asyncio.create_task(kiosk(i)) for i in range(KIOSKS)]
        workers += [asyncio.create_task(window(n)) for n in (1, 2)]
        await asyncio.wait_for(enough_before.wait(), TIMEOUT)

        async def promoted() -> bool:
            return (await ask(replica.port, "ROLE"))[0] == "master"

        async with sentinel_news(sentinels[0].port) as news:
            primary.kill()  # SIGKILL: the sentinels see it down after 500 ms and promote the replica
            killed = True
            await until(promoted, "the sentinels to promote the replica", news)
        await asyncio.wait_for(enough_after.wait(), TIMEOUT)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), TIMEOUT)

        events, tickets = await stored(url)
        final = events[-1].seq
        assert [e.seq for e in events] == list(range(1, final + 1)), "the hall's sequence has a gap"
        by_token = {t.token: t for t in tickets}
        lost = [t["number"] for token, t in issued.items() if token_key(token) not in by_token]
        assert lost == [], f"acknowledged tickets lost in the failover: {lost[:10]}"
        numbers = Counter(t.number for t in tickets)
        assert [n for n, c in numbers.items() if c > 1] == [], "a number was issued twice"
        assert len({t["number"] for t in issued.values()}) == len(issued)
        in_log = [e.ticket.number for e in events if e.name == "ticket.called" and e.ticket is not None]
        assert set(called) <= set(in_log), "an acknowledged call is not in the log"
        assert len(in_log) == len(set(in_log)), "a ticket was called twice"

        # The screen follows the hall and the two windows, so it is given every event: once
        # caught up, what it was sent after each snapshot is the log (after the last one,
        # exactly), and every call after its first snapshot reached it, as an event or
        # inside a later snapshot.
        await screen.reach(final)
        logged = {e.seq: (e.seq, e.name, e.ticket.number if e.ticket else "") for e in events}
        for snap, segment in zip(screen.snapshots, screen.segments):
            assert [s for s, _, _ in segment] == list(range(snap + 1, snap + 1 + len(segment))), "a gap on the screen"
        assert screen.segments[-1] == [logged[s] for s in range(screen.snapshots[-1] + 1, final + 1)]
        seen = {number for segment in screen.segments for _, name, number in segment if name == "ticket.called"}
        missed = [number for seq, name, number in logged.values() if name == "ticket.called" and seq > screen.snapshots[0]
                  and number not in seen and not any(seq <= snap for snap in screen.snapshots[1:])]
        assert missed == [], f"the screen missed calls: {missed[:10]}"
        assert refused[503] > 0, "the hall never noticed the primary go: the test did not fail over under load"
    finally:
        await screen.close()
        await server.stop()
