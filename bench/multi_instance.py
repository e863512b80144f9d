"""SQLite, Redis with one server process and Redis with two: tickets/s and call → event latency.

Run by hand: ``.venv/bin/python bench/multi_instance.py [--tickets 4000] [--calls 200] [--fold]``.

All three setups run in one invocation on one machine, each on a fresh store:
- throughput: ``--tickets`` tickets issued by 32 concurrent kiosks (``http_load.load``),
  split evenly over the processes; every 201 is durable (SQLite synchronous=FULL,
  Redis appendonly yes + appendfsync always, the setting docs/deployment.md requires);
- latency: a keypad calls the next ticket at window 15 on the first process, one call
  at a time, and a WebSocket screen on every process times the ``ticket.called`` event
  from just before the POST; then the same while 32 kiosks keep issuing tickets.

``--fold`` measures one term of the model in docs/benchmarks.md alone: two processes on
Redis, every ticket taken by the first, and the CPU per ticket of the second, which only
folds the first one's events into its state and its screens' frames.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from queue_server.protocol.client import HallClient

from http_load import load
from redisproc import RedisProc
from serverproc import Server, percentile


class Screens:
    """One WebSocket screen per process, on the shared client; records when each saw each called ticket."""

    def __init__(self, bases: list[str]) -> None:
        self.seen: list[dict[str, float]] = [{} for _ in bases]
        self.changed = asyncio.Event()
        self.clients = [HallClient(base, None, ["window:15"], on_message=partial(self._on_message, i))
                        for i, base in enumerate(bases)]

    def _on_message(self, i: int, msg: dict[str, Any]) -> None:
        if msg.get("name") == "ticket.called":
            self.seen[i][msg["data"]["ticket"]["number"]] = time.perf_counter()
            self.changed.set()

    async def start(self) -> None:
        for client in self.clients:
            client.start()
        for client in self.clients:
            await client.wait_connected(timeout=30)

    async def stop(self) -> None:
        await asyncio.gather(*(client.stop() for client in self.clients))

    async def arrival(self, number: str) -> list[float]:
        while not all(number in s for s in self.seen):
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 30)
        return [s[number] for s in self.seen]


async def latency(servers: list[Server], kiosk: str, agent: str, calls: int, background: bool) -> list[list[float]]:
    """Call-next → event latency (seconds) as seen by each process's screen."""
    base = servers[0].base
    out: list[list[float]] = [[] for _ in servers]
    async with aiohttp.ClientSession() as s:
        screens = Screens([x.base for x in servers])
        await screens.start()
        k = {"Authorization": f"Bearer {kiosk}"}
        a = {"Authorization": f"Bearer {agent}"}
        for _ in range(calls):
            async with s.post(base + "/api/v1/tickets", json={"service": "pension"}, headers=k) as r:
                assert r.status == 201
        async with s.post(base + "/api/v1/windows/15/open", json={"staff_no": "0015"}, headers=a) as r:
            assert r.status in (200, 409), await r.text()
        noise = [asyncio.create_task(load(x.base, kiosk, 32 // len(servers), 10**9)) for x in servers] if background else []
        for _ in range(calls):
            t0 = time.perf_counter()
            async with s.post(base + "/api/v1/windows/15/call-next", headers=a) as r:
                assert r.status == 200, await r.text()
                number = (await r.json())["number"]
            for i, t in enumerate(await screens.arrival(number)):
                out[i].append(t - t0)
        for task in noise:
            task.cancel()
        await asyncio.gather(*noise, return_exceptions=True)
        await screens.stop()
    return out


async def throughput(servers: list[Server], kiosk: str, total: int, redis: RedisProc | None) -> dict[str, float]:
    share = total // len(servers)
    cpu0 = sum(x.cpu_seconds() for x in servers)
    rcpu0 = redis.cpu_seconds() if redis else 0.0
    t0 = time.perf_counter()
    parts = await asyncio.gather(*(load(x.base, kiosk, 32 // len(servers), share) for x in servers))
    wall = time.perf_counter() - t0
    cpu = sum(x.cpu_seconds() for x in servers) - cpu0
    rcpu = (redis.cpu_seconds() - rcpu0) if redis else 0.0
    n = share * len(servers)
    return {"rate": n / wall, "p50": max(p["p50"] for p in parts), "p99": max(p["p99"] for p in parts),
            "cpu": cpu / n * 1000, "redis_cpu": rcpu / n * 1000}


async def caught_up(servers: list[Server]) -> None:
    """Until every process has dispatched what the first one has (their /readyz ``seq``)."""
    async with aiohttp.ClientSession() as s:
        async def seq(x: Server) -> int:
            async with s.get(x.base + "/readyz") as r:
                return int((await r.json())["seq"])
        target = await seq(servers[0])
        while min([await seq(x) for x in servers[1:]]) < target:
            await asyncio.sleep(0.05)


async def fold(servers: list[Server], kiosk: str, total: int, redis: RedisProc) -> dict[str, float]:
    """Every ticket to the first process: the second only folds them (the model's c_fold)."""
    cpu0 = [x.cpu_seconds() for x in servers]
    rcpu0 = redis.cpu_seconds()
    t0 = time.perf_counter()
    await load(servers[0].base, kiosk, 16, total)
    wall = time.perf_counter() - t0
    await caught_up(servers)
    cpu = [(x.cpu_seconds() - c) / total * 1000 for x, c in zip(servers, cpu0)]
    return {"rate": total / wall, "taking": cpu[0], "folding": cpu[1], "redis_cpu": (redis.cpu_seconds() - rcpu0) / total * 1000}


def run_setup(name: str, store: str | None, processes: int, args: argparse.Namespace,
              redis: RedisProc | None = None) -> dict[str, Any]:
    servers = [Server(store) for _ in range(processes)]
    first = servers[0]
    kiosk = first.token("kiosk")
    agent = first.token("agent", "--windows", "15")
    first.user("clerk15", staff_no="0015")
    for x in servers:
        x.start()
    try:
        if args.fold:
            assert redis is not None and processes == 2
            return {"name": name, **asyncio.run(fold(servers, kiosk, args.tickets, redis))}
        tp = asyncio.run(throughput(servers, kiosk, args.tickets, redis))
        idle = asyncio.run(latency(servers, kiosk, agent, args.calls, background=False))
        busy = asyncio.run(latency(servers, kiosk, agent, args.calls, background=True))
    finally:
        for x in servers:
            x.stop()
    return {"name": name, **tp, "idle": idle, "busy": busy}


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=4000, help="tickets issued for the throughput figure")
    parser.add_argument("--calls", type=int, default=200, help="calls timed, idle and under load")
    parser.add_argument("--fold", action="store_true",
                        help="only this: two processes on Redis, every ticket to the first; CPU per ticket of each")
    args = parser.parse_args()
    redis = RedisProc(Path(tempfile.mkdtemp(prefix="hallcall-bench-redis-"))).start()
    if args.fold:
        try:
            r = run_setup("Redis, 2 processes", redis.url(2), 2, args, redis)
        finally:
            redis.stop()
        print(f"{r['rate']:.0f} tickets/s; CPU ms per ticket: taking them {r['taking']:.3f}, "
              f"folding them {r['folding']:.3f}, redis-server {r['redis_cpu']:.3f}", flush=True)
        return
    try:
        results = [
            run_setup("SQLite, 1 process", None, 1, args),
            run_setup("Redis, 1 process", redis.url(1), 1, args, redis),
            run_setup("Redis, 2 processes", redis.url(2), 2, args, redis),
        ]
    finally:
        redis.stop()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; redis-server {redis.version()}")
    print(f"{'setup':<20} {'tickets/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/t':>8} {'redis ms/t':>10} | "
          "call → event p50 / p99 ms: idle, same process | idle, other process | under load, same | under load, other")
    for r in results:
        cols = []
        for kind in ("idle", "busy"):
            lat = r[kind]
            cols.append(f"{ms(lat[0], 50)} / {ms(lat[0], 99)}")
            cols.append(f"{ms(lat[1], 50)} / {ms(lat[1], 99)}" if len(lat) > 1 else "—")
        print(f"{r['name']:<20} {r['rate']:>9.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['cpu']:>8.3f} {r['redis_cpu']:>10.3f} | "
              f"{cols[0]} | {cols[1]} | {cols[2]} | {cols[3]}", flush=True)


if __name__ == "__main__":
    main()
