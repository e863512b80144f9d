"""Supervision alerts as pure decisions: thresholds, what the live state shows, and the Tx that records it.

``evaluate`` looks at the hall's state at an instant and lists what is over a threshold
now (a ``Finding`` per cause); ``reconcile`` compares that with the alerts already
recorded — inside the decision's Tx, so with several server processes only one raises
each alert — and emits ``alert.raised``, ``alert.escalated`` (yellow → orange → red,
never down) and ``alert.cleared`` when the cause is gone. Managers acknowledge once and
close with a note. An alert is a Doc (kind "alert") whose id names its cause and when
it began, so the same cause returning later is a new alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from queue_server.core.clock import seconds_in_hours, spans_on, within_hours
from queue_server.core.config import HallConfig
from queue_server.core.errors import Conflict, Invalid, NotFound
from queue_server.core import time_limits
from queue_server.core.model import ACTIVE, Doc, Evaluation, Status, WindowStatus
from queue_server.core.rules import Tx
from queue_server.core.state import HallState

from .settings import CHECKED, LEVELS, RANK, RATE_LIMIT_LEVEL, Settings

KIND = "alert"


# -- what the state shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    type: str
    subject: str  # the cause: a service id, "w3.paused", "w3.20261201-A023"…
    level: str
    value: float
    thresholds: tuple[float, float, float]
    info: dict[str, Any]


def level_of(value: float, thresholds: Iterable[float]) -> str | None:
    """The highest level whose threshold the value has reached (a threshold is reached at equality)."""
    found = None
    for name, limit in zip(LEVELS, thresholds):
        if value >= limit:
            found = name
    return found


class _Hours:
    """Business seconds between instants, with today's spans worked out once per check."""

    def __init__(self, cfg: HallConfig, now: datetime) -> None:
        self.tz, self.hours = cfg.hall.tz, cfg.hall.hours
        self.now = now
        self.spans = spans_on(now.date(), self.tz, self.hours)
        self.midnight = datetime.combine(now.date(), datetime.min.time(), self.tz)

    def cutoff(self, seconds: float) -> datetime | None:
        """The latest instant today with ``seconds`` of business time between it and now, if any.

        A wait is monotone in when it began, so a queue's tickets over a threshold are exactly
        those queued at or before this instant: one comparison each instead of a sum of spans.
        """
        left = timedelta(seconds=seconds)
        for a, b in reversed(self.spans):
            hi = min(b, self.now)
            if hi <= a:
                continue
            if hi - a >= left:
                return hi - left
            left -= hi - a
        return None

    def seconds(self, start: datetime, end: datetime | None = None) -> float:
        end = end or self.now
        if start < self.midnight or end > self.now:
            return seconds_in_hours(start, end, self.tz, self.hours)  # another day: the general case
        total = 0.0
        for a, b in self.spans:
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total


