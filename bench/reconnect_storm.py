"""Reconnect storm: N screens resync after ``hallcall serve`` is killed with SIGKILL and restarted.

Run by hand: ``.venv/bin/python bench/reconnect_storm.py [--screens 1000] [--down 0.5] [--runs 3]``.
The server is a real ``hallcall serve`` process on a SQLite file. The screens live in
receiver processes of their own; each is a minimal WebSocket client that follows the
``hall`` topic with a display token, keeps the last ``seq`` it saw and reconnects with
``since`` after the shared client's backoff (``queue_server.protocol.backoff.Backoff``,
the delays the Python client uses; the browser pages use the same numbers). A screen is
resynced when, on its new connection, it has the welcome and every event up to the
welcome's ``seq`` (a replay) or a snapshot. The clock starts at the SIGKILL; the server
is started again ``--down`` seconds later, on the same port and store, and the time to
its ``ready`` line is reported too. ``--initial``, ``--fast-for`` choose the backoff
(``--initial 0.5 --fast-for 0`` is the backoff before it started fast).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import uvloop

from queue_server import protocol
from queue_server.protocol.backoff import Backoff
from queue_server.protocol.client import endpoints

from serverproc import Server, percentile

RECEIVERS = 2


class Screen(asyncio.Protocol):
    """One connection of one screen: hello with ``since``, then frames; the screen reconnects when it goes."""

    def __init__(self, owner: Screens, slot: int) -> None:
        self.owner, self.slot = owner, slot
        self.buffer = b""
        self.upgraded = False
        self.welcome: int | None = None  # the seq of this connection's welcome
        self.synced = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.owner.path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"  # type: ignore[attr-defined]
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.transport.close()
                return
            self.upgraded = True
            self.buffer = rest
            hello = protocol.hello(self.owner.token, [protocol.topic_hall()], self.owner.last_seq.get(self.slot))
            payload = protocol.encode(hello).encode()
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            n = len(payload)
            header = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
            self.transport.write(header + mask + masked)
        while len(self.buffer) >= 2:  # server frames: unmasked, unfragmented
            n, start = self.buffer[1] & 0x7F, 2
            if n >= 126:
                start = 4 if n == 126 else 10
                if len(self.buffer) < start:
                    return
                n = int.from_bytes(self.buffer[2:start], "big")
            if len(self.buffer) < start + n:
                return
            opcode, payload = self.buffer[0] & 0x0F, self.buffer[start:start + n]
            self.buffer = self.buffer[start + n:]
            if opcode == 0x1:
                self.message(orjson.loads(payload))

    def message(self, msg: dict[str, Any]) -> None:
        kind, seq = msg.get("type"), msg.get("seq")
        if kind == "welcome":
            self.welcome = seq
            self.owner.backoffs[self.slot].reset()  # that connection worked: come back fast next time
        elif kind in ("event", "snapshot") and isinstance(seq, int):
            self.owner.last_seq[self.slot] = seq
        else:
            return
        since = self.owner.last_seq.get(self.slot)
        if not self.synced and self.welcome is not None and since is not None and since >= self.welcome:
            self.synced = True
            self.owner.synced(self.slot)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.reconnect(self.slot)


class Screens:
    """The screens of one receiver process, and the times they resynced."""

    def __init__(self, server: str, token: str, initial: float, fast_for: float) -> None:
        url = urlsplit(endpoints(server).ws)
        self.host, self.port, self.path = url.hostname, url.port, url.path
        self.token = token
        self.initial, self.fast_for = initial, fast_for
        self.last_seq: dict[int, int] = {}  # per screen: its since
        self.backoffs: dict[int, Backoff] = {}
        self.synced_at: dict[int, float] = {}
        self.attempts = 0
        self.all_synced = asyncio.Event()
        self.count = 0

    async def open(self, slot: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.attempts += 1
            try:
                await loop.create_connection(lambda: Screen(self, slot), self.host, self.port)
                return
            except OSError:
                await asyncio.sleep(self.backoffs[slot].next())

    def synced(self, slot: int) -> None:
        self.synced_at[slot] = time.monotonic()
        if len(self.synced_at) == self.count:
            self.all_synced.set()

    def reconnect(self, slot: int) -> None:
        delay = self.backoffs[slot].next()
        asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self.open(slot)))

    async def start(self, count: int) -> None:
        self.count = count
        for slot in range(count):
            self.backoffs[slot] = Backoff(initial=self.initial, fast_for=self.fast_for)
            await self.open(slot)
        await self.all_synced.wait()


def receiver(server: str, token: str, count: int, initial: float, fast_for: float, nice: int, commands: Any,
             results: Any) -> None:
    os.nice(nice)

    async def run() -> None:
        screens = Screens(server, token, initial, fast_for)
        await screens.start(count)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command == "stop":
                return
            # "arm": forget the last resync and wait for the next one
            screens.synced_at.clear()
            screens.all_synced.clear()
            screens.attempts = 0
            results.put("armed")
            try:
                await asyncio.wait_for(screens.all_synced.wait(), 60)
            except asyncio.TimeoutError:
                pass
            results.put((list(screens.synced_at.values()), screens.attempts))

    uvloop.run(run())


async def issue(server: Server, token: str, count: int) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for _ in range(count):
            async with s.post(server.base + "/api/v1/tickets", json={"service": "pension"}) as r:
                assert r.status == 201, await r.text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--down", type=float, default=0.5, help="seconds between the SIGKILL and the new start")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--initial", type=float, default=Backoff().initial)
    parser.add_argument("--fast-for", type=float, default=Backoff().fast_for)
    parser.add_argument("--nice", type=int, default=0, help="the screens' processes' niceness")
    args = parser.parse_args()
    server = Server()
    display, kiosk = server.token("display"), server.token("kiosk")
    server.start()
    asyncio.run(issue(server, kiosk, 20))
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(RECEIVERS)]
    results = ctx.Queue()
    procs = [ctx.Process(target=receiver, args=(server.base, display, args.screens // RECEIVERS, args.initial,
                                                args.fast_for, args.nice, commands[i], results)) for i in range(RECEIVERS)]
    for p in procs:
        p.start()
    print(f"{args.screens} screens, backoff initial {args.initial} s, fast for {args.fast_for} s; down {args.down} s")
    print(f"{'run':>4} {'ready s':>8} {'p50 s':>7} {'p99 s':>7} {'all s':>7} {'resynced':>9} {'attempts':>9} {'server CPU s':>13} {'load':>6}")
    alls = []
    try:
        for run in range(1, args.runs + 1):
            for q in commands:
                q.put("arm")
            for _ in procs:
                assert results.get(timeout=120) == "armed"  # also: every screen is connected and in sync
            asyncio.run(issue(server, kiosk, 5))  # the screens follow along before the crash
            time.sleep(0.5)
            load = os.getloadavg()[0]
            killed = time.monotonic()
            assert server.proc is not None
            server.proc.kill()
            server.proc.wait()
            time.sleep(args.down)
            server.start()
            ready = time.monotonic() - killed
            times: list[float] = []
            attempts = 0
            for _ in procs:
                synced, tries = results.get(timeout=120)
                times.extend(t - killed for t in synced)
                attempts += tries
            cpu = server.cpu_seconds()
            alls.append(max(times))
            print(f"{run:>4} {ready:>8.2f} {percentile(times, 50):>7.2f} {percentile(times, 99):>7.2f} {max(times):>7.2f}"
                  f" {len(times) / args.screens:>9.1%} {attempts:>9} {cpu:>13.2f} {max(load, os.getloadavg()[0]):>6.1f}",
                  flush=True)
    finally:
        for q in commands:
            q.put("stop")
        for p in procs:
            p.join(30)
        server.stop()
    print(f"RESULT reconnect_storm screens={args.screens} all_s={statistics.median(alls):.3f} load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
