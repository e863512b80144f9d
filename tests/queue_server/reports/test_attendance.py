"""Attendance from the window log: late and early against the hours with a grace, pauses, on post, idle."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from queue_server.core import config, periods
from queue_server.core.clock import ManualClock
from queue_server.core.model import DeviceToken, Person
from queue_server.reports import assessment, attendance
from queue_server.reports import build as reports
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store.facts import BusyRow, WindowMark

from ...conftest import HALL_FILE, StoreSpec, TZ, book  # type: ignore[import-not-found]
from ..replay_kit import Replayed, read_store, replayed_day

CFG = config.load(HALL_FILE)


@pytest.fixture
def store_spec(tmp_path: Path) -> StoreSpec:
    return StoreSpec("sqlite", f"sqlite://{tmp_path}/hall.db")


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


def t(hh: int, mm: int, ss: int = 0, d: int = 1) -> datetime:
    return datetime(2026, 12, d, hh, mm, ss, tzinfo=TZ)


class Log:
    """Builds window-log lines in order, as the store would return them."""

    def __init__(self) -> None:
        self.marks: list[WindowMark] = []

    def add(self, name: str, at: datetime, window: int, clerk: str, reason: str | None = None) -> Log:
        self.marks.append(WindowMark(len(self.marks) + 1, f"window.{name}", at, window, clerk, clerk.upper(), reason))
        return self


def rows(log: Log, busy: list[BusyRow] = (), now: datetime | None = None, **kw: Any) -> dict[Any, attendance.DayRow]:
    sessions = attendance.sessions(log.marks, TZ, now)
    return {r.key: r for r in attendance.day_rows(CFG, sessions, busy, now=now, **kw)}


def test_late_early_pauses_on_post_and_idle() -> None:
    log = (Log()
           .add("opened", t(8, 41), 3, "a")  # 11 minutes late
           .add("paused", t(10, 0), 3, "a", "meeting").add("resumed", t(10, 20), 3, "a")
           .add("closed", t(11, 50), 3, "a")  # 10 minutes early for lunch
           .add("opened", t(14, 30), 4, "a")  # on time, at another window
           .add("paused", t(15, 0), 4, "a", "rest").add("resumed", t(15, 5), 4, "a")
           .add("closed", t(17, 40), 4, "a"))  # overtime is not early
    busy = [BusyRow("2026-12-01", "a", 3, 10, 2 * 3600.0), BusyRow("2026-12-01", "a", 4, 12, 2.5 * 3600)]
    a = rows(log, busy)["a"]
    assert (a.late, a.late_seconds, a.early, a.early_seconds, a.absent_spans) == (1, 11 * 60, 1, 10 * 60, 0)
    assert a.windows == {3, 4} and a.sign_in == t(8, 41) and a.sign_out == t(17, 40)
    assert a.pauses == 2 and a.pause_reasons == {"meeting": 1200.0, "rest": 300.0}
    on_post = (t(11, 50) - t(8, 41)).total_seconds() + (t(17, 40) - t(14, 30)).total_seconds()
    assert a.on_post_seconds == on_post and a.working_seconds == on_post - 1500
    assert a.idle_seconds == on_post - 1500 - 4.5 * 3600
    view = attendance.day_view(a)
    assert view["late_minutes"] == 11.0 and view["pause_reasons"] == {"meeting": 20.0, "rest": 5.0}
    by_window = rows(log, busy, by="window")
    assert by_window[3].late == 1 and by_window[3].absent_spans == 1 and by_window[4].late == 0


def test_the_grace_period_is_a_boundary() -> None:
    log = (Log().add("opened", t(8, 35), 1, "on_time").add("closed", t(11, 55), 1, "on_time")
           .add("opened", t(8, 35, 1), 2, "late").add("closed", t(11, 54, 59), 2, "late"))
    got = rows(log)
    assert (got["on_time"].late, got["on_time"].early) == (0, 0)  # exactly five minutes: within the grace
    assert (got["late"].late, got["late"].early) == (1, 1)
    assert got["late"].late_seconds == 5 * 60 + 1 and got["late"].early_seconds == 5 * 60 + 1
    assert got["on_time"].absent_spans == 1  # never came back after lunch
    strict = rows(log, s=attendance.Settings(grace_minutes=0))
    assert strict["on_time"].late == 1


def test_away_time_between_sessions_and_a_session_closed_by_the_day_rollover() -> None:
    log = (Log().add("opened", t(8, 30), 5, "c").add("closed", t(9, 0), 5, "c").add("opened", t(9, 30), 5, "c")
           .add("closed", t(0, 0, 20, d=2), 5, "c", "day_end"))  # left signed in: the rollover closed the window
    c = rows(log)["c"]
    assert c.away_seconds == 30 * 60 and c.late == 0 and c.early == 0
    assert c.sign_out == t(0, 0, 20, d=2) and c.day == "2026-12-01"
    assert c.on_post_seconds == 30 * 60 + (t(0, 0, 20, d=2) - t(9, 30)).total_seconds()


def test_a_session_still_open_now_is_neither_early_nor_absent_later() -> None:
    log = Log().add("opened", t(8, 30), 6, "d").add("paused", t(9, 50), 6, "d", "consulting")
    d = rows(log, now=t(10, 0))["d"]
    assert (d.late, d.early, d.absent_spans) == (0, 0, 0)
    assert d.on_post_seconds == 90 * 60 and d.pause_reasons == {"consulting": 600.0}
    assert rows(log) == {}  # without a "now" an open session is not counted


async def test_attendance_from_a_real_hall(hall: Hall, clock: ManualClock, store: Any) -> None:
    clerk = auth.from_person(Person("w7", "w7", "李娜", "clerk", staff_no="0007"))
    await store.put_person(Person("w7", "w7", "李娜", "clerk", staff_no="0007"))
    clock.set(t(8, 50))
    await hall.execute("open", clerk, window=7)
    clock.set(t(9, 30))
    await hall.execute("pause", clerk, window=7, reason="meeting")
    clock.set(t(9, 45))
    await hall.execute("resume", clerk, window=7)
    clock.set(t(11, 30))
    await hall.execute("close", clerk, window=7)
    report = await reports.attendance_report(book(hall.config, store), periods.parse("2026-12-01"), "clerk", days=True,
                                             now=t(12, 0))
    [row] = report["rows"]
    assert row["name"] == "李娜" and row["late"] == 1 and row["late_minutes"] == 20.0
    assert row["early"] == 1 and row["early_minutes"] == 30.0 and row["pauses"] == 1 and row["pause_minutes"] == 15.0
    assert row["on_post_hours"] == round(160 / 60, 2) and row["idle_hours"] == round(145 / 60, 2)
    assert report["days"][0]["sign_in"] == t(8, 50).isoformat()


async def test_service_after_a_span_ends_is_overtime_not_absence(hall: Hall, clock: ManualClock, store: Any) -> None:
    """延时服务 over lunch and after closing: minutes and tickets per clerk and window, a plus in the month's assessment."""
    clerk = auth.from_person(Person("w15", "w15", "王芳", "clerk", staff_no="0015"))
    await store.put_person(Person("w15", "w15", "王芳", "clerk", staff_no="0015"))
    kiosk = auth.from_device(DeviceToken("k1", "kiosk", "kiosk", ""))

    async def serve(call: datetime, start: datetime, end: datetime, outcome: str | None = "done") -> None:
        clock.set(call)
        await hall.execute("call_next", clerk, window=15)
        clock.set(start)
        if outcome is None:
            await hall.execute("no_show", clerk, window=15)
            return
        await hall.execute("start", clerk, window=15)
        clock.set(end)
        await hall.execute("finish", clerk, window=15)

    clock.set(t(8, 30))
    await hall.execute("open", clerk, window=15)
    for _ in range(4):  # kiosks issue in business hours only: these citizens came before noon
        await hall.execute("issue", kiosk, service="pension")
    await serve(t(11, 30), t(11, 31), t(11, 59))  # within the span: not overtime
    await serve(t(11, 50), t(11, 52), t(12, 10))  # 10 minutes into lunch
    await serve(t(12, 12), t(12, 20), t(12, 20), outcome=None)  # a no-show gives no service
    await serve(t(12, 20), t(12, 21), t(12, 26))  # all 5 minutes in lunch
    clock.set(t(12, 30))
    await hall.execute("close", clerk, window=15)
    clock.set(t(14, 30))
    await hall.execute("open", clerk, window=15)
    clock.set(t(17, 14))
    await hall.execute("issue", kiosk, service="pension")
    await serve(t(17, 15), t(17, 20), t(17, 45))  # 15 minutes after closing
    clock.set(t(17, 50))
    await hall.execute("close", clerk, window=15)

    cfg, period = hall.config, periods.parse("2026-12-01")
    for by, key in (("clerk", "w15"), ("window", 15)):
        report = await reports.attendance_report(book(cfg, store), period, by, days=True, now=t(18, 0))
        [row] = report["rows"]
        assert row["key"] == key and (row["overtime_tickets"], row["overtime_minutes"]) == (3, 30.0)
        assert (row["late"], row["early"], row["absent_spans"], row["away_minutes"]) == (0, 0, 0, 0.0)  # not absence
        assert report["days"][0]["overtime_minutes"] == 30.0
    month = await reports.assessment_report(book(cfg, store), periods.parse("2026-12"), now=t(18, 0))
    [mine] = [r for r in month["rows"] if r["clerk"] == "w15"]
    assert (mine["overtime_tickets"], mine["overtime_minutes"], mine["plus_points"]) == (3, 30.0, 0.5)  # 1 point an hour
    weighted = [(w, v) for k, v in mine["components"].items() if v is not None and (w := mine["weights"][k]) > 0]
    assert mine["computed"] == round(sum(w * v for w, v in weighted) / sum(w for w, _ in weighted) + 0.5, 2)


def test_overtime_points_are_capped_per_month() -> None:
    s = assessment.Settings()
    row = attendance.DayRow("2026-12-01", "a", overtime_seconds=20 * 3600.0, overtime_visits=30)
    assert assessment.overtime_points([row], s) == 5.0


async def test_attendance_of_the_replayed_day(day: Replayed) -> None:
    report = await read_store(day.url, lambda s: reports.attendance_report(book(day.cfg, s), periods.parse("2026-12-01")))
    assert len(report["rows"]) == 40 and all(r["days_present"] == 1 for r in report["rows"])
    assert sum(r["pauses"] for r in report["rows"]) == day.result.pauses
    assert all(0 < r["utilization"] <= 1 for r in report["rows"])
    assert sum(r["late"] for r in report["rows"]) <= day.result.late_sign_ins  # a late start within the grace is on time
