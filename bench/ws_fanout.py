"""Call-next returning → the event arriving at N WebSocket clients, under load; server memory.

Run by hand: ``.venv/bin/python bench/ws_fanout.py [--clients 100 1000] [--calls 200] [--issue-rate 500]``.
The server is a real ``hallcall serve`` process. Clients live in separate receiver
processes (so one client process's own speed does not dominate) and stamp arrivals with
the system-wide monotonic clock, which the caller uses too. While the clerk calls, a
kiosk process of its own issues tickets at ``--issue-rate`` per second (0: a quiet hall),
and every one of those is an event for every screen too. Server CPU per event is the
server process's CPU time over the calls divided by the events it passed on meanwhile.
Afterwards the server's RSS is read with 1,000 clients connected and 10,000 tickets issued.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import re
import time
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlsplit

import aiohttp
import uvloop

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
        stream = self.buffer + data if self.buffer else data
        end = 0
        if stream.find(b"ticket.called") >= 0:  # most frames are other events: a fast scan first
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
        results.put(({k.decode(): v for k, v in arrivals.items()}, time.process_time()))

    uvloop.run(run())  # the cheapest loop: the receivers share the machine with the server


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


def kiosk_load(server: str, token: str, rate: float, ready: Any, stop: Any, results: Any) -> None:
    """Issue tickets at ``rate`` per second, on a schedule, until ``stop``; report the count."""
    others = [s for s in SERVICES if s != "company-registration"]  # the clerk's own queue stays as it was

    async def run() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        issued = 0
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=32)) as s:
            async def one(n: int) -> None:
                nonlocal issued
                async with s.post(server + "/api/v1/tickets", json={"service": others[n % len(others)]}) as r:
                    await r.read()
                    issued += r.status == 201

            tasks: set[asyncio.Task[None]] = set()
            ready.set()
            start = time.monotonic()
            n = 0
            while not stop.is_set():
                n += 1
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
            results.put((issued, time.monotonic() - start, time.process_time()))

    uvloop.run(run())


@contextmanager
def issuing(server: Server, token: str, rate: float) -> Iterator[dict[str, float]]:
    """Tickets issued at ``rate`` per second from a process of their own while the block runs."""
    out: dict[str, float] = {"issued": 0, "rate": 0.0, "cpu": 0.0}
    if rate <= 0:
        yield out
        return
    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=kiosk_load, args=(server.base, token, rate, ready, stop, results))
    proc.start()
    ready.wait(60)
    try:
        yield out
    finally:
        stop.set()
        issued, seconds, cpu = results.get(timeout=60)
        proc.join(30)
        out.update(issued=issued, rate=issued / seconds, cpu=cpu)


async def last_seq(server: Server) -> int:
    async with aiohttp.ClientSession() as s, s.get(server.base + "/readyz") as r:
        return int((await r.json())["seq"])


def measure(clients: int, calls: int, rate: float = 0.0) -> dict[str, float]:
    server = Server()
    kiosk = server.token("kiosk")
    server.user("bench1", staff_no="0001")
    server.start()
    procs, results, stop = start_receivers(server, clients)
    asyncio.run(issue(server, kiosk, calls + 32))
    load = os.getloadavg()[0]
    seq0, cpu0 = asyncio.run(last_seq(server)), server.cpu_seconds()

    async def drive() -> dict[str, float]:
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

    with issuing(server, kiosk, rate) as kiosks:
        sent = asyncio.run(drive())
    cpu, events = server.cpu_seconds() - cpu0, asyncio.run(last_seq(server)) - seq0
    load = max(load, os.getloadavg()[0])
    time.sleep(1.0)  # frames still on their way to slow receiver processes are counted
    stop.set()
    latencies: list[float] = []
    receivers_cpu = 0.0
    for _ in procs:
        arrivals, used = results.get(timeout=60)
        receivers_cpu += used
        for number, times in arrivals.items():
            if number in sent:
                latencies.extend((t - sent[number]) * 1000 for t in times)
    for p in procs:
        p.join(30)
    rss = server.rss_mb()
    server.stop()
    expected = calls * clients
    return {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "max": max(latencies), "delivered": len(latencies) / expected, "rss": rss, "issued_per_s": kiosks["rate"],
            "cpu_ms_per_event": cpu * 1000 / max(events, 1), "events": events, "load": load,
            "receivers_cpu_s": receivers_cpu, "kiosks_cpu_s": kiosks["cpu"], "server_cpu_s": cpu}


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
    parser.add_argument("--issue-rate", type=float, default=500.0, help="tickets issued per second meanwhile (0: none)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory run")
    args = parser.parse_args()
    print(f"{'clients':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'delivered':>10}"
          f" {'p95 ms':>8} {'issued/s':>9} {'events':>7} {'CPU ms/event':>13} {'load':>6}")
    for n in args.clients:
        r = measure(n, args.calls, args.issue_rate)
        print(f"{n:>8} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['delivered']:>10.1%}"
              f" {r['p95']:>8.1f} {r['issued_per_s']:>9.0f} {r['events']:>7} {r['cpu_ms_per_event']:>13.3f} {r['load']:>6.1f}",
              flush=True)
        print(f"         CPU seconds: server {r['server_cpu_s']:.1f} over the calls, receivers {r['receivers_cpu_s']:.1f}"
              f" and kiosks {r['kiosks_cpu_s']:.1f} in all", flush=True)
    if args.no_memory:
        return
    print(f"server RSS with 1000 clients and 10000 tickets: {memory(1000, 10_000):.0f} MB")


if __name__ == "__main__":
    main()
