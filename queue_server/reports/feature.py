"""The reports feature: figures, attendance, assessment, 红旗窗口, charts and /stats as commands.

It owns the [attendance] and [assessment] tables of the hall file. Every figure comes from
one engine (``figures``) over the store's grouped facts, whichever command asks.
"""

from __future__ import annotations

from typing import Any

from queue_server.core.config import HallConfig
from queue_server.core.errors import Invalid
from queue_server.core.periods import Period, parse
from queue_server.core.schema import DAY, PERIOD, obj
from queue_server.service.auth import MANAGERS
from queue_server.service.commands import SVG, TABLES, Call, Command, Download, Http, command
from queue_server.service.plugin import Feature, Features
from queue_server.store import Store

from . import assessment, attendance, build, charts, figures, time_limits
from .build import Book, correction_doc

FORMATS = ("json", "csv", "xlsx")
PERIOD_ARGS: dict[str, dict[str, Any]] = {"period": PERIOD, "from": DAY, "to": DAY}
_FORMAT = {"type": "string", "enum": list(FORMATS)}
STATS_GROUPS = ("service", "zone", "department", "window", "clerk", "day")
_CORRECTION = {
    "corrected": {"type": ["number", "null"], "minimum": 0, "maximum": 200}, "note": {"type": ["string", "null"], "maxLength": 500},
    "deductions": {"type": "array", "maxItems": 20, "items": obj(
        ["points", "reason"], points={"type": "number", "minimum": 0, "maximum": 100},
        reason={"type": "string", "minLength": 1, "maxLength": 200})},
}


