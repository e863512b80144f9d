"""Reports for any period by hall, zone, service, window, clerk, day, month or hour: JSON, CSV and XLSX.

The store hands back grouped facts (``store/facts.py``), ``figures``, ``attendance`` and
``assessment`` turn them into rows, and this module assembles a report and serves it
under /api/v1/reports/…, with ``format=csv`` or ``format=xlsx`` for a download. The same
functions back ``hallcall report`` (``reports_cli``), which reads the store without a
running server.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.errors import Invalid
from queue_server.core.model import Doc
from queue_server.core.periods import Period, parse
from queue_server.core.schema import obj
from queue_server.features.attendance import sessions as attendance
from queue_server.service import auth
from queue_server.service.auth import Principal
from queue_server.service.features import Feature, register
from queue_server.sim import arrivals as trace
from queue_server.store import Store
from queue_server.store.facts import BusyRow, WindowMark, busy_rows, regroup_visits
from queue_server.web.http import HALL_KEY, TABLES, route

from . import assessment, figures
from . import files as report_files
from .files import Table

FORMATS = ("json", "csv", "xlsx")


# -- assembling reports from the store ------------------------------------------------------


async def people_of(store: Store) -> dict[str, dict[str, str]]:
    return {p.id: {"name": p.name, "staff_no": p.staff_no, "department": p.department} for p in await store.people()}


def label(cfg: HallConfig, by: str, key: Any, people: dict[str, dict[str, str]]) -> str:
    if by == "hall":
        return cfg.hall.name
    if by == "zone":
        return cfg.zones[key].name if key in cfg.zones else str(key)
    if by == "service":
        return cfg.services[key].name if key in cfg.services else str(key)
    if by == "window":
        return f"{key}号窗口 {cfg.windows[key].name}" if key in cfg.windows else f"{key}号窗口"
    if by == "clerk":
        return people.get(key, {}).get("name", key or "（未签到）")
    if by == "hour":
        return f"{key}:00"
    return str(key)


def _after(period: Period) -> str:
    # A session begun on the period's last day may be closed the next morning (day rollover).
    return (date.fromisoformat(period.last) + timedelta(days=1)).isoformat()


async def attendance_rows(cfg: HallConfig, store: Store, period: Period, by: str, now: datetime | None = None, *,
                          busy: list[BusyRow] | None = None, marks: list[WindowMark] | None = None) -> list[attendance.DayRow]:
    """Attendance per (clerk or window, day), reading what is not already at hand."""
    if marks is None:
        marks = await store.window_marks(period.first, _after(period))
    sessions = [s for s in attendance.sessions(marks, cfg.hall.tz, now) if period.first <= s.day <= period.last]
    if busy is None:
        busy = await store.busy_facts(period.first, period.last)
    return attendance.day_rows(cfg, sessions, busy, by, now=now)


async def figures_report(cfg: HallConfig, store: Store, period: Period, by: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Counts, waits, handling, bands, standards and satisfaction per ``by``, with the period's total."""
    if by not in figures.DIMENSIONS:
        raise Invalid(f"by must be one of {', '.join(figures.DIMENSIONS)}", code="bad_value")
    time = by if by in figures.TIME_DIMENSIONS else None
    with_attendance = by in ("clerk", "window")
    # Every read is started at once: the store works through them while this thread works out
    # the figures of the first ones (SQLite steps without holding the GIL).
    reads = [store.visit_facts(period.first, period.last, time), store.rating_facts(period.first, period.last, time)]
    if by in figures.TICKET_DIMENSIONS:
        reads.append(store.ticket_facts(period.first, period.last, time))
    if with_attendance:
        reads += [store.window_marks(period.first, _after(period)), store.busy_facts(period.first, period.last)]
    started = [asyncio.ensure_future(r) for r in reads]
    try:
        visits, ratings = await started[0], await started[1]
        tickets = await started[2] if by in figures.TICKET_DIMENSIONS else None
        rows, total = figures.table(cfg, by, visits, ratings, tickets)
        present: dict[Any, dict[str, Any]] = {}
        if with_attendance:
            marks, busy = await started[-2], await started[-1]
            present = attendance.summarize(await attendance_rows(cfg, store, period, by, now, busy=busy, marks=marks))
    finally:
        for task in started:
            task.cancel()  # only those not done: a failed read leaves nothing running
    people = await people_of(store) if by == "clerk" else {}
    per_ticket = tickets is not None
    out = []
    for k in figures.sort_keys(set(rows) | set(present)):
        entry = {"key": k, "name": label(cfg, by, k, people), **(rows.get(k) or figures.empty(per_ticket))}
        if with_attendance:
            entry["attendance"] = present.get(k)
        out.append(entry)
    return {"period": period.to_dict(), "by": by, "hall": total, "rows": out}


