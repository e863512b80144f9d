"""办结时限: the time a hall commits to for a service, counted on the working-day calendar. Pure.

A service's ``time_limit`` in the hall file is a number and a unit:

    time_limit = "0.5d"    # working days: 0.5 × the business hours of a working day
    time_limit = "2h"      # business hours
    time_limit = "90m"     # business minutes

The clock runs from the ticket's issue to its final 办结, and only in business hours on
working days ([calendar]: weekends and holidays skipped, 调休 days counted), so lunch,
nights, a weekend and a holiday never use up a citizen's time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from .clock import seconds_in_hours, spans_on
from .workdays import MAX_SCAN_DAYS, Calendar

Hours = tuple[tuple[time, time], ...]
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm])\s*$")
UNITS = {"d": ("个工作日", "working day(s)"), "h": ("小时", "business hour(s)"), "m": ("分钟", "business minute(s)")}
MAX_DAYS = 60  # a commitment longer than this is a typo, not a 即办 service


@dataclass(frozen=True)
class TimeLimit:
    amount: float
    unit: str  # "d" working days, "h" business hours, "m" business minutes

    def seconds(self, hours: Hours) -> float:
        """The limit in seconds of business time; a working day is the length of the hall's spans."""
        if self.unit == "d":
            return self.amount * day_seconds(hours)
        return self.amount * (3600 if self.unit == "h" else 60)

    def text(self, lang: str = "zh") -> str:
        zh, en = UNITS[self.unit]
        return f"{self.amount:g}{zh}" if lang == "zh" else f"{self.amount:g} {en}"


def parse(value: str) -> TimeLimit:
    """``"0.5d"``, ``"2h"``, ``"90m"``; ValueError says what is wrong."""
    m = _LIMIT.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a number of working days, hours or minutes (\"0.5d\", \"2h\", \"90m\")")
    limit = TimeLimit(float(m.group(1)), m.group(2))
    days = limit.amount if limit.unit == "d" else limit.amount / (24 if limit.unit == "h" else 24 * 60)
    if limit.amount <= 0 or days > MAX_DAYS:
        raise ValueError(f"{value!r} must be above 0 and at most {MAX_DAYS} working days")
    return limit


def day_seconds(hours: Hours) -> float:
    """Business seconds of one working day."""
    return sum((datetime.combine(datetime.min, b) - datetime.combine(datetime.min, a)).total_seconds() for a, b in hours)


def working_seconds(start: datetime, end: datetime, tz: tzinfo, hours: Hours, calendar: Calendar) -> float:
    """Seconds of [start, end) in business hours on working days."""
    return seconds_in_hours(start, end, tz, hours, calendar.is_workday)


def due_at(start: datetime, seconds: float, tz: tzinfo, hours: Hours, calendar: Calendar) -> datetime:
    """The instant at which ``seconds`` of working time since ``start`` are used up."""
    left = timedelta(seconds=seconds)
    day = start.astimezone(tz).date()
    for _ in range(MAX_SCAN_DAYS):
        if calendar.is_workday(day):
            for a, b in spans_on(day, tz, hours):
                lo = max(a, start)
                if b <= lo:
                    continue
                if b - lo >= left:
                    return lo + left
                left -= b - lo
        day += timedelta(days=1)
    raise ValueError("the calendar has no working day within three years")
