"""The report charts as SVG endpoints: waits by hour of day, satisfaction trend, windows compared.

Each chart is a figures report drawn by ``charts``; an <img src> or an <object> on the
manager pages shows it, and the same URL opens on its own in a browser.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from queue_server.core.errors import Invalid
from queue_server.core.periods import Period, parse
from queue_server.service import auth
from queue_server.service.auth import Principal
from queue_server.web.http import HALL_KEY, SVG, route

from . import svg as charts
from .build import figures_report

_PERIOD = {"period": {"type": "string", "maxLength": 40}, "from": {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"},
           "to": {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"}}
MEASURES = {"served": ("办结数", "件"), "wait": ("平均等候", "分钟"), "satisfaction": ("满意率", "%")}


def _svg(text: str) -> web.Response:
    return web.Response(text=text, content_type="image/svg+xml", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=60"})


def _period(request: web.Request, p: Principal) -> tuple[Any, Period]:
    auth.require(p, "manager", "admin")
    hall = request.app[HALL_KEY]
    q = request.query
    return hall, parse(q.get("period"), first=q.get("from"), last=q.get("to"), today=hall.state.day)


def _minutes(v: float | None) -> float | None:
    return round(v / 60, 1) if v is not None else None


async def waits_by_hour(hall: Any, period: Period) -> str:
    report = await figures_report(hall.config, hall.store, period, "hour")
    rows = report["rows"]
    return charts.bar_chart(
        f"按时段等候时间 Waits by hour of issue · {period.label}", [f"{r['key']}时" for r in rows],
        [("平均 mean", [_minutes(r["wait"]["mean"]) for r in rows]), ("P90", [_minutes(r["wait"]["p90"]) for r in rows])],
        unit="分钟 min")


async def satisfaction_trend(hall: Any, period: Period) -> str:
    days = (date.fromisoformat(period.last) - date.fromisoformat(period.first)).days + 1
    by = "day" if days <= 62 else "month"
    report = await figures_report(hall.config, hall.store, period, by)
    rows = [r for r in report["rows"] if r["satisfaction"]["rated"]]
    rate = [round(100 * r["satisfaction"]["rate"], 2) for r in rows]
    low = min(rate, default=0)
    return charts.line_chart(
        f"满意率趋势 Satisfaction · {period.label}", [str(r["key"])[5:] if by == "day" else str(r["key"]) for r in rows],
        [("满意率 rate", rate), ("非常满意占比 very satisfied", [
            round(100 * r["satisfaction"]["levels"]["5"] / r["satisfaction"]["rated"], 2) for r in rows])],
        unit="%", top=100.0 if low > 0 else None)


async def windows_compared(hall: Any, period: Period, measure: str) -> str:
    report = await figures_report(hall.config, hall.store, period, "window")
    rows = [r for r in report["rows"] if r["key"] is not None and r["called"]]
    title, unit = MEASURES[measure]
    pick = {
        "served": lambda r: r["served"],
        "wait": lambda r: _minutes(r["wait"]["mean"]),
        "satisfaction": lambda r: round(100 * r["satisfaction"]["rate"], 2) if r["satisfaction"]["rate"] is not None else None,
    }[measure]
    return charts.bar_chart(f"窗口对比：{title} · {period.label}", [str(r["key"]) for r in rows],
                            [(title, [pick(r) for r in rows])], unit=unit)


@route("GET", "/reports/charts/waits-by-hour.svg", "Chart: mean and p90 wait by hour of issue (SVG)", "manager, admin",
       query=_PERIOD, tag="reports", produces=(SVG,))
async def get_waits_by_hour(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period = _period(request, p)
    return _svg(await waits_by_hour(hall, period))


@route("GET", "/reports/charts/satisfaction-trend.svg", "Chart: satisfaction rate by day or month (SVG)", "manager, admin",
       query=_PERIOD, tag="reports", produces=(SVG,))
async def get_satisfaction_trend(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period = _period(request, p)
    return _svg(await satisfaction_trend(hall, period))


@route("GET", "/reports/charts/windows.svg", "Chart: windows compared by served, mean wait or satisfaction (SVG)",
       "manager, admin", query={**_PERIOD, "measure": {"type": "string", "enum": list(MEASURES)}}, tag="reports",
       produces=(SVG,))
async def get_windows_chart(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall, period = _period(request, p)
    measure = request.query.get("measure", "served")
    if measure not in MEASURES:
        raise Invalid(f"measure must be one of {', '.join(MEASURES)}", code="bad_value")
    return _svg(await windows_compared(hall, period, measure))
