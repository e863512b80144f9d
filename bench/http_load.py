"""Tickets issued per second and latency at concurrency 1, 8 and 32 against ``hallcall serve``.

Run by hand: ``.venv/bin/python bench/http_load.py [--requests 4000] [--store URL]``.
Every ticket is durable when its 201 arrives (SQLite WAL, synchronous=FULL).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from serverproc import Server, percentile

SERVICES = ["pension", "social-card", "referral", "medical-reimbursement", "housing-fund", "employment",
            "tax-invoice", "company-registration"]


async def load(base: str, token: str, concurrency: int, total: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(total))
    headers = {"Authorization": f"Bearer {token}"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=conn) as s:
        async def worker() -> None:
            for n in counter:
                t0 = time.perf_counter()
                async with s.post(base + "/api/v1/tickets", json={"service": SERVICES[n % len(SERVICES)]}) as r:
                    await r.read()
                    assert r.status == 201, r.status
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"rate": total / elapsed, "p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000, help="tickets per concurrency level")
    parser.add_argument("--store", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    print(f"{'concurrency':>11} {'tickets/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'server CPU ms/ticket':>21}")
    for concurrency in (1, 8, 32):
        server = Server(args.store)
        token = server.token("kiosk")
        server.start()
        try:
            total = args.requests if concurrency > 1 else min(args.requests, 1500)
            cpu0 = server.cpu_seconds()
            r = asyncio.run(load(server.base, token, concurrency, total))
            cpu = (server.cpu_seconds() - cpu0) / total * 1000
        finally:
            server.stop()
        print(f"{concurrency:>11} {r['rate']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {cpu:>21.3f}", flush=True)


if __name__ == "__main__":
    main()