def evaluate(state: HallState, now: datetime, s: Settings) -> list[Finding]:
    """Every cause over a yellow threshold now, from the live state alone."""
    cfg = state.config
    tz, hours = cfg.hall.tz, cfg.hall.hours
    now = now.astimezone(tz)
    open_now = within_hours(now, tz, hours)
    business = _Hours(cfg, now)
    out: list[Finding] = []

    def add(type_: str, subject: str, value: float, limits: tuple[float, float, float], **info: Any) -> None:
        lvl = level_of(value, limits)
        if lvl is not None:
            out.append(Finding(type_, subject, lvl, round(value, 4), limits, info))

    for sid, queue in state.waiting.items():
        if not queue:
            continue
        limits = s.levels(cfg, "wait", sid)
        oldest = min(queue.values(), key=lambda t: t.queued_at)
        cut = business.cutoff(limits[0] * 60)
        if cut is not None:
            over = sum(1 for t in queue.values() if t.queued_at <= cut)
        else:  # the threshold reaches back before today: only tickets from earlier days can be over it
            over = sum(1 for t in queue.values() if business.seconds(t.queued_at) >= limits[0] * 60)
        add("wait", sid, business.seconds(oldest.queued_at) / 60, limits, service=sid, ticket=oldest.number,
            waiting=len(queue), over=over)
        if open_now:
            serving = cfg.windows_serving(sid)
            staffed = [n for n in serving if state.windows[n].status is WindowStatus.OPEN]
            ratio = len(queue) / max(1, len(staffed))  # no window open counts as one: one early ticket is not red
            by_ratio = level_of(ratio, s.levels(cfg, "saturation", sid))
            by_queue = level_of(len(queue), s.levels(cfg, "queue", sid))
            if by_ratio or by_queue:
                # Suggest a flexible window: one that lists the service but is not open, else an open one of the zone.
                spare = [n for n in serving if n not in staffed]
                zone = cfg.services[sid].zone
                spare += [n for n, w in cfg.windows.items() if w.zone == zone and n not in serving
                          and state.windows[n].status is WindowStatus.OPEN and state.windows[n].current is None]
                use_ratio = by_ratio is not None and (by_queue is None or RANK[by_ratio] >= RANK[by_queue])
                add("saturation", sid, ratio if use_ratio else len(queue),
                    s.levels(cfg, "saturation" if use_ratio else "queue", sid), service=sid, waiting=len(queue),
                    open_windows=len(staffed), measure="per_window" if use_ratio else "queue", suggest=spare[:3])

    for n, w in state.windows.items():
        t = state.current_ticket(n)
        if t is not None and t.status in (Status.CALLED, Status.SERVING):
            since = t.started_at or t.called_at
            assert since is not None
            add("handling", f"w{n}.{t.id}", (now - since).total_seconds() / 60, s.levels(cfg, "handling", t.service),
                service=t.service, window=n, ticket=t.number, clerk=w.clerk_name)

    if open_now:
        first = spans_on(now.date(), tz, hours)[0][0]
        for n, w in state.windows.items():
            if w.status is WindowStatus.PAUSED and w.since is not None:
                add("pause", f"w{n}.paused", business.seconds(w.since) / 60, s.levels(cfg, "pause"),
                    window=n, kind="paused", reason=w.pause_reason, clerk=w.clerk_name)
            elif w.status is WindowStatus.CLOSED:
                # Absent: signed out in business hours today (and not back), or an expected window not yet in.
                left_today = w.since is not None and w.clerk is not None and w.since >= first
                if left_today or n in s.expected_windows:
                    since = w.since if left_today and w.since else first
                    add("pause", f"w{n}.absent", business.seconds(since) / 60, s.levels(cfg, "pause"),
                        window=n, kind="absent", clerk=w.clerk_name if left_today else None)

    slot_start = now - timedelta(minutes=s.slot_minutes)
    called: dict[str, list[Any]] = {}
    for t in state.tickets.values():
        if t.first_called_at is not None and t.first_called_at >= slot_start:
            called.setdefault(t.service, []).append(t)
    for sid, ts in called.items():
        if len(ts) < s.min_calls:
            continue
        target = cfg.services[sid].target_wait_minutes * 60
        missed = sum(1 for t in ts if t.no_shows)
        over = sum(1 for t in ts if business.seconds(t.issued_at, t.first_called_at) > target)
        add("no_show_rate", sid, missed / len(ts), s.levels(cfg, "no_show_rate", sid), service=sid, called=len(ts),
            count=missed, slot_minutes=s.slot_minutes)
        add("over_wait_rate", sid, over / len(ts), s.levels(cfg, "over_wait_rate", sid), service=sid, called=len(ts),
            count=over, slot_minutes=s.slot_minutes)

    for t in state.tickets.values():
        svc = cfg.services.get(t.origin_service)
        if svc is None or svc.time_limit is None or t.status not in ACTIVE:
            continue
        allowed = svc.time_limit.seconds(hours)
        used = time_limits.working_seconds(t.issued_at, now, tz, hours, cfg.calendar)
        add("time_limit", t.id, used / allowed, s.levels(cfg, "time_limit", svc.id), service=svc.id, ticket=t.number,
            window=t.window if t.status is not Status.WAITING else None, used_minutes=round(used / 60, 1),
            limit=svc.time_limit.text(), limit_en=svc.time_limit.text("en"),
            due=time_limits.due_at(t.issued_at, allowed, tz, hours, cfg.calendar).isoformat())

    served: dict[int, list[int]] = {}  # window -> [served today, of them unrated]
    for t in state.tickets.values():
        if t.status is Status.DONE and t.outcome is not None and t.window is not None:
            counts = served.setdefault(t.window, [0, 0])
            counts[0] += 1
            counts[1] += t.rating is None
    total = sum(n for n, _ in served.values())
    if total:
        hall_share = sum(u for _, u in served.values()) / total
        for n, (count, unrated) in served.items():
            if count >= s.min_served:
                share = unrated / count
                add("unrated_gap", f"w{n}.unrated", abs(share - hall_share), s.levels(cfg, "unrated_gap"), window=n,
                    served=count, unrated=unrated, share=round(share, 4), hall_share=round(hall_share, 4))
    return out


# -- recording alerts in a Tx ------------------------------------------------------------------


