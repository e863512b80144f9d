"""Report figures from grouped facts: counts, waits, handling times, bands, standards, satisfaction.

Pure functions; every figure of every report is computed here and nowhere else.

- A citizen's **wait** is issue → first call; a window's or clerk's wait is that of the
  visits it called, queued → called (a transferred citizen's second wait counts for the
  second window). **Handling** runs from start (or the call, if start was never
  pressed) to the end of a visit that was finished, transferred or held. Both are exact
  seconds of elapsed time, across hours and midnight.
- **Mean** is the arithmetic mean (rounded to 0.1 s); **p90** the nearest-rank 90th
  percentile; **max** the largest value.
- **Wait bands** are (lower, upper] in minutes: 0–5 is ≤ 300 s, 5–10 is 300 < w ≤ 600 …
  and >30 is over 1,800 s.
- **Over the standard**: a wait longer than its service's ``target_wait_minutes``; a
  handling time longer than the service's handling standard (the yellow ``handling``
  alert threshold).
- **By time** (day, month, hour): a citizen counts in the hour of issue, a visit in the
  hour of its call.
- **Served** counts the finishing visits: a ticket is finished by one visit, and counts
  for that visit's service, window, clerk, the window's department (窗口单位) and the hour
  of its call (a transferred citizen counts for the service transferred to). Like a
  window's, a department's counts and waits are per visit. A rating counts with the visit it
  rates, so 未评价 (served − rated) adds up in every dimension.
- **No-shows** per ticket are tickets that ended the day as no-shows (a no-show
  requeued and served is served), so a closed day's served + no-shows + expired +
  cancelled is its issued; per visit, calls that ended as a no-show.
- **Closed by the next key**: a call keypad's one "next" key may end the ticket still at
  its window. Such visits count in **由下一位结束** (``closed_by_next``); those never
  started count in **未开始即结束** (``closed_unstarted``) and not in 办结 (served),
  not in handling times and not in 未评价: nobody said they were served. A started
  one closed by the next key is 办结 and counts in both 办结 and 由下一位结束.
- **Satisfaction**: counts of levels 5..1 (非常满意 … 非常不满意) and of services not
  rated; the rate is (5 + 4 + 3) / rated; bad reviews are levels 2 and 1.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

from queue_server.core.config import HallConfig
from queue_server.store.facts import UNSTARTED, US, EtaGroup, RatingGroup, TicketGroup, VisitGroup

V = TypeVar("V")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    return percentile_sorted(sorted(values), q)


def percentile_sorted(ordered: list[V], q: float) -> V | None:
    """Nearest-rank percentile (q in 0..100) of values already in ascending order."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


BANDS = (("0-5", 300), ("5-10", 600), ("10-15", 900), ("15-20", 1200), ("20-30", 1800), (">30", None))  # upper bound, s
DIMENSIONS = ("hall", "zone", "service", "department", "window", "clerk", "day", "month", "hour")
TIME_DIMENSIONS = ("day", "month", "hour")
TICKET_DIMENSIONS = ("hall", "zone", "service", "day", "month", "hour")  # where issued/cancelled mean something
HANDLED = frozenset({"finished", "transferred", "held"})
# Per ticket, by the status it ended the day in (served comes from the finishing visits).
TICKET_COUNTS = {"no_show": "no_show", "cancelled": "cancelled", "expired": "expired", UNSTARTED: "closed_unstarted"}
# Per visit, by how it ended (finished visits are served, counted apart).
VISIT_COUNTS = {"no_show": "no_show", "transferred": "transferred", "held": "held"}


@dataclass(frozen=True)
class Standards:
    """Seconds over which a wait or a handling time is over its service's standard."""

    wait: dict[str, float]
    handling: dict[str, float]

    @classmethod
    def of(cls, cfg: HallConfig, handling_minutes: Mapping[str, float] | None = None) -> Standards:
        """Waits against each service's ``target_wait_minutes``; handling against the minutes given
        (the yellow ``handling`` alert threshold of each service), else not judged."""
        return cls({sid: svc.target_wait_minutes * 60.0 for sid, svc in cfg.services.items()},
                   {sid: m * 60.0 for sid, m in (handling_minutes or {}).items()})


