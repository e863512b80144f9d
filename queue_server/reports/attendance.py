"""Attendance (日考勤) from the window log: sign-in and -out, late and early, pauses, time on post, idle time.

Pure: the log's lines (``WindowMark``) and the busy time of visits go in, rows come out.
Clerks type nothing for it: signing in at a window (``window.opened``) is the clock-in.

- A **session** runs from a window's ``opened`` to its ``closed`` (a close by the day's
  rollover included); it belongs to the business day it began on.
- For each business span of a day on which someone was present (by clerk, or by
  window): **late** if the first presence in the span began more than ``grace_minutes``
  after the span's start (late minutes count from the start); **early** if the last
  presence ended more than ``grace_minutes`` before the span's end; an **absent span** has
  no presence at all; **away** is the time between presences inside a span.
- **On post** is the time signed in; **paused** the time in pauses (by reason);
  **working** is on post minus paused; **busy** is the time spent handling tickets (from
  start, or from the call when start was never pressed, to the end; a no-show's recalls
  included); **idle** is working minus busy.
- **Overtime** (延时服务) is service given after a span ends: the handling time of visits
  (finished, transferred or held; not a no-show) that falls between a span's end and the
  next span's start (the lunch break) or midnight after the last span, with the number of
  such visits. It counts for the clerk and window that gave it, as a plus: time on post
  after a span is never late, early or away.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from queue_server.core.clock import spans_on
from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.store.facts import BusyRow, Gap, LateVisit, WindowMark


@dataclass(frozen=True)
class Settings:
    grace_minutes: float = 5.0
    expected_windows: tuple[int, ...] = ()  # staffed every span: absence alerts run from the span's start


def parse(cfg: HallConfig) -> Settings:
    """The [attendance] table over the defaults (checked by ``validate``)."""
    raw = cfg.extra.get("attendance", {})
    return Settings(float(raw.get("grace_minutes", 5.0)), tuple(raw.get("expected_windows", ())))


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    raw = cfg.extra.get("attendance")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [cfg.issue("attendance", None, "must be a table")]
    out = []
    for key, value in raw.items():
        if key == "grace_minutes":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 120:
                out.append(cfg.issue("attendance", key, "must be minutes between 0 and 120"))
        elif key == "expected_windows":
            if not isinstance(value, list) or any(isinstance(n, bool) or n not in cfg.windows for n in value):
                out.append(cfg.issue("attendance", key, "must list window numbers of this hall"))
        else:
            out.append(cfg.issue("attendance", key, "unknown field (expected one of: expected_windows, grace_minutes)"))
    return out


@dataclass
class Session:
    day: str
    window: int
    clerk: str | None
    clerk_name: str | None
    start: datetime
    end: datetime
    pauses: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    still_open: bool = False  # still signed in; ``end`` is the time of the report


def sessions(marks: Iterable[WindowMark], tz: Any, now: datetime | None = None) -> list[Session]:
    """Pair each sign-in with its sign-out (``marks`` in log order, as stores return them).
    Sessions still open end at ``now`` (dropped without it)."""
    out: list[Session] = []
    current: dict[int, Session] = {}
    pause: dict[int, tuple[datetime, str]] = {}
    for m in marks:
        s = current.get(m.window)
        if m.name == "window.opened":
            current[m.window] = Session(m.at.astimezone(tz).date().isoformat(), m.window, m.clerk, m.clerk_name, m.at, m.at)
            pause.pop(m.window, None)
        elif s is None:
            continue  # the log began inside this session: it belongs to an earlier period
        elif m.name == "window.paused":
            pause[m.window] = (m.at, m.reason or "rest")
        elif m.name == "window.resumed" and m.window in pause:
            began, reason = pause.pop(m.window)
            s.pauses.append((began, m.at, reason))
        elif m.name == "window.closed":
            if m.window in pause:
                began, reason = pause.pop(m.window)
                s.pauses.append((began, m.at, reason))
            s.end = m.at
            out.append(current.pop(m.window))
    if now is not None:
        for n, s in current.items():
            if n in pause:
                began, reason = pause[n]
                s.pauses.append((began, max(began, now), reason))
            s.end, s.still_open = max(s.start, now), True
            out.append(s)
    return out


@dataclass
class DayRow:
    """One clerk's (or one window's) attendance on one business day."""

    day: str
    key: Any
    name: str | None = None
    windows: set[int] = field(default_factory=set)
    clerks: set[str] = field(default_factory=set)
    sign_in: datetime | None = None
    sign_out: datetime | None = None
    late: int = 0
    late_seconds: float = 0.0
    early: int = 0
    early_seconds: float = 0.0
    absent_spans: int = 0
    away_seconds: float = 0.0
    pauses: int = 0
    paused_seconds: float = 0.0
    pause_reasons: dict[str, float] = field(default_factory=dict)
    on_post_seconds: float = 0.0
    busy_seconds: float = 0.0
    overtime_seconds: float = 0.0  # 延时服务: service given after a span ended
    overtime_visits: int = 0

    @property
    def working_seconds(self) -> float:
        return max(0.0, self.on_post_seconds - self.paused_seconds)

    @property
    def idle_seconds(self) -> float:
        return max(0.0, self.working_seconds - self.busy_seconds)


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def gaps(cfg: HallConfig) -> list[Gap]:
    """The gaps after the hall's spans, as times of day: each span's end to the next one's start, the last to midnight."""
    hours = cfg.hall.hours
    return [(f"{b:%H:%M:%S}", f"{hours[i + 1][0]:%H:%M:%S}" if i + 1 < len(hours) else "24:00:00")
            for i, (_, b) in enumerate(hours)]


