"""Time for the hall: an injectable clock and business-day arithmetic."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ShiftedClock:
    """The system clock moved by a fixed offset, so that it read ``start`` when it was made."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime")
        self._offset = start - datetime.now(timezone.utc)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset


class ManualClock:
    """A clock the caller moves: tests and the day replayer."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now


def business_day(when: datetime, tz: tzinfo) -> str:
    """The hall's business day of an instant: its calendar date in the hall's timezone."""
    return when.astimezone(tz).date().isoformat()


def within_hours(when: datetime, tz: tzinfo, hours: tuple[tuple[time, time], ...]) -> bool:
    local = when.astimezone(tz).time()
    return any(start <= local < end for start, end in hours)


def next_opening(when: datetime, tz: tzinfo, hours: tuple[tuple[time, time], ...]) -> time | None:
    """The start of the day's next business span when ``when`` falls before it (early morning, lunch), else None."""
    local = when.astimezone(tz).time()
    if any(start <= local < end for start, end in hours):
        return None
    return next((start for start, _ in hours if start > local), None)


def spans_on(day: date, tz: tzinfo, hours: tuple[tuple[time, time], ...]) -> list[tuple[datetime, datetime]]:
    """The business spans of one calendar day as aware datetimes in the hall's timezone."""
    return [(datetime.combine(day, a, tz), datetime.combine(day, b, tz)) for a, b in hours]


def seconds_in_hours(start: datetime, end: datetime, tz: tzinfo, hours: tuple[tuple[time, time], ...],
                     is_workday: Callable[[date], bool] | None = None) -> float:
    """Seconds of [start, end) that fall inside business hours: lunch, nights and other days' gaps excluded
    (and, with ``is_workday``, the days it rejects)."""
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        for a, b in spans_on(day, tz, hours) if is_workday is None or is_workday(day) else ():
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total