def _emit(tx: Tx, name: str, data: dict[str, Any], day: str) -> Doc:
    live = data["active"] or data["closed_at"] is None
    data["status"] = "closed" if data["closed_at"] else "active" if data["active"] else "cleared"
    doc = Doc(KIND, data["id"], day, data, live=live)
    tx.emit(name, docs=(doc,))
    return doc


def _raise(tx: Tx, kind: str, subject: str, level: str, value: float, limits: tuple[float, ...], info: dict[str, Any]) -> Doc:
    now = tx.now.isoformat()
    data = {
        "id": f"{kind}.{subject}.{tx.now:%Y%m%dT%H%M%S}", "type": kind, "subject": subject, "level": level,
        "value": value, "peak": value, "thresholds": list(limits), **info, "active": True,
        "raised_at": now, "escalated_at": None, "cleared_at": None, "acknowledged_at": None, "acknowledged_by": None,
        "ack_note": None, "closed_at": None, "closed_by": None, "close_note": None,
    }
    return _emit(tx, "alert.raised", data, tx.state.day)


def active_alerts(state: HallState) -> dict[tuple[str, str], Doc]:
    return {(d.data["type"], d.data["subject"]): d for d in state.docs.get(KIND, {}).values() if d.data["active"]}


def reconcile(tx: Tx, findings: list[Finding], s: Settings) -> list[Doc]:
    """Raise, escalate and clear alerts so the recorded ones match the findings. Returns the docs changed."""
    active = active_alerts(tx.state)
    changed: list[Doc] = []
    seen = set()
    for f in findings:
        seen.add((f.type, f.subject))
        doc = active.get((f.type, f.subject))
        if doc is None:
            changed.append(_raise(tx, f.type, f.subject, f.level, f.value, f.thresholds, f.info))
        elif doc.data["closed_at"] is None and RANK[f.level] > RANK[doc.data["level"]]:
            data = {**doc.data, **f.info, "level": f.level, "value": f.value, "peak": max(f.value, doc.data["peak"]),
                    "escalated_at": tx.now.isoformat()}
            changed.append(_emit(tx, "alert.escalated", data, doc.day))
    for key, doc in active.items():
        if key not in seen and doc.data["type"] in CHECKED:
            changed.append(_emit(tx, "alert.cleared", {**doc.data, "active": False, "cleared_at": tx.now.isoformat()}, doc.day))
    cutoff = (tx.now - timedelta(days=s.auto_close_days)).isoformat()
    for doc in list(tx.state.docs.get(KIND, {}).values()):
        d = doc.data
        if not d["active"] and d["closed_at"] is None and d["cleared_at"] and d["cleared_at"] < cutoff:
            changed.append(_emit(tx, "alert.closed", {**d, "closed_at": tx.now.isoformat(), "closed_by": "system",
                                                      "close_note": f"cleared and not closed within {s.auto_close_days} days"}, doc.day))
    return changed


@dataclass(frozen=True)
class DryRun:
    """What a check found on the committed state, at ``seq`` and ``now``."""

    seq: int
    now: datetime
    findings: list[Finding]
    changes: bool


def dry_run(state: HallState, now: datetime, s: Settings) -> DryRun:
    """A check on a copy of the state: does it have anything to record?"""
    tx = Tx(state.fork(), now)
    findings = evaluate(tx.state, tx.now, s)
    return DryRun(state.seq, tx.now, findings, bool(reconcile(tx, findings, s)))


def check(tx: Tx, s: Settings, seen: DryRun | None = None) -> list[Doc]:
    """The checker's decision: record the difference between the state in the Tx and its alerts.

    The dry run's findings are reused only when they were made on this very state at this
    very instant; otherwise the state is evaluated again inside the transaction.
    """
    if seen is not None and seen.seq == tx.state.seq and seen.now == tx.now:
        return reconcile(tx, seen.findings, s)
    return reconcile(tx, evaluate(tx.state, tx.now, s), s)


def bad_review(tx: Tx, ev: Evaluation, s: Settings) -> Doc | None:
    """Every 不满意 / 非常不满意 rating raises an alert in the rating's own transaction."""
    if ev.level not in (1, 2):
        return None
    level = s.bad_review[0] if ev.level == 2 else s.bad_review[1]
    return _raise(tx, "bad_review", ev.ticket, level, float(ev.level), (2.0, 2.0, 1.0),
                  {"service": ev.service, "window": ev.window, "ticket": ev.number, "clerk": ev.clerk,
                   "rating": ev.level, "reasons": list(ev.reasons), "comment": ev.comment})


