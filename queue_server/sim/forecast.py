"""Forecast arrivals per service and hour for a date, from the hall's own history.

A hall's days repeat by weekday (Mondays are busy), by the month (pensions and medical
insurance at the month's start) and around holidays (the first working day after a long
holiday is the busiest of the year). The forecast for a day is the mean of the same
weekday over the last ``weeks`` weeks, scaled by the month-start and after-holiday
effects where the history holds enough such days to measure them (else left out). A day
the calendar says is not a working day gets no arrivals.

``backtest`` forecasts each of the last days of the history from the days before it and
compares: the error a director can expect of tomorrow's forecast. Everything here is
pure except ``read_history``, which reads the store's ticket facts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable

from queue_server.core.config import HallConfig
from queue_server.core.workdays import Calendar
from queue_server.store import Store

from .arrivals import Arrival

Counts = dict[tuple[str, int], float]  # (service, hour of the day) -> arrivals
MONTH_START_DAYS = 3  # the first three days of a month count as its start
MIN_DAYS = 2  # days needed before an effect is measured or a weekday stands alone


async def read_history(store: Store, first: date, last: date) -> dict[date, Counts]:
    """Tickets issued per service and hour on each day from ``first`` to ``last`` that had any."""
    out: dict[date, Counts] = {}
    day = first
    while day <= last:
        iso = day.isoformat()
        counts: Counts = defaultdict(float)
        for g in await store.ticket_facts(iso, iso, "hour"):
            counts[(g.service, int(g.time))] += g.count
        if counts:
            out[day] = dict(counts)
        day += timedelta(days=1)
    return out


def _total(counts: Counts) -> float:
    return sum(counts.values())


def _mean(days: list[Counts]) -> Counts:
    acc: Counts = defaultdict(float)
    for counts in days:
        for key, n in counts.items():
            acc[key] += n / len(days)
    return dict(acc)


def after_holiday(calendar: Calendar, day: date) -> bool:
    """Is ``day`` the first working day after a holiday (not just a weekend)?"""
    before = day - timedelta(days=1)
    for _ in range(30):
        if calendar.is_workday(before):
            return False
        if before in calendar.holidays:
            return True
        before -= timedelta(days=1)
    return False


def forecast(calendar: Calendar, history: dict[date, Counts], day: date, weeks: int = 8) -> Counts:
    """Expected arrivals per (service, hour) on ``day`` from the days of ``history`` before it.

    The base is the mean of the same weekday's ordinary days (neither a month's start nor
    the first day after a holiday); each effect that applies to ``day`` multiplies it by
    how much busier such days were than their own weekday's ordinary days, measured when
    the history holds at least two of them.
    """
    if not calendar.is_workday(day):
        return {}
    past = sorted(d for d in history if d < day and (day - d).days <= 7 * weeks)
    marks: dict[str, Callable[[date], bool]] = {
        "month start": lambda d: d.day <= MONTH_START_DAYS,
        "after a holiday": lambda d: after_holiday(calendar, d),
    }
    ordinary = [d for d in past if not any(m(d) for m in marks.values())]
    base: dict[int, float] = {}
    for weekday in range(1, 8):
        totals = [_total(history[d]) for d in ordinary if d.isoweekday() == weekday]
        if totals:
            base[weekday] = sum(totals) / len(totals)
    same = [d for d in ordinary if d.isoweekday() == day.isoweekday()]
    basis = same if len(same) >= MIN_DAYS else ordinary or past
    if not basis:
        return {}
    expected = _mean([history[d] for d in basis])
    factor = 1.0
    for mark in marks.values():
        if not mark(day):
            continue
        ratios = [_total(history[d]) / base[d.isoweekday()] for d in past if mark(d) and base.get(d.isoweekday())]
        if len(ratios) >= MIN_DAYS:
            factor *= sum(ratios) / len(ratios)
    return {key: n * factor for key, n in expected.items()}


@dataclass(frozen=True)
class DayError:
    day: date
    actual: float
    forecast: float
    cell_error: float  # Σ |forecast − actual| over (service, hour) cells

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "actual": round(self.actual), "forecast": round(self.forecast, 1),
                "total_error": round((self.forecast - self.actual) / self.actual, 4) if self.actual else None,
                "cell_error": round(self.cell_error / self.actual, 4) if self.actual else None}


def backtest(calendar: Calendar, history: dict[date, Counts], days: int, weeks: int = 8) -> list[DayError]:
    """Forecast each of the last ``days`` days of ``history`` from the days before it."""
    out = []
    for day in sorted(history)[-days:]:
        f = forecast(calendar, history, day, weeks)
        if not f:
            continue
        actual = history[day]
        cells = set(f) | set(actual)
        out.append(DayError(day, _total(actual), _total(f), sum(abs(f.get(c, 0) - actual.get(c, 0)) for c in cells)))
    return out


def wape(errors: Iterable[DayError]) -> float | None:
    """Weighted absolute percentage error over the days' (service, hour) cells."""
    errors = list(errors)
    actual = sum(e.actual for e in errors)
    return sum(e.cell_error for e in errors) / actual if actual else None


