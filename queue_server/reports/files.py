"""Reports as files: the same figures as the JSON, flattened into titled columns, written as CSV or XLSX.

Each report kind has one column list (a dotted path into a JSON row and a Chinese
title), so a CSV, an XLSX sheet and the JSON can never disagree. CSV is UTF-8 with a
byte-order mark, which is what makes Excel open Chinese text correctly. XLSX is written
with openpyxl, imported only when a workbook is asked for.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence, Union

from queue_server.core.errors import Unavailable

from .figures import BANDS

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv"

KEY_TITLES = {"hall": "大厅", "zone": "专区", "service": "服务事项", "window": "窗口", "clerk": "工作人员",
              "day": "日期", "month": "月份", "hour": "时段"}

FIGURES = [
    ("issued", "取号数"), ("called", "呼叫数"), ("served", "办结数"), ("no_show", "过号数"), ("cancelled", "取消数"),
    ("transferred", "转办数"), ("expired", "过期数"), ("no_show_rate", "过号率"),
    ("wait.mean", "平均等候(秒)"), ("wait.p90", "等候P90(秒)"), ("wait.max", "最长等候(秒)"),
    *[(f"wait.bands.{name}", f"等候{name.replace('-', '–')}分钟") for name, _ in BANDS],
    ("wait.over_standard", "等候超时数"), ("wait.over_standard_rate", "等候超时率"),
    ("handling.mean", "平均办理(秒)"), ("handling.p90", "办理P90(秒)"), ("handling.max", "最长办理(秒)"),
    ("handling.over_standard", "办理超时数"),
    ("satisfaction.levels.5", "非常满意"), ("satisfaction.levels.4", "满意"), ("satisfaction.levels.3", "基本满意"),
    ("satisfaction.levels.2", "不满意"), ("satisfaction.levels.1", "非常不满意"), ("satisfaction.not_rated", "未评价"),
    ("satisfaction.rate", "满意率"), ("satisfaction.bad", "差评数"),
]
ATTENDANCE = [
    ("days_present", "出勤天数"), ("late", "迟到次数"), ("late_minutes", "迟到(分钟)"), ("early", "早退次数"),
    ("early_minutes", "早退(分钟)"), ("absent_spans", "缺勤时段"), ("away_minutes", "离岗(分钟)"), ("pauses", "暂停次数"),
    ("pause_minutes", "暂停(分钟)"), ("on_post_hours", "在岗(小时)"), ("working_hours", "工作(小时)"),
    ("busy_hours", "办理(小时)"), ("idle_hours", "空闲(小时)"), ("utilization", "利用率"),
]
ATTENDANCE_DAYS = [
    ("day", "日期"), ("name", "姓名"), ("windows", "窗口"), ("sign_in", "签到"), ("sign_out", "签退"),
    *[(k, t) for k, t in ATTENDANCE if k not in ("days_present", "utilization")],
]
ASSESSMENT = [
    ("rank", "名次"), ("name", "姓名"), ("staff_no", "工号"), ("served", "办件量"), ("rated", "评价数"),
    ("days_present", "出勤天数"), ("components.volume", "业务量得分"), ("components.efficiency", "效率得分"),
    ("components.satisfaction", "满意度得分"), ("components.attendance", "考勤得分"), ("deduction_points", "扣分"),
    ("deductions", "扣分事由"), ("computed", "计算得分"), ("corrected", "修正得分"), ("final", "最终得分"), ("note", "备注"),
]
PERIOD_SCORES = [("rank", "名次"), ("name", "姓名"), ("staff_no", "工号"), ("served", "办件量"),
                 ("months_assessed", "考核月数"), ("final", "平均得分")]
RED_FLAGS = [("window", "窗口"), ("candidate", "红旗窗口候选"), ("served", "办结数"), ("satisfaction_rate", "满意率"),
             ("bad_reviews", "差评数"), ("over_handling_rate", "办理超时率"), ("attendance_faults", "考勤异常"), ("misses", "未达标项")]

ETA = [("tickets", "已呼叫票数"), ("median_abs_error_minutes", "误差中位数(分)"), ("p90_abs_error_minutes", "误差P90(分)"),
       ("within_5_minutes", "±5分钟内占比"), ("bias_minutes", "平均偏差(分)"),
       ("under_an_hour.tickets", "一小时内票数"), ("under_an_hour.median_abs_error_minutes", "一小时内误差中位数(分)"),
       ("under_an_hour.within_5_minutes", "一小时内±5分钟占比")]


Path = Union[str, Callable[[dict[str, Any]], Any]]  # a dotted path into a row, or a function of it


@dataclass
class Table:
    title: str  # the sheet's name
    columns: Sequence[tuple[Path, str]]  # (where the value is, column title)
    rows: list[dict[str, Any]]


def _get(row: dict[str, Any], path: Path) -> Any:
    if callable(path):
        return path(row)
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def cell(value: Any) -> Any:
    """A JSON value as a cell: lists joined, dicts as "key: value" pairs, booleans as 是/否."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "；".join(str(cell(v)) for v in value)
    if isinstance(value, dict):
        if "points" in value and "reason" in value:
            return f"-{value['points']} {value['reason']}"
        return "；".join(f"{k}: {v}" for k, v in value.items())
    return value


def values(table: Table) -> Iterable[list[Any]]:
    yield [title for _, title in table.columns]
    for row in table.rows:
        yield [cell(_get(row, path)) for path, _ in table.columns]


def to_csv(table: Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for line in values(table):
        writer.writerow(["" if v is None else v for v in line])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(tables: list[Table], *, title: str | None = None) -> bytes:
    """One workbook with a sheet per table: an optional title row, bold header, frozen header, widths to fit."""
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
    except ImportError:  # pragma: no cover - openpyxl is a dependency; this names the fix if it is missing
        raise Unavailable("XLSX export needs openpyxl: pip install openpyxl", code="xlsx_unavailable") from None
    wb = Workbook()
    wb.remove(wb.worksheets[0])  # the empty sheet a new workbook starts with
    for table in tables:
        ws = wb.create_sheet(_sheet_name(table.title))
        header = 1
        if title:
            ws.append([title])
            ws["A1"].font = Font(bold=True, size=14)
            header = 2
        widths: list[int] = []
        for line in values(table):
            ws.append(line)
            for j, v in enumerate(line):
                w = sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(v if v is not None else "")) + 2
                if j >= len(widths):
                    widths.append(w)
                else:
                    widths[j] = max(widths[j], min(w, 40))
        for c in ws[header]:
            c.font = Font(bold=True)
        ws.freeze_panes = f"B{header + 1}"
        for j, w in enumerate(widths):
            ws.column_dimensions[_column_letter(j + 1)].width = w
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_name(title: str) -> str:
    for ch in "[]:*?/\\":
        title = title.replace(ch, " ")
    return title[:31] or "Sheet"


def _column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