def rate_limit(tx: Tx, hit: dict[str, Any], s: Settings) -> Doc | None:
    """A kiosk token, a client address or a phone session reached its limit on taking tickets.

    One alert per source in ``rate_limit_minutes``: a script hammering the kiosk API is
    one line on the board, not one per refused request.
    """
    subject = f"{hit['source']}.{hit['key']}"
    since = (tx.now - timedelta(minutes=s.rate_limit_minutes)).isoformat()
    for doc in tx.state.docs.get(KIND, {}).values():
        d = doc.data
        if d["type"] == "rate_limit" and d["subject"] == subject and d["raised_at"] >= since:
            return None
    return _raise(tx, "rate_limit", subject, RATE_LIMIT_LEVEL, 1.0, (1.0, 1.0, 1.0), dict(hit))


PACE = "rating_pace"  # a Doc per window: how many ratings in a row came faster than a citizen can press


def rating_pace(tx: Tx, ev: Evaluation, s: Settings) -> Doc | None:
    """Count ratings in a row given within ``fast_rating_seconds`` of the request; alert past the thresholds.

    A citizen reads the pad, thinks and presses: a window whose ratings keep arriving
    within a second of the finish is rated by a script or by the clerk's own hand.
    """
    t = tx.state.ticket(ev.ticket)
    if ev.window is None or ev.at is None or t is None or t.ended_at is None:
        return None
    old = tx.state.docs.get(PACE, {}).get(f"w{ev.window}")
    before = old.data["in_row"] if old is not None and old.day == tx.state.day else 0
    fast = (ev.at - t.ended_at).total_seconds() < s.fast_rating_seconds
    in_row = before + 1 if fast else 0
    if in_row == before:
        return None  # a slow rating after slow ones changes nothing
    pace = Doc(PACE, f"w{ev.window}", tx.state.day, {"window": ev.window, "in_row": in_row, "last": ev.number})
    tx.emit("rating.pace", docs=(pace,))
    limits = s.levels(tx.config, "rating_fast")
    level = level_of(in_row, limits)
    if level is None:
        return None
    subject = f"w{ev.window}.fast"
    info = {"window": ev.window, "clerk": ev.clerk, "ticket": ev.number, "in_row": in_row,
            "seconds": s.fast_rating_seconds}
    doc = active_alerts(tx.state).get(("rating_fast", subject))
    if doc is None:
        return _raise(tx, "rating_fast", subject, level, float(in_row), limits, info)
    data = {**doc.data, **info, "value": float(in_row), "peak": max(float(in_row), doc.data["peak"])}
    if RANK[level] > RANK[doc.data["level"]]:
        return _emit(tx, "alert.escalated", {**data, "level": level, "escalated_at": tx.now.isoformat()}, doc.day)
    return None


def _live(tx: Tx, alert_id: str) -> Doc:
    doc = tx.state.docs.get(KIND, {}).get(alert_id)
    if doc is None:
        raise NotFound(f"no open alert {alert_id!r}", code="alert_unknown")
    return doc


def acknowledge(tx: Tx, alert_id: str, who: str, note: str | None = None) -> Doc:
    """A manager has seen the alert (once)."""
    doc = _live(tx, alert_id)
    if doc.data["acknowledged_at"]:
        raise Conflict(f"alert {alert_id} was acknowledged by {doc.data['acknowledged_by']}", code="already_acknowledged")
    data = {**doc.data, "acknowledged_at": tx.now.isoformat(), "acknowledged_by": who, "ack_note": note or None}
    return _emit(tx, "alert.acknowledged", data, doc.day)


def close(tx: Tx, alert_id: str, who: str, note: str) -> Doc:
    """A manager closes the alert with a note; one still active stays on the board until its cause is gone."""
    if not note or not note.strip():
        raise Invalid("closing an alert needs a note", code="note_required")
    doc = _live(tx, alert_id)
    if doc.data["closed_at"]:
        raise Conflict(f"alert {alert_id} is closed already", code="already_closed")
    data = {**doc.data, "closed_at": tx.now.isoformat(), "closed_by": who, "close_note": note.strip()}
    if data["type"] not in CHECKED:  # a bad review has no cause to wait for: closing it ends it
        data.update(active=False, cleared_at=data["closed_at"])
    if not data["acknowledged_at"]:
        data.update(acknowledged_at=data["closed_at"], acknowledged_by=who)
    return _emit(tx, "alert.closed", data, doc.day)


