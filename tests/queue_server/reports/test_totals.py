"""Every total is the sum of its rows, and a closed day accounts for every ticket it issued, once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from queue_server.core import config, periods
from queue_server.core.clock import ManualClock
from queue_server.core.model import DeviceToken, Person
from queue_server.features import catalog
from queue_server.reports import build as reports
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store import open_store

from ...conftest import HALL_FILE, OPEN_TIME, TZ, book  # type: ignore[import-not-found]
from ..replay_kit import DAY, Replayed, read_store, replayed_day

DIMENSIONS = ("hall", "zone", "service", "department", "window", "clerk", "hour", "day", "month")
# Every column that counts something: its total must be the sum of the rows in every dimension.
COUNTS = ("issued", "called", "served", "no_show", "cancelled", "transferred", "expired",
          "wait.count", *(f"wait.bands.{b}" for b in ("0-5", "5-10", "10-15", "15-20", "20-30", ">30")),
          "wait.over_standard", "handling.count", "handling.over_standard",
          *(f"satisfaction.levels.{n}" for n in "54321"), "satisfaction.rated", "satisfaction.not_rated",
          "satisfaction.bad")
ATTENDANCE_COUNTS = ("days_present", "late", "early", "absent_spans", "pauses", "overtime_tickets")
# Minutes and hours are rounded per row (to 0.1 min, 0.01 h): the total may differ by the rows' rounding.
ATTENDANCE_AMOUNTS = {"late_minutes": 0.05, "early_minutes": 0.05, "away_minutes": 0.05, "pause_minutes": 0.05,
                      "overtime_minutes": 0.05,
                      "on_post_hours": 0.005, "working_hours": 0.005, "busy_hours": 0.005, "idle_hours": 0.005}
KIOSK = auth.from_device(DeviceToken("k1", "kiosk", "kiosk", "", green=True))
PAD = auth.from_device(DeviceToken("pad", "pad", "pads", "", windows=tuple(range(1, 41))))


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


def dig(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else None
    return value


def check_totals(report: dict[str, Any]) -> None:
    """The total of every count column is the sum of the rows (blank only where every row is blank)."""
    rows, total, by = report["rows"], report["hall"], report["by"]
    for column in COUNTS:
        cells = [dig(r, column) for r in rows]
        if all(c is None for c in cells):
            assert dig(total, column) is None, (by, column)
        else:
            assert dig(total, column) == sum(c or 0 for c in cells), (by, column, dig(total, column), sum(c or 0 for c in cells))
    if by in ("window", "clerk"):
        assert total["attendance"] is not None, by
        present = [r["attendance"] for r in rows if r["attendance"]]
        for column in ATTENDANCE_COUNTS:
            assert total["attendance"][column] == sum(a[column] for a in present), (by, column)
        for column, rounding in ATTENDANCE_AMOUNTS.items():
            assert abs(total["attendance"][column] - sum(a[column] for a in present)) <= rounding * len(present) + 1e-9, (by, column)


async def test_every_total_is_the_sum_of_its_rows(day: Replayed) -> None:
    async def each(store: Any) -> dict[str, Any]:
        return {by: await reports.figures_report(book(day.cfg, store), periods.parse(DAY), by) for by in DIMENSIONS}

    for by, report in (await read_store(day.url, each)).items():
        check_totals(report)
        for row in [*report["rows"], report["hall"]]:
            s = row["satisfaction"]
            # A row's ratings and unrated services are its services: nothing clamped, nothing counted twice.
            assert s["rated"] + s["not_rated"] == row["served"], (by, row.get("key"))
    assert report["hall"]["served"] == day.result.served


async def test_the_replayed_day_closes_without_expiring_its_no_shows(day: Replayed, tmp_path: Path) -> None:
    """The server started the next morning rolls the day over: the day's no-shows stay 过号, none become 过期."""
    cfg = config.load(HALL_FILE, store_url=day.copy_of(tmp_path / "day.db"))
    store = open_store(cfg.store_url, hall_id=cfg.hall.id)
    await store.open()
    try:
        hall = await started(cfg, store, ManualClock(datetime(2026, 12, 2, 8, 0, tzinfo=TZ)))
        await hall.stop()
        assert hall.state.day == "2026-12-02"
        total = (await reports.figures_report(book(cfg, store), periods.parse(DAY), "hall"))["hall"]
    finally:
        await store.close()
    no_shows = sum(day.count("no_show", no_show="1").values())
    assert (total["no_show"], total["expired"], total["cancelled"]) == (no_shows, 0, 0)
    assert total["served"] + total["no_show"] + total["expired"] + total["cancelled"] == total["issued"] == len(day.trace)