async def attendance_report(cfg: HallConfig, store: Store, period: Period, by: str = "clerk", *, days: bool = False,
                            now: datetime | None = None) -> dict[str, Any]:
    if by not in ("clerk", "window"):
        raise Invalid("attendance is by clerk or by window", code="bad_value")
    day_rows = await attendance_rows(cfg, store, period, by, now)
    people = await people_of(store) if by == "clerk" else {}
    summary = attendance.summarize(day_rows)
    out: dict[str, Any] = {
        "period": period.to_dict(), "by": by,
        "rows": [{"key": k, "name": label(cfg, by, k, people), **summary[k]} for k in figures.sort_keys(summary)],
    }
    if days:
        out["days"] = [{**attendance.day_view(r), "name": label(cfg, by, r.key, people)}
                       for r in sorted(day_rows, key=lambda r: (r.day, str(r.key)))]
    return out


async def assessment_report(cfg: HallConfig, store: Store, period: Period, *, now: datetime | None = None) -> dict[str, Any]:
    """The monthly table; for a quarter or year, each clerk's mean of the months, with the months beside."""
    s = assessment.settings(cfg)
    day_visits = await store.visit_facts(period.first, period.last, "day")
    visits = regroup_visits(day_visits, "month")
    ratings = await store.rating_facts(period.first, period.last, "month")
    day_rows = await attendance_rows(cfg, store, period, "clerk", now, busy=busy_rows(day_visits))
    docs = await store.docs(assessment.KIND, day_from=period.first[:7] + "-01", day_to=period.last)
    people = await people_of(store)
    tables = {}
    for month in period.months():
        corrections = {d.data["clerk"]: d.data for d in docs if d.data.get("month") == month}
        tables[month] = assessment.monthly(
            month, [g for g in visits if g.time == month], [r for r in ratings if r.time == month],
            [d for d in day_rows if d.day.startswith(month)], corrections, people, s)
    tables = {m: rows for m, rows in tables.items() if rows}
    out: dict[str, Any] = {"period": period.to_dict(), "weights": s.weights, "months": tables}
    out["rows"] = next(iter(tables.values()), []) if len(period.months()) == 1 else assessment.period_scores(tables)
    return out


async def red_flag_report(cfg: HallConfig, store: Store, period: Period, *, now: datetime | None = None) -> dict[str, Any]:
    """红旗窗口 candidates: windows meeting every criterion, best first."""
    s = assessment.settings(cfg)
    visits = await store.visit_facts(period.first, period.last)
    ratings = await store.rating_facts(period.first, period.last)
    windows = figures.rows(cfg, "window", visits, ratings)
    present = attendance.summarize(await attendance_rows(cfg, store, period, "window", now))
    flagged = assessment.red_flags({k: v for k, v in windows.items() if k is not None}, present, s)
    for r in flagged:
        r["name"] = label(cfg, "window", r["window"], {})
    return {"period": period.to_dict(), "criteria": s.red_flag, "windows": flagged}


def correction_doc(month: str, clerk: str, body: dict[str, Any], who: str, at: datetime) -> Doc:
    """A manager's corrections to one clerk's month: kept beside the computed score, never over it."""
    deductions = [{"points": d["points"], "reason": d["reason"], "by": who, "at": at.isoformat()} for d in body.get("deductions", [])]
    data = {"month": month, "clerk": clerk, "corrected": body.get("corrected"), "deductions": deductions,
            "note": body.get("note"), "by": who, "at": at.isoformat()}
    return Doc(assessment.KIND, f"{month}.{clerk}", f"{month}-01", data, keys=(f"clerk:{clerk}",), live=False)


# -- tables for files ---------------------------------------------------------------------------


def tables_of(kind: str, report: dict[str, Any]) -> list[Table]:
    label_ = report["period"]["label"]
    if kind == "figures":
        by = report["by"]
        columns = [("name", report_files.KEY_TITLES[by]), *report_files.FIGURES]
        if by in ("clerk", "window"):
            columns += [(f"attendance.{k}", t) for k, t in report_files.ATTENDANCE]
        total = {"name": "合计", **report["hall"]}
        return [Table(f"{report_files.KEY_TITLES[by]} {label_}", columns, report["rows"] + [total])]
    if kind == "attendance":
        out = [Table(f"考勤 {label_}", [("name", report_files.KEY_TITLES[report["by"]]), *report_files.ATTENDANCE],
                     report["rows"])]
        if "days" in report:
            out.append(Table(f"每日考勤 {label_}", report_files.ATTENDANCE_DAYS, report["days"]))
        return out
    if kind == "assessment":
        single = len(report["months"]) <= 1 and report["period"]["kind"] in ("month", "day", "range")
        out = [Table(f"考核 {label_}", report_files.ASSESSMENT if single else report_files.PERIOD_SCORES, report["rows"])]
        if not single:
            out += [Table(f"月讲评 {m}", report_files.ASSESSMENT, rows) for m, rows in report["months"].items()]
        return out
    if kind == "red-flags":
        return [Table(f"红旗窗口 {label_}", [("name", "窗口名称"), *report_files.RED_FLAGS], report["windows"])]
    raise ValueError(kind)


