"""The Store: what the hall needs from persistence, and nothing more.

A store keeps the hall's event log (gapless sequence numbers), projects each event's
records into tables it can query (tickets, visits, evaluations, window log, docs),
and keeps people, device tokens and sessions. ``commit`` is the one write path for
hall state: it appends events only if the log still ends at ``expect_seq``, which is
what makes a claim atomic however many server processes share the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import AsyncIterator, Protocol

from queue_server.core.model import DeviceToken, Doc, Evaluation, Event, Notice, Person, Session, Ticket, Visit, Window

from .facts import BusyRow, EtaGroup, Gap, LateVisit, RatingGroup, TicketGroup, VisitGroup, WindowMark
from .outbox import Outbox


class StoreError(Exception):
    """The store failed or cannot be reached; the operation did not happen."""


class LogRewound(StoreError):
    """The log now ends before events this process was given: Redis failed over to a replica
    that never received them. None was acknowledged (a commit is acknowledged only once its
    replicas confirm it); what was built on them must be read again from the log."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"the hall's log went back to seq {seq}: the Redis primary failed over and lost "
                         "events no replica had confirmed")
        self.seq = seq


class SeqConflict(Exception):
    """Another process appended first. ``missing`` are its events after ``expect_seq``."""

    def __init__(self, missing: list[Event]) -> None:
        super().__init__(f"log moved on by {len(missing)} events")
        self.missing = missing


@dataclass
class Loaded:
    """The current business day as read back at start-up."""

    seq: int = 0
    day: str = ""
    tickets: list[Ticket] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    notice: Notice | None = None
    docs: list[Doc] = field(default_factory=list)


@dataclass
class History:
    """What a store keeps of a hall besides its log: the rows its events left, as of ``seq``.

    ``hallcall migrate`` moves these when the oldest events were pruned (the rows stay when
    the log is trimmed), then replays the events still kept, which start after ``seq``.
    """

    seq: int
    day: str
    notice: Notice | None
    windows: list[Window]
    tickets: list[Ticket]
    visits: list[Visit]
    evaluations: list[Evaluation]
    window_log: list[Event]  # window.* events before seq + 1: attendance
    docs: list[Doc]

    def carriers(self) -> list[Event]:
        """The rows, each on an event that carries it, for a store's projection; never logged.

        Only ``window_log`` holds real events: a store logs nothing of these, and projects
        the window.* ones into its window log as it did when they were committed.
        """
        at = datetime.fromisoformat(f"{self.day or '2000-01-01'}T00:00:00+00:00")
        rows = [Event(0, "history.ticket", t.issued_at, ticket=t) for t in self.tickets]
        rows += [Event(0, "history.visit", v.called_at, visit=v) for v in self.visits]
        rows += [Event(0, "history.evaluation", ev.at or at, evaluation=ev) for ev in self.evaluations]
        rows += [Event(0, "history.doc", at, docs=(doc,)) for doc in self.docs]
        rows += self.window_log
        rows += [Event(0, "history.window", at, window=w) for w in self.windows]  # the current rows, last
        if self.notice is not None:
            rows.append(Event(0, "history.notice", at, notice=self.notice))
        return rows


class Store(Outbox, Protocol):
    url: str
    kind: str  # "sqlite" or "redis"

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def load(self) -> Loaded: ...

    async def commit(self, expect_seq: int, events: list[Event]) -> None:
        """Append events seq expect_seq+1.. atomically, or raise SeqConflict / StoreError."""
        ...

    async def confirm(self, seq: int) -> None:
        """Make sure the log up to ``seq`` would survive losing the store's host, or raise StoreError.

        A commit confirms its own events; this is for an answer that commits nothing but
        rests on events others committed (a retried request given its ticket again).
        """
        ...

    async def events_since(self, seq: int, limit: int = 10_000) -> list[Event]:
        """Committed events after ``seq``, oldest first; empty if ``seq`` is older than kept."""
        ...

    async def first_seq(self) -> int:
        """The oldest sequence number still kept (0 when the log is empty)."""
        ...

    async def put_history(self, history: History) -> None:
        """Write a hall's rows into this empty store, with its log to go on after ``history.seq``."""
        ...

    async def doc_kinds(self) -> list[str]:
        """Every kind of doc this store holds."""
        ...

    def tail(self) -> AsyncIterator[Event]:
        """Every event committed from now on, by any process, in order."""
        ...

    # history
    async def ticket_by_token(self, token: str) -> Ticket | None: ...  # the citizen's token; rows keep its token_key
    async def tickets(self, day_from: str, day_to: str) -> list[Ticket]: ...
    async def visits(self, day_from: str, day_to: str) -> list[Visit]: ...
    async def evaluations(self, day_from: str, day_to: str) -> list[Evaluation]: ...
    async def window_log(self, day_from: str, day_to: str) -> list[Event]: ...
    async def docs(self, kind: str, *, day_from: str | None = None, day_to: str | None = None, key: str | None = None) -> list[Doc]: ...
    async def doc(self, kind: str, doc_id: str) -> Doc | None: ...

    # report facts, grouped for reports (facts.FactsFromRecords computes them from the lists above)
    async def visit_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[VisitGroup]: ...
    async def ticket_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[TicketGroup]: ...
    async def eta_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[EtaGroup]: ...
    async def rating_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[RatingGroup]: ...
    async def busy_facts(self, day_from: str, day_to: str) -> list[BusyRow]: ...
    async def window_marks(self, day_from: str, day_to: str) -> list[WindowMark]: ...
    async def late_visits(self, day_from: str, day_to: str, gaps: list[Gap]) -> list[LateVisit]: ...

    # people, device tokens, sessions
    async def put_person(self, person: Person) -> None: ...
    async def person(self, *, id: str | None = None, login: str | None = None, staff_no: str | None = None) -> Person | None: ...
    async def people(self) -> list[Person]: ...
    async def put_token(self, token: DeviceToken) -> None: ...
    async def token(self, *, id: str | None = None, hash: str | None = None) -> DeviceToken | None: ...
    async def tokens(self) -> list[DeviceToken]: ...
    async def put_session(self, session: Session) -> None: ...
    async def session(self, hash: str) -> Session | None: ...
    async def delete_session(self, hash: str) -> None: ...
