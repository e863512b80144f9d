"""The planning feature: tomorrow's (or any day's) forecast and staffing advice, for managers.

``GET /api/v1/plan?date=2026-12-08&target_wait=20`` (command ``plan``) forecasts the day's
arrivals from the store's history (``forecast``), plays them through the planner's model
(``plan``) and answers the table per zone and hour and the advice: the fewest windows per
zone and hour, and all day, that keep waits in standard, and which windows to open first.
``format=csv`` or ``xlsx`` downloads the table (``rows=advised``: the table under the
advice, with the windows to open); ``format=svg`` draws a chart of the advice
(``chart=windows`` or ``waits``, ``lang=zh|en``). The planning page asks for the table and
its charts at once, so the last few answers are kept a minute rather than searched again.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

from queue_server.core.errors import Invalid
from queue_server.core.schema import DAY, obj
from queue_server.reports import files
from queue_server.service.auth import MANAGERS
from queue_server.service.commands import SVG, TABLES, Call, Command, Download, Http, command
from queue_server.service.plugin import Feature

from . import forecast, plan, plan_chart
from .arrivals import settings

COLUMNS = [("zone_name", "专区"), ("hour", "时段"), ("arrivals", "到达人数"), ("windows", "开放窗口"),
           ("mean_wait_minutes", "平均等候(分)"), ("p90_wait_minutes", "等候P90(分)"),
           ("over_standard", "超时占比"), ("utilization", "窗口利用率"), ("never_called", "未被呼叫")]
ADVISED_COLUMNS = COLUMNS + [("open_windows", "开放哪些窗口"), ("short", "全开仍超时")]
KEPT_SECONDS = 60  # how long an answer is reused for the same question
KEPT_ANSWERS = 8


class Planning(Feature):
    name = "planning"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[tuple[Any, ...], tuple[datetime, dict[str, Any]]] = {}

    def commands(self) -> list[Command]:
        return [command(
            "plan", "Forecast a day's arrivals from history and advise the fewest windows per zone and hour", MANAGERS,
            self._plan, args=obj(date=DAY, target_wait={"type": "number", "minimum": 1, "maximum": 480},
                                 weeks={"type": "integer", "minimum": 1, "maximum": 52},
                                 format={"type": "string", "enum": ["json", "csv", "xlsx", "svg"]},
                                 rows={"type": "string", "enum": ["all", "advised"]},
                                 chart={"type": "string", "enum": list(plan_chart.CHARTS)},
                                 lang={"type": "string", "enum": ["zh", "en"]}),
            http=Http("GET", "/plan", tag="reports", produces=(*TABLES, SVG)))]

    async def _plan(self, c: Call) -> Any:
        cfg, hall = self.config, c.hall
        today = date.fromisoformat(hall.state.day)
        day = date.fromisoformat(c["date"]) if c.get("date") else cfg.calendar.next_workday(today + timedelta(days=1))
        out = await self._answer(c, day)
        fmt = c.get("format", "json")
        if fmt == "json":
            return out
        if fmt == "svg":
            text = plan_chart.draw(cfg, out, day.isoformat(), c.get("chart", "windows"), c.get("lang", "zh"))
            return Download(text.encode(), SVG, None, cache_seconds=KEPT_SECONDS)
        if c.get("rows") == "advised":
            table = files.Table(f"建议窗口安排 {day.isoformat()}", ADVISED_COLUMNS, out["advised_rows"])
        else:
            table = files.Table(f"窗口安排 {day.isoformat()}", COLUMNS, out["rows"])
        name = f"hallcall-plan-{day.isoformat()}"
        if fmt == "csv":
            return Download(files.to_csv(table), files.CSV_TYPE, f"{name}.csv")
        return Download(files.to_xlsx([table]), files.XLSX_TYPE, f"{name}.xlsx")

    async def _answer(self, c: Call, day: date) -> dict[str, Any]:
        """The forecast and the planner's report for ``day``: computed, or the same question's answer of the last minute."""
        cfg, hall = self.config, c.hall
        now = hall.clock.now()
        today = date.fromisoformat(hall.state.day)
        key = (day, c.get("target_wait"), c.get("weeks", 8), hall.state.day)
        kept = self._kept.get(key)
        if kept is not None and (now - kept[0]).total_seconds() < KEPT_SECONDS:
            return kept[1]
        try:
            seen = await forecast.outlook(hall.store, cfg.calendar, day, c.get("weeks", 8), open_day=today)
        except ValueError as exc:
            raise Invalid(str(exc), code="no_forecast") from exc
        model = plan.Model(cfg, forecast.arrivals(cfg, seen.counts, day, seen.handling), settings(cfg), c.get("target_wait"))
        # The search plays the day a few hundred times: off the event loop, so calls go on.
        report = await asyncio.get_running_loop().run_in_executor(None, plan.report, model)
        for row in (*report["rows"], *report["advised_rows"]):
            row["zone_name"] = cfg.zones[row["zone"]].name
        for row in report["advised_rows"]:
            row["open_windows"] = "、".join(f"{n}号" for n in row["open"])
        out = {"forecast": seen.to_dict(), **report}
        self._kept = {k: v for k, v in self._kept.items() if (now - v[0]).total_seconds() < KEPT_SECONDS}
        if len(self._kept) >= KEPT_ANSWERS:
            self._kept.pop(next(iter(self._kept)))
        self._kept[key] = (now, out)
        return out
