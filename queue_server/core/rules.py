"""The lifecycle of tickets and windows: pure decisions over a ``Tx``.

Each rule checks everything it needs first and then emits events; an event is folded
into the working state as it is emitted, so a rule that does two things (call-next
finishing the current ticket, then calling) sees its own first step. Nothing here
does I/O: the clock reading, the tracking token and the caller's identity come in as
arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from . import bundles, queueing
from .clock import business_day, next_opening, within_hours
from .config import HallConfig, Service
from .errors import Conflict, IllegalTransition, Invalid, NotFound
from .model import (
    ACTIVE,
    AT_WINDOW,
    BAD_LEVELS,
    REASONS,
    Channel,
    Doc,
    Evaluation,
    Event,
    Notice,
    Outcome,
    Priority,
    Status,
    Ticket,
    Visit,
    VisitEnd,
    Window,
    WindowStatus,
)
from .state import HallState

MAX_COMMENT = 500

@dataclass(frozen=True)
class Hooks:
    """Decisions features add to core rules, run inside the same transaction.

    A hook gets the Tx and the record just made and may emit events of its own, so its
    records commit atomically with the rule's (a bad rating and its follow-up case, say).
    """

    issued: tuple[Callable[[Tx, Ticket], None], ...] = ()
    finished: tuple[Callable[[Tx, Ticket, dict[str, Any]], None], ...] = ()
    evaluated: tuple[Callable[[Tx, Evaluation], None], ...] = ()
    limited: tuple[Callable[[Tx, dict[str, Any]], None], ...] = ()


NO_HOOKS = Hooks()


RECORD_KEYS = frozenset({"ticket", "window", "visit", "evaluation", "notice", "docs"})


class Tx:
    """One command's view of the hall: the working state, the time, and what it emitted."""

    def __init__(self, state: HallState, now: datetime, by: str | None = None, hooks: Hooks = NO_HOOKS) -> None:
        self.state = state
        self.now = now.astimezone(state.config.hall.tz)
        self.by = by
        self.hooks = hooks
        self.events: list[Event] = []

    @property
    def config(self) -> HallConfig:
        return self.state.config

    def emit(self, name: str, *, extra: dict[str, Any] | None = None, **records: Any) -> Event:
        extra = dict(extra or {})
        clash = RECORD_KEYS.intersection(extra)
        if clash:
            # Extra data shares the payload with the records; such a key could not be read back.
            raise ValueError(f"event extra may not use the record key(s) {sorted(clash)}")
        if self.by:
            extra["by"] = self.by
        event = Event(self.state.seq + 1, name, self.now, extra=extra, **records)
        self.state.apply(event)
        self.events.append(event)
        return event


# -- the business day ---------------------------------------------------------


def roll_day(tx: Tx) -> bool:
    """Start a new business day if the clock has passed midnight in the hall's timezone.

    Everything still open from the old day expires, and windows left signed in are
    closed, before ``day.started`` resets numbering. A no-show stays a no-show: the day
    already counts it as 过号, and expiring it too would count one citizen twice.
    """
    st = tx.state
    today = business_day(tx.now, tx.config.hall.tz)
    if st.day == today:
        return False
    if st.day:
        for t in [t for t in st.tickets.values() if t.status in ACTIVE and t.status is not Status.NO_SHOW]:
            visit = _visit(t, tx.now, VisitEnd.EXPIRED) if t.status in AT_WINDOW and t.called_at else None
            tx.emit("ticket.expired", ticket=replace(t, status=Status.EXPIRED, ended_at=tx.now), visit=visit)
        for w in list(st.windows.values()):
            if w.status is not WindowStatus.CLOSED:
                closed = replace(w, status=WindowStatus.CLOSED, since=tx.now, current=None, pause_reason=None, priority_streak=0)
                tx.emit("window.closed", window=closed, extra={"reason": "day_end", "clerk": w.clerk})
    tx.emit("day.started", extra={"day": today})
    return True


# -- tickets --------------------------------------------------------------------


def format_number(prefix: str, seq_no: int, limit: int) -> str:
    width = 4 if limit > 999 else 3
    return f"{prefix}{seq_no:0{width}d}"


