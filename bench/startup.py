"""Benchmark: ``hallcall serve`` start-up on a store with a million tickets of history.

    .venv/bin/python bench/startup.py [--db var/bench/million.db] [--tickets 1000000] [--runs 5]

The store is made once and kept (delete the file to make it again), as
``bench/reports_year.py`` makes its year: the sample day (tests/data/taikang-day.csv)
replayed through the real Hall, then its final records committed for each working day
after it, up to yesterday, until the store holds ``--tickets``; the event log is pruned
as it goes but for the last days (what screens reconnecting after a restart replay).

Each run starts a real ``hallcall serve`` process on that store and measures the time
from spawning it to its ``ready`` line, its CPU time by then, and its resident memory
once ready. Prints one line per run and a summary line that ``bench/run.py`` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reports_year import TRACE, sample_day, shifted, writing  # noqa: E402
from serverproc import Server  # noqa: E402

from queue_server.core.model import Event  # noqa: E402
from queue_server.sim import replay as simulate  # noqa: E402


def working_days_before(last: date, count: int) -> list[date]:
    """``count`` working days (Monday to Friday) before ``last``, oldest first."""
    days, d = [], last - timedelta(days=1)
    while len(days) < count:
        if d.isoweekday() <= 5:
            days.append(d)
        d -= timedelta(days=1)
    return days[::-1]


async def make_store(db: Path, tickets_wanted: int) -> None:
    async with writing(db) as (cfg, store):
        started = time.perf_counter()
        # The sample day is the first; the others come after it, up to yesterday, so the
        # log stays in order of days.
        days = working_days_before(date.today(), -(-tickets_wanted // len(simulate.read_trace(TRACE))))
        source = days[0]
        d = source.isoformat()
        tickets, visits, ratings, marks, seq = await sample_day(cfg, store, source)
        for i, target in enumerate(days[1:], 2):
            events = shifted(d, target - source, tickets, visits, ratings, marks)
            events = [Event(seq + 1, "day.started", events[0].at, extra={"day": target.isoformat()})] + [
                replace(e, seq=seq + k) for k, e in enumerate(events, 2)]
            await store.commit(seq, events)
            seq = events[-1].seq
            if i % 20 == 0 or i == len(days):
                await store.prune_events((target - timedelta(days=3)).isoformat())  # type: ignore[attr-defined]
                print(f"  {i} days, {i * len(tickets):,} tickets ({time.perf_counter() - started:.0f} s)", flush=True)


def one_start(db: Path) -> tuple[float, float, float]:
    """Seconds to ``ready``, CPU seconds by then, RSS in MB once ready."""
    work = Path(tempfile.mkdtemp(prefix="hallcall-startup-"))
    server = Server(store=f"sqlite://{db}", workdir=work)
    t0 = time.perf_counter()
    server.start()
    ready = time.perf_counter() - t0
    cpu = server.cpu_seconds()
    rss = server.rss_mb()
    server.stop()
    return ready, cpu, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(ROOT / "var" / "bench" / "million.db"))
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    db = Path(args.db)
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        asyncio.run(make_store(db, args.tickets))
    count = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM tickets; SELECT count(*) FROM events;"],
                           capture_output=True, text=True).stdout.split()
    if count:
        print(f"store: {db} ({db.stat().st_size / 1e6:.0f} MB): {int(count[0]):,} tickets, {int(count[1]):,} events in the log")
    results = []
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        ready, cpu, rss = one_start(db)
        results.append((ready, cpu, rss))
        print(f"ready in {ready:.2f} s, CPU {cpu:.2f} s, RSS {rss:.1f} MB (load {load:.1f})", flush=True)
    print(f"RESULT startup ready_s={statistics.median(r[0] for r in results):.3f} "
          f"cpu_s={statistics.median(r[1] for r in results):.3f} rss_mb={statistics.median(r[2] for r in results):.1f} "
          f"load={os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
