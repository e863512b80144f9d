"""Queue order, call-next selection, people ahead and the ETA. Pure functions.

Order inside a queue is ``(lane, rank, id)``: priority classes (green channel,
appointment) form lane 0, normal tickets lane 1; ``rank`` is a float, normally the
issue time in epoch seconds, lowered to jump a ticket to the head (transfer) or set
between two neighbours (a returning no-show). A window calls the first ticket by that
order across the services it serves, except that after ``priority_streak`` priority
calls in a row it takes a normal ticket, so normal tickets never starve.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from .config import Policy, WindowConfig
from .lanes import Key, SortedKeys
from .lanes import lane as lane  # queue order belongs with the rules below
from .lanes import order_key as order_key
from .model import Priority, Ticket, Window, WindowStatus
from .state import HallState

NORMAL_LANE = (1,)  # sorts before every key of the normal lane and after every priority key


def _sources(state: HallState, wcfg: WindowConfig) -> list[SortedKeys]:
    """The sets of waiting tickets this window may call (see ``choose`` for which)."""
    pinned = [keys for keys in state.pinned.get(wcfg.number, {}).values() if keys]
    return [keys for s in wcfg.services if (keys := state.free.get(s))] + pinned


def candidates(state: HallState, wcfg: WindowConfig) -> list[Ticket]:
    """Waiting tickets this window may call: those of the services it serves not pinned
    to another window, and those transferred to it by number, whatever their service."""
    return [state.tickets[key[2]] for keys in _sources(state, wcfg) for key in keys]


def window_order(state: HallState, wcfg: WindowConfig) -> Iterator[Ticket]:
    """The tickets this window may call, in queue order (priority lane first)."""
    for key in heapq.merge(*_sources(state, wcfg)):
        yield state.tickets[key[2]]


def _first_in_lanes(sources: list[SortedKeys]) -> tuple[Key | None, Key | None]:
    """The first priority ticket and the first normal one across ``sources``."""
    priority: Key | None = None
    normal: Key | None = None
    for keys in sources:
        first = keys.first()
        if first is None:
            continue
        if first[0] == 0:
            if priority is None or first < priority:
                priority = first
            first = keys.first_from(NORMAL_LANE)
        if first is not None and (normal is None or first < normal):
            normal = first
    return priority, normal


def choose(state: HallState, wcfg: WindowConfig, window: Window, policy: Policy) -> Ticket | None:
    """The ticket this window should call next, or None.

    The first by queue order across what the window may call, except that after
    ``priority_streak`` priority calls in a row a waiting normal ticket goes first. A
    ``prefer_listed`` window calls from the first of its services that has anyone
    waiting (plus tickets transferred to it) before the next service. Each set of
    tickets is kept in order, so this reads the head of a few sets whatever the queues' length.
    """
    number = wcfg.number
    pinned = state.pinned.get(number, {})
    sources = _sources(state, wcfg)
    if wcfg.prefer_listed:
        for service in wcfg.services:
            mine = [keys for keys in (state.free.get(service), pinned.get(service)) if keys]
            if mine:
                sources = mine + [keys for s, keys in pinned.items() if s != service and keys]
                break
    priority, normal = _first_in_lanes(sources)
    if priority is not None and (normal is None or window.priority_streak < policy.priority_streak):
        return state.tickets[priority[2]]
    if normal is not None:
        return state.tickets[normal[2]]
    return None


def queue_order(state: HallState, service: str) -> list[Ticket]:
    """The waiting tickets of one service in the order they will be called."""
    keys = state.lanes.get(service)
    return [state.tickets[key[2]] for key in keys] if keys is not None else []


def ahead_of(state: HallState, t: Ticket) -> int:
    """How many waiting tickets of the same queue stand before this one."""
    keys = state.lanes.get(t.service)
    return keys.position(order_key(t)) if keys is not None else 0


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


def eta_minutes(state: HallState, service: str, ahead: int) -> int | None:
    """Minutes until a ticket with ``ahead`` people of its own queue before it is likely called.

    None while no window is signed in for the service: nobody serves it, so any figure
    would be a promise the hall cannot keep.
    """
    return Pace.of(state, service).minutes(ahead)


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast a service's queue moves now, for ETAs (worked out once per service and moment).

    Windows call the earliest ticket of all the services they serve, so a ticket waits
    for the work queued ahead of it across those services, not only its own: the model
    sums that work (people × expected handling), counting for each other service only the
    part these windows will do (their share of the windows signed in that serve it), and
    divides it by the windows signed in that serve this service. With none signed in there
    is no pace (``minutes`` is None).
    """

    handling: float  # expected seconds per ticket of this service
    waiting: int  # people in this service's queue
    others: float  # seconds of other services' queued work these windows will do
    windows: int  # signed in and serving this service; 0: nobody serves it now

    @classmethod
    def of(cls, state: HallState, service: str) -> Pace:
        cfg, windows = state.config, state.windows

        def signed_in(numbers: list[int]) -> list[int]:
            return [n for n in numbers if (w := windows.get(n)) is not None and w.status is not WindowStatus.CLOSED]

        servers = signed_in(cfg.windows_serving(service))
        others = 0.0
        for other in {s for n in servers for s in cfg.windows[n].services} - {service}:
            waiting = len(state.waiting.get(other, ()))
            if waiting:
                busy = signed_in(cfg.windows_serving(other))  # never empty: one of ``servers`` serves it
                others += waiting * mean_handling(state, other) * sum(1 for n in busy if n in servers) / len(busy)
        return cls(mean_handling(state, service), len(state.waiting.get(service, ())), others, len(servers))

    def minutes(self, ahead: int) -> int | None:
        """The ETA of a ticket with ``ahead`` people of its own queue before it; None when nobody serves it."""
        if not self.windows:
            return None
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
    keys = state.lanes.get(service) or SortedKeys()
    priority, normal = _first_in_lanes([keys])
    return min([float(key[1]) for key in (priority, normal) if key is not None] + [now.timestamp()]) - 1.0


def rank_after(state: HallState, t: Ticket, service: str, k: int, now: datetime) -> float:
    """A rank that puts ``t`` behind the first ``k`` tickets of its lane (a returning no-show)."""
    mine = lane(t)
    keys = state.lanes.get(service) or SortedKeys()
    same_lane: list[Ticket] = []
    for key in keys.iter_from((mine,)):
        if key[0] != mine or len(same_lane) > k:
            break
        if key[2] != t.id:
            same_lane.append(state.tickets[key[2]])
    if len(same_lane) <= k:
        return tail_rank(state, now)
    if k == 0:
        return same_lane[0].rank - 1.0
    return (same_lane[k - 1].rank + same_lane[k].rank) / 2