def issue(
    tx: Tx,
    service: str,
    *,
    token: str | Callable[[str], str],
    channel: Channel = Channel.KIOSK,
    priority: Priority = Priority.NORMAL,
    staff: bool = False,
    request_id: str | None = None,
    appointment: str | None = None,
    print_to: str | None = None,
) -> Ticket:
    """Take a ticket (取号) for a service. ``token``: what is stored of its tracking token, or a function of its id giving that."""
    st = tx.state
    if request_id and request_id in st.by_request:
        again = st.tickets[st.by_request[request_id]]
        if (again.origin_service, again.channel, again.priority) != (service, channel, priority):
            raise Invalid("this Idempotency-Key was used for another request", code="idempotency_mismatch")
        return again  # a retried request: same ticket, no new event
    svc = tx.config.services.get(service)
    if svc is None:
        raise NotFound(f"no service {service!r}", code="service_unknown")
    if not staff and not tx.config.policy.issue_outside_hours and not within_hours(tx.now, tx.config.hall.tz, tx.config.hall.hours):
        hours = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in tx.config.hall.hours)
        raise Conflict(f"the hall is closed; hours are {hours}", code="hall_closed")
    issued = st.counters.get(service, 0)
    if issued >= svc.daily_limit:
        raise Conflict(f"all {svc.daily_limit} tickets for {svc.name} are taken today", code="tickets_exhausted")
    # A routed bundle's ticket waits in its first part's queue; every other in its own.
    queue = bundles.next_queue(st, svc) if svc.routed else service
    if not staff and not tx.config.policy.issue_without_window and not st.staffed_windows(queue):
        raise Conflict(f"no window serves {svc.name} now", code="no_window")
    seq_no = issued + 1
    number = format_number(svc.prefix, seq_no, svc.daily_limit)
    ticket_id = f"{st.day.replace('-', '')}-{number}"
    # The wait promised now is kept with the ticket, so reports can say how good promises are.
    ahead = queueing.tail_ahead(st, queue, priority)
    eta = queueing.eta_minutes(st, queue, ahead, tx.now)
    ticket = Ticket(
        id=ticket_id,
        day=st.day,
        number=number,
        seq_no=seq_no,
        service=queue,
        zone=tx.config.services[queue].zone,
        origin_service=service,
        channel=channel,
        priority=priority,
        status=Status.WAITING,
        token=token(ticket_id) if callable(token) else token,
        issued_at=tx.now,
        queued_at=tx.now,
        rank=queueing.tail_rank(st, tx.now),
        request_id=request_id,
        appointment=appointment,
        kiosk=print_to,
        promised_wait_minutes=eta,
        parts=bundles.fresh_parts(svc) if svc.is_bundle else (),
    )
    tx.emit("ticket.issued", ticket=ticket, extra={"ahead": ahead})
    for hook in tx.hooks.issued:
        hook(tx, ticket)
    if print_to:
        tx.emit("print.requested", ticket=ticket, extra=print_job(tx, print_to, ahead, eta))
    return ticket


def limit_reached(tx: Tx, hit: dict[str, Any]) -> None:
    """A source (a kiosk token, a client address, a phone session) reached its limit: features record it."""
    for hook in tx.hooks.limited:
        hook(tx, hit)


def print_job(tx: Tx, kiosk: str, ahead: int, eta: int | None) -> dict[str, Any]:
    """What a printer needs beside the ticket: the kiosk, the wait, and when nobody serves it yet."""
    job: dict[str, Any] = {"kiosk": kiosk, "ahead": ahead, "eta_minutes": eta}
    if (span := queueing.eta_range(eta)) is not None:
        job["eta_range"] = list(span)
    if eta is None:
        job["no_window"] = True
        opens = next_opening(tx.now, tx.config.hall.tz, tx.config.hall.hours)
        if opens is not None:
            job["opens_at"] = f"{opens:%H:%M}"
    return job


def reprint(tx: Tx, ticket: Ticket, kiosk: str | None = None) -> Ticket:
    """Print a ticket again (the roll ran out, the paper jammed, the citizen lost it).

    Only a ticket still to be called or called back can be reprinted; it goes to the
    named kiosk, or to the one that printed it. The event's sequence number tells the
    printer agent that this is a new job, not a replay of the first one.
    """
    if ticket.status not in (Status.WAITING, Status.NO_SHOW):
        raise IllegalTransition(ticket.number, ticket.status, "reprint")
    target = kiosk or ticket.kiosk
    if not target:
        raise Invalid(f"{ticket.number} was not printed at a kiosk: name the kiosk to print it at", code="kiosk_required")
    ahead = queueing.ahead_of(tx.state, ticket) if ticket.status is Status.WAITING else 0
    eta = queueing.eta_minutes(tx.state, ticket.service, ahead, tx.now)
    tx.emit("print.requested", ticket=ticket, extra={**print_job(tx, target, ahead, eta), "reprint": True})
    return ticket


def cancel(tx: Tx, ticket: Ticket) -> Ticket:
    """The citizen gives up a waiting (or missed) ticket."""
    if ticket.status not in (Status.WAITING, Status.NO_SHOW):
        raise IllegalTransition(ticket.number, ticket.status, "cancel")
    done = replace(ticket, status=Status.CANCELLED, ended_at=tx.now)
    tx.emit("ticket.cancelled", ticket=done)
    return done


def requeue(tx: Tx, ticket: Ticket) -> Ticket:
    """A missed citizen is back: rejoin the queue behind ``requeue_after`` tickets."""
    if ticket.status is not Status.NO_SHOW:
        raise IllegalTransition(ticket.number, ticket.status, "requeue")
    rank = queueing.rank_after(tx.state, ticket, ticket.service, tx.config.policy.requeue_after, tx.now)
    back = replace(ticket, status=Status.WAITING, queued_at=tx.now, rank=rank, missed_at=None, pinned_window=None)
    tx.emit("ticket.requeued", ticket=back)
    return back


# -- windows calling ------------------------------------------------------------------