def overtime(cfg: HallConfig, late: Iterable[LateVisit], by: str = "clerk") -> dict[tuple[Any, str], tuple[float, int]]:
    """延时服务 per (clerk or window, day): seconds of service given after a span ended, and the visits giving it."""
    tz, hours = cfg.hall.tz, cfg.hall.hours
    after: dict[str, list[tuple[float, float]]] = {}  # epoch seconds: a year has ~20,000 such visits
    acc: dict[tuple[Any, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for v in late:
        if v.day not in after:
            day = date.fromisoformat(v.day)
            spans = spans_on(day, tz, hours)
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
            after[v.day] = [(b.timestamp(), (spans[i + 1][0] if i + 1 < len(spans) else midnight).timestamp())
                            for i, (_, b) in enumerate(spans)]
        start, end = v.start.timestamp(), v.end.timestamp()
        seconds = sum(max(0.0, min(b, end) - max(a, start)) for a, b in after[v.day])
        if seconds > 0:
            a = acc[(v.clerk if by == "clerk" else v.window, v.day)]
            a[0] += seconds
            a[1] += 1
    return {k: (secs, int(n)) for k, (secs, n) in acc.items()}


def day_rows(cfg: HallConfig, all_sessions: Iterable[Session], busy: Iterable[BusyRow], by: str = "clerk",
             s: Settings | None = None, now: datetime | None = None, late: Iterable[LateVisit] = ()) -> list[DayRow]:
    """Attendance per (clerk or window, day), with the overtime of the ``late`` visits. With ``now``, spans
    not yet begun are not absences and a session still open has not left early."""
    if by not in ("clerk", "window"):
        raise ValueError("attendance is by clerk or by window")
    s = s or Settings()
    grace = s.grace_minutes * 60
    tz, hours = cfg.hall.tz, cfg.hall.hours
    until = now.timestamp() if now is not None else None
    groups: dict[tuple[Any, str], list[Session]] = defaultdict(list)
    for x in all_sessions:
        groups[(x.clerk if by == "clerk" else x.window, x.day)].append(x)
    extra = overtime(cfg, late, by)
    busy_by: dict[tuple[Any, str], float] = defaultdict(float)
    for busy_row in busy:
        busy_by[(busy_row.clerk if by == "clerk" else busy_row.window, busy_row.day)] += busy_row.busy_seconds
    # Times as epoch seconds: a year is ~10,000 clerk-days, and this is the inner loop.
    spans: dict[str, list[tuple[float, float]]] = {}
    rows = []
    for (key, day), ss in groups.items():
        row = DayRow(day, key, ss[0].clerk_name if by == "clerk" else None)
        row.windows = {x.window for x in ss}
        row.clerks = {x.clerk for x in ss if x.clerk}
        row.sign_in, row.sign_out = min(x.start for x in ss), max(x.end for x in ss)
        merged = _merge([(x.start.timestamp(), x.end.timestamp()) for x in ss])
        row.on_post_seconds = sum(b - a for a, b in merged)
        ongoing = until is not None and any(x.still_open for x in ss)
        if day not in spans:
            spans[day] = [(a.timestamp(), b.timestamp()) for a, b in spans_on(date.fromisoformat(day), tz, hours)]
        for a, b in spans[day]:
            if until is not None and a >= until:
                continue  # not begun yet
            if ongoing and until is not None and b > until:
                b = until  # the span is still going and so is the clerk: judge it up to now
            first = last = None
            covered = 0.0
            for start, end in merged:
                lo, hi = max(start, a), min(end, b)
                if hi > lo:
                    first = lo if first is None else first
                    last = hi
                    covered += hi - lo
            if first is None or last is None:
                row.absent_spans += 1
                continue
            if first > a + grace:
                row.late += 1
                row.late_seconds += first - a
            if last < b - grace and not (ongoing and last >= b):
                row.early += 1
                row.early_seconds += b - last
            row.away_seconds += (last - first) - covered
        for x in ss:
            for began, ended, reason in x.pauses:
                secs = (ended - began).total_seconds()
                row.pauses += 1
                row.paused_seconds += secs
                row.pause_reasons[reason] = row.pause_reasons.get(reason, 0.0) + secs
        row.busy_seconds = busy_by.get((key, day), 0.0)
        row.overtime_seconds, row.overtime_visits = extra.get((key, day), (0.0, 0))
        rows.append(row)
    return rows


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


def day_view(r: DayRow) -> dict[str, Any]:
    return {
        "day": r.day, "key": r.key, "name": r.name, "windows": sorted(r.windows),
        "sign_in": r.sign_in.isoformat() if r.sign_in else None, "sign_out": r.sign_out.isoformat() if r.sign_out else None,
        "late": r.late, "late_minutes": _minutes(r.late_seconds), "early": r.early, "early_minutes": _minutes(r.early_seconds),
        "absent_spans": r.absent_spans, "away_minutes": _minutes(r.away_seconds), "pauses": r.pauses,
        "pause_minutes": _minutes(r.paused_seconds), "pause_reasons": {k: _minutes(v) for k, v in sorted(r.pause_reasons.items())},
        "on_post_hours": _hours(r.on_post_seconds), "working_hours": _hours(r.working_seconds),
        "busy_hours": _hours(r.busy_seconds), "idle_hours": _hours(r.idle_seconds),
        "overtime_minutes": _minutes(r.overtime_seconds), "overtime_tickets": r.overtime_visits,
    }


def summarize(rows: Iterable[DayRow]) -> dict[Any, dict[str, Any]]:
    """Period figures per clerk (or window) from its day rows."""
    acc: dict[Any, list[DayRow]] = defaultdict(list)
    for r in rows:
        acc[r.key].append(r)
    return {key: _summary(rs) for key, rs in acc.items()}


def total(rows: Iterable[DayRow]) -> dict[str, Any] | None:
    """Period figures of every clerk (or window) together, the 合计 beside ``summarize``'s rows:
    its counts are the sums of theirs (days present are clerk-days, or window-days)."""
    rs = list(rows)
    return _summary(rs) if rs else None


def _summary(rs: list[DayRow]) -> dict[str, Any]:
    reasons: dict[str, float] = defaultdict(float)
    for r in rs:
        for k, v in r.pause_reasons.items():
            reasons[k] += v
    working = sum(r.working_seconds for r in rs)
    busy = sum(r.busy_seconds for r in rs)
    return {
        "days_present": len(rs),
        "late": sum(r.late for r in rs), "late_minutes": _minutes(sum(r.late_seconds for r in rs)),
        "early": sum(r.early for r in rs), "early_minutes": _minutes(sum(r.early_seconds for r in rs)),
        "absent_spans": sum(r.absent_spans for r in rs), "away_minutes": _minutes(sum(r.away_seconds for r in rs)),
        "pauses": sum(r.pauses for r in rs), "pause_minutes": _minutes(sum(r.paused_seconds for r in rs)),
        "pause_reasons": {k: _minutes(v) for k, v in sorted(reasons.items())},
        "on_post_hours": _hours(sum(r.on_post_seconds for r in rs)), "working_hours": _hours(working),
        "busy_hours": _hours(busy), "idle_hours": _hours(sum(r.idle_seconds for r in rs)),
        "utilization": round(min(1.0, busy / working), 4) if working else None,
        "overtime_minutes": _minutes(sum(r.overtime_seconds for r in rs)),
        "overtime_tickets": sum(r.overtime_visits for r in rs),
    }
