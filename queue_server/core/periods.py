"""Report periods: a day, a month, a quarter, a year, or any from–to range of business days.

A period is a closed range of business days (``YYYY-MM-DD``, in the hall's timezone,
as the store keys every record). It is named the way a hall names its reviews:
``2026-12-01`` (日), ``2026-12`` (月), ``2026-Q4`` (季), ``2026`` (年).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from .errors import Invalid

MAX_DAYS = 400  # a year and a bit: a longer range is a mistake, not a report
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    kind: str  # day, month, quarter, year, range
    first: str  # first business day, inclusive
    last: str  # last business day, inclusive
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "from": self.first, "to": self.last, "label": self.label}

    def months(self) -> list[str]:
        """The calendar months (``YYYY-MM``) the period touches, in order."""
        out: list[str] = []
        d = date.fromisoformat(self.first).replace(day=1)
        end = date.fromisoformat(self.last)
        while d <= end:
            out.append(f"{d.year:04d}-{d.month:02d}")
            d = _next_month(d)
        return out

    def days(self) -> list[str]:
        d, end = date.fromisoformat(self.first), date.fromisoformat(self.last)
        return [(d + timedelta(days=i)).isoformat() for i in range((end - d).days + 1)]


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def month_period(year: int, month: int) -> Period:
    first = date(year, month, 1)
    return Period("month", first.isoformat(), (_next_month(first) - timedelta(days=1)).isoformat(), f"{year:04d}-{month:02d}")


def parse(spec: str | None = None, *, first: str | None = None, last: str | None = None, today: str | None = None) -> Period:
    """Parse a period name, or a from–to pair; with neither, the current business day."""
    try:
        if spec:
            spec = spec.strip()
            if m := _YEAR.match(spec):
                y = int(m.group(1))
                return Period("year", f"{y:04d}-01-01", f"{y:04d}-12-31", f"{y:04d}")
            if m := _QUARTER.match(spec):
                y, q = int(m.group(1)), int(m.group(2))
                start = month_period(y, 3 * q - 2)
                end = month_period(y, 3 * q)
                return Period("quarter", start.first, end.last, f"{y:04d}-Q{q}")
            if m := _MONTH.match(spec):
                y, mo = int(m.group(1)), int(m.group(2))
                if not 1 <= mo <= 12:
                    raise ValueError(f"month {mo} is not 1 to 12")
                return month_period(y, mo)
            d = date.fromisoformat(spec).isoformat()
            return Period("day", d, d, d)
        if first or last or today:
            a = date.fromisoformat(first or last or today or "")
            b = date.fromisoformat(last or first or today or "")
        else:
            raise Invalid("name a period (2026-12-01, 2026-12, 2026-Q4, 2026) or from and to", code="bad_period")
    except ValueError as exc:
        raise Invalid(f"a period is YYYY-MM-DD, YYYY-MM, YYYY-Qn or YYYY: {exc}", code="bad_period") from None
    if b < a:
        raise Invalid("'to' is before 'from'", code="bad_period")
    if (b - a).days >= MAX_DAYS:
        raise Invalid(f"a period is at most {MAX_DAYS} days", code="bad_period")
    if a == b:
        return Period("day", a.isoformat(), a.isoformat(), a.isoformat())
    return Period("range", a.isoformat(), b.isoformat(), f"{a.isoformat()}..{b.isoformat()}")


def day_range(args: Mapping[str, Any], today: str) -> tuple[str, str]:
    """The days a list asks for: ``date``, or ``from`` and ``to``; today by default."""
    try:
        period = parse(args.get("date"), first=args.get("from"), last=args.get("to"), today=today)
    except Invalid as exc:
        raise Invalid(exc.message, code="bad_date") from None
    return period.first, period.last