def _window(tx: Tx, number: int) -> tuple[Window, Any]:
    wcfg = tx.config.windows.get(number)
    if wcfg is None:
        raise NotFound(f"no window {number}", code="window_unknown")
    return tx.state.windows[number], wcfg


def _open_window(tx: Tx, number: int) -> tuple[Window, Any]:
    w, wcfg = _window(tx, number)
    if w.status is WindowStatus.CLOSED:
        raise Conflict(f"window {number} is closed", code="window_closed")
    if w.status is WindowStatus.PAUSED:
        raise Conflict(f"window {number} is paused", code="window_paused")
    return w, wcfg


def _current(tx: Tx, number: int, action: str, allowed: frozenset[Status]) -> tuple[Window, Ticket]:
    w, _ = _window(tx, number)
    t = tx.state.current_ticket(number)
    if t is None:
        raise Conflict(f"window {number} has no ticket to {action}", code="no_current_ticket")
    if t.status not in allowed:
        raise IllegalTransition(t.number, t.status, action)
    return w, t


def _visit(t: Ticket, now: datetime, end: VisitEnd, outcome: Outcome | None = None, closed_by: str | None = None) -> Visit:
    assert t.called_at is not None and t.window is not None
    started = t.started_at
    last = bundles.last_mark(t) if t.parts and t.service == t.origin_service else None
    if last is not None:
        # At a one-window bundle's window the parts ticked hold their own time: this visit runs on from the last tick.
        started = max(datetime.fromisoformat(last), t.started_at or t.called_at)
    return Visit(
        ticket=t.id, leg=t.visits, day=t.day, number=t.number, service=t.service, zone=t.zone,
        priority=t.priority, window=t.window, clerk=t.clerk, queued_at=t.queued_at, called_at=t.called_at,
        started_at=started, ended_at=now, end=end, outcome=outcome, recalls=t.recalls, closed_by=closed_by,
    )


def expect_current(tx: Tx, number: int, expect: str | None) -> None:
    """Refuse an action decided on an out-of-date view of the window (a double click, a second console).

    ``expect`` is the ticket (number or id) the clerk's screen shows as being at the
    window, or None for "nobody at the window"; when the window's state differs the
    action is refused without effect, so a repeated click can never act twice.
    """
    _window(tx, number)
    t = tx.state.current_ticket(number)
    if t is not None and t.status not in (Status.CALLED, Status.SERVING):
        t = None
    if (t is None and expect is None) or (t is not None and expect in (t.number, t.id)):
        return
    now_at = f"ticket {t.number} is" if t is not None else "no ticket is"
    shown = f"ticket {expect}" if expect is not None else "no ticket"
    raise Conflict(f"{now_at} at window {number}, the request expected {shown}: nothing was done; look again",
                   code="expect_mismatch")


def _call(tx: Tx, w: Window, t: Ticket, extra: dict[str, Any] | None = None) -> Ticket:
    priority = t.priority is not Priority.NORMAL
    called = replace(
        t, status=Status.CALLED, window=w.number, clerk=w.clerk, called_at=tx.now, started_at=None,
        first_called_at=t.first_called_at or tx.now, recalls=0, visits=t.visits + 1, pinned_window=None,
    )
    streak = w.priority_streak + 1 if priority else 0
    tx.emit("ticket.called", ticket=called, window=replace(w, current=t.id, priority_streak=streak), extra=extra)
    return called


def _close_current_for_next(tx: Tx, number: int, closes_current: bool) -> None:
    """A ticket still at the window: refused, or closed by a keypad's one "next" key.

    A console asks the clerk for the outcome first, so it never closes a ticket here.
    A call keypad has one "next" key; where the hall allows it, that key ends the
    ticket still at the window and the visit records ``closed_by="next"``. A ticket
    that was never started is then closed without an outcome: nobody said it was
    served, so it is not counted as 办结 and no rating is asked for.
    """
    t = tx.state.current_ticket(number)
    if t is None or t.status not in (Status.CALLED, Status.SERVING):
        return
    if not closes_current or not tx.config.policy.call_next_finishes_current:
        raise Conflict(f"ticket {t.number} is still at window {number}; give its outcome first", code="ticket_in_progress")
    finish(tx, number, Outcome.DONE if t.started_at is not None else None, closed_by="next")


def call_next(tx: Tx, number: int, *, closes_current: bool = False) -> Ticket | None:
    """Call the next ticket to a window (叫号); None when nobody waits.

    With a ticket still at the window the call is refused, unless ``closes_current``
    (a call keypad's "next" key) and the hall's policy let it close that ticket first.
    """
    _open_window(tx, number)
    _close_current_for_next(tx, number, closes_current)
    w, wcfg = tx.state.windows[number], tx.config.windows[number]
    t = queueing.choose(tx.state, wcfg, w, tx.config.policy)
    if t is None:
        return None
    return _call(tx, w, t)


