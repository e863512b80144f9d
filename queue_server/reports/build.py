"""Reports of any period by hall, zone, service, department, window, clerk, day, month or hour, as JSON or files.

The store hands back grouped facts (``store/facts.py``); ``figures``, ``attendance`` and
``assessment`` turn them into rows; this module assembles a report from what a ``Book``
holds (the configuration, the settings reports use, the store) and lays it out as tables
for CSV and XLSX. The reports feature serves them as commands; ``hallcall report`` calls
the same functions on the store without a running server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Awaitable

from queue_server.core.config import HallConfig
from queue_server.core.errors import Invalid
from queue_server.core.model import Doc
from queue_server.core.periods import Period
from queue_server.store import Store
from queue_server.store.facts import BusyRow, WindowMark, busy_rows, regroup_visits

from . import assessment, attendance, figures, files, time_limits
from .files import Table


@dataclass(frozen=True)
class Book:
    """What reports are made from: the hall's configuration, the settings reports use, and the store."""

    config: HallConfig
    store: Store
    standards: figures.Standards
    attendance: attendance.Settings
    assessment: assessment.Settings


FORMATS = ("json", "csv", "xlsx")


# -- assembling reports from the store ------------------------------------------------------


async def people_of(store: Store) -> dict[str, dict[str, str]]:
    return {p.id: {"name": p.name, "staff_no": p.staff_no, "department": p.department} for p in await store.people()}


def names(cfg: HallConfig, by: str, key: Any, people: dict[str, dict[str, str]]) -> dict[str, str]:
    """A report row's ``name`` (the files and the Chinese page) and ``name_en`` (the English page)."""
    return {"name": label(cfg, by, key, people), "name_en": label(cfg, by, key, people, "en")}


def label(cfg: HallConfig, by: str, key: Any, people: dict[str, dict[str, str]], lang: str = "zh") -> str:
    """A row's name: the hall file's (English where it gives one); a person's name as it is."""
    en = lang == "en"

    def named(thing: Any) -> str:
        return str((thing.name_en or thing.name) if en else thing.name)

    if by == "hall":
        return named(cfg.hall)
    if by == "zone":
        return named(cfg.zones[key]) if key in cfg.zones else str(key)
    if by == "service":
        return named(cfg.services[key]) if key in cfg.services else str(key)
    if by == "department":
        return named(cfg.departments[key]) if key in cfg.departments else ("(no department)" if en else "（未设单位）")
    if by == "window":
        head = f"Window {key}" if en else f"{key}号窗口"
        return f"{head} {named(cfg.windows[key])}" if key in cfg.windows else head
    if by == "clerk":
        return people.get(key, {}).get("name", key or ("(not signed in)" if en else "（未签到）"))
    if by == "hour":
        return f"{key}:00"
    return str(key)


def _after(period: Period) -> str:
    # A session begun on the period's last day may be closed the next morning (day rollover).
    return (date.fromisoformat(period.last) + timedelta(days=1)).isoformat()


async def attendance_rows(book: Book, period: Period, by: str, now: datetime | None = None, *,
                          busy: list[BusyRow] | None = None, marks: list[WindowMark] | None = None) -> list[attendance.DayRow]:
    """Attendance per (clerk or window, day), with overtime, reading what is not already at hand."""
    cfg, store = book.config, book.store
    # Started first: the store reads the late visits while the sessions are worked out here.
    late = asyncio.ensure_future(store.late_visits(period.first, period.last, attendance.gaps(cfg)))
    try:
        if marks is None:
            marks = await store.window_marks(period.first, _after(period))
        sessions = [s for s in attendance.sessions(marks, cfg.hall.tz, now) if period.first <= s.day <= period.last]
        if busy is None:
            busy = await store.busy_facts(period.first, period.last)
        return attendance.day_rows(cfg, sessions, busy, by, book.attendance, now=now, late=await late)
    finally:
        late.cancel()  # only if not done: a failed read leaves nothing running