def _time_limit_text(name: str, name_en: str, d: dict[str, Any]) -> tuple[str, str]:
    used, due = d.get("used_minutes", 0), (d.get("due") or "")[11:16]
    if d["value"] >= 1:
        return (f"{name}：{d.get('ticket')} 已超出办结时限（{d.get('limit')}，应于 {due} 前办结），已用 {used:.0f} 分钟",
                f"{name_en}: {d.get('ticket')} is past its time limit ({d.get('limit_en')}, due {due}); {used:.0f} min used")
    return (f"{name}：{d.get('ticket')} 已用办结时限（{d.get('limit')}）的 {d['value']:.0%}，应于 {due} 前办结",
            f"{name_en}: {d.get('ticket')} has used {d['value']:.0%} of its time limit ({d.get('limit_en')}); due {due}")


_SOURCES = {"kiosk": ("取号机", "Kiosk"), "address": ("地址", "Address"), "phone": ("手机会话", "Phone session")}


def _source(d: dict[str, Any]) -> tuple[str, str, str]:
    """What reached its limit, in both languages, and its name."""
    zh, en = _SOURCES.get(str(d.get("source")), ("", ""))
    name = (d.get("label") or d.get("kiosk")) if d.get("source") == "kiosk" else None
    return zh, en, str(name or d.get("key", ""))


def view(doc: Doc, cfg: HallConfig) -> dict[str, Any]:
    """An alert as the API and the board show it, with names and a message in both languages."""
    d = dict(doc.data)
    svc = cfg.services.get(d.get("service") or "")
    name, name_en = (svc.name, svc.name_en) if svc else ("", "")
    v, kind = d["value"], d["type"]
    where = f"{d['window']}号窗口" if d.get("window") else ""
    text = {
        "wait": (f"{name}：{d.get('ticket')} 已等候 {v:.0f} 分钟，{d.get('over', 0)} 人超过标准",
                 f"{name_en}: {d.get('ticket')} has waited {v:.0f} min; {d.get('over', 0)} over the standard"),
        "handling": (f"{where}办理 {d.get('ticket')} 已 {v:.0f} 分钟", f"Window {d.get('window')} has served {d.get('ticket')} for {v:.0f} min"),
        "saturation": (f"{name}：{d.get('waiting')} 人等候，开放窗口 {d.get('open_windows')} 个，建议开启弹性窗口 {d.get('suggest')}",
                       f"{name_en}: {d.get('waiting')} waiting, {d.get('open_windows')} windows open; open one of {d.get('suggest')}"),
        "pause": (f"{where}{'暂停' if d.get('kind') == 'paused' else '离岗'} {v:.0f} 分钟",
                  f"Window {d.get('window')} {'paused' if d.get('kind') == 'paused' else 'unstaffed'} for {v:.0f} min"),
        "no_show_rate": (f"{name}：近 {d.get('slot_minutes')} 分钟弃号率 {v:.0%}", f"{name_en}: no-show rate {v:.0%} in the last {d.get('slot_minutes')} min"),
        "over_wait_rate": (f"{name}：近 {d.get('slot_minutes')} 分钟超时等候率 {v:.0%}",
                           f"{name_en}: {v:.0%} waited over the standard in the last {d.get('slot_minutes')} min"),
        "rating_fast": (f"{where}连续 {v:.0f} 次评价在请求后 {d.get('seconds')} 秒内提交，快于常人按键",
                        f"Window {d.get('window')}: {v:.0f} ratings in a row within {d.get('seconds')} s of the request,"
                        " faster than a person presses"),
        "unrated_gap": (f"{where}今日未评价占比 {d.get('share', 0):.0%}，全厅 {d.get('hall_share', 0):.0%}",
                        f"Window {d.get('window')}: {d.get('share', 0):.0%} of services unrated today,"
                        f" against {d.get('hall_share', 0):.0%} for the hall"),
        "time_limit": _time_limit_text(name, name_en, d),
        "rate_limit": (f"{_source(d)[0]} {_source(d)[2]} 取号过于频繁，已按限额拒绝",
                       f"{_source(d)[1]} {_source(d)[2]} took tickets too fast and was refused"),
        "bad_review": (f"{where}{d.get('ticket')} 收到差评（{'非常不满意' if d.get('rating') == 1 else '不满意'}）",
                       f"Window {d.get('window')}: {d.get('ticket')} rated {'very dissatisfied' if d.get('rating') == 1 else 'dissatisfied'}"),
    }[kind]
    d["message"], d["message_en"] = text
    d["service_name"] = name
    dept = cfg.department_of(d["window"]) if d.get("window") else cfg.service_department(d.get("service") or "")
    d["department"] = dept
    d["department_name"] = cfg.departments[dept].name if dept else None
    return d