def key_function(cfg: HallConfig, by: str) -> Callable[[Any], Any]:
    """How a fact group maps to a row of a report by ``by``."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {DIMENSIONS}")
    zone_of = {sid: s.zone for sid, s in cfg.services.items()}
    return {
        "hall": lambda g: cfg.hall.id,
        "zone": lambda g: zone_of.get(g.service, "?"),
        "service": lambda g: g.service,
        "window": lambda g: g.window,
        "department": lambda g: cfg.department_of(g.window),  # the 窗口单位 of the window that served
        "clerk": lambda g: g.clerk,
        "day": lambda g: g.time, "month": lambda g: g.time, "hour": lambda g: g.time,
    }[by]


class Series:
    """The values (whole microseconds) of one measure in one row, and how many are over their standards."""

    __slots__ = ("values", "over")

    def __init__(self) -> None:
        self.values: list[int] = []
        self.over = 0

    def add(self, values_us: list[int], standard_s: float | None) -> None:
        ordered = sorted(values_us)  # sorted runs: counting over a standard is a bisection, the row's sort a merge
        self.values.extend(ordered)
        if standard_s is not None:
            self.over += len(ordered) - bisect_right(ordered, standard_s * US)

    def merge(self, other: Series) -> None:
        self.values.extend(other.values)
        self.over += other.over

    def summary(self, *, bands: bool) -> dict[str, Any]:
        """Figures in seconds; a mean to 0.1 s, the rest exact."""
        # Sorted in place: a total merged from sorted rows then sorts runs, which is nearly linear.
        self.values.sort()
        ordered = self.values
        n = len(ordered)
        p90 = percentile_sorted(ordered, 90)
        out: dict[str, Any] = {
            "count": n,
            "mean": round(sum(ordered) / n / US, 1) if n else None,
            "p90": p90 / US if p90 is not None else None,
            "max": ordered[-1] / US if n else None,
            "over_standard": self.over,
            "over_standard_rate": round(self.over / n, 4) if n else None,
        }
        if bands:
            below = 0
            out["bands"] = {}
            for name, upper in BANDS:
                upto = bisect_right(ordered, upper * US) if upper is not None else n
                out["bands"][name] = upto - below
                below = upto
        return out


def satisfaction(levels: dict[int, int], served: int | None) -> dict[str, Any]:
    rated = sum(levels.values())
    good = levels.get(5, 0) + levels.get(4, 0) + levels.get(3, 0)
    return {
        "levels": {str(n): levels.get(n, 0) for n in range(5, 0, -1)},
        "rated": rated,
        "not_rated": served - rated if served is not None else None,
        "rate": round(good / rated, 4) if rated else None,
        "bad": levels.get(2, 0) + levels.get(1, 0),
    }


def _row() -> dict[str, Any]:
    return {"counts": defaultdict(int), "wait": Series(), "handling": Series(), "levels": defaultdict(int)}


def rows(cfg: HallConfig, by: str, visits: Iterable[VisitGroup], ratings: Iterable[RatingGroup],
         tickets: Iterable[TicketGroup] | None = None, *, standards: Standards | None = None) -> dict[Any, dict[str, Any]]:
    """Figures for each value of ``by``. With ``tickets``, counts and waits are the citizens' (per ticket);
    without, they are the windows' (per visit)."""
    per_ticket = tickets is not None
    return {k: _figures(r, per_ticket) for k, r in _accumulate(cfg, by, visits, ratings, tickets, standards).items()}


def table(cfg: HallConfig, by: str, visits: Iterable[VisitGroup], ratings: Iterable[RatingGroup],
          tickets: Iterable[TicketGroup] | None = None, *, standards: Standards | None = None,
          ) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """The rows by ``by`` and their total (the whole hall), from one pass over the facts."""
    per_ticket = tickets is not None
    acc = _accumulate(cfg, by, visits, ratings, tickets, standards)
    out = {k: _figures(r, per_ticket) for k, r in acc.items()}
    total = _row()
    for r in acc.values():
        for name, n in r["counts"].items():
            total["counts"][name] += n
        total["wait"].merge(r["wait"])
        total["handling"].merge(r["handling"])
        for level, n in r["levels"].items():
            total["levels"][level] += n
    return out, _figures(total, per_ticket)


def _accumulate(cfg: HallConfig, by: str, visits: Iterable[VisitGroup], ratings: Iterable[RatingGroup],
                tickets: Iterable[TicketGroup] | None, standards: Standards | None) -> dict[Any, dict[str, Any]]:
    std = standards or Standards.of(cfg)
    key = key_function(cfg, by)
    acc: dict[Any, dict[str, Any]] = defaultdict(_row)
    per_ticket = tickets is not None
    for tg in tickets or ():
        r = acc[key(tg)]
        c = r["counts"]
        c["issued"] += tg.count
        c["called"] += len(tg.waits_us)
        if tg.status != "done":  # served is counted from the finishing visits below, where the citizen was served
            c[TICKET_COUNTS.get(tg.status, "open")] += tg.count
        c["transferred"] += tg.transferred
        r["wait"].add(tg.waits_us, std.wait.get(tg.service))
    for vg in visits:
        r = acc[key(vg)]
        c = r["counts"]
        unstarted = vg.closed == "unstarted"
        if vg.closed:
            c["closed_by_next"] += len(vg.waits_us)
        if vg.end == "finished" and not unstarted:
            # A ticket is finished by one visit: it is served, and rated, where that visit was.
            c["served"] += len(vg.waits_us)
        if not per_ticket:
            c["called"] += len(vg.waits_us)
            name = "closed_unstarted" if unstarted else VISIT_COUNTS.get(vg.end)
            if name:
                c[name] += len(vg.waits_us)
            r["wait"].add(vg.waits_us, std.wait.get(vg.service))
        if vg.end in HANDLED and not unstarted:
            r["handling"].add(vg.handlings_us, std.handling.get(vg.service))
    for rg in ratings:
        acc[key(rg)]["levels"][rg.level] += rg.count
    return acc


