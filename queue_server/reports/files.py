"""Reports as files: the same figures as the JSON, flattened into titled columns, written as CSV or XLSX.

Each report kind has one column list (a dotted path into a JSON row, a Chinese title
and a unit), so a CSV, an XLSX sheet and the JSON can never disagree. Files speak the
page's units, set here and nowhere else: durations in minutes to 0.1 (the JSON keeps
seconds), rates as percentages (a percent number format in XLSX, "98.5%" in CSV). CSV
is UTF-8 with a byte-order mark, which is what makes Excel open Chinese text correctly.
XLSX is written with openpyxl, imported only when a workbook is asked for: a title row
(hall, report, period), a bold frozen header, column widths to fit.

Names, matters and notes in these tables were typed by clerks and citizens, so every text
cell of every file passes through ``safe`` (OWASP's CSV-injection rule): text that a
spreadsheet would read as a formula gets a leading apostrophe, and the XLSX writer stores
every text cell as a string, never as a formula.
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

Path = Union[str, Callable[[dict[str, Any]], Any]]  # a dotted path into a row, or a function of it
Column = Union[tuple[Path, str], tuple[Path, str, str]]  # where the value is, its title[, its unit]

KEY_TITLES = {"hall": "大厅", "zone": "专区", "service": "服务事项", "department": "窗口单位", "window": "窗口", "clerk": "工作人员",
              "day": "日期", "month": "月份", "hour": "时段"}

# Units of a column: a duration in seconds shown in minutes, a share shown as a percentage.
MINUTES, RATE = "minutes", "rate"
FORMATS = {MINUTES: "0.0", RATE: "0.0%"}

FIGURES: list[Column] = [
    ("issued", "取号数"), ("called", "呼叫数"), ("served", "办结数"), ("no_show", "过号数"), ("cancelled", "取消数"),
    ("transferred", "转办数"), ("expired", "过期数"), ("no_show_rate", "过号率", RATE),
    ("closed_by_next", "由下一位结束"), ("closed_unstarted", "未开始即结束"),
    ("wait.mean", "平均等候(分)", MINUTES), ("wait.p90", "等候P90(分)", MINUTES), ("wait.max", "最长等候(分)", MINUTES),
    *[(f"wait.bands.{name}", f"等候{name.replace('-', '–')}分钟") for name, _ in BANDS],
    ("wait.over_standard", "等候超时数"), ("wait.over_standard_rate", "等候超时率", RATE),
    ("handling.mean", "平均办理(分)", MINUTES), ("handling.p90", "办理P90(分)", MINUTES),
    ("handling.max", "最长办理(分)", MINUTES), ("handling.over_standard", "办理超时数"),
    ("satisfaction.levels.5", "非常满意"), ("satisfaction.levels.4", "满意"), ("satisfaction.levels.3", "基本满意"),
    ("satisfaction.levels.2", "不满意"), ("satisfaction.levels.1", "非常不满意"), ("satisfaction.not_rated", "未评价"),
    ("satisfaction.rate", "满意率", RATE), ("satisfaction.bad", "差评数"),
]
# Counted per ticket (号) by hall, zone, service and time; per visit (人次) by department, window and clerk.
COUNTED = ("called", "no_show", "transferred")


def figure_columns(by: str) -> list[Column]:
    """The figures' columns of a report by ``by``, the titles saying what a count counts."""
    per = "人次" if by in ("window", "clerk", "department") else "号"
    return [(c[0], f"{c[1]}({per})") if c[0] in COUNTED else c for c in FIGURES]  # counts have no unit


def under(prefix: str, columns: Iterable[Column]) -> list[Column]:
    """Columns read from a part of the row (``attendance.`` …), titles and units kept."""
    return [(f"{prefix}.{c[0]}", c[1], unit) if (unit := unit_of(c)) else (f"{prefix}.{c[0]}", c[1]) for c in columns]


ATTENDANCE: list[Column] = [
    ("days_present", "出勤天数"), ("late", "迟到次数"), ("late_minutes", "迟到(分钟)"), ("early", "早退次数"),
    ("early_minutes", "早退(分钟)"), ("absent_spans", "缺勤时段"), ("away_minutes", "离岗(分钟)"), ("pauses", "暂停次数"),
    ("pause_minutes", "暂停(分钟)"), ("on_post_hours", "在岗(小时)"), ("working_hours", "工作(小时)"),
    ("busy_hours", "办理(小时)"), ("idle_hours", "空闲(小时)"), ("utilization", "利用率", RATE),
    ("overtime_tickets", "延时服务(件)"), ("overtime_minutes", "延时服务(分钟)"),
]
ATTENDANCE_DAYS: list[Column] = [
    ("day", "日期"), ("name", "姓名"), ("windows", "窗口"), ("sign_in", "签到"), ("sign_out", "签退"),
    *[c for c in ATTENDANCE if c[0] not in ("days_present", "utilization")],
]
ASSESSMENT: list[Column] = [
    ("rank", "名次"), ("name", "姓名"), ("staff_no", "工号"), ("department_name", "窗口单位"), ("served", "办件量"),
    ("rated", "评价数"), ("days_present", "出勤天数"), ("components.volume", "业务量得分"), ("components.efficiency", "效率得分"),
    ("components.satisfaction", "满意度得分"), ("components.attendance", "考勤得分"),
    ("overtime_tickets", "延时服务(件)"), ("overtime_minutes", "延时服务(分钟)"), ("plus_points", "加分"), ("deduction_points", "扣分"),
    ("deductions", "扣分事由"), ("computed", "计算得分"), ("corrected", "修正得分"), ("final", "最终得分"), ("note", "备注"),
]
PERIOD_SCORES: list[Column] = [("rank", "名次"), ("name", "姓名"), ("staff_no", "工号"), ("department_name", "窗口单位"),
                               ("served", "办件量"), ("months_assessed", "考核月数"), ("final", "平均得分")]