def respond(kind: str, report: dict[str, Any], fmt: str) -> Any:
    """The report as JSON, or as a CSV (first table) or XLSX (every table) download."""
    if fmt == "json":
        return report
    tables = tables_of(kind, report)
    name = f"hallcall-{kind}-{report.get('by', '') and report['by'] + '-'}{report['period']['label']}".replace("..", "_")
    if fmt == "csv":
        body, ctype = report_files.to_csv(tables[0]), report_files.CSV_TYPE
    else:
        body, ctype = report_files.to_xlsx(tables), report_files.XLSX_TYPE
    return web.Response(body=body, content_type=ctype, charset="utf-8" if fmt == "csv" else None,
                        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


# -- routes ---------------------------------------------------------------------------------------

_PERIOD = {"type": "string", "maxLength": 40, "description": "2026-12-01, 2026-12, 2026-Q4 or 2026"}
_DAY = {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"}
_FORMAT = {"type": "string", "enum": list(FORMATS)}
PERIOD_QUERY = {"period": _PERIOD, "from": _DAY, "to": _DAY, "format": _FORMAT}


def request_period(request: web.Request) -> tuple[Period, str]:
    q = request.query
    fmt = q.get("format", "json")
    if fmt not in FORMATS:
        raise Invalid(f"format must be one of {', '.join(FORMATS)}", code="bad_value")
    hall = request.app[HALL_KEY]
    return parse(q.get("period"), first=q.get("from"), last=q.get("to"), today=hall.state.day), fmt


def _setup(request: web.Request, p: Principal) -> tuple[Any, Period, str]:
    auth.require(p, "manager", "admin")
    period, fmt = request_period(request)
    return request.app[HALL_KEY], period, fmt


@route("GET", "/reports/figures", "Counts, waits, handling, wait bands, standards and satisfaction by a dimension",
       "manager, admin", query={**PERIOD_QUERY, "by": {"type": "string", "enum": list(figures.DIMENSIONS)}}, tag="reports",
       produces=TABLES)
async def get_figures(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period, fmt = _setup(request, p)
    report = await figures_report(hall.config, hall.store, period, request.query.get("by", "service"), now=hall.clock.now())
    return respond("figures", report, fmt)


@route("GET", "/reports/attendance", "Attendance by clerk or window: late, early, pauses, time on post, idle",
       "manager, admin", query={**PERIOD_QUERY, "by": {"type": "string", "enum": ["clerk", "window"]},
                                 "days": {"type": "string", "enum": ["0", "1"]}}, tag="reports",
       produces=TABLES)
async def get_attendance(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period, fmt = _setup(request, p)
    report = await attendance_report(hall.config, hall.store, period, request.query.get("by", "clerk"),
                                     days=request.query.get("days") == "1", now=hall.clock.now())
    return respond("attendance", report, fmt)


@route("GET", "/reports/assessment", "Monthly staff scores and ranks; a quarter's or year's mean of the months",
       "manager, admin", query=PERIOD_QUERY, tag="reports", produces=TABLES)
async def get_assessment(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period, fmt = _setup(request, p)
    return respond("assessment", await assessment_report(hall.config, hall.store, period, now=hall.clock.now()), fmt)


@route("GET", "/reports/red-flags", "红旗窗口 candidates of a period and the criteria each window meets",
       "manager, admin", query=PERIOD_QUERY, tag="reports", produces=TABLES)
async def get_red_flags(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period, fmt = _setup(request, p)
    return respond("red-flags", await red_flag_report(hall.config, hall.store, period, now=hall.clock.now()), fmt)


_CORRECTION = obj(
    [], corrected={"type": ["number", "null"], "minimum": 0, "maximum": 200}, note={"type": ["string", "null"], "maxLength": 500},
    deductions={"type": "array", "maxItems": 20, "items": obj(
        ["points", "reason"], points={"type": "number", "minimum": 0, "maximum": 100},
        reason={"type": "string", "minLength": 1, "maxLength": 200})},
)


@route("PUT", "/reports/assessment/{month}/{clerk}", "Set a clerk's corrected score and deductions for a month",
       "manager, admin", body=_CORRECTION, tag="reports")
async def put_correction(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = request.app[HALL_KEY]
    month, clerk = request.match_info["month"], request.match_info["clerk"]
    period = parse(month)
    if period.kind != "month":
        raise Invalid("name a month: YYYY-MM", code="bad_period")
    if await hall.store.person(id=clerk) is None:
        raise Invalid(f"no person {clerk!r}", code="person_unknown")
    doc = correction_doc(month, clerk, body, p.name or p.id, hall.clock.now())
    await hall.run(lambda tx: tx.emit("assessment.updated", docs=(doc,), extra={"topics": ["admin"]}), p.actor)
    return doc.data


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    return attendance.validate(cfg) + assessment.validate(cfg) + trace.validate(cfg)


register(Feature("reports", validate=validate))

# The chart routes and the manager pages register themselves on import.
from queue_server.web import manager_pages as report_pages  # noqa: E402,F401

from . import charts as report_charts