def call_ticket(tx: Tx, number: int, ticket: Ticket, reason: str) -> Ticket:
    """Call a chosen waiting ticket out of turn (点号), with the clerk's reason on record."""
    _open_window(tx, number)
    if ticket.status is not Status.WAITING:
        raise IllegalTransition(ticket.number, ticket.status, "call")
    if not reason.strip():
        raise Invalid("say why this ticket is called out of turn", code="reason_required")
    pinned = ticket.pinned_window
    if pinned is not None and pinned != number:
        raise Conflict(f"ticket {ticket.number} was sent to window {pinned}", code="pinned_elsewhere")
    served = tx.config.windows[number].services
    if pinned is None and ticket.service not in served:
        # A routed bundle waits in one queue of a parallel group, but any of the group's
        # windows may call it: the part it is called for becomes its service.
        svc = bundles.bundle_of(tx.config, ticket)
        group = [p for p in bundles.current_step(svc, ticket) if p in served] if svc is not None and svc.routed else []
        if not group:
            raise Conflict(f"window {number} does not serve ticket {ticket.number}'s service", code="not_served_here")
        ticket = replace(ticket, service=group[0], zone=tx.config.services[group[0]].zone)
    _close_current_for_next(tx, number, False)
    return _call(tx, tx.state.windows[number], ticket, {"chosen": True, "reason": reason.strip()[:100]})


def call_back(tx: Tx, number: int, ticket: Ticket, *, closes_current: bool = False) -> Ticket:
    """Call a held ticket back to the window that parked it."""
    _open_window(tx, number)
    if ticket.status is not Status.HELD:
        raise IllegalTransition(ticket.number, ticket.status, "call back")
    if ticket.pinned_window != number:
        raise Conflict(f"ticket {ticket.number} is held at window {ticket.pinned_window}", code="held_elsewhere")
    _close_current_for_next(tx, number, closes_current)
    return _call(tx, tx.state.windows[number], ticket, {"call_back": True})


def recall(tx: Tx, number: int) -> Ticket:
    """Announce the current ticket again (重呼), up to ``max_recalls`` times."""
    _open_window(tx, number)
    w, t = _current(tx, number, "recall", frozenset({Status.CALLED}))
    if t.recalls >= tx.config.policy.max_recalls:
        raise Conflict(f"ticket {t.number} was recalled {t.recalls} times already", code="recall_limit")
    again = replace(t, recalls=t.recalls + 1)
    tx.emit("ticket.recalled", ticket=again, window=w)
    return again


def start(tx: Tx, number: int) -> Ticket:
    """The citizen arrived at the window: handling starts."""
    w, t = _current(tx, number, "start", frozenset({Status.CALLED}))
    serving = replace(t, status=Status.SERVING, started_at=tx.now)
    tx.emit("ticket.started", ticket=serving, window=w)
    return serving


def finish(tx: Tx, number: int, outcome: Outcome | None = Outcome.DONE, details: dict[str, Any] | None = None, *,
           closed_by: str | None = None) -> Ticket:
    """End the service (办结 / 容缺受理 / 办不成) and ask the citizen for a rating.

    ``details`` carries what the outcome needs (missing materials and a due date for
    容缺受理, a reason for 办不成); features pick them up through their ``finished`` hooks.
    No outcome (a keypad's "next" closing a ticket never started) ends the ticket
    without a service: no hooks, no rating.
    """
    w, t = _current(tx, number, "finish", frozenset({Status.CALLED, Status.SERVING}))
    svc = bundles.bundle_of(tx.config, t)
    if svc is not None:
        return _finish_bundle(tx, w, t, svc, outcome, details, closed_by)
    done = replace(t, status=Status.DONE, ended_at=tx.now, outcome=outcome)
    freed = replace(w, current=None)
    tx.emit("ticket.finished", ticket=done, window=freed, visit=_visit(t, tx.now, VisitEnd.FINISHED, outcome, closed_by),
            extra=_finish_extra(details, closed_by))
    if outcome is None:
        return done
    for on_finished in tx.hooks.finished:
        on_finished(tx, done, details or {})
    tx.emit("evaluation.requested", ticket=done, window=freed)
    return done


def _finish_extra(details: dict[str, Any] | None, closed_by: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"details": details} if details else {}
    if closed_by:
        extra["closed_by"] = closed_by
    return extra


# -- bundles (一件事) -------------------------------------------------------------------


def _part_visit(tx: Tx, t: Ticket, part: str, outcome: Outcome, closed_by: str | None = None) -> Visit:
    """One part's visit. A routed part was called and waited for like any visit (``routed``);
    a one-window part (``part``) is no call of its own: it ran from the tick before it (or
    the start) to its own tick."""
    end = VisitEnd.PART if t.service == t.origin_service else VisitEnd.ROUTED
    return replace(_visit(t, tx.now, end, outcome, closed_by), service=part, zone=tx.config.services[part].zone)


def _closing_visit(tx: Tx, t: Ticket, outcome: Outcome | None, closed_by: str | None) -> Visit:
    """The visit that finishes a bundle ticket, under the bundle's own service: where the 一件事 is
    served (办结) and rated. At a one-window bundle it is the call itself, its handling the time
    after the last tick; a routed bundle's is a mark at its last window, taking no time."""
    now = tx.now
    visit = _visit(t, now, VisitEnd.FINISHED, outcome, closed_by)
    if t.service == t.origin_service:
        return visit
    return replace(visit, service=t.origin_service, zone=tx.config.services[t.origin_service].zone, queued_at=now,
                   called_at=now, started_at=now, recalls=0)


