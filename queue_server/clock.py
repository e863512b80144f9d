"""Time for the hall: an injectable clock and business-day arithmetic."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


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