def clerk(n: int) -> auth.Principal:
    return auth.from_person(Person(f"c{n}", f"clerk{n}", f"clerk{n}", "clerk", staff_no=f"{n:04d}"))


async def started(cfg: config.HallConfig, store: Any, clock: ManualClock) -> Hall:
    h = Hall(cfg, store, clock, features=catalog.build(cfg))
    await h.start(day_timer=False, tickers=False)
    return h


async def step(hall: Hall, clock: ManualClock, name: str, p: auth.Principal, **args: Any) -> Any:
    clock.advance(60)
    return await hall.execute(name, p, args)


@pytest.mark.every_store  # the facts each store gives are the subject: its SQL, or the records
async def test_a_closed_day_accounts_for_every_ticket_once(hall_config: config.HallConfig, store: Any) -> None:
    """办结 + 过号 + 过期 + 取消 = 取号 for a closed day, across a restart mid-day and the day's rollover;
    a transferred citizen's rating counts where the rated visit was served."""
    clock = ManualClock(OPEN_TIME)
    hall = await started(hall_config, store, clock)
    try:
        await step(hall, clock, "open", clerk(15), window=15)
        await step(hall, clock, "open", clerk(29), window=29)
        tickets = [await step(hall, clock, "issue", KIOSK, service="pension") for _ in range(8)]
        first = await step(hall, clock, "call_next", clerk(15), window=15)
        await step(hall, clock, "finish", clerk(15), window=15)
        await step(hall, clock, "evaluate", PAD, ticket=first["id"], level=5)
        await step(hall, clock, "call_next", clerk(15), window=15)
        await step(hall, clock, "no_show", clerk(15), window=15)  # missed, and never comes back
        back = await step(hall, clock, "call_next", clerk(15), window=15)
        await step(hall, clock, "no_show", clerk(15), window=15)
        await step(hall, clock, "requeue", clerk(15), ticket=back["number"])  # missed, then comes back: served
        moved = await step(hall, clock, "call_next", clerk(15), window=15)
        await step(hall, clock, "transfer", clerk(15), window=15, service="referral")
        await step(hall, clock, "call_next", clerk(29), window=29)
        await step(hall, clock, "finish", clerk(29), window=29)
        await step(hall, clock, "evaluate", PAD, ticket=moved["id"], level=2, reasons=["efficiency"])
        await step(hall, clock, "cancel", clerk(15), ticket=tickets[-1]["number"])
    finally:
        await hall.stop()
    hall = await started(hall_config, store, clock)  # a restart mid-day
    try:
        await step(hall, clock, "call_next", clerk(15), window=15)  # the requeued citizen, at the queue's head
        await step(hall, clock, "finish", clerk(15), window=15, outcome="not_done")
        await step(hall, clock, "call_next", clerk(15), window=15)  # still at the window at midnight
    finally:
        await hall.stop()
    clock.set(datetime(2026, 12, 2, 0, 0, 5, tzinfo=TZ))
    hall = await started(hall_config, store, clock)  # a restart after midnight: the day rolls over
    await hall.stop()

    figures = {by: await reports.figures_report(book(hall_config, store), periods.parse(DAY), by)
               for by in ("hall", "service", "department", "window", "clerk", "hour")}
    total = figures["hall"]["hall"]
    assert (total["issued"], total["served"], total["no_show"], total["cancelled"], total["expired"]) == (8, 3, 1, 1, 3)
    assert total["served"] + total["no_show"] + total["expired"] + total["cancelled"] == total["issued"]
    by_service = {r["key"]: r for r in figures["service"]["rows"]}
    by_window = {r["key"]: r for r in figures["window"]["rows"]}
    for rows in (by_service, by_window):
        assert rows["referral" if rows is by_service else 29]["satisfaction"]["levels"]["2"] == 1
        assert rows["pension" if rows is by_service else 15]["satisfaction"]["levels"] == {"5": 1, "4": 0, "3": 0, "2": 0, "1": 0}
    assert by_service["referral"]["served"] == by_window[29]["served"] == 1  # served where it was finished
    assert by_service["pension"]["served"] == by_window[15]["served"] == 2
    for report in figures.values():
        check_totals(report)
        for row in [*report["rows"], report["hall"]]:
            assert row["satisfaction"]["rated"] + row["satisfaction"]["not_rated"] == row["served"]
