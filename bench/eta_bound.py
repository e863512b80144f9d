"""Bench: how much of the ETA's error any ETA could remove, on a replayed day.

    .venv/bin/python bench/eta_bound.py [--trace tests/data/taikang-day.csv] [--config HALL]

Replays the day through the real Hall into a new SQLite file. At each ticket issued, an
observer (a feature's issue hook) notes what the server knew then: the signed-in windows
linked to the ticket's queue through shared windows, what each was doing, every ticket
waiting in those queues, and the model's own no-show and priority-ticket estimates. After
the day, the stored visits give each citizen's true handling time, and the queues are
played forward from each issue by the hall's order (priority lane, then rank), each play
knowing more of the truth:

- the model's own estimates (a check that this play is the model's: it should score as
  the ETA shown);
- the true end of the visits under way, else the model; each service's mean visit over
  the whole day, else the model; both of these;
- **oracle 1, knows the work**: the true handling time of everyone ahead and of the visits
  under way; it does not know which of those citizens will not come (each counts as the
  model does, missing as often as lately), nor the priority tickets still to come (a
  normal ticket's wait is stretched as the model does);
- **oracle 2, knows the day**: also who does not come (and how long the window called
  them) and every ticket taken later, with its true handling time; only the citizen's own
  visit is not needed.

All leave out what no queue play knows: a window that signs in or pauses after the issue,
a ticket transferred later, the priority streak. The ETA the hall showed (as stored) and the
oracles' promises, all rounded to minutes, are judged against the actual waits by the
report's own figures (``figures.eta_accuracy``): waits under an hour, share within ±5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_server.core import config, queueing  # noqa: E402
from queue_server.core.lanes import Key, order_key  # noqa: E402
from queue_server.core.model import Ticket, Visit, VisitEnd, WindowStatus  # noqa: E402
from queue_server.core.rules import Tx  # noqa: E402
from queue_server.reports import figures  # noqa: E402
from queue_server.service.plugin import Feature  # noqa: E402
from queue_server.sim import replay as simulate  # noqa: E402
from queue_server.sim.arrivals import read_trace, settings  # noqa: E402
from queue_server.store import open_store  # noqa: E402

HALL = ROOT / "queue_server" / "halls" / "taikang.toml"
TRACE = ROOT / "tests" / "data" / "taikang-day.csv"


@dataclass(frozen=True)
class Desk:
    number: int
    services: tuple[str, ...]
    prefer_listed: bool
    paused: bool
    current: str | None  # the ticket it is calling or serving
    guessed: float  # seconds until it is free, as the model expects


@dataclass(frozen=True)
class Snapshot:
    """What the server knew when a ticket was issued."""

    ticket: str
    key: Key
    service: str
    at: datetime
    desks: tuple[Desk, ...]
    waiting: dict[str, tuple[Key, ...]]  # service -> keys in queue order
    stretch: float  # the model's factor for priority tickets still to come
    no_shows: dict[str, tuple[float, float]]  # service -> (share missing, seconds calling one)
    handling: dict[str, float]  # service -> the model's mean handling seconds


class Observer(Feature):
    """Notes a snapshot of the linked queues at each ticket issued (read by this bench only)."""

    name: ClassVar[str] = "eta_bound"
    seen: ClassVar[dict[str, Snapshot]] = {}

    def on_issued(self, tx: Tx, ticket: Ticket) -> None:
        st, cfg = tx.state, tx.config
        windows, services = queueing.linked(st, ticket.service)
        if not windows:
            return
        desks = []
        for n in sorted(windows):
            w, wc = st.windows[n], cfg.windows[n]
            cur = st.tickets.get(w.current) if w.current else None
            desks.append(Desk(n, wc.services, wc.prefer_listed, w.status is WindowStatus.PAUSED,
                              cur.id if cur else None,
                              queueing.free_in(st, w, tx.now)))
        Observer.seen[ticket.id] = Snapshot(
            ticket.id, order_key(ticket), ticket.service, tx.now, tuple(desks),
            {s: tuple(keys) for s in services if (keys := st.lanes.get(s))},
            1 / (1 - queueing.priority_load(st, services, len(windows), tx.now)),
            {s: queueing.no_shows(st, s) for s in services},
            {s: queueing.mean_handling(st, s) for s in services},
        )


class Truth:
    """The day's visits by ticket: what each call really cost its window."""

    def __init__(self, visits: list[Visit], tickets: list[Ticket]) -> None:
        self.by_ticket: dict[str, list[Visit]] = defaultdict(list)
        for v in sorted(visits, key=lambda v: v.called_at):
            self.by_ticket[v.ticket].append(v)
        self.tickets = {t.id: t for t in tickets}
        served: dict[str, list[float]] = defaultdict(list)
        for v in visits:
            if v.end is not VisitEnd.NO_SHOW:
                served[v.service].append((v.ended_at - v.called_at).total_seconds())
        self.day_mean = {s: sum(x) / len(x) for s, x in served.items()}  # each service's mean visit over the day

    def next_visit(self, ticket: str, service: str, after: datetime) -> Visit | None:
        """The ticket's first visit in ``service`` called at or after ``after``."""
        return next((v for v in self.by_ticket.get(ticket, ()) if v.service == service and v.called_at >= after), None)

    def current_visit(self, ticket: str, at: datetime) -> Visit | None:
        return next((v for v in self.by_ticket.get(ticket, ()) if v.called_at <= at < v.ended_at), None)


