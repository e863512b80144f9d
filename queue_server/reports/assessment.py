"""Staff assessment (月讲评、季考核、年评比) and the 红旗窗口 candidates. Pure.

Each month every clerk who served or signed in gets four component scores (0–100):

- **volume**: served visits ×100 / the most any clerk served that month;
- **efficiency**: ×100 the ratio of the hall's mean handling time for the same services
  (that month) to the clerk's own, capped at 100 — faster than the hall scores 100;
- **satisfaction**: the mean rating on a 0–100 scale ((mean level − 1) × 25);
- **attendance**: 100 minus points per late or early span, per absent span, and per hour
  of pauses beyond a daily allowance.

Each clerk is assessed with the 窗口单位 (department) of the windows where they finished
most visits that month, and each department gets the mean of its clerks' final scores,
ranked the same way: the hall's rules assess 窗口单位 as well as people.

The **computed score** is the weighted mean of the components a clerk has (weights from
``[assessment]``), plus the **overtime** points (延时服务, a plus item: ``overtime_points_per_hour``
per hour of service given after a span ended, at most ``overtime_points_max`` a month),
minus the manager's deductions (each with a reason). A manager may
set a **corrected score**; it is kept beside the computed one, never over it, and the
rank follows the corrected score where there is one. A quarter's or year's score is the
mean of the clerk's monthly (final) scores.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Iterable

from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.reports.attendance import DayRow
from queue_server.store.facts import RatingGroup, VisitGroup

KIND = "assessment"
COMPONENTS = ("volume", "efficiency", "satisfaction", "attendance")
DEFAULT_WEIGHTS = {"volume": 30.0, "efficiency": 20.0, "satisfaction": 30.0, "attendance": 20.0}
# Waits over the standard say more about staffing than about a window, so the criterion is the
# window's own handling time.
RED_FLAG_DEFAULTS = {"count": 3, "min_satisfaction_rate": 0.98, "max_bad_reviews": 0, "max_over_handling_rate": 0.10,
                     "min_served_share": 0.5, "max_attendance_faults": 0}
POINTS_DEFAULTS = {"late_points": 2.0, "early_points": 2.0, "absent_points": 10.0, "pause_allowance_minutes": 30.0,
                   "pause_points_per_hour": 5.0, "overtime_points_per_hour": 1.0, "overtime_points_max": 5.0}


@dataclass(frozen=True)
class Settings:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    points: dict[str, float] = field(default_factory=lambda: dict(POINTS_DEFAULTS))
    red_flag: dict[str, float] = field(default_factory=lambda: dict(RED_FLAG_DEFAULTS))


def parse(cfg: HallConfig) -> Settings:
    raw = cfg.extra.get("assessment", {})
    return Settings({**DEFAULT_WEIGHTS, **raw.get("weights", {})},
                    {**POINTS_DEFAULTS, **{k: raw[k] for k in POINTS_DEFAULTS if k in raw}},
                    {**RED_FLAG_DEFAULTS, **raw.get("red_flag", {})})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    raw = cfg.extra.get("assessment")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [cfg.issue("assessment", None, "must be a table")]
    out = []
    for key, value in raw.items():
        if key == "weights":
            if not isinstance(value, dict):
                out.append(cfg.issue("assessment", key, "must be a table of weights"))
                continue
            for k, v in value.items():
                if k not in COMPONENTS:
                    out.append(cfg.issue("assessment.weights", k, f"unknown component (expected one of: {', '.join(COMPONENTS)})"))
                elif not _number(v):
                    out.append(cfg.issue("assessment.weights", k, "must be a number ≥ 0"))
            if not sum(v for v in {**DEFAULT_WEIGHTS, **value}.values() if _number(v)):
                out.append(cfg.issue("assessment", key, "at least one weight must be above 0"))
        elif key == "red_flag":
            if not isinstance(value, dict):
                out.append(cfg.issue("assessment", key, "must be a table"))
                continue
            for k, v in value.items():
                if k not in RED_FLAG_DEFAULTS:
                    out.append(cfg.issue("assessment.red_flag", k, f"unknown field (expected one of: {', '.join(RED_FLAG_DEFAULTS)})"))
                elif not _number(v) or (k.endswith("rate") or k.endswith("share")) and v > 1:
                    out.append(cfg.issue("assessment.red_flag", k, "must be a number ≥ 0 (a share at most 1)"))
        elif key in POINTS_DEFAULTS:
            if not _number(value):
                out.append(cfg.issue("assessment", key, "must be a number ≥ 0"))
        else:
            allowed = ", ".join(["weights", "red_flag", *POINTS_DEFAULTS])
            out.append(cfg.issue("assessment", key, f"unknown field (expected one of: {allowed})"))
    return out


def _handling_by(visits: Iterable[VisitGroup]) -> tuple[dict[tuple[str | None, str], list[float]], dict[str, float]]:
    """Per (clerk, service): [count, microseconds] of finished visits; per service: the hall's mean."""
    own: dict[tuple[str | None, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    hall: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for g in visits:
        if g.end != "finished" or not g.handlings_us:
            continue
        total = sum(g.handlings_us)
        for acc in (own[(g.clerk, g.service)], hall[g.service]):
            acc[0] += len(g.handlings_us)
            acc[1] += total
    return own, {s: t / n for s, (n, t) in hall.items() if n}


def attendance_score(days: Iterable[DayRow], s: Settings) -> float:
    p = s.points
    lost = 0.0
    for d in days:
        lost += d.late * p["late_points"] + d.early * p["early_points"] + d.absent_spans * p["absent_points"]
        excess = max(0.0, d.paused_seconds / 60 - p["pause_allowance_minutes"])
        lost += excess / 60 * p["pause_points_per_hour"]
    return max(0.0, 100.0 - lost)


def overtime_points(days: Iterable[DayRow], s: Settings) -> float:
    """The plus for service given after a span ended (延时服务), capped per month."""
    hours = sum(d.overtime_seconds for d in days) / 3600
    return round(min(s.points["overtime_points_max"], hours * s.points["overtime_points_per_hour"]), 2)


def monthly(month: str, visits: Iterable[VisitGroup], ratings: Iterable[RatingGroup], days: Iterable[DayRow],
            corrections: dict[str, dict[str, Any]], people: dict[str, dict[str, str]], s: Settings) -> list[dict[str, Any]]:
    """The month's table: one row per clerk with components, computed and corrected scores, and the rank."""
    visits = list(visits)
    served: dict[str | None, int] = defaultdict(int)
    for g in visits:
        if g.end == "finished":
            served[g.clerk] += len(g.waits_us)
    own, hall_mean = _handling_by(visits)
    levels: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for r in ratings:
        levels[r.clerk][0] += r.count
        levels[r.clerk][1] += r.level * r.count
    by_day: dict[Any, list[DayRow]] = defaultdict(list)
    for d in days:
        by_day[d.key].append(d)
    clerks = {c for c in set(served) | set(by_day) | set(levels) | set(corrections) if c}
    most = max((served.get(c, 0) for c in clerks), default=0)
    rows = []
    for c in clerks:
        comp: dict[str, float | None] = dict.fromkeys(COMPONENTS)
        comp["volume"] = round(100.0 * served.get(c, 0) / most, 2) if most else None
        expected = actual = 0.0
        for (clerk, service), (n, secs) in own.items():
            if clerk == c and service in hall_mean:
                expected += n * hall_mean[service]
                actual += secs
        comp["efficiency"] = round(100.0 * min(1.0, expected / actual), 2) if actual else None
        rated, total = levels.get(c, (0, 0))
        comp["satisfaction"] = round((total / rated - 1) * 25, 2) if rated else None
        comp["attendance"] = round(attendance_score(by_day.get(c, []), s), 2) if c in by_day else None
        weighted = [(s.weights[k], v) for k, v in comp.items() if v is not None and s.weights[k] > 0]
        base = sum(w * v for w, v in weighted) / sum(w for w, _ in weighted) if weighted else 0.0
        fix = corrections.get(c, {})
        deductions = list(fix.get("deductions", []))
        mine = by_day.get(c, [])
        plus = overtime_points(mine, s)
        computed = round(base + plus - sum(float(d["points"]) for d in deductions), 2)
        corrected = fix.get("corrected")
        who = people.get(c, {})
        rows.append({
            "month": month, "clerk": c, "name": who.get("name", c), "staff_no": who.get("staff_no", ""),
            "served": served.get(c, 0), "rated": rated, "days_present": len(by_day.get(c, [])),
            "components": comp, "weights": dict(s.weights), "deductions": deductions,
            "deduction_points": round(sum(float(d["points"]) for d in deductions), 2),
            "overtime_minutes": round(sum(d.overtime_seconds for d in mine) / 60, 1),
            "overtime_tickets": sum(d.overtime_visits for d in mine), "plus_points": plus,
            "computed": computed, "corrected": corrected, "final": corrected if corrected is not None else computed,
            "note": fix.get("note"),
        })
    return rank(rows)


def clerk_departments(cfg: HallConfig, visits: Iterable[VisitGroup]) -> dict[str | None, str | None]:
    """Each clerk's department: that of the windows where the clerk finished most visits (ties: the first in the file)."""
    order = {d: i for i, d in enumerate(cfg.departments)}
    counts: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g in visits:
        dept = cfg.department_of(g.window)
        if dept is not None and g.end == "finished":
            counts[g.clerk][dept] += len(g.waits_us)
    return {c: min(by, key=lambda d: (-by[d], order.get(d, 0))) for c, by in counts.items()}


def by_department(cfg: HallConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Departments ranked by the mean final score of their clerks (rows carry ``department``)."""
    acc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("department"):
            acc[r["department"]].append(r)
    out = [{"department": d, "name": cfg.departments[d].name if d in cfg.departments else d,
            "name_en": cfg.departments[d].name_en if d in cfg.departments else "", "clerks": len(rs),
            "served": sum(r["served"] for r in rs), "final": round(sum(r["final"] for r in rs) / len(rs), 2)}
           for d, rs in acc.items()]
    return rank(out)


def rank(rows: list[dict[str, Any]], score: str = "final") -> list[dict[str, Any]]:
    """Competition ranking (1, 2, 2, 4) by ``score``, highest first; ties listed by name."""
    rows = sorted(rows, key=lambda r: (-r[score], r["name"] or "", r.get("clerk") or r.get("department") or ""))
    for i, r in enumerate(rows):
        r["rank"] = rows[i - 1]["rank"] if i and r[score] == rows[i - 1][score] else i + 1
    return rows


def period_scores(months: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A quarter's or year's table: each clerk's mean of monthly final scores, ranked."""
    acc: dict[str, dict[str, Any]] = {}
    for month, rows in sorted(months.items()):
        for r in rows:
            a = acc.setdefault(r["clerk"], {"clerk": r["clerk"], "name": r["name"], "staff_no": r["staff_no"],
                                            "months": {}, "served": 0})
            a["months"][month] = r["final"]
            a["served"] += r["served"]
    out = []
    for a in acc.values():
        scores = list(a["months"].values())
        a["final"] = round(sum(scores) / len(scores), 2)
        a["months_assessed"] = len(scores)
        out.append(a)
    return rank(out)


# What a window missed of the 红旗窗口 criteria, in Chinese (``misses``) and English (``misses_en``).
MISSES = {
    "served": ("办结 {n} 件，低于 {floor} 件", "served {n} < {floor}"),
    "satisfaction": ("满意率 {rate}，低于 {floor}", "satisfaction {rate} < {floor}"),
    "bad": ("差评 {n} 条", "{n} bad reviews"),
    "handling": ("办理超时率 {rate}，高于 {ceiling}", "over-standard handling {rate} > {ceiling}"),
    "attendance": ("迟到、早退或缺勤 {n} 次", "{n} late, early or absent spans"),
}


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


def red_flags(windows: dict[Any, dict[str, Any]], attendance: dict[Any, dict[str, Any]], s: Settings) -> list[dict[str, Any]]:
    """Every window with the criteria it meets or misses; the best ``count`` eligible ones are the candidates."""
    rf = s.red_flag
    busy = [w["served"] for w in windows.values() if w["served"]]
    floor = rf["min_served_share"] * median(busy) if busy else 0
    out = []
    for n, w in windows.items():
        att = attendance.get(n, {})
        faults = att.get("late", 0) + att.get("early", 0) + att.get("absent_spans", 0)
        sat = w["satisfaction"]
        misses: list[tuple[str, dict[str, Any]]] = []
        if not w["served"] or w["served"] < floor:
            misses.append(("served", {"n": w["served"], "floor": f"{floor:.0f}"}))
        if sat["rate"] is None or sat["rate"] < rf["min_satisfaction_rate"]:
            misses.append(("satisfaction", {"rate": _percent(sat["rate"]), "floor": _percent(rf["min_satisfaction_rate"])}))
        if sat["bad"] > rf["max_bad_reviews"]:
            misses.append(("bad", {"n": sat["bad"]}))
        over = w["handling"]["over_standard_rate"]
        if over is not None and over > rf["max_over_handling_rate"]:
            misses.append(("handling", {"rate": _percent(over), "ceiling": _percent(rf["max_over_handling_rate"])}))
        if faults > rf["max_attendance_faults"]:
            misses.append(("attendance", {"n": faults}))
        out.append({"window": n, "served": w["served"], "satisfaction_rate": sat["rate"], "bad_reviews": sat["bad"],
                    "over_handling_rate": over, "attendance_faults": faults, "eligible": not misses,
                    "misses": [MISSES[k][0].format(**v) for k, v in misses],
                    "misses_en": [MISSES[k][1].format(**v) for k, v in misses]})
    out.sort(key=lambda r: (not r["eligible"], -(r["satisfaction_rate"] or 0), -r["served"], r["window"]))
    for i, r in enumerate(out):
        r["candidate"] = r["eligible"] and i < int(rf["count"])
    return out