def _part_hooks(tx: Tx, t: Ticket, part: str, outcome: Outcome, details: dict[str, Any] | None) -> None:
    """Features see each part finished as a service of its own (a 容缺受理 record, a 办不成 ledger entry)."""
    view = replace(t, service=part, zone=tx.config.services[part].zone, outcome=outcome)
    for on_finished in tx.hooks.finished:
        on_finished(tx, view, details or {})


def _mark_part(tx: Tx, w: Window, t: Ticket, part: str, outcome: Outcome, details: dict[str, Any] | None,
               closed_by: str | None) -> Ticket:
    """Record one part done at a window (``ticket.part_done``): its visit, its outcome on the ticket."""
    visit = _part_visit(tx, t, part, outcome, closed_by)
    marked = replace(t, parts=bundles.mark(t, part, outcome, w.number, t.clerk, tx.now.isoformat()), visits=t.visits + 1)
    tx.emit("ticket.part_done", ticket=marked, window=w, visit=visit,
            extra={"part": part, "outcome": outcome.value, **_finish_extra(details, closed_by)})
    _part_hooks(tx, marked, part, outcome, details)
    return marked


def tick_part(tx: Tx, number: int, part: str, outcome: Outcome, details: dict[str, Any] | None = None, *,
              closed_by: str | None = None) -> Ticket:
    """At a one-window bundle's window, one part is done (办结 / 容缺受理 / 办不成): a visit of its own."""
    w, t = _current(tx, number, "tick a part of", frozenset({Status.CALLED, Status.SERVING}))
    svc = bundles.bundle_of(tx.config, t)
    if svc is None or svc.routed:
        raise Conflict(f"ticket {t.number} is not a one-window bundle: finish it instead", code="not_one_window")
    if part not in svc.bundle:
        raise NotFound(f"{part!r} is not a part of {svc.name}", code="part_unknown")
    if part not in bundles.open_parts(t):
        raise Conflict(f"the part {tx.config.services[part].name} of {t.number} is done already", code="part_done")
    return _mark_part(tx, w, t, part, outcome, details, closed_by)


def _finish_bundle(tx: Tx, w: Window, t: Ticket, svc: Service, outcome: Outcome | None, details: dict[str, Any] | None,
                   closed_by: str | None) -> Ticket:
    """Finish a bundle ticket at a window: a routed one's part, or a one-window one's visit.

    A routed ticket whose part is done joins the queue of the part that comes next at once
    (``ticket.routed``), keeping its number, priority and rank (its place by the time it
    was issued), so it is called again to the next window; after its last part
    (``ticket.part_done``) it is done. A one-window bundle is done when every part was
    ticked; a keypad's one "next" key, which cannot tick, gives the parts still open the
    visit's outcome.
    """
    freed = replace(w, current=None)
    if outcome is None:  # closed by a keypad's "next" without a start: no service, like any ticket
        done = replace(t, status=Status.DONE, ended_at=tx.now, outcome=None)
        tx.emit("ticket.finished", ticket=done, window=freed, visit=_visit(t, tx.now, VisitEnd.FINISHED, None, closed_by),
                extra=_finish_extra(details, closed_by))
        return done
    last_part = t.service  # a routed ticket's part served now
    if svc.routed:
        left = [p for p in bundles.open_parts(t) if p != t.service]
        if left:
            visit = _part_visit(tx, t, t.service, outcome, closed_by)
            marked = replace(t, parts=bundles.mark(t, t.service, outcome, w.number, t.clerk, tx.now.isoformat()))
            nxt = bundles.next_queue(tx.state, svc, marked)
            moved = replace(marked, status=Status.WAITING, service=nxt, zone=tx.config.services[nxt].zone,
                            queued_at=tx.now, pinned_window=None, called_at=None, started_at=None, recalls=0)
            tx.emit("ticket.routed", ticket=moved, window=freed, visit=visit,
                    extra={"part": t.service, "outcome": outcome.value, "next": nxt, **_finish_extra(details, closed_by)})
            _part_hooks(tx, moved, t.service, outcome, details)
            if bundles.rated_by_part(tx.config, moved):
                tx.emit("evaluation.requested", ticket=moved, window=freed, extra={"part": t.service})
            return moved
        t = _mark_part(tx, w, t, t.service, outcome, details, closed_by)
    else:
        left = bundles.open_parts(t)
        if left and closed_by == "next":
            for part in left:
                t = _mark_part(tx, w, t, part, outcome, None, closed_by)
        elif left:
            names = "、".join(tx.config.services[p].name for p in left)
            raise Conflict(f"ticket {t.number}: tick every part before finishing; still open: {names}",
                           code="parts_open")
    result = bundles.outcome(t.parts)
    done = replace(t, status=Status.DONE, ended_at=tx.now, outcome=result)
    tx.emit("ticket.finished", ticket=done, window=freed, visit=_closing_visit(tx, t, result, closed_by),
            extra=_finish_extra(details, closed_by))
    by_part = bundles.rated_by_part(tx.config, done)
    tx.emit("evaluation.requested", ticket=done, window=freed, extra={"part": last_part} if by_part else None)
    return done


