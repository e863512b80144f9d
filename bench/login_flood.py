"""The hall's health check while a crowd of clients sends wrong passwords.

Run by hand: ``.venv/bin/python bench/login_flood.py [--workers 50] [--seconds 10]``.
One fresh ``hallcall serve``; ``--workers`` clients post wrong passwords as fast as they are
answered, every other one for ``admin`` and the rest for logins that do not exist (and no
lockout of one login stops that), each request from another address (``X-Forwarded-For``, as
nginx on the same host would send it), so no per-address throttle helps and only the
bounded hashing does. Meanwhile one client asks ``GET /api/v1/health`` every 50 ms.
Prints health p50/p99 with and without the flood, and the sign-in answers by status.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import time

import aiohttp

from serverproc import Server, percentile


async def health(base: str, seconds: float) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as s:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            async with s.get(base + "/api/v1/health") as r:
                await r.read()
            out.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.05)
    return out


async def flood(base: str, workers: int, stop: asyncio.Event, statuses: collections.Counter[int]) -> None:
    counter = itertools.count()

    async def worker(s: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            n = next(counter)
            headers = {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
            async with s.post(base + "/api/v1/login", json={"login": f"user{n}" if n % 2 else "admin", "password": f"wrong-{n}"},
                              headers=headers) as r:
                await r.read()
                statuses[r.status] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as s:
        await asyncio.gather(*(worker(s) for _ in range(workers)))


async def run(workers: int, seconds: float) -> None:
    server = Server()
    server.user("admin", "admin")
    server.start()
    try:
        quiet = await health(server.base, seconds / 2)
        stop, statuses = asyncio.Event(), collections.Counter[int]()
        attack = asyncio.create_task(flood(server.base, workers, stop, statuses))
        await asyncio.sleep(1)
        loud = await health(server.base, seconds)
        stop.set()
        await attack
        for name, ms in (("quiet", quiet), ("flood", loud)):
            print(f"{name}: health p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  ({len(ms)} checks)")
        print("sign-in answers:", dict(sorted(statuses.items())))
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    asyncio.run(run(a.workers, a.seconds))


if __name__ == "__main__":
    main()