async def figures_report(book: Book, period: Period, by: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Counts, waits, handling, bands, standards and satisfaction per ``by``, with the period's total."""
    cfg, store = book.config, book.store
    if by not in figures.DIMENSIONS:
        raise Invalid(f"by must be one of {', '.join(figures.DIMENSIONS)}", code="bad_value")
    time = by if by in figures.TIME_DIMENSIONS else None
    with_attendance = by in ("clerk", "window")
    # Every read is started at once: the store works through them while this thread works out
    # the figures of the first ones (SQLite steps without holding the GIL).
    # Reads of different kinds of facts, taken back by position below.
    reads: list[Awaitable[Any]] = [store.visit_facts(period.first, period.last, time),
                                   store.rating_facts(period.first, period.last, time)]
    if by in figures.TICKET_DIMENSIONS:
        reads.append(store.ticket_facts(period.first, period.last, time))
    if with_attendance:
        reads += [store.window_marks(period.first, _after(period)), store.busy_facts(period.first, period.last)]
    started = [asyncio.ensure_future(r) for r in reads]
    try:
        visits, ratings = await started[0], await started[1]
        tickets = await started[2] if by in figures.TICKET_DIMENSIONS else None
        rows, total = figures.table(cfg, by, visits, ratings, tickets, standards=book.standards)
        present: dict[Any, dict[str, Any]] = {}
        if with_attendance:
            marks, busy = await started[-2], await started[-1]
            day_rows = await attendance_rows(book, period, by, now, busy=busy, marks=marks)
            present, total["attendance"] = attendance.summarize(day_rows), attendance.total(day_rows)
    finally:
        for task in started:
            task.cancel()  # only those not done: a failed read leaves nothing running
    people = await people_of(store) if by == "clerk" else {}
    per_ticket = tickets is not None
    out = []
    for k in figures.sort_keys(set(rows) | set(present)):
        entry = {"key": k, **names(cfg, by, k, people), **(rows.get(k) or figures.empty(per_ticket))}
        if with_attendance:
            entry["attendance"] = present.get(k)
        out.append(entry)
    return {"period": period.to_dict(), "by": by, "hall": total, "rows": out}


async def eta_report(book: Book, period: Period, by: str = "service") -> dict[str, Any]:
    """How close the waits promised on issue came to the waits citizens had, per ``by``."""
    if by not in figures.ETA_DIMENSIONS:
        raise Invalid(f"by must be one of {', '.join(figures.ETA_DIMENSIONS)}", code="bad_value")
    time = by if by in figures.TIME_DIMENSIONS else None
    rows, total = figures.eta_table(book.config, by, await book.store.eta_facts(period.first, period.last, time))
    out = [{"key": k, **names(book.config, by, k, {}), **rows[k]} for k in figures.sort_keys(rows)]
    return {"period": period.to_dict(), "by": by, "hall": total, "rows": out}


async def time_limit_report(book: Book, period: Period, by: str = "service") -> dict[str, Any]:
    """按时办结率 of the services with a 办结时限, per ``by``, with the period's total."""
    if by not in time_limits.DIMENSIONS:
        raise Invalid(f"by must be one of {', '.join(time_limits.DIMENSIONS)}", code="bad_value")
    cfg = book.config
    docs = await book.store.docs(time_limits.KIND, day_from=period.first, day_to=period.last)
    rows, total = time_limits.table(cfg, by, (d.data for d in docs))
    people = await people_of(book.store) if by == "clerk" else {}
    out = [{"key": k, **names(cfg, by, k, people), **rows[k]} for k in figures.sort_keys(rows)]
    limits = [{"service": sid, "name": s.name, "name_en": s.name_en, "limit": s.time_limit.text(),
               "limit_en": s.time_limit.text("en")} for sid, s in cfg.services.items() if s.time_limit is not None]
    return {"period": period.to_dict(), "by": by, "limits": limits, "hall": total, "rows": out}


async def bundles_report(book: Book, period: Period) -> dict[str, Any]:
    """一件事 figures per bundle: 办件量, completed / partly / abandoned, 一次办结率, 办理时长, 环节, 材料."""
    rows, total = figures.bundle_table(book.config, await book.store.bundle_facts(period.first, period.last))
    out = [{"key": k, **names(book.config, "service", k, {}), **rows[k]} for k in figures.sort_keys(rows)]
    return {"period": period.to_dict(), "hall": total, "rows": out}


async def attendance_report(book: Book, period: Period, by: str = "clerk", *, days: bool = False,
                            now: datetime | None = None) -> dict[str, Any]:
    if by not in ("clerk", "window"):
        raise Invalid("attendance is by clerk or by window", code="bad_value")
    cfg, store = book.config, book.store
    day_rows = await attendance_rows(book, period, by, now)
    people = await people_of(store) if by == "clerk" else {}
    summary = attendance.summarize(day_rows)
    out: dict[str, Any] = {
        "period": period.to_dict(), "by": by,
        "rows": [{"key": k, **names(cfg, by, k, people), **summary[k]} for k in figures.sort_keys(summary)],
    }
    if days:
        out["days"] = [{**attendance.day_view(r), **names(cfg, by, r.key, people)}
                       for r in sorted(day_rows, key=lambda r: (r.day, str(r.key)))]
    return out


async def assessment_report(book: Book, period: Period, *, now: datetime | None = None) -> dict[str, Any]:
    """The monthly table; for a quarter or year, each clerk's mean of the months, with the months beside."""
    s, store = book.assessment, book.store
    day_visits = await store.visit_facts(period.first, period.last, "day")
    visits = regroup_visits(day_visits, "month")
    ratings = await store.rating_facts(period.first, period.last, "month")
    day_rows = await attendance_rows(book, period, "clerk", now, busy=busy_rows(day_visits))
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
    departments = assessment.clerk_departments(book.config, visits)  # the period's: a clerk is one department's
    for r in [*out["rows"], *(r for rows in tables.values() for r in rows)]:
        r["department"] = departments.get(r["clerk"])
        dept = names(book.config, "department", r["department"], {}) if r["department"] else {"name": "", "name_en": ""}
        r["department_name"], r["department_name_en"] = dept["name"], dept["name_en"]
    out["departments"] = assessment.by_department(book.config, out["rows"])
    return out


async def red_flag_report(book: Book, period: Period, *, now: datetime | None = None) -> dict[str, Any]:
    """红旗窗口 candidates: windows meeting every criterion, best first."""
    cfg, store, s = book.config, book.store, book.assessment
    visits = await store.visit_facts(period.first, period.last)
    ratings = await store.rating_facts(period.first, period.last)
    windows = figures.rows(cfg, "window", visits, ratings, standards=book.standards)
    present = attendance.summarize(await attendance_rows(book, period, "window", now))
    flagged = assessment.red_flags({k: v for k, v in windows.items() if k is not None}, present, s)
    for r in flagged:
        r.update(names(cfg, "window", r["window"], {}))
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
        columns = [("name", files.KEY_TITLES[by]), *files.figure_columns(by)]
        if by in ("clerk", "window"):
            columns += files.under("attendance", files.ATTENDANCE)
        total = {"name": "合计", **report["hall"]}
        return [Table(f"{files.KEY_TITLES[by]} {label_}", columns, report["rows"] + [total])]
    if kind == "attendance":
        out = [Table(f"考勤 {label_}", [("name", files.KEY_TITLES[report["by"]]), *files.ATTENDANCE],
                     report["rows"])]
        if "days" in report:
            out.append(Table(f"每日考勤 {label_}", files.ATTENDANCE_DAYS, report["days"]))
        return out
    if kind == "assessment":
        single = len(report["months"]) <= 1 and report["period"]["kind"] in ("month", "day", "range")
        out = [Table(f"考核 {label_}", files.ASSESSMENT if single else files.PERIOD_SCORES, report["rows"])]
        if not single:
            out += [Table(f"月讲评 {m}", files.ASSESSMENT, rows) for m, rows in report["months"].items()]
        out.append(Table(f"窗口单位考核 {label_}", files.DEPARTMENT_SCORES, report.get("departments", [])))
        return out
    if kind == "eta":
        total = {"name": "合计", **report["hall"]}
        return [Table(f"等候预估 {label_}", [("name", files.KEY_TITLES[report["by"]]), *files.ETA],
                      report["rows"] + [total])]
    if kind == "bundles":
        total = {"name": "合计", **report["hall"]}
        return [Table(f"一件事 {label_}", [("name", "一件事"), *files.BUNDLES], report["rows"] + [total])]
    if kind == "red-flags":
        return [Table(f"红旗窗口 {label_}", [("name", "窗口名称"), *files.RED_FLAGS], report["windows"])]
    if kind == "time-limits":
        total = {"name": "合计", **report["hall"]}
        return [Table(f"按时办结 {label_}", [("name", files.KEY_TITLES[report["by"]]), *files.TIME_LIMITS],
                      report["rows"] + [total])]
    raise ValueError(kind)


REPORT_TITLES = {"figures": "业务统计", "attendance": "考勤统计", "assessment": "考核", "red-flags": "红旗窗口",
                 "eta": "等候预估准确度", "time-limits": "按时办结率", "bundles": "一件事一次办"}


def heading(hall: str, kind: str, report: dict[str, Any]) -> str:
    """What a file's title row says: the hall, the report (and its grouping), the period."""
    by = f" 按{files.KEY_TITLES[report['by']]}" if report.get("by") else ""
    return f"{hall} {REPORT_TITLES[kind]}{by} {report['period']['label']}"


def file_of(kind: str, report: dict[str, Any], fmt: str, hall: str) -> tuple[bytes, str, str]:
    """The report as a CSV (its first table) or an XLSX (every table, under a title row naming ``hall``,
    the report and the period): body, content type, file name."""
    tables = tables_of(kind, report)
    name = f"hallcall-{kind}-{report.get('by', '') and report['by'] + '-'}{report['period']['label']}".replace("..", "_")
    if fmt == "csv":
        return files.to_csv(tables[0]), files.CSV_TYPE, f"{name}.csv"
    return files.to_xlsx(tables, title=heading(hall, kind, report)), files.XLSX_TYPE, f"{name}.xlsx"
