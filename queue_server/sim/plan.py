"""The staffing planner: how many windows each zone needs, hour by hour, to keep waits in standard.

``hallcall plan --config hall.toml --trace day.csv [--windows zone=N,...] [--target-wait 20]``
``hallcall plan --config hall.toml --date 2026-12-08 [--store URL] [--weeks 8] ...``

With ``--date`` instead of a trace, the day's arrivals are forecast from the store's
history (``sim/forecast.py``) and the forecast's own error on the last days of that
history is printed first.

A plan says how many windows of each zone are open in each business hour. The planner
plays a day's arrivals through a plan with a queue model of the hall (each window calls
the earliest ticket among the services it serves, priority tickets first; a clerk serves
the trace's service time, recalls a citizen who does not come; clerks serve on past a
span's end until their queues are empty, as the day replayer's do) and reports, per zone
and hour of arrival, the waits (mean, p90, share over the standard) and the windows'
utilization. It then searches, zone by zone and hour by hour, for the fewest windows
that keep every service's p90 wait within its ``target_wait_minutes`` (or ``--target-wait``),
and says which windows to open: those covering the most of the zone's work first.

The model is pure and fast (a day of a 40-window hall in milliseconds) so that the search
can play the day hundreds of times; ``hallcall simulate --windows`` replays a plan through
the real Hall to check it.
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from queue_server.core.clock import spans_on
from queue_server.core.config import HallConfig

from .arrivals import Arrival, Settings, pooled, read_trace, settings
from .parts import first_queues

Plan = dict[str, dict[int, int]]  # zone -> hour of the day -> windows open


@dataclass
class ZoneHour:
    """What one zone saw in one hour: arrivals, the windows open, their waits and their use."""

    arrivals: int = 0
    windows: int = 0
    waits: list[float] = field(default_factory=list)  # seconds, of the citizens who arrived in the hour
    over: int = 0  # of them, waits over their service's standard
    busy: float = 0.0  # seconds windows spent serving in the hour
    open: float = 0.0  # seconds windows were open in the hour

    def figures(self) -> dict[str, Any]:
        w = sorted(self.waits)
        return {
            "arrivals": self.arrivals, "windows": self.windows,
            "never_called": sum(1 for x in w if x == math.inf),
            "mean_wait_minutes": round(sum(w) / len(w) / 60, 1) if w and w[-1] < math.inf else None,
            "p90_wait_minutes": round(p90 / 60, 1) if w and (p90 := w[math.ceil(0.9 * len(w)) - 1]) < math.inf else None,
            "over_standard": round(self.over / len(w), 3) if w else None,
            "utilization": round(self.busy / self.open, 3) if self.open else None,
        }


class Model:
    """The hall's queues under a plan: a discrete-event model of windows calling citizens."""

    def __init__(self, cfg: HallConfig, arrivals: list[Arrival], options: Settings, target_wait: float | None = None) -> None:
        self.cfg = pooled(cfg, options.pooled_zones)
        # A route bundle's citizen first queues for its first part; the model gives that queue the
        # bundle's whole time (its later parts are served by the same zone's windows).
        self.arrivals = sorted((replace(a, service=first_queues(cfg, a.service)[0]) for a in arrivals),
                               key=lambda a: (a.at, a.seq))
        self.options = options
        day = self.arrivals[0].at.astimezone(cfg.hall.tz).date()
        self.spans = spans_on(day, cfg.hall.tz, cfg.hall.hours)
        self.origin = datetime.combine(day, datetime.min.time(), cfg.hall.tz)
        self.standard = {sid: (target_wait if target_wait is not None else s.target_wait_minutes) * 60.0
                         for sid, s in cfg.services.items()}
        self.order = {z: self._windows_by_cover(z) for z in cfg.zones}

    def hours(self) -> list[int]:
        """The hours of the day that a business span touches."""
        out: list[int] = []
        for a, b in self.spans:
            h = a.hour
            while self.origin + timedelta(hours=h) < b:
                out.append(h)
                h += 1
        return out

    def _windows_by_cover(self, zone: str) -> list[int]:
        """The zone's windows in the order to open them: each next one adds the most uncovered work."""
        work: dict[str, float] = defaultdict(float)
        for a in self.arrivals:
            if self.cfg.services[a.service].zone == zone:
                work[a.service] += a.service_seconds
        left = [n for n, w in self.cfg.windows.items() if w.zone == zone]
        order: list[int] = []
        served: dict[str, int] = defaultdict(int)
        while left:
            # The work a window would take on: each service's work shared by the windows serving it.
            # Services nobody serves yet come first: a citizen no open window serves waits all day.
            def gain(n: int) -> tuple[int, float, int]:
                services = self.cfg.windows[n].services
                return (sum(1 for s in services if work[s] and not served[s]),
                        sum(work[s] / (served[s] + 1) for s in services), -n)

            best = max(left, key=gain)
            order.append(best)
            left.remove(best)
            for s in self.cfg.windows[best].services:
                served[s] += 1
        return order

    def play(self, plan: Plan, zones: Iterable[str] | None = None) -> dict[str, dict[int, ZoneHour]]:
        """Play the day's arrivals of ``zones`` (every zone by default) through ``plan``."""
        zones = set(self.cfg.zones if zones is None else zones)
        out: dict[str, dict[int, ZoneHour]] = {z: defaultdict(ZoneHour) for z in zones}
        for zone in zones:
            self._play_zone(zone, plan.get(zone, {}), out[zone])
        return out

    def _open(self, zone: str, plan: dict[int, int], n: int, at: float) -> bool:
        """Is window ``n`` of ``zone`` open at ``at`` seconds into the day?"""
        hour = int(at // 3600)
        wanted = plan.get(hour, len(self.order[zone]))
        return self.order[zone].index(n) < wanted and any(
            (a - self.origin).total_seconds() <= at < (b - self.origin).total_seconds() for a, b in self.spans)

    def _next_open(self, zone: str, plan: dict[int, int], n: int, at: float) -> float | None:
        """The first moment from ``at`` when window ``n`` is open, or None if not again today."""
        rank = self.order[zone].index(n)
        for a, b in self.spans:
            start, end = (a - self.origin).total_seconds(), (b - self.origin).total_seconds()
            t = max(at, start)
            while t < end:
                if rank < plan.get(int(t // 3600), len(self.order[zone])):
                    return t
                t = (int(t // 3600) + 1) * 3600.0
        return None

    def _play_zone(self, zone: str, plan: dict[int, int], hours: dict[int, ZoneHour]) -> None:
        cfg, o = self.cfg, self.options
        windows = [n for n in self.order[zone]]
        arrivals = [a for a in self.arrivals if cfg.services[a.service].zone == zone]
        queues: dict[str, deque[tuple[float, int, Arrival]]] = defaultdict(deque)  # service -> waiting, in order
        first: dict[str, deque[tuple[float, int, Arrival]]] = defaultdict(deque)  # priority tickets
        for h in self.hours():
            hours[h].windows = min(plan.get(h, len(windows)), len(windows))
        # Events: (time, kind, index): kind 0 an arrival, 1 a window free to call.
        events: list[tuple[float, int, int]] = [((a.at - self.origin).total_seconds(), 0, i) for i, a in enumerate(arrivals)]
        for n in windows:
            t = self._next_open(zone, plan, n, 0.0)
            if t is not None:
                events.append((t, 1, n))
        heapq.heapify(events)
        idle: set[int] = set()
        last_end = max((b - self.origin).total_seconds() for _, b in self.spans)

        def pick(n: int) -> tuple[float, int, Arrival] | None:
            """The window's next citizen: the earliest priority ticket, else the earliest ticket."""
            for pool in (first, queues):
                heads = [pool[s] for s in cfg.windows[n].services if pool[s]]
                if heads:
                    return min(heads, key=lambda q: q[0][:2]).popleft()
            return None

        def serve(n: int, now: float) -> None:
            got = pick(n)
            if got is None:
                idle.add(n)
                return
            arrived, _, a = got
            wait = now - arrived
            hour = hours[int(arrived // 3600)]
            hour.waits.append(wait)
            hour.over += wait > self.standard[a.service]
            took = (o.recalls + 1) * o.recall_seconds if a.no_show else a.service_seconds
            _account(hours, now, now + took)
            heapq.heappush(events, (now + took, 1, n))

        while events:
            now, kind, i = heapq.heappop(events)
            if kind == 0:
                a = arrivals[i]
                hours[int(now // 3600)].arrivals += 1
                (first if a.priority != "normal" else queues)[a.service].append((now, a.seq, a))
                for n in sorted(idle, key=windows.index):
                    if a.service in cfg.windows[n].services and self._open(zone, plan, n, now):
                        idle.discard(n)
                        serve(n, now)
                        break
                continue
            n = i
            if self._open(zone, plan, n, now):
                serve(n, now)
                continue
            # Past its hours: with overtime a clerk serves on while the window's queues hold anyone.
            waiting = any(first[s] or queues[s] for s in cfg.windows[n].services)
            if o.overtime and waiting and now >= (self._span_end(now) or now) and self._was_open(zone, plan, n, now):
                serve(n, now)
                continue
            t = self._next_open(zone, plan, n, now)
            if t is not None:
                heapq.heappush(events, (t, 1, n))
            elif now < last_end:
                idle.add(n)
        # Whoever is still waiting when every window has gone was never called: no wait is longer.
        for pool in (first, queues):
            for q in pool.values():
                for arrived, _, _ in q:
                    hours[int(arrived // 3600)].waits.append(math.inf)
                    hours[int(arrived // 3600)].over += 1
        for h in self.hours():
            zh = hours[h]
            start = self.origin + timedelta(hours=h)
            for opens, closes in self.spans:
                lo, hi = max(opens, start), min(closes, start + timedelta(hours=1))
                if hi > lo:
                    zh.open += (hi - lo).total_seconds() * zh.windows

    def _span_end(self, at: float) -> float | None:
        ends = [(b - self.origin).total_seconds() for _, b in self.spans if (b - self.origin).total_seconds() <= at]
        return max(ends) if ends else None

    def _was_open(self, zone: str, plan: dict[int, int], n: int, at: float) -> bool:
        """Was window ``n`` open at the end of the span just past (so its clerk is still there)?"""
        end = self._span_end(at)
        return end is not None and self._open(zone, plan, n, end - 1)


def _account(hours: dict[int, ZoneHour], start: float, end: float) -> None:
    """Add a window's busy time from ``start`` to ``end`` (seconds into the day) to the hours it spans."""
    t = start
    while t < end:
        h = int(t // 3600)
        step = min(end, (h + 1) * 3600.0) - t
        hours[h].busy += step
        t += step


# The model leaves out pauses and late sign-ins, and its waits ran about 10% shorter than
# the day replayer's on the sample day: plans keep waits within this share of the standard.
MARGIN = 0.9


@dataclass
class Advice:
    """The planner's answer for one zone."""

    zone: str
    by_hour: dict[int, int]  # the fewest windows per hour that keep waits in standard
    short: list[int]  # hours that even every window of the zone cannot keep in standard
    all_day: int | None  # the fewest windows, the same all day, that do (None: no number does)
    windows: list[int]  # the zone's windows in the order to open them


def advise(model: Model, hours: list[int] | None = None) -> list[Advice]:
    """The fewest windows per zone and hour (and all day) that keep the p90 wait within standard.

    ``hours`` limits the search to those hours (the others keep every window) and skips
    the all-day number (``all_day`` is then None): live advice needs only this hour and the next.

    Hour by hour, earlier hours keep the numbers already chosen and later hours have
    every window, so each hour is judged on the queue the chosen plan leaves it; fewer
    windows in an hour must keep every hour that was in standard so, earlier ones too (a
    citizen who came at 9:50 is served in the 10:00 hour).
    """
    out = []
    limited = hours is not None
    hours = [h for h in model.hours() if hours is None or h in hours]
    for zone, order in model.order.items():
        if not order:
            continue
        most = len(order)
        limit = MARGIN * min((model.standard[sid] for sid, s in model.cfg.services.items() if s.zone == zone),
                             default=math.inf)

        def within(plan: dict[int, int]) -> set[int]:
            played = model.play({zone: plan}, [zone])[zone]
            return {h for h in hours if _p90(played[h].waits) <= limit}

        by_hour: dict[int, int] = {h: most for h in hours}
        short = []
        for h in hours:
            # Fewer windows now must not put another hour out of standard: a later one by the
            # backlog it leaves, an earlier one by the citizens still waiting into this hour.
            kept = within(by_hour)
            if h not in kept:
                short.append(h)
                continue
            for n in range(1, most + 1):
                by_hour[h] = n
                if kept <= within(by_hour):
                    break

        def ok(plan: dict[int, int], only: list[int]) -> bool:
            return set(only) <= within(plan)

        all_day = next((n for n in range(1, most + 1) if ok({h: n for h in hours}, hours)), None) if not limited else None
        out.append(Advice(zone, by_hour, short, all_day, order))
    return out


def _p90(waits: list[float]) -> float:
    if not waits:
        return 0.0
    w = sorted(waits)
    return w[math.ceil(0.9 * len(w)) - 1]


def parse_windows(text: str | None, cfg: HallConfig) -> dict[str, int]:
    """``zone=N,zone=N`` → {zone: N}; every zone not named keeps all its windows."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        zone, _, n = part.partition("=")
        if zone not in cfg.zones or not n.isascii() or not n.isdigit():
            raise ValueError(f"--windows wants zone=N pairs with zones of the hall; got {part!r}")
        out[zone] = int(n)
    return out


def table(model: Model, plan: Plan) -> list[dict[str, Any]]:
    """Per zone and hour: the plan's windows and the figures the day gets under it."""
    played = model.play(plan)
    rows = []
    for zone in model.cfg.zones:
        for h in model.hours():
            rows.append({"zone": zone, "hour": f"{h:02d}:00", **played[zone][h].figures()})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``hallcall plan --config HALL --trace day.csv [--windows zone=N,...] [--target-wait MIN]``"""
    from queue_server.core import config

    parser = argparse.ArgumentParser(prog="hallcall plan", description="Plan how many windows each zone opens, hour by hour.")
    parser.add_argument("--config", default="hall.toml", help="hall TOML file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", help="CSV of a day's arrivals (as hallcall simulate reads)")
    source.add_argument("--date", help="plan this day (YYYY-MM-DD) from a forecast of the store's history")
    parser.add_argument("--store", help="store URL, overriding the file's [store] url (with --date)")
    parser.add_argument("--weeks", type=int, default=8, help="weeks of history the forecast uses (default 8)")
    parser.add_argument("--windows", help="a plan to judge: zone=N,... windows open all day (default: every window)")
    parser.add_argument("--target-wait", type=float, help="p90 wait to keep within, minutes (default: each service's target_wait_minutes)")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config, store_url=args.store)
        arrivals = read_trace(args.trace) if args.trace else _forecast_day(cfg, args.date, args.weeks)
        unknown = sorted({a.service for a in arrivals} - set(cfg.services))
        if unknown:
            raise ValueError(f"the trace names services the hall does not have: {', '.join(unknown)}")
        model = Model(cfg, arrivals, settings(cfg), args.target_wait)
        given = parse_windows(args.windows, cfg)
    except config.ConfigError as exc:
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    hours = model.hours()
    plan: Plan = {z: {h: n for h in hours} for z, n in given.items()}
    print("zone          hour  arrivals  windows  mean wait  p90 wait  over standard  utilization")
    for r in table(model, plan):
        print(f"{r['zone']:<13} {r['hour']}  {r['arrivals']:>8}  {r['windows']:>7}  {_m(r['mean_wait_minutes'])}  "
              f"{_m(r['p90_wait_minutes'])}  {_pct(r['over_standard']):>13}  {_pct(r['utilization']):>11}")
    print()
    print(f"advice: the fewest windows that keep the p90 wait within {MARGIN:.0%} of the standard"
          " (! : not even with every window of the zone)")
    for a in advise(model):
        per_hour = " ".join(f"{h:02d}h {n}{'!' if h in a.short else ''}" for h, n in a.by_hour.items())
        all_day = f"{a.all_day} of {len(a.windows)}" if a.all_day is not None else f"no number of the {len(a.windows)}"
        print(f"  {a.zone}: all day {all_day}; by hour {per_hour}")
        print("    open in this order: " + ", ".join(f"{n} {cfg.windows[n].name}" for n in a.windows))
    return 0


def _forecast_day(cfg: HallConfig, text: str, weeks: int) -> list[Arrival]:
    """The forecast arrivals of a day, after printing the forecast and its error on recent days."""
    import asyncio

    from queue_server.store import open_store

    from . import forecast

    async def read() -> forecast.Outlook:
        store = open_store(cfg.store_url, hall_id=cfg.hall.id, admin=True)
        await store.open()
        try:
            return await forecast.outlook(store, cfg.calendar, date.fromisoformat(text), weeks)
        finally:
            await store.close()

    seen = asyncio.run(read())
    o = seen.to_dict()
    error = o["error"]
    print(f"forecast for {o['date']}: {o['arrivals']:.0f} arrivals from {o['history_days']} days of history; "
          + (f"its error on the last {error['days']} days: {error['cells']:.0%} of arrivals (by service and hour), "
             f"{error['total']:.0%} of the day's total" if error["cells"] is not None else "too little history to check it"))
    print("  by hour: " + " ".join(f"{h[:2]}h {n:.0f}" for h, n in o["by_hour"].items()))
    print()
    return forecast.arrivals(cfg, seen.counts, seen.day, seen.handling)


def advised_table(model: Model, advice: list[Advice]) -> list[dict[str, Any]]:
    """``table`` under the advice: per zone and hour also the windows to open (``open``) and
    whether even every window falls short (``short``)."""
    by_zone = {a.zone: a for a in advice}
    rows = table(model, {a.zone: dict(a.by_hour) for a in advice})
    for row in rows:
        a = by_zone.get(row["zone"])
        hour = int(row["hour"][:2])
        row["open"] = a.windows[:row["windows"]] if a else []
        row["short"] = bool(a and hour in a.short)
    return rows


def report(model: Model, plan: Plan | None = None) -> dict[str, Any]:
    """The plan's table, the planner's advice, and the table the day gets under the advice, as the API gives them."""
    cfg = model.cfg
    advice = advise(model)
    return {
        "target": {"margin": MARGIN, "p90_wait_minutes": {s: m / 60 for s, m in model.standard.items()}},
        "rows": table(model, plan or {}),
        "advised_rows": advised_table(model, advice),
        "advice": [{"zone": a.zone, "name": cfg.zones[a.zone].name, "all_day": a.all_day,
                    "by_hour": {f"{h:02d}:00": n for h, n in a.by_hour.items()},
                    "short": [f"{h:02d}:00" for h in a.short],
                    "windows": [{"number": n, "name": cfg.windows[n].name,
                                 "services": list(cfg.windows[n].services)} for n in a.windows]}
                   for a in advice],
    }


def _m(minutes: float | None) -> str:
    return f"{'–' if minutes is None else f'{minutes:.1f} min':>9}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"
