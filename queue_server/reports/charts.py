"""The report charts: waits by hour of day, satisfaction trend, windows compared, as SVG text.

Each chart is a figures report drawn by ``svg``; the reports feature serves them, an
<img src> on the manager pages shows them, and the same URL opens alone in a browser.
"""

from __future__ import annotations

from datetime import date

from queue_server.core.periods import Period

from . import svg as charts
from .build import Book, figures_report

MEASURES = ("served", "wait", "satisfaction")
LANGUAGES = ("zh", "en")
# Every word a chart shows, in Chinese and in English: a chart speaks the page's language.
WORDS = {
    "waits": ("按取号时段等候时间", "Waits by hour of issue"), "mean": ("平均", "mean"), "minutes": ("分钟", "min"),
    "hour": ("{}时", "{}:00"), "trend": ("满意率趋势", "Satisfaction"), "rate": ("满意率", "satisfaction rate"),
    "very": ("非常满意占比", "very satisfied"), "windows": ("窗口对比：{}", "Windows compared: {}"),
    "served": ("办结数", "served"), "wait": ("平均等候", "mean wait"), "satisfaction": ("满意率", "satisfaction rate"),
    "items": ("件", ""), "no_data": ("无数据", "no data"),
}
UNITS = {"served": "items", "wait": "minutes", "satisfaction": None}


def word(key: str, lang: str, *args: object) -> str:
    return WORDS[key][lang == "en"].format(*args)


def _minutes(v: float | None) -> float | None:
    return round(v / 60, 1) if v is not None else None


async def waits_by_hour(book: Book, period: Period, lang: str = "zh") -> str:
    report = await figures_report(book, period, "hour")
    rows = report["rows"]
    return charts.bar_chart(
        f"{word('waits', lang)} · {period.label}", [word("hour", lang, r["key"]) for r in rows],
        [(word("mean", lang), [_minutes(r["wait"]["mean"]) for r in rows]), ("P90", [_minutes(r["wait"]["p90"]) for r in rows])],
        unit=word("minutes", lang), no_data=word("no_data", lang))


async def satisfaction_trend(book: Book, period: Period, lang: str = "zh") -> str:
    days = (date.fromisoformat(period.last) - date.fromisoformat(period.first)).days + 1
    by = "day" if days <= 62 else "month"
    report = await figures_report(book, period, by)
    rows = [r for r in report["rows"] if r["satisfaction"]["rated"]]
    rate = [round(100 * r["satisfaction"]["rate"], 2) for r in rows]
    low = min(rate, default=0)
    return charts.line_chart(
        f"{word('trend', lang)} · {period.label}", [str(r["key"])[5:] if by == "day" else str(r["key"]) for r in rows],
        [(word("rate", lang), rate), (word("very", lang), [
            round(100 * r["satisfaction"]["levels"]["5"] / r["satisfaction"]["rated"], 2) for r in rows])],
        unit="%", top=100.0 if low > 0 else None, no_data=word("no_data", lang))


async def windows_compared(book: Book, period: Period, measure: str, lang: str = "zh") -> str:
    report = await figures_report(book, period, "window")
    rows = [r for r in report["rows"] if r["key"] is not None and r["called"]]
    title, unit = word(measure, lang), UNITS[measure]
    pick = {
        "served": lambda r: r["served"],
        "wait": lambda r: _minutes(r["wait"]["mean"]),
        "satisfaction": lambda r: round(100 * r["satisfaction"]["rate"], 2) if r["satisfaction"]["rate"] is not None else None,
    }[measure]
    return charts.bar_chart(f"{word('windows', lang, title)} · {period.label}", [str(r["key"]) for r in rows],
                            [(title, [pick(r) for r in rows])], unit=word(unit, lang) if unit else "%",
                            no_data=word("no_data", lang))
