"""The hall's live state for the current business day, folded from events.

``HallState`` is what every decision reads. It is only ever changed by ``apply``,
which takes a committed (or about-to-be-committed) event whose records are the
complete rows after the change, so folding is an upsert and the same code serves a
process's own decisions, events read back from the store at start-up, and events
made by other server processes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

from .config import HallConfig
from .model import Doc, Event, Notice, Priority, Status, Ticket, VisitEnd, Window, WindowStatus

RECENT_HANDLING = 20  # handling times kept per service for the ETA
RECENT_CALLS = 30  # calls kept for screens that join late


@dataclass(slots=True)
class HallState:
    config: HallConfig
    seq: int = 0
    day: str = ""
    tickets: dict[str, Ticket] = field(default_factory=dict)  # today's, every status
    by_token: dict[str, str] = field(default_factory=dict)
    by_number: dict[str, str] = field(default_factory=dict)
    by_request: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, dict[str, Ticket]] = field(default_factory=dict)  # service -> id -> ticket
    windows: dict[int, Window] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # origin service -> last number today
    handling: dict[str, tuple[float, ...]] = field(default_factory=dict)  # service -> recent seconds
    recent_calls: tuple[dict, ...] = ()
    notice: Notice = field(default_factory=Notice)
    docs: dict[str, dict[str, Doc]] = field(default_factory=dict)  # kind -> id -> live doc
    max_rank: float = 0.0  # highest rank given today, so a new ticket always sorts after it
    priority_waiting: dict[str, int] = field(default_factory=dict)  # service -> waiting priority tickets
    staffed: dict[str, int] = field(default_factory=dict)  # service -> windows signed in that serve it

    def __post_init__(self) -> None:
        for service in self.config.services:
            self.waiting.setdefault(service, {})
        for number in self.config.windows:
            self.windows.setdefault(number, Window(number))

    def fork(self) -> HallState:
        """A copy that can be changed without touching this one (records are immutable)."""
        # Built without __init__: the copy needs no defaults, and this runs once per batch.
        new = HallState.__new__(HallState)
        new.config, new.seq, new.day, new.notice = self.config, self.seq, self.day, self.notice
        new.tickets, new.by_token, new.by_number = dict(self.tickets), dict(self.by_token), dict(self.by_number)
        new.by_request, new.windows, new.counters = dict(self.by_request), dict(self.windows), dict(self.counters)
        new.waiting = {s: dict(q) for s, q in self.waiting.items()}
        new.handling, new.recent_calls = dict(self.handling), self.recent_calls
        new.docs = {k: dict(v) for k, v in self.docs.items()}
        new.max_rank, new.priority_waiting = self.max_rank, dict(self.priority_waiting)
        new.staffed = dict(self.staffed)
        return new

    # -- folding -------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one event into the state. Events must arrive in sequence order."""
        self.seq = event.seq
        if event.name == "day.started":
            self._new_day(event.extra["day"])
            return
        if event.ticket is not None:
            self._put_ticket(event.ticket)
            if event.name in ("ticket.called", "ticket.recalled"):
                t = event.ticket
                call = {"number": t.number, "window": t.window, "zone": t.zone, "service": t.service,
                        "at": event.at.isoformat(), "recall": event.name == "ticket.recalled"}
                self.recent_calls = (self.recent_calls + (call,))[-RECENT_CALLS:]
        if event.window is not None:
            old = self.windows.get(event.window.number)
            self.windows[event.window.number] = event.window
            if old is None or (old.status is WindowStatus.CLOSED) != (event.window.status is WindowStatus.CLOSED):
                self._count_staffed(event.window.number)
        if event.visit is not None and event.visit.end is VisitEnd.FINISHED:
            v = event.visit
            recent = self.handling.get(v.service, ())
            self.handling[v.service] = (recent + (v.handling_seconds,))[-RECENT_HANDLING:]
        if event.notice is not None:
            self.notice = event.notice
        for doc in event.docs:
            self.put_doc(doc)

    def put_doc(self, doc: Doc) -> None:
        if doc.live:
            self.docs.setdefault(doc.kind, {})[doc.id] = doc
        else:
            self.docs.get(doc.kind, {}).pop(doc.id, None)

    def _new_day(self, day: str) -> None:
        self.day = day
        self.tickets.clear()
        self.by_token.clear()
        self.by_number.clear()
        self.by_request.clear()
        for queue in self.waiting.values():
            queue.clear()
        self.counters.clear()
        self.handling.clear()
        self.recent_calls = ()
        self.max_rank = 0.0
        self.priority_waiting.clear()

    def _put_ticket(self, t: Ticket) -> None:
        if t.day != self.day:
            return  # a late event about another day's ticket: history, not today's state
        old = self.tickets.get(t.id)
        was_waiting = old is not None and old.status is Status.WAITING
        stays = was_waiting and t.status is Status.WAITING and old.service == t.service and old.queued_at == t.queued_at  # type: ignore[union-attr]
        if was_waiting and not stays:
            self.waiting.get(old.service, {}).pop(t.id, None)  # type: ignore[union-attr]
            if old.priority is not Priority.NORMAL:  # type: ignore[union-attr]
                self.priority_waiting[old.service] -= 1  # type: ignore[union-attr]
        self.tickets[t.id] = t
        if t.status is Status.WAITING:
            # Each queue dict stays in the order tickets joined it, so its first entry is
            # the longest waiting; an update that keeps a ticket in place keeps its slot.
            self.waiting.setdefault(t.service, {})[t.id] = t
            if not stays and t.priority is not Priority.NORMAL:
                self.priority_waiting[t.service] = self.priority_waiting.get(t.service, 0) + 1
            if t.rank > self.max_rank:
                self.max_rank = t.rank
        if old is None:
            self.by_token[t.token] = t.id
            self.by_number[t.number] = t.id
            if t.request_id:
                self.by_request[t.request_id] = t.id
            if t.seq_no > self.counters.get(t.origin_service, 0):
                self.counters[t.origin_service] = t.seq_no

    def load(
        self, day: str, tickets: Iterable[Ticket], windows: Iterable[Window], notice: Notice | None, seq: int,
        docs: Iterable[Doc] = (),
    ) -> None:
        """Rebuild from rows read back from the store at start-up."""
        self._new_day(day)
        for doc in docs:
            self.put_doc(doc)
        for t in sorted(tickets, key=lambda t: t.issued_at):
            self._put_ticket(t)
            if t.called_at and t.window is not None:
                call = {"number": t.number, "window": t.window, "zone": t.zone, "service": t.service,
                        "at": t.called_at.isoformat(), "recall": False}
                self.recent_calls = (self.recent_calls + (call,))[-RECENT_CALLS:]
            if t.status is Status.DONE and t.ended_at and (t.started_at or t.called_at):
                secs = (t.ended_at - (t.started_at or t.called_at)).total_seconds()  # type: ignore[operator]
                self.handling[t.service] = (self.handling.get(t.service, ()) + (secs,))[-RECENT_HANDLING:]
        self.recent_calls = tuple(sorted(self.recent_calls, key=lambda c: c["at"]))
        for w in windows:
            self.windows[w.number] = w
        for number in self.config.windows:
            self._count_staffed(number)
        if notice is not None:
            self.notice = notice
        self.seq = seq

    # -- lookups -------------------------------------------------------------

    def ticket(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def ticket_by_token(self, token: str) -> Ticket | None:
        tid = self.by_token.get(token)
        return self.tickets.get(tid) if tid else None

    def ticket_by_number(self, number: str) -> Ticket | None:
        tid = self.by_number.get(number.upper())
        return self.tickets.get(tid) if tid else None

    def oldest_waiting(self, service: str) -> Ticket | None:
        queue = self.waiting.get(service)
        return next(iter(queue.values())) if queue else None

    def current_ticket(self, window: int) -> Ticket | None:
        w = self.windows.get(window)
        return self.tickets.get(w.current) if w is not None and w.current else None

    def _count_staffed(self, number: int) -> None:
        wcfg = self.config.windows.get(number)
        windows = self.windows
        for service in wcfg.services if wcfg is not None else ():
            self.staffed[service] = sum(
                1 for n in self.config.windows_serving(service) if windows[n].status is not WindowStatus.CLOSED)

    def staffed_windows(self, service: str) -> int:
        """Windows signed in (open or paused) that serve a service."""
        return self.staffed.get(service, 0)