def arrivals(cfg: HallConfig, counts: Counts, day: date, handling_seconds: dict[str, float]) -> list[Arrival]:
    """A day of arrivals with the forecast's counts, each service's spread evenly over each hour.

    Fractions carry from hour to hour, so a service forecast at 0.4 an hour still comes
    about twice in five hours.
    """
    timed: list[tuple[datetime, str]] = []
    carry: dict[str, float] = defaultdict(float)
    for (service, hour), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if service not in cfg.services:
            continue
        whole = int(n + carry[service])
        carry[service] += n - whole
        start = datetime.combine(day, time(hour), cfg.hall.tz)
        timed += [(start + timedelta(seconds=3600 * (j + 0.5) / whole), service) for j in range(whole)]
    return [Arrival(seq, at, service, "kiosk", "normal",
                    round(handling_seconds.get(service, cfg.services[service].handling_minutes * 60)), False, None)
            for seq, (at, service) in enumerate(sorted(timed), start=1)]


@dataclass(frozen=True)
class Outlook:
    """A day's forecast with what it was made from and how well such forecasts did lately."""

    day: date
    counts: Counts
    handling: dict[str, float]  # mean handling seconds per service over the history
    history_days: int
    checked: list[DayError]  # the last days of the history, each forecast from the days before it

    def to_dict(self) -> dict[str, Any]:
        by_hour: dict[int, float] = defaultdict(float)
        for (_, hour), n in self.counts.items():
            by_hour[hour] += n
        actual = sum(e.actual for e in self.checked)
        return {
            "date": self.day.isoformat(), "arrivals": round(sum(self.counts.values()), 1),
            "by_hour": {f"{h:02d}:00": round(n, 1) for h, n in sorted(by_hour.items())},
            "history_days": self.history_days,
            "error": {"days": len(self.checked), "cells": round(wape(self.checked) or 0, 4) if actual else None,
                      "total": round(sum(abs(e.forecast - e.actual) for e in self.checked) / actual, 4) if actual else None},
        }


async def outlook(store: Store, calendar: Calendar, day: date, weeks: int = 8, checked_days: int = 10,
                  *, open_day: date | None = None) -> Outlook:
    """Read the history before ``day`` from the store and forecast ``day`` from it.

    ``open_day`` is the hall's business day still under way: it and later days are not
    history (half a day's arrivals would read as a quiet day).
    Raises ValueError when there is nothing to forecast (not a working day, no history).
    """
    end = day if open_day is None else min(day, open_day)
    first, last = day - timedelta(days=7 * weeks + 14), end - timedelta(days=1)
    history = await read_history(store, first, last)
    handled: dict[str, list[int]] = defaultdict(list)
    for g in await store.visit_facts(first.isoformat(), last.isoformat()):
        if g.end == "finished":
            handled[g.service] += g.handlings_us
    counts = forecast(calendar, history, day, weeks)
    if not counts:
        why = "not a working day" if not calendar.is_workday(day) else "the store holds no history before it"
        raise ValueError(f"nothing to forecast for {day}: {why}")
    return Outlook(day, counts, {s: sum(v) / len(v) / 1e6 for s, v in handled.items() if v}, len(history),
                   backtest(calendar, history, checked_days, weeks))
