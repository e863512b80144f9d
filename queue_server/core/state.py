"""The hall's live state for the current business day, folded from events.

``HallState`` is what every decision reads. It is only ever changed by ``apply``,
which takes a committed (or about-to-be-committed) event whose records are the
complete rows after the change, so folding is an upsert and the same code serves a
process's own decisions, events read back from the store at start-up, and events
made by other server processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .config import HallConfig
from .lanes import Key, SortedKeys, joined_key, order_key
from .model import Doc, Event, Notice, Priority, Status, Ticket, VisitEnd, Window, WindowStatus, token_key

SERVED_ENDS = frozenset({VisitEnd.FINISHED, VisitEnd.ROUTED, VisitEnd.PART})  # visits whose time was service
RECENT_HANDLING = 50  # handling times kept per service for the ETA (with 20, each mean missed by ~15 %)
RECENT_PRIORITY = 20  # issue times of priority tickets kept per service: how often they jump the queue
RECENT_OUTCOMES = 50  # visits kept per service: how often a called citizen does not come, and what that costs
RECENT_CALLS = 30  # calls kept for screens that join late
_MISSING = object()  # a journaled key that was not there before (or is gone after)
# A journaled write: a map's key from one value to another, or a key out of or into a set of keys.
Entry = tuple[dict[Any, Any] | SortedKeys, Any, object, object]


@dataclass(slots=True)
class HallState:
    config: HallConfig
    seq: int = 0
    day: str = ""
    tickets: dict[str, Ticket] = field(default_factory=dict)  # today's, every status
    by_token: dict[str, str] = field(default_factory=dict)
    by_number: dict[str, str] = field(default_factory=dict)
    by_request: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, dict[str, Ticket]] = field(default_factory=dict)  # service -> id -> ticket (in no set order)
    windows: dict[int, Window] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # origin service -> last number today
    handling: dict[str, tuple[float, ...]] = field(default_factory=dict)  # service -> recent seconds
    priority_issued: dict[str, tuple[float, ...]] = field(default_factory=dict)  # service -> recent epoch seconds
    # service -> for each recent visit served or missed: 0 if served, else the seconds the window spent calling
    missed: dict[str, tuple[float, ...]] = field(default_factory=dict)
    recent_calls: tuple[dict[str, Any], ...] = ()
    notice: Notice = field(default_factory=Notice)
    docs: dict[str, dict[str, Doc]] = field(default_factory=dict)  # kind -> id -> live doc
    max_rank: float = 0.0  # highest rank given today, so a new ticket always sorts after it
    priority_waiting: dict[str, int] = field(default_factory=dict)  # service -> waiting priority tickets
    staffed: dict[str, int] = field(default_factory=dict)  # service -> windows signed in that serve it
    # The waiting tickets in call order (``lanes.order_key``), kept as tickets join and
    # leave, so choosing the next one costs the same with 100 or 100,000 waiting:
    lanes: dict[str, SortedKeys] = field(default_factory=dict)  # service -> every waiting ticket
    free: dict[str, SortedKeys] = field(default_factory=dict)  # service -> those any window serving it may call
    pinned: dict[int, dict[str, SortedKeys]] = field(default_factory=dict)  # window -> service -> those only it may call
    joined: dict[str, SortedKeys] = field(default_factory=dict)  # service -> ``joined_key`` of every waiting ticket
    # While a batch is decided (see ``fork_shared``): the writes made to maps and keys
    # shared with the committed state.
    journal: list[Entry] | None = field(default=None, repr=False)
    undone: list[Entry] | None = field(default=None, repr=False)  # for ``redo``

    def __post_init__(self) -> None:
        for service in self.config.services:
            self.waiting.setdefault(service, {})
        for number in self.config.windows:
            self.windows.setdefault(number, Window(number))

    def fork(self) -> HallState:
        """A copy that can be changed without touching this one (records are immutable)."""
        new = self.fork_small()
        new.tickets, new.by_token, new.by_number = dict(self.tickets), dict(self.by_token), dict(self.by_number)
        new.by_request = dict(self.by_request)
        new.waiting = {s: dict(q) for s, q in self.waiting.items()}
        new.lanes, new.free, new.joined = _copy_keys(self.lanes), _copy_keys(self.free), _copy_keys(self.joined)
        new.pinned = {n: _copy_keys(by_service) for n, by_service in self.pinned.items()}
        new.journal = new.undone = None
        return new

    def fork_shared(self) -> HallState:
        """A fork for one batch of decisions that copies only what stays small.

        The maps that grow all day (tickets, their indexes, the queues and their order)
        are shared with this state, and each write to them is journaled. Before anything
        else may read the hall (the batch's commit is awaited), ``undo`` takes the shared
        maps back to this state's view; once the commit succeeds, ``redo`` makes the
        fork whole again and it replaces this state. A batch costs what it changes, not
        the size of the day nor the length of a queue.
        """
        new = self.fork_small()
        new.tickets, new.by_token, new.by_number, new.by_request = self.tickets, self.by_token, self.by_number, self.by_request
        new.waiting, new.lanes, new.free, new.pinned, new.joined = self.waiting, self.lanes, self.free, self.pinned, self.joined
        new.journal, new.undone = [], None
        return new

    def fork_small(self) -> HallState:
        """The fields every fork copies. Built without __init__: no defaults needed, and
        this runs once per batch."""
        new = HallState.__new__(HallState)
        new.config, new.seq, new.day, new.notice = self.config, self.seq, self.day, self.notice
        new.windows, new.counters, new.handling = dict(self.windows), dict(self.counters), dict(self.handling)
        new.recent_calls, new.docs = self.recent_calls, {k: dict(v) for k, v in self.docs.items()}
        new.max_rank, new.priority_waiting = self.max_rank, dict(self.priority_waiting)
        new.staffed, new.priority_issued, new.missed = dict(self.staffed), dict(self.priority_issued), dict(self.missed)
        return new

    def undo(self) -> None:
        """Take the shared maps back to the state this fork was made from (once)."""
        journal, self.journal = self.journal, None
        for target, key, old, _new in reversed(journal or ()):
            _write(target, key, old)
        if journal is not None:
            self.undone = journal

    def redo(self) -> None:
        """Write this fork's changes into the shared maps again, as its own state."""
        for target, key, _old, new in self.undone or ():
            _write(target, key, new)
        self.undone = None

    def _put(self, target: dict[str, Any], key: str, value: object) -> None:
        """Set (or, with ``_MISSING``, delete) a key of a map that may be shared."""
        old = target.get(key, _MISSING)
        if self.journal is not None:
            self.journal.append((target, key, old, value))
        if value is _MISSING:
            if old is not _MISSING:
                del target[key]
        else:
            target[key] = value

    def _key(self, keys: SortedKeys, key: Key, present: bool) -> None:
        """Add a key to (or take it out of) a set of keys that may be shared."""
        if self.journal is not None:
            self.journal.append((keys, key, not present, present))
        _write(keys, key, present)

    def _index(self, t: Ticket, present: bool) -> None:
        """Put a waiting ticket into its queue's order, or take it out."""
        service, key = t.service, order_key(t)
        self._key(_keys(self.lanes, service), key, present)
        if t.pinned_window is None:
            self._key(_keys(self.free, service), key, present)
        else:
            self._key(_keys(self.pinned.setdefault(t.pinned_window, {}), service), key, present)
        self._key(_keys(self.joined, service), joined_key(t), present)

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
        v = event.visit
        if v is not None and v.end in SERVED_ENDS and v.closed != "unstarted":
            tk = event.ticket
            if tk is not None and tk.parts and v.service == tk.origin_service:
                # A one-window bundle's visit is recorded part by part; its queue's ETA needs the whole.
                began = tk.started_at or tk.called_at
                if began is not None and tk.ended_at is not None:
                    self._handled(v.service, (tk.ended_at - began).total_seconds())
            else:
                self._handled(v.service, v.handling_seconds)
        if v is not None and (v.end in SERVED_ENDS or v.end is VisitEnd.NO_SHOW):
            # What a call cost: a citizen who did not come took the minutes the window waited.
            cost = (v.ended_at - v.called_at).total_seconds() if v.end is VisitEnd.NO_SHOW else 0.0
            self._outcome(v.service, cost)
        if event.notice is not None:
            self.notice = event.notice
        for doc in event.docs:
            self.put_doc(doc)

    def _handled(self, service: str, seconds: float) -> None:
        self.handling[service] = (self.handling.get(service, ()) + (seconds,))[-RECENT_HANDLING:]

    def put_doc(self, doc: Doc) -> None:
        if doc.live:
            self.docs.setdefault(doc.kind, {})[doc.id] = doc
        else:
            self.docs.get(doc.kind, {}).pop(doc.id, None)

    def _new_day(self, day: str) -> None:
        # New maps, not cleared ones: a fork may share the old ones with the committed state.
        self.day = day
        self.tickets, self.by_token, self.by_number, self.by_request = {}, {}, {}, {}
        self.waiting = {service: {} for service in self.waiting}
        self.lanes, self.free, self.pinned, self.joined = {}, {}, {}, {}
        self.counters.clear()
        self.handling.clear()
        self.priority_issued.clear()
        self.missed.clear()
        self.recent_calls = ()
        self.max_rank = 0.0
        self.priority_waiting.clear()

    def _put_ticket(self, t: Ticket) -> None:
        if t.day != self.day:
            return  # a late event about another day's ticket: history, not today's state
        old = self.tickets.get(t.id)
        queued = old if old is not None and old.status is Status.WAITING else None
        stays = queued is not None and t.status is Status.WAITING and queued.service == t.service and queued.queued_at == t.queued_at
        if queued is not None and not stays:
            self._put(self._queue(queued.service), t.id, _MISSING)
            if queued.priority is not Priority.NORMAL:
                self.priority_waiting[queued.service] -= 1
        if queued is not None:
            self._index(queued, False)
        self._put(self.tickets, t.id, t)
        if t.status is Status.WAITING:
            self._put(self._queue(t.service), t.id, t)
            self._index(t, True)
            if not stays and t.priority is not Priority.NORMAL:
                self.priority_waiting[t.service] = self.priority_waiting.get(t.service, 0) + 1
            if t.rank > self.max_rank:
                self.max_rank = t.rank
        if old is None:
            self._put(self.by_token, t.token, t.id)
            self._put(self.by_number, t.number, t.id)
            if t.request_id:
                self._put(self.by_request, t.request_id, t.id)
            if t.seq_no > self.counters.get(t.origin_service, 0):
                self.counters[t.origin_service] = t.seq_no
            if t.priority is not Priority.NORMAL:
                recent = self.priority_issued.get(t.origin_service, ())
                self.priority_issued[t.origin_service] = (recent + (t.issued_at.timestamp(),))[-RECENT_PRIORITY:]

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
            if t.missed_at is not None and t.called_at is not None and t.no_shows:
                self._outcome(t.service, max(0.0, (t.missed_at - t.called_at).total_seconds()))
            if t.status is Status.DONE:
                self._outcome(t.service, 0.0)
            began = t.started_at or t.called_at
            if t.status is Status.DONE and t.outcome is not None and t.ended_at and began:
                self._handled(t.service, (t.ended_at - began).total_seconds())
        self.recent_calls = tuple(sorted(self.recent_calls, key=lambda c: c["at"]))
        for w in windows:
            self.windows[w.number] = w
        for number in self.config.windows:
            self._count_staffed(number)
        if notice is not None:
            self.notice = notice
        self.seq = seq

    def _outcome(self, service: str, missed_seconds: float) -> None:
        self.missed[service] = (self.missed.get(service, ()) + (missed_seconds,))[-RECENT_OUTCOMES:]

    # -- lookups -------------------------------------------------------------

    def ticket(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def ticket_by_token(self, token: str) -> Ticket | None:
        """Today's ticket of a citizen's tracking token (tickets keep only its ``token_key``)."""
        tid = self.by_token.get(token_key(token))
        return self.tickets.get(tid) if tid else None

    def ticket_by_number(self, number: str) -> Ticket | None:
        tid = self.by_number.get(number.upper())
        return self.tickets.get(tid) if tid else None

    def oldest_waiting(self, service: str) -> Ticket | None:
        """The ticket that joined a queue first (ties: the lower id)."""
        keys = self.joined.get(service)
        first = keys.first() if keys is not None else None
        return self.tickets[first[1]] if first is not None else None

    def _queue(self, service: str) -> dict[str, Ticket]:
        queue = self.waiting.get(service)
        if queue is None:
            queue = self.waiting[service] = {}  # an empty queue: nothing to journal
        return queue

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


def _keys(by: dict[Any, SortedKeys], name: Any) -> SortedKeys:
    keys = by.get(name)
    if keys is None:
        keys = by[name] = SortedKeys()  # empty: nothing to journal
    return keys


def _copy_keys(by: dict[Any, SortedKeys]) -> dict[Any, SortedKeys]:
    return {name: keys.copy() for name, keys in by.items()}


def _write(target: dict[Any, Any] | SortedKeys, key: Any, value: object) -> None:
    """Make one journaled entry hold ``value`` (``_MISSING`` or False: absent)."""
    if isinstance(target, SortedKeys):
        if value:
            target.add(key)
        else:
            target.remove(key)
    elif value is _MISSING:
        target.pop(key, None)
    else:
        target[key] = value