class Reports(Feature):
    name = "reports"
    section = "assessment"
    tables = ("attendance",)
    audience = {"assessment.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        self.issues += attendance.validate(cfg) + assessment.validate(cfg)
        self.attendance = attendance.parse(cfg)
        self.assessment = assessment.parse(cfg)
        self.handling_standard: dict[str, float] = {}  # minutes per service; the alerts feature sets its own

    def book(self, store: Store) -> Book:
        """What every report of this hall is made from."""
        return Book(self.config, store, figures.Standards.of(self.config, self.handling_standard),
                    self.attendance, self.assessment)

    def commands(self) -> list[Command]:
        def report(name: str, path: str, summary: str, run: Any, **args: dict[str, Any]) -> Command:
            return command(name, summary, MANAGERS, run, args=obj(**PERIOD_ARGS, format=_FORMAT, **args),
                           http=Http("GET", path, tag="reports", produces=TABLES))

        def chart(name: str, path: str, summary: str, run: Any, **args: dict[str, Any]) -> Command:
            return command(name, summary, MANAGERS, run,
                           args=obj(**PERIOD_ARGS, lang={"type": "string", "enum": list(charts.LANGUAGES)}, **args),
                           http=Http("GET", path, tag="reports", produces=(SVG,)))

        return [
            report("report_figures", "/reports/figures",
                   "Counts, waits, handling, wait bands, standards and satisfaction by a dimension", self._figures,
                   by={"type": "string", "enum": list(figures.DIMENSIONS)}),
            report("report_attendance", "/reports/attendance",
                   "Attendance by clerk or window: late, early, pauses, time on post, idle", self._attendance,
                   by={"type": "string", "enum": ["clerk", "window"]}, days={"type": "string", "enum": ["0", "1"]}),
            report("report_assessment", "/reports/assessment",
                   "Monthly staff scores and ranks; a quarter's or year's mean of the months", self._assessment),
            report("report_eta", "/reports/eta",
                   "ETA accuracy: promised against actual waits (median and p90 error, share within 5 minutes, bias)",
                   self._eta, by={"type": "string", "enum": list(figures.ETA_DIMENSIONS)}),
            report("report_time_limits", "/reports/time-limits",
                   "按时办结率: tickets of services with a 办结时限 finished within it, by a dimension",
                   self._time_limits, by={"type": "string", "enum": list(time_limits.DIMENSIONS)}),
            report("report_red_flags", "/reports/red-flags", "红旗窗口 candidates of a period and the criteria each window meets",
                   self._red_flags),
            command("assessment_correct", "Set a clerk's corrected score and deductions for a month", MANAGERS,
                    self._correct, args=obj(["month", "clerk"], month={"type": "string", "maxLength": 7},
                                            clerk={"type": "string", "maxLength": 64}, **_CORRECTION),
                    http=Http("PUT", "/reports/assessment/{month}/{clerk}", tag="reports")),
            chart("chart_waits_by_hour", "/reports/charts/waits-by-hour.svg",
                  "Chart: mean and p90 wait by hour of issue (SVG)",
                  lambda c: self._chart(c, lambda b, p, lang: charts.waits_by_hour(b, p, lang))),
            chart("chart_satisfaction_trend", "/reports/charts/satisfaction-trend.svg",
                  "Chart: satisfaction rate by day or month (SVG)",
                  lambda c: self._chart(c, lambda b, p, lang: charts.satisfaction_trend(b, p, lang))),
            chart("chart_windows", "/reports/charts/windows.svg",
                  "Chart: windows compared by served, mean wait or satisfaction (SVG)",
                  lambda c: self._chart(c, lambda b, p, lang: charts.windows_compared(b, p, c.get("measure", "served"), lang)),
                  measure={"type": "string", "enum": list(charts.MEASURES)}),
            command("stats", "Counts, waits, handling times and satisfaction for a day or period", MANAGERS, self._stats,
                    args=obj(date=DAY, by={"type": "string", "maxLength": 100,
                                           "description": "comma list of service,zone,department,window,clerk,day"},
                             **{"from": DAY, "to": DAY}),
                    http=Http("GET", "/stats", tag="reports")),
        ]

    # -- running them ----------------------------------------------------------------------

    def _period(self, c: Call) -> Period:
        return parse(c.get("period"), first=c.get("from"), last=c.get("to"), today=c.hall.state.day)

    def _respond(self, kind: str, report: dict[str, Any], c: Call) -> Any:
        fmt = c.get("format", "json")
        if fmt == "json":
            return report
        body, ctype, name = build.file_of(kind, report, fmt, c.hall.config.hall.name)
        return Download(body, ctype, name)

    async def _figures(self, c: Call) -> Any:
        report = await build.figures_report(self.book(c.hall.store), self._period(c), c.get("by", "service"),
                                            now=c.hall.clock.now())
        return self._respond("figures", report, c)

    async def _attendance(self, c: Call) -> Any:
        report = await build.attendance_report(self.book(c.hall.store), self._period(c), c.get("by", "clerk"),
                                               days=c.get("days") == "1", now=c.hall.clock.now())
        return self._respond("attendance", report, c)

    async def _assessment(self, c: Call) -> Any:
        report = await build.assessment_report(self.book(c.hall.store), self._period(c), now=c.hall.clock.now())
        return self._respond("assessment", report, c)

    async def _eta(self, c: Call) -> Any:
        report = await build.eta_report(self.book(c.hall.store), self._period(c), c.get("by", "service"))
        return self._respond("eta", report, c)

    async def _time_limits(self, c: Call) -> Any:
        report = await build.time_limit_report(self.book(c.hall.store), self._period(c), c.get("by", "service"))
        return self._respond("time-limits", report, c)

    async def _red_flags(self, c: Call) -> Any:
        report = await build.red_flag_report(self.book(c.hall.store), self._period(c), now=c.hall.clock.now())
        return self._respond("red-flags", report, c)

    async def _chart(self, c: Call, draw: Any) -> Download:
        text = await draw(self.book(c.hall.store), self._period(c), c.get("lang", "zh"))
        return Download(text.encode(), SVG, None, cache_seconds=60)

    async def _correct(self, c: Call) -> dict[str, Any]:
        hall = c.hall
        if parse(c["month"]).kind != "month":
            raise Invalid("name a month: YYYY-MM", code="bad_period")
        if await hall.store.person(id=c["clerk"]) is None:
            raise Invalid(f"no person {c['clerk']!r}", code="person_unknown")
        p = c.principal
        doc = correction_doc(c["month"], c["clerk"], c.args, p.name or p.id, hall.clock.now())
        await c.decide(lambda tx: tx.emit("assessment.updated", docs=(doc,)))
        return doc.data

    async def _stats(self, c: Call) -> dict[str, Any]:
        """The figures engine's rows in the /stats shape (docs/protocol.md)."""
        d_from, d_to = c.hall.period_of(c.args)
        groups = [g for g in c.get("by", "service,window").split(",") if g]
        bad = [g for g in groups if g not in STATS_GROUPS]
        if bad:
            raise Invalid(f"unknown grouping {bad[0]!r}; use {', '.join(STATS_GROUPS)}", code="bad_value")
        book = self.book(c.hall.store)
        period = Period("range", d_from, d_to, f"{d_from}..{d_to}")
        out: dict[str, Any] = {"from": d_from, "to": d_to}
        for by in ["hall", *groups]:
            report = await build.figures_report(book, period, by)
            if by == "hall":
                out["hall"] = _stats_row(report["hall"])
            else:
                out.setdefault("by", {})[by] = [{by: r["key"], **_stats_row(r)} for r in report["rows"] if r["key"] is not None]
        out.setdefault("by", {})
        return out


def _stats_row(r: dict[str, Any]) -> dict[str, Any]:
    counts = {k: r[k] for k in ("issued", "called", "served", "no_show", "cancelled", "transferred", "expired",
                                "closed_by_next", "closed_unstarted")
              if r.get(k) is not None}
    sat = r["satisfaction"]
    return {
        **counts,
        "wait_seconds": {k: r["wait"][k] for k in ("mean", "p90", "max")},
        "handling_seconds": {k: r["handling"][k] for k in ("mean", "p90", "max")},
        "rated": sat["rated"], "levels": sat["levels"], "bad": sat["bad"], "satisfaction_rate": sat["rate"],
    }

