"""Benchmark: how fast the day replayer plays the sample 2,200-ticket day into a fresh store.

    .venv/bin/python bench/replay.py [--runs 3] [--synchronous full|normal] [--no-alerts]

Each run replays tests/data/taikang-day.csv through the real Hall on a new SQLite file
and prints wall time, CPU time, events committed and commits (batches). The default
``synchronous=normal`` is what ``hallcall simulate`` uses; ``full`` fsyncs every commit
as the live server does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_server.core import config
from queue_server.service.hall import Hall  # noqa: E402
from queue_server.sim import replay as simulate  # noqa: E402
from queue_server.store import open_store  # noqa: E402

HALL = ROOT / "queue_server" / "halls" / "taikang.toml"
TRACE = ROOT / "tests" / "data" / "taikang-day.csv"


async def one(dir: Path, sync: str, alerts: bool) -> tuple[float, float, simulate.ReplayResult, int]:
    url = f"sqlite://{dir}/day.db?synchronous={sync}"
    cfg = config.load(HALL, store_url=url)
    options = simulate.settings(cfg, alerts_every_seconds=None if alerts else 0)
    batches = 0
    run_batch = Hall._run_batch

    async def counting(self: Hall, jobs: list) -> None:  # type: ignore[type-arg]
        nonlocal batches
        batches += 1
        await run_batch(self, jobs)

    Hall._run_batch = counting  # type: ignore[method-assign]
    store = open_store(url, hall_id=cfg.hall.id)
    await store.open()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        [result] = await simulate.replay(cfg, store, simulate.read_trace(TRACE), options)
        return time.perf_counter() - wall, time.process_time() - cpu, result, batches
    finally:
        Hall._run_batch = run_batch  # type: ignore[method-assign]
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--synchronous", choices=["full", "normal"], default="normal")
    parser.add_argument("--no-alerts", action="store_true", help="do not run the alert checker during the replay")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    walls = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            wall, cpu, r, batches = asyncio.run(one(Path(d), args.synchronous, not args.no_alerts))
        walls.append(wall)
        print(f"run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, {r.issued} tickets, {r.events} events in {batches} commits "
              f"({r.events / wall:,.0f} events/s)")
    print(f"best {min(walls):.2f} s, median {statistics.median(walls):.2f} s (synchronous={args.synchronous})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
