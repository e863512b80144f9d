"""The demo's simulated hall looks like a real day: its clerks press 开始办理 before finishing,
and on the demo's clock nobody is marked late or absent, whatever hour the demo starts."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, time
from pathlib import Path
from typing import Any, NoReturn

from queue_server.cli import demo
from queue_server.core.clock import ManualClock
from queue_server.features import catalog
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store import open_store

TIMEOUT = 120


async def test_demo_traffic_serves_citizens_and_nobody_is_late(tmp_path: Path) -> None:
    cfg = demo.demo_config(f"sqlite://{tmp_path}/demo.db")
    await demo.seed(cfg)
    tz = cfg.hall.tz
    # The demo's own clock starts just before the hall opens, on today or the next working
    # day, whatever the hour and the day now.
    start = demo.demo_clock(cfg).now().astimezone(tz)
    assert time(8, 27) <= start.time() <= time(8, 29)
    assert cfg.calendar.is_workday(start.date()), start
    clock = ManualClock(datetime(2026, 12, 1, start.hour, start.minute, tzinfo=tz))
    until = datetime(2026, 12, 1, 10, 0, tzinfo=tz)
    stretch_over = asyncio.Event()

    async def sleep(seconds: float) -> None:
        """Simulated time: the clock moves instead of the test waiting."""
        clock.advance(seconds)
        if clock.now() >= until:
            stretch_over.set()
            await park()

    async def park() -> NoReturn:
        await asyncio.Future()
        raise AssertionError("unreachable")

    store = open_store(cfg.store_url, hall_id=cfg.hall.id)
    await store.open()
    hall = Hall(cfg, store, clock, features=catalog.build(cfg))
    await hall.start(day_timer=False, tickers=False)
    try:
        traffic = asyncio.create_task(demo._simulate(hall, random.Random(7), sleep))
        await asyncio.wait_for(stretch_over.wait(), TIMEOUT)
        traffic.cancel()
        await asyncio.gather(traffic, return_exceptions=True)
        manager = auth.Principal("manager", "test", "test")
        figures: dict[str, Any] = await hall.execute("report_figures", manager, by="window")
        attendance: dict[str, Any] = await hall.execute("report_attendance", manager, by="clerk")
    finally:
        await hall.stop()
        await store.close()

    handling = figures["hall"]["handling"]
    assert handling["count"] > 20 and handling["mean"] > 0
    simulated = {number for number, *_ in demo.SIMULATED}
    served = {row["key"]: row["handling"] for row in figures["rows"] if row["handling"]["count"]}
    assert set(served) == simulated and all(h["mean"] > 0 for h in served.values())
    rows = attendance["rows"]
    assert len(rows) == len(demo.SIMULATED)
    assert [(r["name"], r["late"], r["absent_spans"]) for r in rows if r["late"] or r["absent_spans"]] == []
