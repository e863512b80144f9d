"""Counts, waits, handling times and satisfaction, computed from stored records.

Pure functions over tickets, visits and evaluations. A citizen's wait is the time
from taking the ticket to being first called; a window's or clerk's wait is that of
the visits it called (queued to called, so a transferred citizen's second wait counts
for the second window). Handling runs from start (or the call, if the clerk never
pressed start) to the end of the visit. All times are exact seconds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Iterable

from queue_server.core.model import Evaluation, Status, Ticket, Visit, VisitEnd

GROUPS = ("service", "zone", "window", "clerk", "day")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    return percentile_sorted(sorted(values), q)


def percentile_sorted(ordered: list[Any], q: float) -> Any:
    """Nearest-rank percentile (q in 0..100) of values already in ascending order."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p90": None, "max": None}
    return {"mean": round(sum(values) / len(values), 1), "p90": percentile(values, 90), "max": max(values)}


def _ticket_key(by: str) -> Callable[[Ticket], Any] | None:
    return {"service": lambda t: t.origin_service, "zone": lambda t: t.zone, "day": lambda t: t.day}.get(by)


def _visit_key(by: str) -> Callable[[Visit], Any]:
    return {"service": lambda v: v.service, "zone": lambda v: v.zone, "window": lambda v: v.window,
            "clerk": lambda v: v.clerk, "day": lambda v: v.day}[by]


def _eval_key(by: str) -> Callable[[Evaluation], Any]:
    return {"service": lambda e: e.service, "zone": lambda e: e.zone, "window": lambda e: e.window,
            "clerk": lambda e: e.clerk, "day": lambda e: e.day}[by]


def satisfaction(evals: Iterable[Evaluation]) -> dict[str, Any]:
    levels = {str(n): 0 for n in range(5, 0, -1)}
    total = 0
    for e in evals:
        if e.excluded:
            continue  # set aside on appeal: not counted
        levels[str(e.level)] += 1
        total += 1
    good = levels["5"] + levels["4"] + levels["3"]
    return {
        "rated": total, "levels": levels, "bad": levels["2"] + levels["1"],
        "satisfaction_rate": round(good / total, 4) if total else None,
    }


def compute(tickets: list[Ticket], visits: list[Visit], evals: list[Evaluation], by: str) -> list[dict[str, Any]]:
    """One row per group value with counts, waits, handling and satisfaction."""
    rows: dict[Any, dict[str, Any]] = defaultdict(dict)
    waits: dict[Any, list[float]] = defaultdict(list)
    handling: dict[Any, list[float]] = defaultdict(list)
    counts: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    tkey = _ticket_key(by)
    if tkey is not None:
        for t in tickets:
            k = tkey(t)
            c = counts[k]
            c["issued"] += 1
            if t.first_called_at is not None:
                c["called"] += 1
                waits[k].append((t.first_called_at - t.issued_at).total_seconds())
            c[{Status.DONE: "served", Status.CANCELLED: "cancelled", Status.EXPIRED: "expired"}.get(t.status, "open")] += 1
            if t.no_shows:
                c["no_show"] += 1
            if t.transfers:
                c["transferred"] += 1
    vkey = _visit_key(by)
    for v in visits:
        k = vkey(v)
        if k is None:
            continue
        c = counts[k]
        if tkey is None:
            c["called"] += 1
            waits[k].append(v.wait_seconds)
            if v.end is VisitEnd.FINISHED:
                c["served"] += 1
            elif v.end is VisitEnd.NO_SHOW:
                c["no_show"] += 1
            elif v.end is VisitEnd.TRANSFERRED:
                c["transferred"] += 1
        if v.end in (VisitEnd.FINISHED, VisitEnd.TRANSFERRED, VisitEnd.HELD):
            handling[k].append(v.handling_seconds)
    ekey = _eval_key(by)
    evals_by: dict[Any, list[Evaluation]] = defaultdict(list)
    for e in evals:
        evals_by[ekey(e)].append(e)
    for k in set(counts) | set(evals_by):
        if k is None:
            continue
        rows[k] = {
            by: k,
            **{name: counts[k].get(name, 0) for name in
               (("issued", "called", "served", "no_show", "cancelled", "transferred", "expired") if tkey else
                ("called", "served", "no_show", "transferred"))},
            "wait_seconds": summary(waits[k]),
            "handling_seconds": summary(handling[k]),
            **satisfaction(evals_by.get(k, [])),
        }
    return [rows[k] for k in sorted(rows, key=lambda x: (str(type(x)), x))]


def totals(tickets: list[Ticket], visits: list[Visit], evals: list[Evaluation]) -> dict[str, Any]:
    waits = [(t.first_called_at - t.issued_at).total_seconds() for t in tickets if t.first_called_at]
    handled = [v.handling_seconds for v in visits if v.end in (VisitEnd.FINISHED, VisitEnd.TRANSFERRED, VisitEnd.HELD)]
    return {
        "issued": len(tickets),
        "called": sum(1 for t in tickets if t.first_called_at),
        "served": sum(1 for t in tickets if t.status is Status.DONE),
        "no_show": sum(1 for t in tickets if t.no_shows),
        "cancelled": sum(1 for t in tickets if t.status is Status.CANCELLED),
        "transferred": sum(1 for t in tickets if t.transfers),
        "expired": sum(1 for t in tickets if t.status is Status.EXPIRED),
        "wait_seconds": summary(waits),
        "handling_seconds": summary(handled),
        **satisfaction(evals),
    }
