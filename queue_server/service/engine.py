"""The engine under the Hall: decisions, group commit, and the committed event stream.

Every action becomes a decision function run by a single actor task. The actor takes
all decisions queued while the previous commit was in flight, runs them one after
another against a fork of the committed state, and commits their events in one store
transaction (group commit: one fsync for many tickets). Only then are callers answered
and the fork becomes the committed state. If another server process appended first
(Redis), the store says so with the events we missed; the actor folds them and decides
the batch again, so a ticket is claimed by exactly one window.

Committed events reach listeners (the WebSocket hub, embedded agents) through the
store's tail, in sequence order, whichever process made them. If the log goes back
(a Redis failover lost events that were never acknowledged, but that this process
had read), the engine reloads the state from the log and tells rewind listeners, so
screens start again from a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Protocol, TypeVar

from queue_server.core import rules
from queue_server.core.clock import Clock, SystemClock
from queue_server.core.config import HallConfig
from queue_server.core.errors import HallError, Unavailable
from queue_server.core.model import Event
from queue_server.core.rules import NO_HOOKS, Hooks, Tx
from queue_server.core.state import HallState
from queue_server.store import LogRewound, SeqConflict, Store, StoreError

from . import trace
from .trace import Trace

log = logging.getLogger("hallcall.hall")
R = TypeVar("R")
MAX_BATCH = 512
DAY_CHECK_SECONDS = 20.0


class Probe(Protocol):
    """What the engine tells an observer (the metrics): each commit, and each store failure."""

    def committed(self, jobs: int, events: int, seconds: float) -> None: ...

    def store_failed(self, operation: str) -> None: ...


class NoProbe:
    def committed(self, jobs: int, events: int, seconds: float) -> None:
        pass

    def store_failed(self, operation: str) -> None:
        pass


@dataclass
class _Job(Generic[R]):
    decide: Callable[[Tx], R]
    by: str | None
    trace: Trace | None = field(default_factory=trace.current)  # the request it was queued for
    events: list[Event] = field(default_factory=list)  # what it decided, in the batch's last decision
    future: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _log_committed(jobs: list[_Job[Any]]) -> None:
    """Log, under its request's id, each traced decision that made events: the action's path ends at their seqs."""
    if not log.isEnabledFor(logging.INFO):
        return
    for job in jobs:
        if job.trace is not None and job.events:
            first, last = job.events[0].seq, job.events[-1].seq
            log.info("committed %s", ", ".join(f"{e.seq} {e.name}" for e in job.events),
                     extra={"request_id": job.trace.request_id, "principal": job.trace.principal,
                            "seq": first, "seq_last": last})


class Engine:
    """The transaction engine: one actor decides and commits; the store's tail feeds listeners."""

    def __init__(self, config: HallConfig, store: Store, clock: Clock | None = None, hooks: Hooks = NO_HOOKS) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.state = HallState(config)
        self.hooks = hooks
        self._jobs: asyncio.Queue[_Job[Any]] = asyncio.Queue()
        self._listeners: list[Callable[[Event], None]] = []
        self._rewind_listeners: list[Callable[[int, int], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.last_dispatched = 0
        self._seq_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flight: tuple[int, asyncio.Future[None]] | None = None  # last seq of the commit in flight
        self._mine: deque[tuple[int, int]] = deque(maxlen=1024)  # seq ranges this process committed
        self.probe: Probe = NoProbe()

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

    @property
    def running(self) -> bool:
        """Whether the actor is deciding (started, not stopped, not failed)."""
        return bool(self._tasks) and not self._tasks[0].done()

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener`` with every committed event; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def on_rewind(self, listener: Callable[[int, int], None]) -> Callable[[], None]:
        """Call ``listener(seq, dispatched)`` when the log went back to ``seq`` after listeners had
        been given events up to ``dispatched``; returns the unsubscribe function."""
        self._rewind_listeners.append(listener)
        return lambda: self._rewind_listeners.remove(listener) if listener in self._rewind_listeners else None

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
        if not self.running:
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

    async def _run_batch(self, jobs: list[_Job[Any]]) -> None:
        for _attempt in range(100):
            work, events, outcomes = self._decide(jobs)
            base = self.state.seq
            if events:
                started = time.perf_counter()
                try:
                    try:
                        await self._commit(base, events, work)
                    except LogRewound as rewound:
                        await self._reload(rewound)
                        continue  # decide again on what the log really holds
                except SeqConflict as conflict:
                    for event in conflict.missing:
                        self._fold(event)
                    continue
                except StoreError as exc:
                    self._fail(jobs, "commit", exc)
                    return
                self.probe.committed(len(jobs), len(events), time.perf_counter() - started)
                _log_committed(jobs)
            elif any(ok for ok, _ in outcomes):
                # An answer that commits nothing (a retried request given its ticket again)
                # may rest on events another process committed: it is given only once they are safe.
                try:
                    await self.store.confirm(self.state.seq)
                except StoreError as exc:
                    self._fail(jobs, "confirm", exc)
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

    def _fail(self, jobs: list[_Job[Any]], operation: str, exc: StoreError) -> None:
        self.probe.store_failed(operation)
        log.error("%s failed: %s", operation, exc)
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(Unavailable(f"the store failed: {exc}"))

    async def _reload(self, rewound: LogRewound) -> None:
        """Start again from what the log holds, and tell rewind listeners (screens resync)."""
        log.warning("%s; reloading the hall from the log", rewound)
        loaded = await self.store.load()
        state = HallState(self.config)
        state.load(loaded.day, loaded.tickets, loaded.windows, loaded.notice, loaded.seq, loaded.docs)
        self.state = state
        dispatched, self.last_dispatched = self.last_dispatched, loaded.seq
        for listener in list(self._rewind_listeners):
            try:
                listener(loaded.seq, dispatched)
            except Exception:
                log.exception("rewind listener failed")

    def _decide(self, jobs: list[_Job[Any]]) -> tuple[HallState, list[Event], list[tuple[bool, Any]]]:
        """Decide a batch against a fork of the committed state, without awaiting anything."""
        work = self.state.fork_shared()
        events: list[Event] = []
        outcomes: list[tuple[bool, Any]] = []
        try:
            now = self.clock.now()
            day_tx = Tx(work, now, hooks=self.hooks)
            rules.roll_day(day_tx)
            events.extend(day_tx.events)
            for job in jobs:
                tx = Tx(work, now, job.by, self.hooks)
                job.events = tx.events
                try:
                    outcomes.append((True, job.decide(tx)))
                    events.extend(tx.events)
                except HallError as exc:
                    outcomes.append((False, exc))
                    job.events = []
                    if tx.events:  # a rule failed after emitting: rebuild without its events
                        work = self._refold(work, events)
                except Exception as exc:
                    log.exception("decision failed")
                    outcomes.append((False, Unavailable(f"internal error: {type(exc).__name__}")))
                    job.events = []
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
            except LogRewound as rewound:
                delay = 0.05
                while True:
                    try:
                        await self._reload(rewound)
                        break
                    except StoreError as exc:
                        log.warning("cannot reload the hall yet (%s); retrying", exc)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 2.0)
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
                self.probe.store_failed("read")
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