DEPARTMENT_SCORES: list[Column] = [("rank", "名次"), ("name", "窗口单位"), ("clerks", "考核人数"), ("served", "办件量"),
                                   ("final", "平均得分")]
RED_FLAGS: list[Column] = [
    ("window", "窗口"), ("candidate", "红旗窗口候选"), ("served", "办结数"), ("satisfaction_rate", "满意率", RATE),
    ("bad_reviews", "差评数"), ("over_handling_rate", "办理超时率", RATE), ("attendance_faults", "考勤异常"),
    ("misses", "未达标项"),
]

ETA: list[Column] = [
    ("tickets", "已呼叫票数"), ("median_abs_error_minutes", "误差中位数(分)"), ("p90_abs_error_minutes", "误差P90(分)"),
    ("within_5_minutes", "±5分钟内占比", RATE), ("bias_minutes", "平均偏差(分)"),
    ("under_an_hour.tickets", "一小时内票数"), ("under_an_hour.median_abs_error_minutes", "一小时内误差中位数(分)"),
    ("under_an_hour.within_5_minutes", "一小时内±5分钟占比", RATE),
]

TIME_LIMITS: list[Column] = [
    ("judged", "办结件数"), ("on_time", "按时办结"), ("late", "超时办结"), ("on_time_rate", "按时办结率", RATE),
    ("used_mean_minutes", "平均用时(分)"), ("used_max_minutes", "最长用时(分)"),
]


@dataclass
class Table:
    title: str  # the sheet's name
    columns: Sequence[Column]  # (where the value is, column title[, unit])
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
            return f"{value['reason']}（扣{value['points']}分）"  # reason first: a cell starting "-" reads as a formula
        return "；".join(f"{k}: {v}" for k, v in value.items())
    return value


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def safe(value: Any) -> Any:
    """A cell that no spreadsheet evaluates: text starting like a formula is quoted with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unit_of(column: Column) -> str | None:
    return column[2] if len(column) == 3 else None


def in_unit(value: Any, unit: str | None) -> Any:
    """A figure in the unit the page shows it in (a rate stays a share: its format makes it a percentage)."""
    if unit == MINUTES and isinstance(value, (int, float)):
        return round(value / 60, 1)
    return value


def values(table: Table) -> Iterable[list[Any]]:
    """The header and the rows of a table as cells in the page's units, every one of them ``safe``."""
    yield [safe(c[1]) for c in table.columns]
    for row in table.rows:
        yield [safe(in_unit(cell(_get(row, c[0])), unit_of(c))) for c in table.columns]


def to_csv(table: Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    units = [unit_of(c) for c in table.columns]
    for i, line in enumerate(values(table)):
        writer.writerow([_text(v, u) if i else v for v, u in zip(line, units)])
    return buf.getvalue().encode("utf-8-sig")


def _text(value: Any, unit: str | None) -> Any:
    """A CSV cell: empty for nothing, a rate as the page writes it ("98.5%")."""
    if value is None:
        return ""
    if unit == RATE and isinstance(value, (int, float)):
        return f"{value * 100:.1f}%"
    return value


def to_xlsx(tables: list[Table], *, title: str | None = None) -> bytes:
    """One workbook with a sheet per table: an optional title row, bold header, frozen header, widths to fit,
    rates formatted as percentages and minutes to 0.1."""
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
            ws.append([safe(title)])
            ws["A1"].font = Font(bold=True, size=14)
            header = 2
        widths: list[int] = []
        formats = [FORMATS.get(unit_of(c) or "") for c in table.columns]
        for i, line in enumerate(values(table)):
            ws.append(line)
            for c in ws[ws.max_row]:
                if isinstance(c.value, str):
                    c.data_type = "s"  # openpyxl would otherwise store text starting with "=" as a formula
            if i:
                for c, fmt in zip(ws[ws.max_row], formats):
                    if fmt and isinstance(c.value, (int, float)):
                        c.number_format = fmt
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