def no_show(tx: Tx, number: int) -> Ticket:
    """The called citizen did not come (过号): into the missed pool."""
    w, t = _current(tx, number, "mark as no-show", frozenset({Status.CALLED}))
    missed = replace(t, status=Status.NO_SHOW, missed_at=tx.now, no_shows=t.no_shows + 1)
    tx.emit("ticket.no_show", ticket=missed, window=replace(w, current=None), visit=_visit(t, tx.now, VisitEnd.NO_SHOW))
    return missed


def hold(tx: Tx, number: int) -> Ticket:
    """Park the current ticket at this window (挂起) while the citizen fetches something."""
    w, t = _current(tx, number, "hold", frozenset({Status.CALLED, Status.SERVING}))
    held = replace(t, status=Status.HELD, pinned_window=number)
    tx.emit("ticket.held", ticket=held, window=replace(w, current=None), visit=_visit(t, tx.now, VisitEnd.HELD))
    return held


def transfer(tx: Tx, number: int, *, service: str | None = None, to_window: int | None = None, head: bool | None = None) -> Ticket:
    """Send the current ticket to another service's queue or to another window (转办)."""
    if (service is None) == (to_window is None):
        raise Invalid("transfer needs exactly one of 'service' or 'window'", code="transfer_target")
    w, t = _current(tx, number, "transfer", frozenset({Status.CALLED, Status.SERVING}))
    if service is not None:
        if service not in tx.config.services:
            raise NotFound(f"no service {service!r}", code="service_unknown")
        if service == t.service:
            raise Invalid(f"ticket {t.number} is already in {service!r}", code="transfer_target")
        target_service, pinned = service, None
    else:
        if to_window not in tx.config.windows:
            raise NotFound(f"no window {to_window}", code="window_unknown")
        if to_window == number:
            raise Invalid("cannot transfer a ticket to its own window", code="transfer_target")
        served = tx.config.windows[to_window].services
        target_service, pinned = (t.service if t.service in served else served[0]), to_window
    target_service = _bundle_transfer(tx, t, target_service, service is not None, to_window)
    at_head = tx.config.policy.transfer_to_head if head is None else head
    rank = queueing.head_rank(tx.state, target_service, tx.now) if at_head else queueing.tail_rank(tx.state, tx.now)
    moved = replace(
        t, status=Status.WAITING, service=target_service, zone=tx.config.services[target_service].zone,
        pinned_window=pinned, queued_at=tx.now, rank=rank, called_at=None, started_at=None, recalls=0,
        transfers=t.transfers + 1,
    )
    tx.emit(
        "ticket.transferred", ticket=moved, window=replace(w, current=None), visit=_visit(t, tx.now, VisitEnd.TRANSFERRED),
        extra={"from_service": t.service, "from_window": number, "to_window": to_window},
    )
    return moved


def _bundle_transfer(tx: Tx, t: Ticket, target: str, by_service: bool, to_window: int | None) -> str:
    """Where a bundle ticket may be transferred: a routed one to an open part, a one-window one to a window of its bundle."""
    svc = bundles.bundle_of(tx.config, t)
    if svc is None:
        return target
    left = bundles.open_parts(t)
    if not svc.routed:
        if by_service or t.service not in tx.config.windows[to_window or 0].services:
            raise Invalid(f"{t.number} is a one-window bundle: transfer it to another window of {svc.name}",
                          code="transfer_target")
        return t.service
    if by_service:
        if target not in left:
            raise Invalid(f"{t.number} may go only to a part of {svc.name} still to do", code="transfer_target")
        return target
    served = tx.config.windows[to_window or 0].services
    here = [p for p in [t.service, *left] if p in served]
    if not here:
        raise Invalid(f"window {to_window} serves no part of {svc.name} still to do", code="transfer_target")
    return here[0]


# -- windows' status ------------------------------------------------------------------


def open_window(tx: Tx, number: int, clerk: dict[str, Any]) -> Window:
    """A clerk signs in at a window (上岗)."""
    w, _ = _window(tx, number)
    if w.status is not WindowStatus.CLOSED:
        if w.clerk == clerk["id"]:
            return w
        raise Conflict(f"window {number} is open, signed in by {w.clerk_name}", code="window_busy")
    for other in tx.state.windows.values():
        if other.clerk == clerk["id"] and other.status is not WindowStatus.CLOSED:
            raise Conflict(f"{clerk.get('name') or clerk['id']} is signed in at window {other.number}", code="clerk_busy")
    opened = replace(
        w, status=WindowStatus.OPEN, since=tx.now, clerk=clerk["id"], clerk_name=clerk.get("name"),
        staff_no=clerk.get("staff_no"), department=clerk.get("department"), photo=clerk.get("photo"),
        pause_reason=None, current=None, priority_streak=0,
    )
    tx.emit("window.opened", window=opened)
    return opened


