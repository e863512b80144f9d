"""The report charts: waits by hour of day, satisfaction trend, windows compared, as SVG text.

Each chart is a figures report drawn by ``svg``; the reports feature serves them, an
<img src> on the manager pages shows them, and the same URL opens alone in a browser.
"""

from __future__ import annotations

from datetime import date

from queue_server.core.periods import Period

from . import svg as charts
from .build import Book, figures_report

MEASURES = {"served": ("办结数", "件"), "wait": ("平均等候", "分钟"), "satisfaction": ("满意率", "%")}


def _minutes(v: float | None) -> float | None:
    return round(v / 60, 1) if v is not None else None


async def waits_by_hour(book: Book, period: Period) -> str:
    report = await figures_report(book, period, "hour")
    rows = report["rows"]
    return charts.bar_chart(
        f"按时段等候时间 Waits by hour of issue · {period.label}", [f"{r['key']}时" for r in rows],
        [("平均 mean", [_minutes(r["wait"]["mean"]) for r in rows]), ("P90", [_minutes(r["wait"]["p90"]) for r in rows])],
        unit="分钟 min")


async def satisfaction_trend(book: Book, period: Period) -> str:
    days = (date.fromisoformat(period.last) - date.fromisoformat(period.first)).days + 1
    by = "day" if days <= 62 else "month"
    report = await figures_report(book, period, by)
    rows = [r for r in report["rows"] if r["satisfaction"]["rated"]]
    rate = [round(100 * r["satisfaction"]["rate"], 2) for r in rows]
    low = min(rate, default=0)
    return charts.line_chart(
        f"满意率趋势 Satisfaction · {period.label}", [str(r["key"])[5:] if by == "day" else str(r["key"]) for r in rows],
        [("满意率 rate", rate), ("非常满意占比 very satisfied", [
            round(100 * r["satisfaction"]["levels"]["5"] / r["satisfaction"]["rated"], 2) for r in rows])],
        unit="%", top=100.0 if low > 0 else None)


async def windows_compared(book: Book, period: Period, measure: str) -> str:
    report = await figures_report(book, period, "window")
    rows = [r for r in report["rows"] if r["key"] is not None and r["called"]]
    title, unit = MEASURES[measure]
    pick = {
        "served": lambda r: r["served"],
        "wait": lambda r: _minutes(r["wait"]["mean"]),
        "satisfaction": lambda r: round(100 * r["satisfaction"]["rate"], 2) if r["satisfaction"]["rate"] is not None else None,
    }[measure]
    return charts.bar_chart(f"窗口对比：{title} · {period.label}", [str(r["key"]) for r in rows],
                            [(title, [pick(r) for r in rows])], unit=unit)
