"""Call-next returning → the event arriving at N WebSocket clients; server memory.

Run by hand: ``.venv/bin/python bench/ws_fanout.py [--clients 100 1000] [--calls 200]``.
Clients live in separate receiver processes (so one client process's own speed does not
dominate) and stamp arrivals with the system-wide monotonic clock, which the caller
uses too. Afterwards the server's RSS is read with 1,000 clients connected and
10,000 tickets issued.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from queue_server import protocol
from queue_server.protocol.client import endpoints

from http_load import SERVICES
from serverproc import Server, percentile

RECEIVERS = 2


CALLED = re.compile(rb'"name":"ticket\.called".{0,200}?"number":"([A-Z]{1,2}[0-9]{3,4})"', re.S)


class RawSocket(asyncio.Protocol):
    """A WebSocket client that does almost nothing: the fewest cycles between a frame and its stamp.

    Server frames are unmasked text; the call's number is found by a byte scan of the
    stream, so 1,000 of these cost the machine far less than 1,000 full clients
    (``queue_server.protocol.client.HallClient``, which multi_instance.py uses). The
    hello and the address come from the protocol module all the same.
    """

    def __init__(self, path: str, hello: bytes, arrivals: dict[bytes, list[float]], connected: asyncio.Future[None]) -> None:
        self.path, self.hello, self.arrivals, self.connected = path, hello, arrivals, connected
        self.buffer = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.upgraded:
            self.buffer += data
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.upgraded = True
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.hello))
            assert len(payload) < 126, "a longer hello needs the extended length field"
            self.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + payload)
            self.connected.set_result(None)
            data, self.buffer = rest, b""
        stream = self.buffer + data
        end = 0
        for m in CALLED.finditer(stream):
            self.arrivals.setdefault(m.group(1), []).append(now)
            end = m.end()
        self.buffer = stream[max(end, len(stream) - 400):]  # a call split across reads is found next time


def receiver(server: str, count: int, ready: Any, results: Any, stop: Any) -> None:
    url = urlsplit(endpoints(server).ws)
    host, port, path = url.hostname, url.port, url.path
    hello = protocol.encode(protocol.hello(None, [protocol.topic_hall()])).encode()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        arrivals: dict[bytes, list[float]] = {}
        for _ in range(count):
            connected: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(lambda: RawSocket(path, hello, arrivals, connected), host, port)
            await connected
        ready.set()
        await loop.run_in_executor(None, stop.wait)
        results.put({k.decode(): v for k, v in arrivals.items()})

    asyncio.run(run())


async def open_windows(server: Server, n: int) -> list[aiohttp.ClientSession]:
    sessions = []
    for w in range(1, n + 1):
        s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1
        async with s.post(server.base + "/api/v1/login", json={"login": f"bench{w}", "password": "bench-password"}) as r:
            csrf = (await r.json())["csrf_token"]
        s.headers["X-CSRF-Token"] = csrf
        async with s.post(server.base + f"/api/v1/windows/{w}/open") as r:
            assert r.status == 200, await r.text()
        sessions.append(s)
    return sessions


async def issue(server: Server, token: str, count: int, service: str = "company-registration") -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async def worker(k: int) -> None:
            for _ in range(k):
                async with s.post(server.base + "/api/v1/tickets", json={"service": service}) as r:
                    assert r.status == 201, await r.text()
        await asyncio.gather(*(worker(count // 32) for _ in range(32)))


def start_receivers(server: Server, clients: int) -> tuple[list[Any], Any, Any]:
    """``clients`` WebSocket clients over RECEIVERS processes, all connected on return."""
    ctx = mp.get_context("spawn")
    ready = [ctx.Event() for _ in range(RECEIVERS)]
    stop = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=receiver, args=(server.base, clients // RECEIVERS, ready[i], results, stop))
             for i in range(RECEIVERS)]
    for p in procs:
        p.start()
    for e in ready:
        e.wait(120)
    return procs, results, stop


def measure(clients: int, calls: int) -> dict[str, float]:
    server = Server()
    kiosk = server.token("kiosk")
    server.user("bench1", staff_no="0001")
    server.start()
    procs, results, stop = start_receivers(server, clients)

    async def drive() -> dict[str, float]:
        await issue(server, kiosk, calls + 32)
        [clerk] = await open_windows(server, 1)
        sent: dict[str, float] = {}
        for i in range(calls):
            if i:  # the clerk gives the outcome of the ticket at the window before calling the next
                async with clerk.post(server.base + "/api/v1/windows/1/finish", json={"outcome": "done"}) as r:
                    assert r.status == 200
            async with clerk.post(server.base + "/api/v1/windows/1/call-next") as r:
                assert r.status == 200
                number = (await r.json())["number"]
                sent[number] = time.monotonic()
            await asyncio.sleep(0.02)  # a busy hall calls a few times a second, not back to back
        await clerk.close()
        return sent

    sent = asyncio.run(drive())
    stop.set()
    latencies: list[float] = []
    for _ in procs:
        arrivals = results.get(timeout=60)
        for number, times in arrivals.items():
            if number in sent:
                latencies.extend((t - sent[number]) * 1000 for t in times)
    for p in procs:
        p.join(30)
    rss = server.rss_mb()
    server.stop()
    expected = calls * clients
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies),
            "delivered": len(latencies) / expected, "rss": rss}


def memory(clients: int, tickets: int) -> float:
    server = Server()
    kiosk = server.token("kiosk")
    server.start()
    procs, results, stop = start_receivers(server, clients)
    async def fill() -> None:
        per = tickets // len(SERVICES)
        await asyncio.gather(*(issue(server, kiosk, per, s) for s in SERVICES))

    asyncio.run(fill())
    rss = server.rss_mb()
    stop.set()
    for _ in procs:
        results.get(timeout=60)
    for p in procs:
        p.join(30)
    server.stop()
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    print(f"{'clients':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'delivered':>10}")
    for n in args.clients:
        r = measure(n, args.calls)
        print(f"{n:>8} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['delivered']:>10.1%}", flush=True)
    print(f"server RSS with 1000 clients and 10000 tickets: {memory(1000, 10_000):.0f} MB")


if __name__ == "__main__":
    main()