def pause_window(tx: Tx, number: int, reason: str) -> Window:
    w, _ = _open_window(tx, number)
    paused = replace(w, status=WindowStatus.PAUSED, since=tx.now, pause_reason=reason)
    tx.emit("window.paused", window=paused, extra={"reason": reason})
    return paused


def resume_window(tx: Tx, number: int) -> Window:
    w, _ = _window(tx, number)
    if w.status is not WindowStatus.PAUSED:
        raise Conflict(f"window {number} is not paused", code="window_not_paused")
    resumed = replace(w, status=WindowStatus.OPEN, since=tx.now, pause_reason=None)
    tx.emit("window.resumed", window=resumed, extra={"paused_since": w.since.isoformat() if w.since else None, "reason": w.pause_reason})
    return resumed


def close_window(tx: Tx, number: int) -> Window:
    """The clerk signs out (下岗)."""
    w, _ = _window(tx, number)
    if w.status is WindowStatus.CLOSED:
        return w
    t = tx.state.current_ticket(number)
    if t is not None and t.status in (Status.CALLED, Status.SERVING):
        raise Conflict(f"ticket {t.number} is still at window {number}; finish it first", code="ticket_in_progress")
    closed = replace(w, status=WindowStatus.CLOSED, since=tx.now, current=None, pause_reason=None, priority_streak=0)
    tx.emit("window.closed", window=closed, extra={"clerk": w.clerk})
    return closed


# -- evaluation and notices -------------------------------------------------------------


def _check_rating(level: int, reasons: list[str] | tuple[str, ...], comment: str | None) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:  # type: ignore[redundant-expr]  # from a request: any JSON value
        raise Invalid("level must be 1 to 5 (5 = 非常满意)", code="bad_level")
    unknown = [r for r in reasons if r not in REASONS]
    if unknown:
        raise Invalid(f"unknown reasons {unknown}; use {sorted(REASONS)}", code="bad_reason")
    if level in BAD_LEVELS and not reasons:
        raise Invalid("a reason is required for 不满意 and 非常不满意", code="reason_required")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise Invalid(f"comment over {MAX_COMMENT} characters", code="comment_too_long")


def _submit(tx: Tx, ev: Evaluation, rated: Ticket) -> Evaluation:
    tx.emit("evaluation.submitted", evaluation=ev, ticket=rated)
    for on_evaluated in tx.hooks.evaluated:
        on_evaluated(tx, ev)
    return ev


def evaluate(
    tx: Tx, ticket: Ticket, level: int, reasons: list[str] | tuple[str, ...] = (), comment: str | None = None, source: str = "pad",
    *, part: str | None = None, window: int | None = None,
) -> Evaluation:
    """Record the citizen's rating (好差评) of a finished service, once.

    A route bundle rated by part (``[policy] bundle_rating = "part"``) takes one rating per part:
    ``part`` names it, else it is the part done last at ``window`` (a device's), else the
    citizen's latest part not yet rated.
    """
    if bundles.rated_by_part(tx.config, ticket):
        return _evaluate_part(tx, ticket, level, tuple(reasons), comment, source, part, window)
    if part is not None:
        raise Conflict(f"ticket {ticket.number} is rated as a whole, not part by part", code="rated_whole")
    if ticket.status is not Status.DONE:
        raise Conflict(f"ticket {ticket.number} is {ticket.status}; only a finished service can be rated", code="not_finished")
    if ticket.outcome is None:
        raise Conflict(f"ticket {ticket.number} was closed without being served", code="not_served")
    if ticket.rating is not None:
        raise Conflict(f"ticket {ticket.number} was rated already", code="already_rated")
    _check_rating(level, reasons, comment)
    # A bundle is rated as itself (一件事), at the window of its last part.
    service = ticket.origin_service if ticket.parts else ticket.service
    ev = Evaluation(
        ticket=ticket.id, day=ticket.day, number=ticket.number, service=service, zone=tx.config.services[service].zone if service in tx.config.services else ticket.zone,
        window=ticket.window, clerk=ticket.clerk, level=level, reasons=tuple(dict.fromkeys(reasons)),
        comment=comment or None, source=source, at=tx.now,
    )
    return _submit(tx, ev, replace(ticket, rating=level))


