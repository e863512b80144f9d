"""The Hall: the one application service through which every action happens.

Every action becomes a decision function run by a single actor task. The actor takes
all decisions queued while the previous commit was in flight, runs them one after
another against a fork of the committed state, and commits their events in one store
transaction (group commit: one fsync for many tickets). Only then are callers answered
and the fork becomes the committed state. If another server process appended first
(Redis), the store says so with the events we missed; the actor folds them and decides
the batch again, so a ticket is claimed by exactly one window.

Committed events reach listeners (the WebSocket hub, embedded agents) through the
store's tail, in sequence order, whichever process made them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from queue_server.core import queueing, rules
from queue_server.core.clock import Clock, SystemClock
from queue_server.core.config import HallConfig
from queue_server.core.errors import Conflict, Forbidden, HallError, Invalid, NotFound, Unavailable
from queue_server.core.model import Channel, Event, Outcome, Priority, Status, Ticket, WindowStatus
from queue_server.core.rules import Tx
from queue_server.core.state import HallState
from queue_server.store import SeqConflict, Store, StoreError

from . import auth
from .auth import Principal

log = logging.getLogger("hallcall.hall")
R = TypeVar("R")
MAX_BATCH = 512
DAY_CHECK_SECONDS = 20.0


class TokenPool:
    """Tracking tokens from the OS's randomness, read in blocks: one syscall per 256 tickets."""

    BLOCK = 256

    def __init__(self) -> None:
        self._buffer = b""

    def take(self) -> str:
        if not self._buffer:
            self._buffer = secrets.token_bytes(16 * self.BLOCK)
        raw, self._buffer = self._buffer[:16], self._buffer[16:]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class _Job:
    decide: Callable[[Tx], Any]
    by: str | None
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Hall:
    def __init__(self, config: HallConfig, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.state = HallState(config)
        self.auth = auth.Authenticator(store, self.clock)
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._listeners: list[Callable[[Event], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.last_dispatched = 0
        self._seq_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flight: tuple[int, asyncio.Future[None]] | None = None  # last seq of the commit in flight
        self._tokens = TokenPool()
        self._mine: deque[tuple[int, int]] = deque(maxlen=1024)  # seq ranges this process committed

    # -- lifetime ------------------------------------------------------------------

    async def start(self, *, day_timer: bool = True) -> None:
        loaded = await self.store.load()
        self.state.load(loaded.day, loaded.tickets, loaded.windows, loaded.notice, loaded.seq, loaded.docs)
        self.last_dispatched = loaded.seq
        self._tasks.append(asyncio.create_task(self._actor(), name="hall-actor"))
        self._tasks.append(asyncio.create_task(self._follow(), name="hall-follow"))
        if day_timer:
            self._tasks.append(asyncio.create_task(self._day_timer(), name="hall-day"))
        await self.tick()  # starts the business day if the store is new or the date moved on

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if not job.future.done():
                job.future.set_exception(Unavailable("the server is shutting down"))

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener`` with every committed event; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def made_here(self, seq: int) -> bool:
        """Whether this process committed the event: one process acts on it (a webhook post, say)."""
        return any(first <= seq <= last for first, last in reversed(self._mine))

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    async def wait_dispatched(self, seq: int) -> None:
        """Wait until listeners have been given every event up to ``seq``."""
        if self.last_dispatched >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq_waiters.append((seq, future))
        await future

    # -- the actor -------------------------------------------------------------------

    async def run(self, decide: Callable[[Tx], R], by: str | None = None) -> R:
        """Decide and commit one action; return what ``decide`` returned."""
        if not self._tasks or self._tasks[0].done():
            raise Unavailable("the hall is not running")
        job = _Job(decide, by)
        self._jobs.put_nowait(job)
        return await job.future

    async def tick(self) -> None:
        """Commit whatever time alone changes (a new business day)."""
        await self.run(lambda tx: None)

    async def _day_timer(self) -> None:
        while True:
            await asyncio.sleep(DAY_CHECK_SECONDS)
            try:
                await self.tick()
            except HallError as exc:
                log.warning("day check failed: %s", exc)

    async def _actor(self) -> None:
        while True:
            jobs = [await self._jobs.get()]
            while not self._jobs.empty() and len(jobs) < MAX_BATCH:
                jobs.append(self._jobs.get_nowait())
            jobs = [j for j in jobs if not j.future.done()]  # callers that gave up
            if jobs:
                try:
                    await self._run_batch(jobs)
                except Exception as exc:  # never let one batch kill the hall
                    log.exception("batch failed")
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(Unavailable(f"internal error: {exc}"))

    async def _run_batch(self, jobs: list[_Job]) -> None:
        for _attempt in range(100):
            work, events, outcomes = self._decide(jobs)
            base = self.state.seq
            if events:
                try:
                    await self._commit(base, events, work)
                except SeqConflict as conflict:
                    for event in conflict.missing:
                        self._fold(event)
                    continue
                except StoreError as exc:
                    log.error("commit failed: %s", exc)
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(Unavailable(f"the store failed: {exc}"))
                    return
            for job, (ok, value) in zip(jobs, outcomes):
                if job.future.done():
                    continue
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
            return
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(Unavailable("too much contention; try again"))

    def _decide(self, jobs: list[_Job]) -> tuple[HallState, list[Event], list[tuple[bool, Any]]]:
        """Decide a batch against a fork of the committed state, without awaiting anything."""
        work = self.state.fork_shared()
        events: list[Event] = []
        outcomes: list[tuple[bool, Any]] = []
        try:
            now = self.clock.now()
            day_tx = Tx(work, now)
            rules.roll_day(day_tx)
            events.extend(day_tx.events)
            for job in jobs:
                tx = Tx(work, now, job.by)
                try:
                    outcomes.append((True, job.decide(tx)))
                    events.extend(tx.events)
                except HallError as exc:
                    outcomes.append((False, exc))
                    if tx.events:  # a rule failed after emitting: rebuild without its events
                        work = self._refold(work, events)
                except Exception as exc:
                    log.exception("decision failed")
                    outcomes.append((False, Unavailable(f"internal error: {type(exc).__name__}")))
                    if tx.events:
                        work = self._refold(work, events)
        finally:
            # Until the commit succeeds, readers must see the committed state alone.
            work.undo()
        return work, events, outcomes

    async def _commit(self, base: int, events: list[Event], work: HallState) -> None:
        """Commit a batch and adopt ``work`` as the committed state.

        A store shared by several processes (Redis) may hand our own events to the tail
        before the commit returns; ``_follow`` waits for ``_flight`` so that listeners
        see the state after the whole batch, as with the embedded store.
        """
        flight: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flight = (events[-1].seq, flight)
        try:
            await self.store.commit(base, events)
            self._mine.append((events[0].seq, events[-1].seq))
            if self.state.seq < work.seq:
                work.redo()
                self.state = work
        finally:
            self._flight = None
            flight.set_result(None)

    def _refold(self, work: HallState, events: list[Event]) -> HallState:
        """Decide again from the committed state, keeping only ``events``."""
        work.undo()
        work = self.state.fork_shared()
        for event in events:
            work.apply(event)
        return work

    def _fold(self, event: Event) -> bool:
        """Fold an event made elsewhere into the committed state; False if it leaves a gap."""
        if event.seq <= self.state.seq:
            return True
        if event.seq != self.state.seq + 1:
            return False
        self.state.apply(event)
        return True

    async def _follow(self) -> None:
        while True:
            try:
                async for event in self.store.tail():
                    flight = self._flight
                    if flight is not None and self.state.seq < event.seq <= flight[0]:
                        await asyncio.shield(flight[1])  # probably our own batch: let the actor adopt it whole
                    if event.seq > self.last_dispatched + 1:
                        # The tail began after events listeners have not had (another process
                        # committed while this one loaded): replay them from the log first.
                        for missed in await self._log_between(self.last_dispatched, event.seq):
                            self._fold(missed)
                            self._dispatch(missed)
                    if not self._fold(event):
                        for missed in await self._log_between(self.state.seq, event.seq):
                            self._fold(missed)
                        self._fold(event)
                    self._dispatch(event)
                return  # the store was closed
            except Exception:  # a tail should never fail; if it does, listeners must not go quiet
                log.exception("the event tail failed; following again")
                await asyncio.sleep(1.0)

    async def _log_between(self, after: int, before: int) -> list[Event]:
        """Committed events after ``after`` and before ``before``, waiting out a store outage."""
        delay = 0.05
        while True:
            try:
                return [e for e in await self.store.events_since(after, max(1, before - after - 1)) if e.seq < before]
            except StoreError as exc:
                log.warning("cannot read the log to fill a gap (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _dispatch(self, event: Event) -> None:
        if event.seq <= self.last_dispatched:
            return
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("listener failed on %s", event.name)
        self.last_dispatched = event.seq
        if self._seq_waiters:
            waiting = []
            for seq, future in self._seq_waiters:
                if seq <= event.seq:
                    if not future.done():
                        future.set_result(None)
                else:
                    waiting.append((seq, future))
            self._seq_waiters = waiting

    # -- views ------------------------------------------------------------------------

    def ticket_view(self, st: HallState, t: Ticket, *, token: bool = True, ahead: int | None = None) -> dict[str, Any]:
        """A ticket as the API returns it: the record plus position, ETA and names."""
        data = t.to_dict() if token else t.public()
        data.pop("request_id", None)
        svc = self.config.services.get(t.service)
        data["service_name"] = svc.name if svc else t.service
        data["service_name_en"] = svc.name_en if svc else ""
        if t.status is Status.WAITING and t.day == st.day:
            if ahead is None:
                ahead = queueing.ahead_of(st, t)
            data["ahead"] = ahead
            data["eta_minutes"] = queueing.eta_minutes(st, t.service, ahead)
        else:
            data["ahead"] = 0 if t.status is Status.WAITING else None
            data["eta_minutes"] = None
        if t.window is not None and t.window in self.config.windows:
            data["window_name"] = self.config.windows[t.window].name
        return data

    def service_view(self, st: HallState, service: str) -> dict[str, Any]:
        svc = self.config.services[service]
        queue = st.waiting.get(service, {})
        first = st.oldest_waiting(service)
        oldest = first.queued_at if first is not None else None
        return {
            "id": svc.id, "name": svc.name, "name_en": svc.name_en, "zone": svc.zone, "prefix": svc.prefix,
            "bundle": list(svc.bundle), "waiting": len(queue),
            "priority_waiting": st.priority_waiting.get(service, 0),
            "eta_minutes": queueing.eta_minutes(st, service, queueing.tail_ahead(st, service, Priority.NORMAL)),
            "issued": st.counters.get(service, 0), "daily_limit": svc.daily_limit,
            "remaining": max(0, svc.daily_limit - st.counters.get(service, 0)),
            "oldest_since": oldest.isoformat() if oldest else None,
            "target_wait_minutes": svc.target_wait_minutes,
            "windows_open": st.staffed_windows(service),
        }

    def window_view(self, st: HallState, number: int) -> dict[str, Any]:
        wcfg = self.config.windows[number]
        w = st.windows[number]
        data = w.to_dict()
        data.update(name=wcfg.name, name_en=wcfg.name_en, zone=wcfg.zone, services=list(wcfg.services))
        current = st.current_ticket(number)
        data["ticket"] = current.public() if current else None
        return data

    def snapshot(self, st: HallState | None = None) -> dict[str, Any]:
        """The live state of the whole hall, as screens start from."""
        st = st or self.state
        return {
            "seq": st.seq,
            "day": st.day,
            "now": self.clock.now().astimezone(self.config.hall.tz).isoformat(),
            "open_now": self.is_open(),
            "windows": [self.window_view(st, n) for n in self.config.windows],
            "services": [self.service_view(st, s) for s in self.config.services],
            "recent_calls": list(st.recent_calls),
            "notice": st.notice.to_dict(),
        }

    def describe(self) -> dict[str, Any]:
        """The hall's fixed layout: zones, services, windows, hours."""
        h = self.config.hall
        return {
            "id": h.id, "name": h.name, "name_en": h.name_en, "timezone": h.timezone,
            "hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in h.hours],
            "zones": [{"id": z.id, "name": z.name, "name_en": z.name_en} for z in self.config.zones.values()],
            "services": [
                {"id": s.id, "zone": s.zone, "name": s.name, "name_en": s.name_en, "prefix": s.prefix,
                 "daily_limit": s.daily_limit, "target_wait_minutes": s.target_wait_minutes, "bundle": list(s.bundle)}
                for s in self.config.services.values()
            ],
            "windows": [
                {"number": w.number, "zone": w.zone, "name": w.name, "name_en": w.name_en, "services": list(w.services)}
                for w in self.config.windows.values()
            ],
        }

    def is_open(self) -> bool:
        from queue_server.core.clock import within_hours

        return within_hours(self.clock.now(), self.config.hall.tz, self.config.hall.hours)

    # -- actions: tickets -----------------------------------------------------------------

    async def issue(
        self, p: Principal, service: str, *, channel: str | None = None, priority: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        auth.require(p, "kiosk", "clerk", "manager", "admin")
        try:
            prio = Priority(priority or "normal")
        except ValueError:
            raise Invalid(f"priority must be one of {[x.value for x in Priority]}", code="bad_priority") from None
        if p.role == "kiosk":
            chan = Channel(channel) if channel in (Channel.KIOSK, Channel.PHONE) else Channel.KIOSK
            if channel is not None and channel not in (Channel.KIOSK, Channel.PHONE):
                raise Forbidden(f"a kiosk may issue kiosk or phone tickets, not {channel!r}")
            if prio is Priority.GREEN and not p.green:
                raise Forbidden("the green channel is not enabled on this kiosk", code="green_disabled")
            if prio is Priority.APPOINTMENT:
                raise Forbidden("appointment tickets come from a booking check-in", code="appointment_only")
        else:
            try:
                chan = Channel(channel or "staff")
            except ValueError:
                raise Invalid(f"channel must be one of {[x.value for x in Channel]}", code="bad_channel") from None
        token = self._tokens.take()
        print_to = p.kiosk if p.role == "kiosk" and p.kiosk else None

        def decide(tx: Tx) -> dict[str, Any]:
            t = rules.issue(tx, service, token=token, channel=chan, priority=prio, staff=p.is_staff,
                            request_id=request_id, print_to=print_to)
            issued = tx.events[0] if tx.events else None
            # A new ticket's place is known from the rule, so no queue scan per ticket.
            ahead = issued.extra["ahead"] if issued is not None and issued.ticket is not None and issued.ticket.id == t.id else None
            return self.ticket_view(tx.state, t, ahead=ahead)

        return await self.run(decide, p.actor)

    async def ticket(self, token: str) -> dict[str, Any]:
        """A ticket by its tracking token, today's from memory, older ones from the store."""
        st = self.state
        t = st.ticket_by_token(token)
        if t is None:
            t = await self.store.ticket_by_token(token)
        if t is None:
            raise NotFound("no such ticket", code="ticket_unknown")
        # The hall's sequence number when read, so a page can tell this reply from a newer event.
        return {**self.ticket_view(st, t), "seq": st.seq}

    def _today_by_token(self, st: HallState, token: str) -> Ticket:
        t = st.ticket_by_token(token)
        if t is None:
            raise NotFound("no such ticket today", code="ticket_unknown")
        return t

    def _today_by_number(self, st: HallState, number: str) -> Ticket:
        t = st.ticket_by_number(number)
        if t is None:
            raise NotFound(f"no ticket {number} today", code="ticket_unknown")
        return t

    async def cancel(self, token: str) -> dict[str, Any]:
        """Cancel by the citizen who holds the token."""

        def decide(tx: Tx) -> dict[str, Any]:
            return self.ticket_view(tx.state, rules.cancel(tx, self._today_by_token(tx.state, token)))

        return await self.run(decide, "citizen")

    async def cancel_number(self, p: Principal, number: str) -> dict[str, Any]:
        auth.require(p, "clerk", "manager", "admin")

        def decide(tx: Tx) -> dict[str, Any]:
            return self.ticket_view(tx.state, rules.cancel(tx, self._today_by_number(tx.state, number)), token=False)

        return await self.run(decide, p.actor)

    async def reprint(self, p: Principal, number: str, kiosk: str | None = None) -> dict[str, Any]:
        """Staff print a waiting ticket again, at its own kiosk or at the one named."""
        auth.require(p, "clerk", "manager", "admin")

        def decide(tx: Tx) -> dict[str, Any]:
            t = rules.reprint(tx, self._today_by_number(tx.state, number), kiosk)
            return {**self.ticket_view(tx.state, t, token=False), "printed_at": tx.events[-1].extra["kiosk"]}

        return await self.run(decide, p.actor)

    async def requeue(self, p: Principal, *, token: str | None = None, number: str | None = None) -> dict[str, Any]:
        """A missed citizen is back (citizen by token; kiosk or staff by number)."""
        if token is None:
            auth.require(p, "kiosk", "clerk", "manager", "admin", "agent")

        def decide(tx: Tx) -> dict[str, Any]:
            t = self._today_by_token(tx.state, token) if token else self._today_by_number(tx.state, number or "")
            return self.ticket_view(tx.state, rules.requeue(tx, t), token=token is not None)

        return await self.run(decide, p.actor or "citizen")

    # -- actions: windows ----------------------------------------------------------------

    def _window_row(self, st: HallState, number: int):  # type: ignore[no-untyped-def]
        if number not in self.config.windows:
            raise NotFound(f"no window {number}", code="window_unknown")
        return st.windows[number]

    async def _window_action(self, p: Principal, number: int, act: Callable[[Tx], Ticket | None]) -> dict[str, Any] | None:
        def decide(tx: Tx) -> dict[str, Any] | None:
            auth.require_window_operator(p, self._window_row(tx.state, number))
            t = act(tx)
            return self.ticket_view(tx.state, t, token=False) if t is not None else None

        return await self.run(decide, p.actor)

    async def call_next(self, p: Principal, number: int) -> dict[str, Any] | None:
        return await self._window_action(p, number, lambda tx: rules.call_next(tx, number))

    async def recall(self, p: Principal, number: int) -> dict[str, Any] | None:
        return await self._window_action(p, number, lambda tx: rules.recall(tx, number))

    async def start_service(self, p: Principal, number: int) -> dict[str, Any] | None:
        return await self._window_action(p, number, lambda tx: rules.start(tx, number))

    async def finish(self, p: Principal, number: int, outcome: str | None = None,
                     details: dict[str, Any] | None = None) -> dict[str, Any] | None:
        try:
            out = Outcome(outcome or "done")
        except ValueError:
            raise Invalid(f"outcome must be one of {[o.value for o in Outcome]}", code="bad_outcome") from None
        return await self._window_action(p, number, lambda tx: rules.finish(tx, number, out, details))

    async def no_show(self, p: Principal, number: int) -> dict[str, Any] | None:
        return await self._window_action(p, number, lambda tx: rules.no_show(tx, number))

    async def hold(self, p: Principal, number: int) -> dict[str, Any] | None:
        return await self._window_action(p, number, lambda tx: rules.hold(tx, number))

    async def call_back(self, p: Principal, number: int, ticket: str | None = None) -> dict[str, Any] | None:
        def act(tx: Tx) -> Ticket:
            if ticket:
                t = self._today_by_number(tx.state, ticket)
            else:
                held = sorted((t for t in tx.state.tickets.values() if t.status is Status.HELD and t.pinned_window == number),
                              key=lambda t: t.rank)
                if not held:
                    raise Conflict(f"no ticket is held at window {number}", code="nothing_held")
                t = held[0]
            return rules.call_back(tx, number, t)

        return await self._window_action(p, number, act)

    async def transfer(self, p: Principal, number: int, *, service: str | None = None, window: int | None = None,
                       head: bool | None = None) -> dict[str, Any] | None:
        return await self._window_action(
            p, number, lambda tx: rules.transfer(tx, number, service=service, to_window=window, head=head))

    async def open_window(self, p: Principal, number: int, *, staff_no: str | None = None) -> dict[str, Any]:
        auth.require_may_open(p, number)
        if p.role == "agent":
            if not staff_no:
                raise Invalid("an agent opens a window for a clerk: give 'staff_no'", code="staff_no_required")
            person = await self.store.person(staff_no=staff_no)
            if person is None or not person.active:
                raise NotFound(f"no clerk with staff number {staff_no}", code="person_unknown")
            if person.role == "clerk" and person.windows and number not in person.windows:
                raise Forbidden(f"{person.name} may not sign in at window {number}")
            card = person.card()
        else:
            assert p.person is not None
            card = p.person.card()

        def decide(tx: Tx) -> dict[str, Any]:
            self._window_row(tx.state, number)
            rules.open_window(tx, number, card)
            return self.window_view(tx.state, number)

        return await self.run(decide, p.actor)

    async def _status_action(self, p: Principal, number: int, act: Callable[[Tx], Any]) -> dict[str, Any]:
        def decide(tx: Tx) -> dict[str, Any]:
            auth.require_window_operator(p, self._window_row(tx.state, number), status_change=True)
            act(tx)
            return self.window_view(tx.state, number)

        return await self.run(decide, p.actor)

    async def pause(self, p: Principal, number: int, reason: str | None = None) -> dict[str, Any]:
        reason = (reason or "rest").strip()[:100] or "rest"
        return await self._status_action(p, number, lambda tx: rules.pause_window(tx, number, reason))

    async def resume(self, p: Principal, number: int) -> dict[str, Any]:
        return await self._status_action(p, number, lambda tx: rules.resume_window(tx, number))

    async def close_window(self, p: Principal, number: int) -> dict[str, Any]:
        return await self._status_action(p, number, lambda tx: rules.close_window(tx, number))

    # -- evaluations and notices -------------------------------------------------------------------

    async def evaluate(
        self, p: Principal, *, level: int, ticket: str | None = None, token: str | None = None,
        reasons: list[str] | None = None, comment: str | None = None, source: str | None = None,
    ) -> dict[str, Any]:
        """Rate a finished service: its window's pad or keypad (by ticket id or number), or the token holder."""
        if token is None:
            auth.require(p, "pad", "agent")
        src = source or {"pad": "pad", "agent": "keypad"}.get(p.role, "phone")

        def decide(tx: Tx) -> dict[str, Any]:
            st = tx.state
            if token is not None:
                t = self._today_by_token(st, token)
            else:
                t = st.ticket(ticket or "") or st.ticket_by_number(ticket or "")
                if t is None:
                    raise NotFound(f"no ticket {ticket} today", code="ticket_unknown")
                if t.window not in p.windows:
                    raise Forbidden(f"this {p.role} may rate window {sorted(p.windows)}'s services only")
            return rules.evaluate(tx, t, level, reasons or [], comment, src).to_dict()

        return await self.run(decide, p.actor or "citizen")

    async def set_notice(self, p: Principal, text: str, text_en: str = "") -> dict[str, Any]:
        auth.require(p, "manager", "admin")
        return await self.run(lambda tx: rules.set_notice(tx, text, text_en).to_dict(), p.actor)

    async def device_status(self, p: Principal, *, device: str, kind: str, status: str, detail: str = "",
                            window: int | None = None, kiosk: str | None = None) -> dict[str, Any]:
        auth.require(p, "agent")
        return await self.run(
            lambda tx: rules.device_status(tx, device, kind, status, detail=detail, window=window, kiosk=kiosk,
                                           agent=p.id).to_dict(), p.actor)

    def devices(self) -> list[dict[str, Any]]:
        return [d.data for d in sorted(self.state.docs.get("device", {}).values(), key=lambda d: d.id)]

    # -- queries for consoles ----------------------------------------------------------------------

    def window_queue(self, number: int, limit: int = 50) -> list[dict[str, Any]]:
        """The tickets a window could call, in the order it would (priority marked)."""
        st = self.state
        wcfg = self.config.windows.get(number)
        if wcfg is None:
            raise NotFound(f"no window {number}", code="window_unknown")
        found = sorted(queueing.candidates(st, wcfg), key=queueing.order_key)
        return [self.ticket_view(st, t, token=False) for t in found[:limit]]

    def held_and_missed(self, number: int) -> dict[str, list[dict[str, Any]]]:
        st = self.state
        wcfg = self.config.windows[number]
        held = [t for t in st.tickets.values() if t.status is Status.HELD and t.pinned_window == number]
        missed = [t for t in st.tickets.values() if t.status is Status.NO_SHOW and t.service in wcfg.services]
        return {
            "held": [self.ticket_view(st, t, token=False) for t in sorted(held, key=lambda t: t.rank)],
            "missed": [self.ticket_view(st, t, token=False) for t in sorted(missed, key=lambda t: t.missed_at or t.issued_at)],
        }

    def windows_open(self) -> list[int]:
        return [n for n, w in self.state.windows.items() if w.status is not WindowStatus.CLOSED]
