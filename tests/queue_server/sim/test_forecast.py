"""Forecasting a day's arrivals from the hall's history, checking the forecast, planning from it."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.core.workdays import Calendar
from queue_server.sim import forecast
from queue_server.sim import replay as simulate
from queue_server.store import open_store

from ...conftest import HALL_FILE, TZ, run_cli  # type: ignore[import-not-found]
from ..replay_kit import TRACE, serve

CAL = Calendar(holidays=frozenset({date(2026, 12, 9)}))


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_the_same_weekday_with_its_month_start_and_holidays() -> None:
    # Mondays draw 100 pension citizens at 9, other days 50; a month's first three days twice as many.
    history = {d: {("pension", 9): (100.0 if d.isoweekday() == 1 else 50.0) * (2 if d.day <= 3 else 1)}
               for d in days(date(2026, 10, 1), date(2026, 11, 30)) if CAL.is_workday(d)}
    assert forecast.forecast(CAL, history, date(2026, 12, 7)) == pytest.approx({("pension", 9): 100.0})  # a Monday
    assert forecast.forecast(CAL, history, date(2026, 12, 8)) == pytest.approx({("pension", 9): 50.0})  # a Tuesday
    # Tuesday the 1st: a month's start, measured over October's and November's starts.
    assert forecast.forecast(CAL, history, date(2026, 12, 1)) == pytest.approx({("pension", 9): 100.0})
    assert forecast.forecast(CAL, history, date(2026, 12, 9)) == {}  # a holiday: the hall is closed
    assert forecast.forecast(CAL, history, date(2026, 12, 12)) == {}  # a Saturday
    assert forecast.forecast(CAL, {}, date(2026, 12, 8)) == {}  # no history, no forecast


def test_the_first_day_after_a_holiday_is_measured_when_the_history_has_some() -> None:
    cal = Calendar(holidays=frozenset({date(2026, 10, 1) + timedelta(days=i) for i in range(7)} |
                                      {date(2026, 11, 2), date(2026, 11, 16)}))
    history = {d: {("pension", 10): 90.0 if forecast.after_holiday(cal, d) else 30.0}
               for d in days(date(2026, 10, 1), date(2026, 11, 30)) if cal.is_workday(d)}
    assert sum(1 for d in history if forecast.after_holiday(cal, d)) == 3  # Oct 8, Nov 3, Nov 17
    holiday_cal = Calendar(holidays=cal.holidays | {date(2026, 12, 7)})
    assert forecast.forecast(holiday_cal, history, date(2026, 12, 8))[("pension", 10)] == pytest.approx(90.0)
    assert forecast.forecast(cal, history, date(2026, 12, 8))[("pension", 10)] == pytest.approx(30.0)


def test_the_backtest_says_how_far_off_the_forecast_was() -> None:
    history = {d: {("pension", 9): 50.0} for d in days(date(2026, 11, 2), date(2026, 11, 27)) if CAL.is_workday(d)}
    history[date(2026, 11, 27)] = {("pension", 9): 40.0, ("pension", 10): 20.0}  # a Friday unlike the others
    errors = forecast.backtest(CAL, history, 2)
    assert [e.to_dict() for e in errors] == [
        {"day": "2026-11-26", "actual": 50, "forecast": 50.0, "total_error": 0.0, "cell_error": 0.0},
        {"day": "2026-11-27", "actual": 60, "forecast": 50.0, "total_error": round(-10 / 60, 4),
         "cell_error": round(30 / 60, 4)},
    ]
    assert forecast.wape(errors) == pytest.approx(30 / 110)


def test_arrivals_keep_the_forecast_counts() -> None:
    cfg = config.load(HALL_FILE)
    counts = {("pension", 9): 3.0, ("pension", 10): 0.5, ("pension", 11): 0.5, ("medical-enrolment", 9): 2.0}
    made = forecast.arrivals(cfg, counts, date(2026, 12, 8), {"pension": 300.0})
    assert [(a.at.hour, a.service) for a in made].count((9, "pension")) == 3
    assert sum(1 for a in made if a.service == "pension") == 4  # the halves carry into one more
    assert [a.seq for a in made] == list(range(1, 7)) and made == sorted(made, key=lambda a: a.at)
    assert {a.service_seconds for a in made if a.service == "pension"} == {300}
    assert {a.service_seconds for a in made if a.service != "pension"} == {cfg.services["medical-enrolment"].handling_minutes * 60}


def test_a_replayed_history_forecasts_itself_and_plans_from_it(tmp_path: Path) -> None:
    """Three Tuesdays of the same morning in a real store: the fourth is forecast exactly, then planned."""
    url = f"sqlite://{tmp_path / 'history.db'}?synchronous=normal"
    cfg = config.load(HALL_FILE, store_url=url)
    morning = simulate.read_trace(TRACE)[:300]
    tuesdays = [date(2026, 12, 1) + timedelta(weeks=i) for i in range(3)]

    async def run() -> dict[date, forecast.Counts]:
        store = open_store(url, hall_id=cfg.hall.id)
        await store.open()
        try:
            await simulate.replay(cfg, store, morning, simulate.settings(cfg, alerts_every_seconds=0), days=tuesdays)
            return await forecast.read_history(store, tuesdays[0], tuesdays[-1])
        finally:
            await store.close()

    history = asyncio.run(run())
    assert sorted(history) == tuesdays and all(sum(c.values()) == 300 for c in history.values())
    assert forecast.forecast(cfg.calendar, history, tuesdays[-1] + timedelta(weeks=1)) == history[tuesdays[-1]]
    assert [e.cell_error for e in forecast.backtest(cfg.calendar, history, 1)] == [0.0]

    done = run_cli("plan", "--config", str(HALL_FILE), "--store", url.split("?")[0], "--date", "2026-12-22",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("forecast for 2026-12-22: 300 arrivals from 3 days of history; its error on the last 2 days: 0%")
    table = [row for row in map(str.split, lines) if len(row) > 2 and row[0] in cfg.zones and row[1].endswith(":00")]
    assert sum(int(row[2]) for row in table) == 300
    closed = run_cli("plan", "--config", str(HALL_FILE), "--store", url.split("?")[0], "--date", "2026-12-26", cwd=tmp_path)
    assert closed.returncode == 1 and "not a working day" in closed.stderr

    asyncio.run(ask_the_server(cfg, tables=[row for row in table if row[2] != "0"]))


async def ask_the_server(cfg: config.HallConfig, tables: list[list[str]]) -> None:
    """A manager asks the running server for the same plan the command line printed."""
    async with serve(cfg, ManualClock(datetime(2026, 12, 21, 17, 0, tzinfo=TZ))) as server:  # a Monday evening
        await server.person("boss", "manager")
        boss = server.client()
        await boss.login("boss")
        kiosk = await server.kiosk()
        for _ in range(2):  # today's business is under way: half a day is not history
            assert (await kiosk.post("/api/v1/tickets", {"service": "pension"}))[0] == 201
        status, body = await boss.get("/api/v1/plan")  # tomorrow, the next working day
        assert status == 200, body
        assert body["forecast"]["date"] == "2026-12-22" and body["forecast"]["arrivals"] == 300
        assert body["forecast"]["history_days"] == 3
        assert body["forecast"]["error"] == {"days": 2, "cells": 0.0, "total": 0.0}
        assert sum(r["arrivals"] for r in body["rows"]) == 300
        printed = {(r[0], r[1]): int(r[2]) for r in tables}
        assert {(r["zone"], r["hour"]): r["arrivals"] for r in body["rows"] if r["arrivals"]} == printed
        assert {a["zone"] for a in body["advice"]} == set(cfg.zones)
        assert all(1 <= n <= len(a["windows"]) for a in body["advice"] for n in a["by_hour"].values())
        status, err = await boss.get("/api/v1/plan?date=2026-12-26")
        assert status == 422 and err["error"]["code"] == "no_forecast" and "not a working day" in err["error"]["message"]
        async with boss.session.get(f"{server.base}/api/v1/plan?date=2026-12-22&format=csv") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
            header = (await resp.text()).lstrip("\ufeff").splitlines()[0]
        assert header.startswith("专区,时段,到达人数,开放窗口")
        clerk = await server.clerk_at(15)
        assert (await clerk.get("/api/v1/plan"))[0] == 403
