"""The planner's charts, as SVG text: the windows advised per zone and hour, and the p90 waits they give.

Drawn by ``reports/svg.py`` from the planner's report (``plan.report``); the planning
feature serves them (``GET /api/v1/plan?format=svg&chart=…``) for the planning page.
"""

from __future__ import annotations

from typing import Any

from queue_server.core.config import HallConfig
from queue_server.reports import svg

CHARTS = ("windows", "waits")
# Every word a chart shows, in Chinese and in English: a chart speaks the page's language.
WORDS = {
    "windows": ("建议开放窗口数 · {}", "Windows advised · {}"),
    "waits": ("按建议开窗的等候P90 · {}", "p90 wait with the advised windows · {}"),
    "count": ("个", ""), "minutes": ("分钟", "min"), "hour": ("{}时", "{}:00"), "no_data": ("无数据", "no data"),
}


def word(key: str, lang: str, *args: object) -> str:
    return WORDS[key][lang == "en"].format(*args)


def draw(cfg: HallConfig, report: dict[str, Any], day: str, chart: str, lang: str = "zh") -> str:
    """One chart of a plan report: per hour (labels), one series per zone."""
    rows = report["advised_rows"]
    hours = sorted({r["hour"] for r in rows})
    zones = [z for z in cfg.zones if any(r["zone"] == z and r["arrivals"] for r in rows)]
    cell = {(r["zone"], r["hour"]): r for r in rows}
    labels = [word("hour", lang, int(h[:2])) for h in hours]

    def name(zone: str) -> str:
        z = cfg.zones[zone]
        return (z.name_en or z.name) if lang == "en" else z.name

    if chart == "windows":
        series = [(name(z), [cell[(z, h)]["windows"] if (z, h) in cell else None for h in hours]) for z in zones]
        return svg.bar_chart(word("windows", lang, day), labels, series, unit=word("count", lang), no_data=word("no_data", lang))
    series = [(name(z), [cell[(z, h)]["p90_wait_minutes"] if (z, h) in cell else None for h in hours]) for z in zones]
    return svg.line_chart(word("waits", lang, day), labels, series, unit=word("minutes", lang), no_data=word("no_data", lang))