def play(snap: Snapshot, cost: Callable[[str, str], float], left: Callable[[Desk], float],
         later: list[tuple[float, str, Key]] = ()) -> float | None:  # type: ignore[assignment]
    """Seconds from the issue until the snapshot's ticket is called, the windows calling by the
    hall's order and each call costing ``cost(ticket, service)``; ``later`` tickets
    (seconds from the issue, service, key) join their queues when taken."""
    ready: dict[str, list[Key]] = {s: list(keys) for s, keys in snap.waiting.items()}
    coming = sorted(later)
    free = [(left(d), i) for i, d in enumerate(snap.desks)]
    heapq.heapify(free)
    nxt = 0
    guard = 0
    while free:
        guard += 1
        if guard > 20000:
            return None
        at, i = heapq.heappop(free)
        while nxt < len(coming) and coming[nxt][0] <= at:
            _, s, key = coming[nxt]
            heapq.heappush(ready.setdefault(s, []), key)
            nxt += 1
        d = snap.desks[i]
        best = None
        for s in d.services:
            q = ready.get(s)
            if q and (best is None or q[0] < ready[best][0]):
                best = s
                if d.prefer_listed:
                    break
        if best is None:
            upcoming = [c[0] for c in coming[nxt:] if c[1] in d.services]
            if upcoming:
                heapq.heappush(free, (upcoming[0], i))
            continue
        key = heapq.heappop(ready[best])
        if key == snap.key:
            return at
        heapq.heappush(free, (at + cost(key[2], best), i))
    return None


