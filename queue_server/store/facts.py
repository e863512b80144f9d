"""Report facts: the narrow, grouped slices of history that reports are computed from.

A year of a busy hall is ~600,000 tickets and ~700,000 visits, so reports never load
whole records. A store hands back groups at the finest grain a report needs —
(time, service, window, clerk, end) for visits — with the raw values of each group
(waits, handling times, as whole microseconds: exact, and cheap to move) so that every
figure, percentiles included, stays exact. The
reports roll groups up to zones, windows, clerks or the whole hall with the hall's
configuration.

The embedded store groups in SQL, reading covering indexes in the order it groups by
so that nothing is sorted; ``regroup`` merges day groups into months here. Any other store can answer with the plain functions below, computed from
its ``tickets()``, ``visits()``, ``evaluations()`` and ``window_log()``, and get the
same facts (``FactsFromRecords``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Hashable, Iterable, Protocol, TypeVar

from queue_server.core.model import Evaluation, Event, Status, Ticket, Visit, VisitEnd

# How facts may be split in time; None keeps the whole period together.
TIME_SPLITS = (None, "day", "month", "hour")
US = 1_000_000  # microseconds in a second: durations in facts are whole microseconds
MICROSECOND = timedelta(microseconds=1)
G = TypeVar("G")
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
# The grouping keys: a group's fields before its counts and values, in field order.
VisitKey = tuple[str, str, int, str | None, str, str]  # time, service, window, clerk, end, closed
TicketKey = tuple[str, str, str]  # time, service, status
RatingKey = tuple[str, str, int | None, str | None, int]  # time, service, window, clerk, level


@dataclass(frozen=True, slots=True)
class VisitGroup:
    """Visits at one window by one clerk for one service that ended one way."""

    time: str  # "" when not split in time; else the day, month or hour ("09") of the call
    service: str
    window: int
    clerk: str | None
    end: str  # a VisitEnd value
    waits_us: list[int]  # queued → called, one per visit
    handlings_us: list[int]  # started (or called) → ended, one per visit
    closed: str = ""  # Visit.closed: "" by the clerk, "next" or "unstarted" by a keypad's next key


@dataclass(frozen=True, slots=True)
class LateVisit:
    """A visit whose handling reached into a gap after a business span (延时服务): where, who, from when to when."""

    day: str
    window: int
    clerk: str | None
    start: datetime  # started, or called when start was never pressed
    end: datetime


# A gap after a business span as times of day in the hall's offset, "HH:MM:SS": from a span's
# end to the next span's start, or to midnight after the last span.
Gap = tuple[str, str]
SERVED_ENDS = ("finished", "transferred", "held")  # visits in which a service was given


def late_visits(visits: Iterable[Visit], gaps: Iterable[Gap]) -> list[LateVisit]:
    """The visits that served a citizen during one of ``gaps``, the way ``Store.late_visits`` finds them."""
    gaps = list(gaps)
    out = []
    for v in visits:
        if str(v.end.value) not in SERVED_ENDS or v.closed == "unstarted":
            continue
        start = v.started_at or v.called_at
        lo, hi = start.isoformat()[11:19], v.ended_at.isoformat()[11:19]
        if any(lo < b and hi > a for a, b in gaps):
            out.append(LateVisit(v.day, v.window, v.clerk, start, v.ended_at))
    return out


# The status facts give a ticket done without an outcome: a keypad's next key closed it
# before anyone started it, so nobody said it was served (not 办结).
UNSTARTED = "closed_unstarted"


def fact_status(t: Ticket) -> str:
    return UNSTARTED if t.status is Status.DONE and t.outcome is None else str(t.status.value)


@dataclass(frozen=True, slots=True)
class TicketGroup:
    """Tickets issued for one service that ended in one status."""

    time: str  # the day, month or hour ("09") of issue, or ""
    service: str  # the service the ticket was issued for
    status: str  # a Status value, or UNSTARTED
    count: int
    missed: int  # of them, tickets that were a no-show at least once
    transferred: int  # of them, tickets transferred at least once
    waits_us: list[int]  # issue → first call, of the tickets ever called


@dataclass(frozen=True, slots=True)
class RatingGroup:
    time: str  # the day or month of the rating, the hour of the rated visit's call, or ""
    service: str
    window: int | None
    clerk: str | None
    level: int
    count: int


@dataclass(frozen=True, slots=True)
class EtaGroup:
    """Tickets issued for one service (in one hour) whose promised wait can be judged.

    One pair per ticket that was promised a wait on issue and was then called: the
    promise and the wait it actually had (issue → first call), both in whole seconds.
    """

    time: str  # the day, month or hour ("09") of issue, or ""
    service: str  # the service the ticket was issued for
    promised_s: list[int]
    waited_s: list[int]


@dataclass(frozen=True, slots=True)
class BusyRow:
    """Time a clerk spent handling tickets at a window on one day (for idle time)."""

    day: str
    clerk: str | None
    window: int
    visits: int
    busy_seconds: float  # Σ handling: start (or call) → end, no-shows included


@dataclass(frozen=True, slots=True)
class WindowMark:
    """One line of the attendance log: a window opened, paused, resumed or closed."""

    seq: int
    name: str  # window.opened, window.paused, window.resumed, window.closed
    at: datetime
    window: int
    clerk: str | None  # person id of the clerk signing in (on window.opened; other lines may leave it None)
    clerk_name: str | None
    reason: str | None  # a pause's reason; "day_end" when the day's rollover closed the window


def check_split(time: str | None) -> None:
    if time not in TIME_SPLITS:
        raise ValueError(f"time split must be one of {TIME_SPLITS}")


def _time_of(day: str, at_iso: str, time: str | None) -> str:
    if time is None:
        return ""
    if time == "day":
        return day
    if time == "month":
        return day[:7]
    return at_iso[11:13]  # the hour in the hall's offset, as stored


def _coarser(day: str, time: str | None) -> str:
    return "" if time is None else day[:7] if time == "month" else day


def _merge(groups: Iterable[T], key: Callable[[T], K], make: Callable[[K, list[T]], G]) -> list[G]:
    acc: dict[K, list[T]] = {}
    for g in groups:
        acc.setdefault(key(g), []).append(g)
    return [make(k, gs) for k, gs in acc.items()]


def regroup_visits(groups: Iterable[VisitGroup], time: str | None) -> list[VisitGroup]:
    """Day-split visit groups merged into months (``"month"``) or the whole period (None)."""
    if time == "day":
        return list(groups)

    def make(k: VisitKey, gs: list[VisitGroup]) -> VisitGroup:
        t, service, window, clerk, end, closed = k
        if len(gs) == 1:
            return VisitGroup(t, service, window, clerk, end, gs[0].waits_us, gs[0].handlings_us, closed)
        return VisitGroup(t, service, window, clerk, end, [w for g in gs for w in g.waits_us],
                          [h for g in gs for h in g.handlings_us], closed)

    return _merge(groups, lambda g: (_coarser(g.time, time), g.service, g.window, g.clerk, g.end, g.closed), make)


def regroup_tickets(groups: Iterable[TicketGroup], time: str | None) -> list[TicketGroup]:
    if time == "day":
        return list(groups)
    return _merge(groups, lambda g: (_coarser(g.time, time), g.service, g.status), lambda k, gs: TicketGroup(
        *k, sum(g.count for g in gs), sum(g.missed for g in gs), sum(g.transferred for g in gs),
        [w for g in gs for w in g.waits_us]))


def regroup_ratings(groups: Iterable[RatingGroup], time: str | None) -> list[RatingGroup]:
    if time == "day":
        return list(groups)
    return _merge(groups, lambda g: (_coarser(g.time, time), g.service, g.window, g.clerk, g.level),
                  lambda k, gs: RatingGroup(*k, sum(g.count for g in gs)))


def busy_rows(day_groups: Iterable[VisitGroup]) -> list[BusyRow]:
    """Handling time per (day, clerk, window), from day-split visit groups."""
    acc: dict[tuple[str, str | None, int], list[int]] = defaultdict(lambda: [0, 0])
    for g in day_groups:
        a = acc[(g.time, g.clerk, g.window)]
        a[0] += len(g.handlings_us)
        a[1] += sum(g.handlings_us)
    return [BusyRow(d, c, w, n, round(s / US, 3)) for (d, c, w), (n, s) in acc.items()]


# -- the same facts from records (for stores without SQL) -------------------------------------


def visit_groups(visits: Iterable[Visit], time: str | None = None) -> list[VisitGroup]:
    """Group visits the way ``Store.visit_facts`` does."""
    check_split(time)
    groups: dict[VisitKey, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for v in visits:
        key = (_time_of(v.day, v.called_at.isoformat(), time), v.service, v.window, v.clerk, str(v.end.value), v.closed)
        waits, handlings = groups[key]
        waits.append((v.called_at - v.queued_at) // MICROSECOND)
        handlings.append((v.ended_at - (v.started_at or v.called_at)) // MICROSECOND)
    return [VisitGroup(*k[:5], w, h, k[5]) for k, (w, h) in groups.items()]


def ticket_groups(tickets: Iterable[Ticket], visits: Iterable[Visit], time: str | None = None) -> list[TicketGroup]:
    """Group tickets the way ``Store.ticket_facts`` does; ``visits`` tell no-shows and transfers."""
    check_split(time)
    visits = list(visits)
    missed = {v.ticket for v in visits if v.end is VisitEnd.NO_SHOW}
    moved = {v.ticket for v in visits if v.end is VisitEnd.TRANSFERRED}
    acc: dict[TicketKey, list[Any]] = defaultdict(lambda: [0, 0, 0, []])
    for t in tickets:
        a = acc[(_time_of(t.day, t.issued_at.isoformat(), time), t.origin_service, fact_status(t))]
        a[0] += 1
        a[1] += t.id in missed
        a[2] += t.id in moved
        if t.first_called_at is not None:
            a[3].append((t.first_called_at - t.issued_at) // MICROSECOND)
    return [TicketGroup(*k, n, m, x, w) for k, (n, m, x, w) in acc.items()]


def eta_groups(tickets: Iterable[Ticket], time: str | None = None) -> list[EtaGroup]:
    """Group promised and actual waits the way ``Store.eta_facts`` does."""
    check_split(time)
    acc: dict[tuple[str, str], tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for t in tickets:
        if t.promised_wait_minutes is None or t.first_called_at is None:
            continue
        promised, waited = acc[(_time_of(t.day, t.issued_at.isoformat(), time), t.origin_service)]
        promised.append(t.promised_wait_minutes * 60)
        waited.append(int((t.first_called_at - t.issued_at).total_seconds()))
    return [EtaGroup(*k, p, w) for k, (p, w) in acc.items()]


def rating_groups(evaluations: Iterable[Evaluation], time: str | None = None,
                  visits: Iterable[Visit] = ()) -> list[RatingGroup]:
    """Group ratings the way ``Store.rating_facts`` does; by hour a rating counts in the hour of the
    call of the visit it rates (from ``visits``), so that it lands in the same row as that service."""
    check_split(time)
    called = {v.ticket: v.called_at.isoformat() for v in visits if v.end is VisitEnd.FINISHED}
    counts: dict[RatingKey, int] = defaultdict(int)
    for e in evaluations:
        if e.excluded:
            continue  # set aside on appeal
        at = called.get(e.ticket) or (e.at.isoformat() if e.at else "")
        counts[(_time_of(e.day, at, time), e.service, e.window, e.clerk, e.level)] += 1
    return [RatingGroup(*k, n) for k, n in counts.items()]


def window_marks(events: Iterable[Event]) -> list[WindowMark]:
    out = []
    for e in events:
        w = e.window
        if w is None or not e.name.startswith("window."):
            continue
        reason = e.extra.get("reason") if e.name in ("window.paused", "window.closed") else None
        out.append(WindowMark(e.seq, e.name, e.at, w.number, w.clerk, w.clerk_name, reason))
    return sorted(out, key=lambda m: m.seq)


class _Records(Protocol):
    """The record lists of a store (a part of ``Store``) that ``FactsFromRecords`` reads."""

    async def tickets(self, day_from: str, day_to: str) -> list[Ticket]: ...
    async def visits(self, day_from: str, day_to: str) -> list[Visit]: ...
    async def evaluations(self, day_from: str, day_to: str) -> list[Evaluation]: ...
    async def window_log(self, day_from: str, day_to: str) -> list[Event]: ...


class FactsFromRecords:
    """Report facts computed in Python from a store's record lists (for stores without SQL).

    A store mixes this in to satisfy the report part of the ``Store`` protocol with no
    code of its own.
    """

    async def visit_facts(self: _Records, day_from: str, day_to: str, time: str | None = None) -> list[VisitGroup]:
        return visit_groups(await self.visits(day_from, day_to), time)

    async def ticket_facts(self: _Records, day_from: str, day_to: str, time: str | None = None) -> list[TicketGroup]:
        tickets = await self.tickets(day_from, day_to)
        return ticket_groups(tickets, await self.visits(day_from, day_to), time)

    async def rating_facts(self: _Records, day_from: str, day_to: str, time: str | None = None) -> list[RatingGroup]:
        visits = await self.visits(day_from, day_to) if time == "hour" else []
        return rating_groups(await self.evaluations(day_from, day_to), time, visits)

    async def eta_facts(self: _Records, day_from: str, day_to: str, time: str | None = None) -> list[EtaGroup]:
        return eta_groups(await self.tickets(day_from, day_to), time)

    async def busy_facts(self: _Records, day_from: str, day_to: str) -> list[BusyRow]:
        return busy_rows(visit_groups(await self.visits(day_from, day_to), "day"))

    async def window_marks(self: _Records, day_from: str, day_to: str) -> list[WindowMark]:
        return window_marks(await self.window_log(day_from, day_to))

    async def late_visits(self: _Records, day_from: str, day_to: str, gaps: list[Gap]) -> list[LateVisit]:
        return late_visits(await self.visits(day_from, day_to), gaps)
