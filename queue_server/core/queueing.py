"""Queue order, call-next selection, people ahead and the ETA. Pure functions.

Order inside a queue is ``(lane, rank, id)``: priority classes (green channel,
appointment) form lane 0, normal tickets lane 1; ``rank`` is a float, normally the
issue time in epoch seconds, lowered to jump a ticket to the head (transfer) or set
between two neighbours (a returning no-show). A window calls the first ticket by that
order across the services it serves, except that after ``priority_streak`` priority
calls in a row it takes a normal ticket, so normal tickets never starve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from .config import Policy, WindowConfig
from .model import Priority, Ticket, Window, WindowStatus
from .state import HallState


def lane(t: Ticket) -> int:
    return 1 if t.priority is Priority.NORMAL else 0


def order_key(t: Ticket) -> tuple[int, float, str]:
    return (lane(t), t.rank, t.id)


def candidates(state: HallState, wcfg: WindowConfig) -> list[Ticket]:
    """Waiting tickets this window may call."""
    number = wcfg.number
    found: list[Ticket] = []
    for service in wcfg.services:
        found.extend(t for t in state.waiting.get(service, {}).values() if t.pinned_window in (None, number))
    # Tickets transferred to this window by number, for a service it does not list.
    for service, queue in state.waiting.items():
        if service not in wcfg.services:
            found.extend(t for t in queue.values() if t.pinned_window == number)
    return found


def choose(state: HallState, wcfg: WindowConfig, window: Window, policy: Policy) -> Ticket | None:
    """The ticket this window should call next, or None."""
    found = candidates(state, wcfg)
    if not found:
        return None
    if wcfg.prefer_listed:
        pinned = [t for t in found if t.pinned_window == wcfg.number]
        for service in wcfg.services:
            listed = [t for t in found if t.service == service]
            if listed:
                found = listed + [t for t in pinned if t.service != service]
                break
    priority = [t for t in found if lane(t) == 0]
    normal = [t for t in found if lane(t) == 1]
    if priority and (not normal or window.priority_streak < policy.priority_streak):
        return min(priority, key=order_key)
    if normal:
        return min(normal, key=order_key)
    return min(priority, key=order_key)


def queue_order(state: HallState, service: str) -> list[Ticket]:
    """The waiting tickets of one service in the order they will be called."""
    return sorted(state.waiting.get(service, {}).values(), key=order_key)


def ahead_of(state: HallState, t: Ticket) -> int:
    """How many waiting tickets of the same queue stand before this one."""
    mine = order_key(t)
    return sum(1 for other in state.waiting.get(t.service, {}).values() if order_key(other) < mine)


def tail_ahead(state: HallState, service: str, priority: Priority) -> int:
    """People ahead of a ticket that would join a queue at its tail now."""
    if priority is Priority.NORMAL:
        return len(state.waiting.get(service, {}))
    return state.priority_waiting.get(service, 0)


def mean_handling(state: HallState, service: str) -> float:
    """Expected handling seconds: recent visits, smoothed toward the configured prior."""
    prior = state.config.services[service].handling_minutes * 60
    recent = state.handling.get(service, ())
    weight = 2  # the prior counts as two visits, so one odd visit does not swing the ETA
    return (sum(recent) + prior * weight) / (len(recent) + weight)


def eta_minutes(state: HallState, service: str, ahead: int) -> int:
    """Minutes until a ticket with ``ahead`` people of its own queue before it is likely called."""
    return Pace.of(state, service).minutes(ahead)


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast a service's queue moves now, for ETAs (worked out once per service and moment).

    Windows call the earliest ticket of all the services they serve, so a ticket waits
    for the work queued ahead of it across those services, not only its own: the model
    sums that work (people × expected handling), counting for each other service only the
    part these windows will do (their share of the windows signed in that serve it), and
    divides it by the windows signed in that serve this service (all that serve it, when
    none is signed in yet).
    """

    handling: float  # expected seconds per ticket of this service
    waiting: int  # people in this service's queue
    others: float  # seconds of other services' queued work these windows will do
    windows: int

    @classmethod
    def of(cls, state: HallState, service: str) -> Pace:
        cfg, windows = state.config, state.windows

        def signed_in(numbers: list[int]) -> list[int]:
            return [n for n in numbers if (w := windows.get(n)) is not None and w.status is not WindowStatus.CLOSED] or numbers

        servers = signed_in(cfg.windows_serving(service))
        others = 0.0
        for other in {s for n in servers for s in cfg.windows[n].services} - {service}:
            waiting = len(state.waiting.get(other, ()))
            if waiting:
                busy = signed_in(cfg.windows_serving(other))
                others += waiting * mean_handling(state, other) * sum(1 for n in busy if n in servers) / len(busy)
        return cls(mean_handling(state, service), len(state.waiting.get(service, ())), others, len(servers) or 1)

    def minutes(self, ahead: int) -> int:
        """The ETA of a ticket with ``ahead`` people of its own queue before it."""
        # How far into the other queues it stands: the same share as into its own (counting itself).
        share = min(1.0, (ahead + 1) / self.waiting) if self.waiting else 1.0
        seconds = ((ahead + 0.5) * self.handling + share * self.others) / self.windows
        return max(0, math.floor(seconds / 60 + 0.5))  # to the nearest minute, halves up


RANK_STEP = 0.001  # keeps ranks distinct when tickets share a clock reading


def tail_rank(state: HallState, now: datetime) -> float:
    """A rank after every ticket ranked so far today: the issue time, or just past the last rank."""
    return max(now.timestamp(), state.max_rank + RANK_STEP)


def head_rank(state: HallState, service: str, now: datetime) -> float:
    """A rank that puts a ticket before everything waiting in a queue."""
    ranks = [t.rank for t in state.waiting.get(service, {}).values()]
    return min(ranks + [now.timestamp()]) - 1.0


def rank_after(state: HallState, t: Ticket, service: str, k: int, now: datetime) -> float:
    """A rank that puts ``t`` behind the first ``k`` tickets of its lane (a returning no-show)."""
    same_lane = [o for o in queue_order(state, service) if lane(o) == lane(t) and o.id != t.id]
    if len(same_lane) <= k:
        return tail_rank(state, now)
    if k == 0:
        return same_lane[0].rank - 1.0
    return (same_lane[k - 1].rank + same_lane[k].rank) / 2
