"""帮办 figures: requests, acceptances, help given and its minutes, per guide or per service.

Counted from the requests of a period (Docs of kind "assist"), every one in exactly one
row, so the totals are the sums of the rows:

- requests: every request made; accepted: those a guide took at least once; done: those
  closed with the help recorded; cancelled: withdrawn (the citizen left, the day ended);
  overdue: left open longer than ``[assist] alert_minutes``.
- wait to accept: from the request to the first acceptance, over the accepted ones.
- help minutes: from the (last) acceptance to done, over the done ones.

A request counts under the guide who holds it at the end (the one who helped); one never
accepted counts under no guide ("" in ``key``, the last row). Rows are in name order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from queue_server.core.model import Doc
from queue_server.reports.files import MINUTES, Column, Table

from .requests import HELP

DIMENSIONS = ("guide", "service")

COLUMNS: list[Column] = [
    ("name", "名称"), ("requests", "帮办申请数"), ("accepted", "接单数"), ("done", "完成数"), ("cancelled", "撤销数"),
    ("overdue", "超时未接单数"), ("green", "绿色通道数"), ("wait_to_accept.mean", "平均接单等待(分)", MINUTES),
    ("wait_to_accept.max", "最长接单等待(分)", MINUTES), ("help_minutes", "帮办时长(分)"),
    ("mean_help_minutes", "平均帮办时长(分)"),
    *[(f"help.{kind}", f"{name}(次)") for kind, name in HELP.items()],
]


def _seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def _row(key: str, name: str) -> dict[str, Any]:
    return {"key": key, "name": name, "requests": 0, "accepted": 0, "done": 0, "cancelled": 0, "overdue": 0, "green": 0,
            "_waits": [], "_help": [], "help": dict.fromkeys(HELP, 0)}


def _add(row: dict[str, Any], d: dict[str, Any]) -> None:
    row["requests"] += 1
    row["green"] += bool(d["green"])
    row["cancelled"] += d["state"] == "cancelled"
    row["overdue"] += bool(d.get("overdue"))
    wait = _seconds(d["requested_at"], d["first_accepted_at"])
    if wait is not None:
        row["accepted"] += 1
        row["_waits"].append(wait)
    if d["state"] == "done":
        row["done"] += 1
        row["_help"].append(_seconds(d["accepted_at"], d["done_at"]) or 0.0)
        for kind in d["help"]:
            row["help"][kind] = row["help"].get(kind, 0) + 1


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    waits, helped = row.pop("_waits"), row.pop("_help")
    row["wait_to_accept"] = {"mean": round(sum(waits) / len(waits), 1) if waits else None,
                             "max": round(max(waits), 1) if waits else None}
    row["help_minutes"] = round(sum(helped) / 60, 1)
    row["mean_help_minutes"] = round(sum(helped) / 60 / len(helped), 1) if helped else None
    return row


def rows(docs: Iterable[Doc], by: str, names: dict[str, str]) -> dict[str, Any]:
    """The rows of a report by guide or service, and the hall's total of them."""
    out: dict[str, dict[str, Any]] = {}
    total = _row("", "合计")
    for doc in docs:
        d = doc.data
        key = (d["guide"] or "") if by == "guide" else d["service"]
        name = (d["guide_name"] or "未接单") if by == "guide" else d["service_name"]
        row = out.setdefault(key, _row(key, names.get(key, name)))
        _add(row, d)
        _add(total, d)
    ordered = [_finish(r) for r in sorted(out.values(), key=lambda r: (r["key"] == "", r["name"], r["key"]))]
    return {"by": by, "rows": ordered, "total": _finish(total)}


def table(report: dict[str, Any]) -> Table:
    """The report as one sheet, the total as its last row."""
    title = "帮办统计（按帮办员）" if report["by"] == "guide" else "帮办统计（按事项）"
    return Table(title, COLUMNS, [*report["rows"], report["total"]])