def _evaluate_part(tx: Tx, t: Ticket, level: int, reasons: tuple[str, ...], comment: str | None, source: str,
                   part: str | None, window: int | None) -> Evaluation:
    """Rate one part of a route bundle, under the part's service, window and clerk."""
    if part is not None and part not in {p["service"] for p in t.parts}:
        raise NotFound(f"{part!r} is not a part of {t.number}", code="part_unknown")
    p = bundles.part_to_rate(t, part, window)
    if p is None or p["outcome"] is None:
        what = tx.config.services[p["service"]].name if p is not None else f"no part of {t.number}"
        where = f" at window {window}" if window is not None and p is None else ""
        raise Conflict(f"{what}{where} is not done yet; only a finished service can be rated", code="not_finished")
    name = tx.config.services[p["service"]].name
    if window is not None and p.get("window") != window:
        raise Conflict(f"the part {name} of {t.number} was served at window {p.get('window')}, not {window}",
                       code="other_window")
    if p.get("rating") is not None:
        raise Conflict(f"the part {name} of {t.number} was rated already", code="already_rated")
    _check_rating(level, reasons, comment)
    ev = Evaluation(
        ticket=t.id, day=t.day, number=t.number, service=p["service"], zone=tx.config.services[p["service"]].zone,
        window=p.get("window"), clerk=p.get("clerk"), level=level, reasons=tuple(dict.fromkeys(reasons)),
        comment=comment or None, source=source, at=tx.now, part=p["service"],
    )
    return _submit(tx, ev, replace(t, parts=bundles.rate(t, p["service"], level)))


def _finished_at(tx: Tx, t: Ticket, window: int) -> datetime | None:
    """When the service a pad at ``window`` may rate ended there: the ticket's finish, or for a
    bundle rated by part, its latest part done at that window."""
    if t.parts and bundles.rated_by_part(tx.config, t):
        at = bundles.done_at(t, window)
        return datetime.fromisoformat(at) if at is not None else None
    if t.window == window and t.status is Status.DONE and t.outcome is not None:
        return t.ended_at
    return None


def latest_finished(tx: Tx, window: int) -> Ticket | None:
    """The ticket served last at a window today (the one its pad may rate)."""
    done = [(at, t.seq_no, t) for t in tx.state.tickets.values() if (at := _finished_at(tx, t, window)) is not None]
    return max(done, key=lambda d: d[:2])[2] if done else None


def pad_may_rate(tx: Tx, ticket: Ticket, window: int | None = None) -> None:
    """A pad rates only the ticket just finished at its window, within ``rating_minutes`` of the finish.

    Anything else from a pad (an older unrated ticket, another's) would let a window rate
    its own backlog; the citizen may still rate any of their tickets by its token. A bundle
    rated by part is rated at ``window``, the window of the part done there.
    """
    window = window if window is not None else ticket.window
    ended = _finished_at(tx, ticket, window) if window is not None else None
    if window is None or ended is None:
        return  # ``evaluate`` says why it cannot be rated
    last = latest_finished(tx, window)
    if last is None or last.id != ticket.id:
        newer = f" ({last.number} was finished after it)" if last is not None else ""
        raise Conflict(f"a pad rates only the ticket just finished at its window, not {ticket.number}{newer}",
                       code="not_latest")
    limit = tx.config.policy.rating_minutes
    if limit and tx.now - ended > timedelta(minutes=limit):
        raise Conflict(f"{ticket.number} was finished over {limit} minutes ago: too late to rate it at the pad",
                       code="rating_closed")


def set_notice(tx: Tx, text: str, text_en: str = "") -> Notice:
    notice = Notice(text=text, text_en=text_en, by=tx.by, at=tx.now)
    tx.emit("notice.changed", notice=notice)
    return notice


# -- devices ----------------------------------------------------------------------------

DEVICE_KINDS = ("printer", "keypad", "evaluator", "led", "agent")
DEVICE_STATUSES = ("online", "offline", "paper_near_end", "paper_out", "cover_open", "error")


def device_status(tx: Tx, device: str, kind: str, status: str, *, detail: str = "", window: int | None = None,
                  kiosk: str | None = None, agent: str | None = None, link: str | None = None) -> Doc:
    """Record a device's health; an unchanged report emits nothing.

    ``link`` names the agent's connection the report came over, so that the end of that
    connection marks only what it reported (the agent may already be back on another).
    """
    if kind not in DEVICE_KINDS:
        raise Invalid(f"kind must be one of {DEVICE_KINDS}", code="bad_value")
    if status not in DEVICE_STATUSES:
        raise Invalid(f"status must be one of {DEVICE_STATUSES}", code="bad_value")
    old = tx.state.docs.get("device", {}).get(device)
    data = {"device": device, "kind": kind, "status": status, "detail": detail, "window": window, "kiosk": kiosk,
            "agent": agent, "link": link}
    if old is not None and all(old.data.get(k) == v for k, v in data.items()):
        return old
    doc = Doc("device", device, tx.state.day, {**data, "since": tx.now.isoformat()})
    tx.emit("device.status", docs=(doc,))
    return doc


def agent_gone(tx: Tx, agent: str, link: str) -> list[Doc]:
    """An agent's connection ended: what it reported over that connection is unreachable now.

    A printer whose agent is gone prints nothing, so the kiosk must stop saying "printing".
    When the agent comes back it reports again, over its new connection.
    """
    gone = []
    for old in tx.state.docs.get("device", {}).values():
        if old.data.get("agent") == agent and old.data.get("link") == link and old.data.get("status") != "offline":
            gone.append(device_status(tx, old.id, old.data["kind"], "offline", detail="agent disconnected",
                                      window=old.data.get("window"), kiosk=old.data.get("kiosk"), agent=agent, link=link))
    return gone
