"""按时办结率: how many tickets of services with a 办结时限 were finished within it. Pure.

Each judged ticket (a Doc of kind "time_limit", written when it was finished) counts
once, in the row of its service (the one it was issued for), of the window and clerk
that finished it and of that window's department (窗口单位), and of its day and month.
The rate is on time ÷ judged; used time is working time (business hours on working
days) from issue to 办结, in minutes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable

from queue_server.core.config import HallConfig

KIND = "time_limit"
DIMENSIONS = ("hall", "service", "department", "window", "clerk", "day", "month")


def _key(cfg: HallConfig, by: str) -> Callable[[dict[str, Any]], Any]:
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {DIMENSIONS}")
    return {
        "hall": lambda d: cfg.hall.id, "service": lambda d: d["service"], "department": lambda d: d.get("department"),
        "window": lambda d: d["window"], "clerk": lambda d: d["clerk"],
        "day": lambda d: d["done_at"][:10], "month": lambda d: d["done_at"][:7],
    }[by]


def _figures(judged: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(judged)
    on_time = sum(1 for d in judged if d["on_time"])
    used = [d["used_seconds"] / 60 for d in judged]
    return {
        "judged": n, "on_time": on_time, "late": n - on_time,
        "on_time_rate": round(on_time / n, 4) if n else None,
        "used_mean_minutes": round(sum(used) / n, 1) if n else None,
        "used_max_minutes": round(max(used), 1) if n else None,
    }


def table(cfg: HallConfig, by: str, judged: Iterable[dict[str, Any]]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """按时办结率 per ``by`` (rows) and for the whole period (total), from the judged tickets' data."""
    key = _key(cfg, by)
    rows: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    every = []
    for d in judged:
        rows[key(d)].append(d)
        every.append(d)
    return {k: _figures(v) for k, v in rows.items()}, _figures(every)