def oracles(snap: Snapshot, truth: Truth) -> tuple[float | None, ...]:
    """The two oracles' seconds until the ticket is called (see the module's docstring)."""
    now = snap.at

    def served_seconds(ticket: str, service: str) -> float | None:
        v = truth.next_visit(ticket, service, now)
        return None if v is None or v.end is VisitEnd.NO_SHOW else (v.ended_at - v.called_at).total_seconds()

    def work_cost(ticket: str, service: str) -> float:
        share, calling = snap.no_shows[service]
        served = served_seconds(ticket, service)
        return (1 - share) * (snap.handling[service] if served is None else served) + share * calling

    def day_cost(ticket: str, service: str) -> float:
        v = truth.next_visit(ticket, service, now)
        return 0.0 if v is None else (v.ended_at - v.called_at).total_seconds()

    def left(d: Desk) -> float:
        if d.paused:
            return queueing.PAUSE_LEFT
        if d.current is None:
            return 0.0
        v = truth.current_visit(d.current, now)
        return 0.0 if v is None else (v.ended_at - now).total_seconds()

    def mean_cost(ticket: str, service: str) -> float:
        share, calling = snap.no_shows[service]
        return (1 - share) * truth.day_mean.get(service, snap.handling[service]) + share * calling

    def stretched(seconds: float | None) -> float | None:
        # A normal ticket: priority tickets still to come jump ahead, as the model expects.
        return seconds * snap.stretch if seconds is not None and snap.key[0] else seconds

    def model_cost(ticket: str, service: str) -> float:
        share, calling = snap.no_shows[service]
        return (1 - share) * snap.handling[service] + share * calling

    services = set(snap.waiting) | {snap.service}
    later = [((t.issued_at - now).total_seconds(), t.origin_service, order_key(t)) for t in truth.tickets.values()
             if t.issued_at > now and t.origin_service in services]
    return (stretched(play(snap, work_cost, left)), play(snap, day_cost, left, later),
            stretched(play(snap, mean_cost, left)), stretched(play(snap, mean_cost, lambda d: d.guessed)),
            stretched(play(snap, model_cost, left)), stretched(play(snap, model_cost, lambda d: d.guessed)))


def minutes(seconds: float) -> int:
    return max(0, math.floor(seconds / 60 + 0.5))


async def replay_day(dir: Path, hall: Path, trace: Path) -> tuple[list[Ticket], list[Visit], float]:
    url = f"sqlite://{dir}/day.db?synchronous=normal"
    cfg = config.load(hall, store_url=url)
    store = open_store(url, hall_id=cfg.hall.id)
    await store.open()
    try:
        Observer.seen.clear()
        started = time.process_time()
        [result] = await simulate.replay(cfg, store, read_trace(trace), settings(cfg), extra=(Observer,))
        cpu = time.process_time() - started
        return await store.tickets(result.day, result.day), await store.visits(result.day, result.day), cpu
    finally:
        await store.close()


def judge(name: str, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    a: dict[str, Any] = figures.eta_accuracy([p for p, _ in pairs], [w for _, w in pairs])["under_an_hour"]
    print(f"{name:<44} {a['tickets']:>5} {a['median_abs_error_minutes']:>6} {a['p90_abs_error_minutes']:>6} "
          f"{a['within_5_minutes']:>8.1%} {a['bias_minutes']:>+6}")
    return a


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HALL)
    parser.add_argument("--trace", type=Path, default=TRACE)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        tickets, visits, cpu = asyncio.run(replay_day(Path(d), args.config, args.trace))
    print(f"replayed {len(tickets)} tickets, {len(visits)} visits ({cpu:.1f} s CPU)")
    truth = Truth(visits, tickets)
    # The ETA shown, then each play of oracles(), in its order, as (promised, waited) seconds.
    rows: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for t in tickets:
        snap = Observer.seen.get(t.id)
        if t.first_called_at is None or snap is None or t.promised_wait_minutes is None:
            continue
        waited = round((t.first_called_at - t.issued_at).total_seconds())
        found = oracles(snap, truth)
        if any(f is None for f in found):
            continue
        rows[0].append((t.promised_wait_minutes * 60, waited))
        for row, seconds in zip(rows[1:], found):
            row.append((minutes(seconds or 0.0) * 60, waited))
    shown, work, day, mean, mean_only, current_only, replayed = rows
    print(f"{'waits under an hour':<44} {'n':>5} {'median':>6} {'p90':>6} {'±5 min':>8} {'bias':>6}")
    judge("the hall's ETA (as shown)", shown)
    judge("the model, played here (a check of this play)", replayed)
    judge("knows the visits under way, else the model", current_only)
    judge("knows each service's mean visit of the day", mean_only)
    judge("oracle: both of the last two", mean)
    judge("oracle: knows the work ahead and under way", work)
    judge("oracle: knows the day but the citizen's own", day)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