def _figures(r: dict[str, Any], per_ticket: bool) -> dict[str, Any]:
    c = r["counts"]
    served = c.get("served", 0)
    return {
        "issued": c.get("issued", 0) if per_ticket else None,
        "called": c.get("called", 0),
        "served": served,
        "no_show": c.get("no_show", 0),
        "cancelled": c.get("cancelled", 0) if per_ticket else None,
        "transferred": c.get("transferred", 0),
        "expired": c.get("expired", 0) if per_ticket else None,
        "closed_by_next": c.get("closed_by_next", 0),
        "closed_unstarted": c.get("closed_unstarted", 0),
        "no_show_rate": round(c.get("no_show", 0) / c["called"], 4) if c.get("called") else None,
        "wait": r["wait"].summary(bands=True),
        "handling": r["handling"].summary(bands=False),
        "satisfaction": satisfaction(r["levels"], served),
    }


def empty(per_ticket: bool) -> dict[str, Any]:
    """The figures of a row with nothing in it (a clerk who signed in but served nobody)."""
    return _figures(_row(), per_ticket)


def sort_keys(keys: Iterable[Any]) -> list[Any]:
    """Rows in a stable order: numbers numerically, text alphabetically, unknown (None) last."""
    return sorted(keys, key=lambda k: (k is None, isinstance(k, str), k if k is not None else 0))


# -- how good the promised waits were ---------------------------------------------------------

ETA_DIMENSIONS = ("hall", "zone", "service", "day", "month", "hour")
ETA_CLOSE_S = 300  # a promise within five minutes of the actual wait counts as kept
ETA_LONG_S = 3600  # the accuracy goal is judged on waits under an hour


def eta_accuracy(promised_s: list[int], waited_s: list[int]) -> dict[str, Any]:
    """How far actual waits fell from promised ones, in minutes.

    ``error`` is actual minus promised: positive when citizens waited longer than they were
    told. The median and p90 are of the absolute error (nearest rank); ``bias`` is the mean
    signed error; ``within_5`` the share of tickets whose wait was within five minutes of
    the promise. ``under_an_hour`` gives the same for tickets that waited under an hour.
    """

    def judge(pairs: list[tuple[int, int]]) -> dict[str, Any]:
        errors = [w - p for p, w in pairs]
        absolute = sorted(abs(e) for e in errors)
        n = len(errors)

        def minutes(s: float | None) -> float | None:
            return None if s is None else round(s / 60, 1)

        return {
            "tickets": n,
            "median_abs_error_minutes": minutes(percentile_sorted(absolute, 50)),
            "p90_abs_error_minutes": minutes(percentile_sorted(absolute, 90)),
            "within_5_minutes": round(sum(1 for e in absolute if e <= ETA_CLOSE_S) / n, 4) if n else None,
            "bias_minutes": minutes(sum(errors) / n) if n else None,
        }

    pairs = list(zip(promised_s, waited_s))
    return {**judge(pairs), "under_an_hour": judge([(p, w) for p, w in pairs if w < ETA_LONG_S])}


def eta_table(cfg: HallConfig, by: str, groups: Iterable[EtaGroup]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """ETA accuracy per ``by`` (rows) and for the whole period (total), from ``Store.eta_facts``."""
    if by not in ETA_DIMENSIONS:
        raise ValueError(f"by must be one of {ETA_DIMENSIONS}")
    key = key_function(cfg, by)
    rows: dict[Any, tuple[list[int], list[int]]] = {}
    every: tuple[list[int], list[int]] = ([], [])
    for g in groups:
        promised, waited = rows.setdefault(key(g), ([], []))
        promised.extend(g.promised_s)
        waited.extend(g.waited_s)
        every[0].extend(g.promised_s)
        every[1].extend(g.waited_s)
    return {k: eta_accuracy(*v) for k, v in rows.items()}, eta_accuracy(*every)
