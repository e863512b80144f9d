"""Benchmark: reports over a year of a busy hall (~600,000 tickets) on the embedded store.

    .venv/bin/python bench/reports_year.py [--db var/bench/year.db] [--days 250] [--runs 5]

The year is made once and kept (delete the file to make it again): the sample day
(tests/data/taikang-day.csv) is replayed through the real Hall, then its final records —
tickets, visits, ratings, the attendance log — are committed through the store for each
working day of 2026 with every time moved to that day, as the hall's own commits would
have left them. The event log is pruned as it goes (reports read the projections only),
as a hall keeping a year of history would.

Then each report is timed (best and median of ``--runs``), cold and warm: a per-clerk
figures report for the year (counts, waits, handling, bands, satisfaction, attendance),
the year's assessment (twelve monthly tables and their means), and a per-service one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, AsyncIterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_server.core import config, periods
from queue_server.core.model import Event  # noqa: E402
from queue_server.features import catalog  # noqa: E402
from queue_server.reports import build as reports  # noqa: E402
from queue_server.reports.feature import Reports  # noqa: E402
from queue_server.sim import replay as simulate  # noqa: E402
from queue_server.store import open_store  # noqa: E402


def book(cfg: config.HallConfig, store: object) -> reports.Book:
    return catalog.build(cfg).get(Reports).book(store)  # type: ignore[arg-type]

HALL = ROOT / "queue_server" / "halls" / "taikang.toml"
TRACE = ROOT / "tests" / "data" / "taikang-day.csv"
SOURCE_DAY = date(2026, 12, 1)


def working_days(year: int, count: int) -> list[date]:
    days, d = [], date(year, 1, 1)
    while len(days) < count and d.year == year:
        if d.isoweekday() <= 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _move(value: datetime | None, delta: timedelta) -> datetime | None:
    return value + delta if value is not None else None


def shifted(day: str, delta: timedelta, tickets: list, visits: list, ratings: list, marks: list) -> list[Event]:
    """The day's final records moved by ``delta`` days, as events for the store (seq filled in later)."""
    new_day = (date.fromisoformat(day) + delta).isoformat()
    prefix, new_prefix = day.replace("-", ""), new_day.replace("-", "")
    out: list[Event] = []
    for t in tickets:
        t2 = replace(t, id=t.id.replace(prefix, new_prefix), day=new_day, token=f"{t.token}.{new_prefix}",
                     issued_at=t.issued_at + delta, queued_at=t.queued_at + delta, rank=t.rank + delta.total_seconds(),
                     called_at=_move(t.called_at, delta), started_at=_move(t.started_at, delta),
                     first_called_at=_move(t.first_called_at, delta), ended_at=_move(t.ended_at, delta),
                     missed_at=_move(t.missed_at, delta))
        out.append(Event(0, "ticket.issued", t2.issued_at, ticket=t2))
    for v in visits:
        v2 = replace(v, ticket=v.ticket.replace(prefix, new_prefix), day=new_day, queued_at=v.queued_at + delta,
                     called_at=v.called_at + delta, started_at=_move(v.started_at, delta), ended_at=v.ended_at + delta)
        out.append(Event(0, f"ticket.{'finished' if v.end == 'finished' else 'no_show'}", v2.ended_at, visit=v2))
    for e in ratings:
        e2 = replace(e, ticket=e.ticket.replace(prefix, new_prefix), day=new_day, at=_move(e.at, delta))
        out.append(Event(0, "evaluation.submitted", e2.at, evaluation=e2))
    for m in marks:
        w = replace(m.window, since=_move(m.window.since, delta))
        out.append(Event(0, m.name, m.at + delta, window=w, extra=dict(m.extra)))
    out.sort(key=lambda e: e.at)
    return out


async def sample_day(cfg: config.HallConfig, store: Any, day: date) -> tuple[list, list, list, list, int]:  # type: ignore[type-arg]
    """Replay the sample day on ``day``; its final tickets, visits, ratings, window log and the last seq."""
    [result] = await simulate.replay(cfg, store, simulate.read_trace(TRACE), simulate.settings(cfg), days=[day])
    print(f"replayed the sample day: {result.line()}", flush=True)
    d = day.isoformat()
    tickets, visits, ratings = await store.tickets(d, d), await store.visits(d, d), await store.evaluations(d, d)
    return tickets, visits, ratings, await store.window_log(d, d), (await store.load()).seq


@contextlib.asynccontextmanager
async def writing(db: Path) -> AsyncIterator[tuple[config.HallConfig, Any]]:
    """The sample hall and its store in ``db``, opened to be filled fast (no fsync per commit)."""
    url = f"sqlite://{db}?synchronous=normal"
    cfg = config.load(HALL, store_url=url)
    store = open_store(url, hall_id=cfg.hall.id)
    await store.open()
    try:
        yield cfg, store
    finally:
        await store.close()


async def make_year(db: Path, days: int) -> None:
    async with writing(db) as (cfg, store):
        started = time.perf_counter()
        d = SOURCE_DAY.isoformat()
        tickets, visits, ratings, marks, seq = await sample_day(cfg, store, SOURCE_DAY)
        targets = [x for x in working_days(2026, days) if x != SOURCE_DAY][: days - 1]
        for i, target in enumerate(targets, 1):
            events = shifted(d, target - SOURCE_DAY, tickets, visits, ratings, marks)
            events = [replace(e, seq=seq + k) for k, e in enumerate(events, 1)]
            await store.commit(seq, events)
            seq = events[-1].seq
            if i % 20 == 0 or i == len(targets):
                await store.prune_events(target.isoformat())  # type: ignore[attr-defined]
                print(f"  {i + 1} days, {(i + 1) * len(tickets):,} tickets ({time.perf_counter() - started:.0f} s)", flush=True)


async def time_reports(db: Path, runs: int) -> None:
    url = f"sqlite://{db}"
    cfg = config.load(HALL, store_url=url)
    year = periods.parse("2026")
    store = open_store(url, hall_id=cfg.hall.id, admin=True)
    await store.open()
    try:
        counts = await store._read(lambda c: c.execute(  # type: ignore[attr-defined]
            "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM visits), (SELECT count(*) FROM evaluations), "
            "(SELECT count(*) FROM window_log)").fetchone())
        print(f"store: {db} ({db.stat().st_size / 1e6:.0f} MB): {counts[0]:,} tickets, {counts[1]:,} visits, "
              f"{counts[2]:,} ratings, {counts[3]:,} attendance lines")
        cases = [
            ("figures by clerk, year", lambda: reports.figures_report(book(cfg, store), year, "clerk")),
            ("assessment, year (12 months)", lambda: reports.assessment_report(book(cfg, store), year)),
            ("figures by service, year", lambda: reports.figures_report(book(cfg, store), year, "service")),
            ("figures by clerk, one month", lambda: reports.figures_report(book(cfg, store), periods.parse("2026-06"), "clerk")),
        ]
        for name, run in cases:
            took = []
            for _ in range(runs):
                t0 = time.perf_counter()
                report = await run()
                took.append(time.perf_counter() - t0)
            rows = len(report["rows"])
            print(f"{name:32s} first {took[0]:.2f} s, best {min(took):.2f} s, median {statistics.median(took):.2f} s "
                  f"({rows} rows)")
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(ROOT / "var" / "bench" / "year.db"))
    parser.add_argument("--days", type=int, default=250, help="working days in the year (250 × 2,200 = 550,000 tickets)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    db = Path(args.db)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        asyncio.run(make_year(db, args.days))
    asyncio.run(time_reports(db, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
