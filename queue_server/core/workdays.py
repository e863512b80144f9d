"""The working-day calendar (工作日): weekends, public holidays and make-up working days (调休).

Deadlines of follow-up cases, 办不成事 cases and 容缺受理 records are counted in working
days, the way provinces set them ("5个工作日内"). The State Council publishes each year's
holidays and the weekend days worked in exchange, so both come from the hall file:

    [calendar]
    holidays = ["2027-01-01", "2027-02-06..2027-02-13"]
    workdays = ["2027-02-14"]          # 调休: a Sunday worked
    weekend = [6, 7]                   # ISO weekdays, Saturday and Sunday by default

Everything here is pure: dates in, dates out.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable

MAX_SPAN_DAYS = 366  # one range in the file; catches a typo'd year before it loops for long
MAX_SCAN_DAYS = 3 * 366  # a calendar with no working day at all must not hang a deadline


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # weekend days worked (调休); they beat the weekend
    weekend: frozenset[int] = frozenset({6, 7})

    def is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.isoweekday() not in self.weekend

    def next_workday(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first one after it."""
        for _ in range(MAX_SCAN_DAYS):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        raise ValueError("the calendar has no working day within three years")

    def add(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself is not counted).

        ``n == 0`` is 即办: due the same day, or the next working day if ``start`` is not one.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        if n == 0:
            return self.next_workday(start)
        day, left = start, n
        for _ in range(MAX_SCAN_DAYS + n):
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
                if left == 0:
                    return day
        raise ValueError("the calendar has no working day within three years")

    def add_months(self, start: date, months: int) -> date:
        """Same day ``months`` later (clamped to the month's end), moved to a working day."""
        y, m = divmod(start.month - 1 + months, 12)
        year, month = start.year + y, m + 1
        last = _calendar.monthrange(year, month)[1]
        return self.next_workday(date(year, month, min(start.day, last)))

    def left(self, today: date, due: date) -> int:
        """Working days after ``today`` up to and including ``due``; negative when overdue."""
        if due < today:
            return -sum(1 for d in _days(due + timedelta(days=1), today) if self.is_workday(d)) or -1
        return sum(1 for d in _days(today + timedelta(days=1), due) if self.is_workday(d))


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


# -- the hall file ---------------------------------------------------------------------------------


def parse_dates(values: Any) -> set[date]:
    """["2027-01-01", "2027-02-06..2027-02-13"] -> every date named; ValueError says which entry is wrong."""
    if not isinstance(values, list):
        raise ValueError("must be a list of dates (YYYY-MM-DD) or ranges (YYYY-MM-DD..YYYY-MM-DD)")
    out: set[date] = set()
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a date string")
        first, sep, last = value.partition("..")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if sep else a
        except ValueError:
            raise ValueError(f"{value!r} is not YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
        if b < a:
            raise ValueError(f"{value!r} ends before it starts")
        if (b - a).days > MAX_SPAN_DAYS:
            raise ValueError(f"{value!r} spans more than a year")
        out.update(_days(a, b))
    return out


def parse_calendar(raw: Any) -> tuple[Calendar, list[tuple[str | None, str]]]:
    """The [calendar] table; problems as (field, message) pairs."""
    problems: list[tuple[str | None, str]] = []
    if not isinstance(raw, dict):
        return Calendar(), [(None, "must be a table")]
    for key in raw:
        if key not in ("holidays", "workdays", "weekend"):
            problems.append((key, "unknown field (expected one of: holidays, weekend, workdays)"))
    found: dict[str, set[date]] = {}
    for key in ("holidays", "workdays"):
        try:
            found[key] = parse_dates(raw.get(key, []))
        except ValueError as exc:
            problems.append((key, str(exc)))
            found[key] = set()
    both = found["holidays"] & found["workdays"]
    if both:
        problems.append(("workdays", f"{min(both)} is also listed as a holiday"))
    weekend = raw.get("weekend", [6, 7])
    if not isinstance(weekend, list) or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in weekend):
        problems.append(("weekend", "must be a list of ISO weekdays, 1 (Monday) to 7 (Sunday)"))
        weekend = [6, 7]
    elif len(set(weekend)) == 7:
        problems.append(("weekend", "leaves no working day in the week"))
        weekend = [6, 7]
    return Calendar(frozenset(found["holidays"]), frozenset(found["workdays"]), frozenset(weekend)), problems
