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

from .clock import spans_on
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


NO_SHOW_PRIOR = 5  # visits, all served, that the no-show rate starts from: one miss is not yet a habit


def no_shows(state: HallState, service: str) -> tuple[float, float]:
    """How often lately a citizen of a service did not come (a share), and the seconds the window then spent calling."""
    recent = state.missed.get(service, ())
    misses = [s for s in recent if s > 0]
    return len(misses) / (len(recent) + NO_SHOW_PRIOR), (sum(misses) / len(misses) if misses else 0.0)


def visit_seconds(state: HallState, service: str) -> float:
    """Expected seconds a window spends on the next citizen of a service: a visit, or the calls
    for a citizen who does not come, as often as recent visits went either way."""
    share, calling = no_shows(state, service)
    return (1 - share) * mean_handling(state, service) + share * calling


def eta_minutes(state: HallState, service: str, ahead: int, now: datetime | None = None) -> int | None:
    """Minutes until a ticket with ``ahead`` people of its own queue before it is likely called.

    None while no window is signed in for the service: nobody serves it, so any figure
    would be a promise the hall cannot keep.
    """
    return Pace.of(state, service, now).minutes(ahead)


RANGE_FROM = 10  # minutes: a shorter ETA is shown as one figure
RANGE_SHARE = 0.25  # a longer one as a span this share either side, to whole 5 minutes


def eta_range(minutes: int | None) -> tuple[int, int] | None:
    """The span an uncertain ETA is shown as ("约 15–25 分钟"), or None to show the figure alone.

    On replayed days a wait promised at 20 minutes or more misses by over 5 minutes about
    half the time (a few long or short visits ahead add up), so a single figure would
    claim a precision the hall does not have.
    """
    if minutes is None or minutes < RANGE_FROM:
        return None
    low = 5 * math.floor(minutes * (1 - RANGE_SHARE) / 5 + 0.5)
    high = 5 * math.floor(minutes * (1 + RANGE_SHARE) / 5 + 0.5)
    return (min(low, minutes), max(high, minutes, low + 5))


PAUSE_LEFT = 240.0  # seconds a paused window is expected to stay paused (its break is a few minutes)
PRIORITY_HOURS = 1.0  # how far back the rate of priority tickets (who will jump the queue) is taken
TAIL = (1, math.inf, "")
PLAYED_CALLS = 400  # calls played forward at most; past them the queue is taken to move at the pace reached  # where a ticket taking a normal number now would stand: after everyone


def _signed_in(state: HallState, service: str) -> list[int]:
    windows = state.windows
    return [n for n in state.config.windows_serving(service)
            if (w := windows.get(n)) is not None and w.status is not WindowStatus.CLOSED]


def linked(state: HallState, service: str, servers: list[int] | None = None) -> tuple[set[int], set[str]]:
    """The signed-in windows and the queues linked to a service through shared windows: those
    that serve it, the other services they serve, the windows serving those, and so on."""
    servers = _signed_in(state, service) if servers is None else servers
    windows, services, todo = set(servers), {service}, list(servers)
    while todo:
        for other in state.config.windows[todo.pop()].services:
            if other not in services:
                services.add(other)
                fresh = [n for n in _signed_in(state, other) if n not in windows]
                windows.update(fresh)
                todo.extend(fresh)
    return windows, services


def free_in(state: HallState, window: Window, now: datetime | None) -> float:
    """Seconds until a signed-in window is free to call: now, after its break, or after its citizen."""
    if window.status is WindowStatus.PAUSED:
        return PAUSE_LEFT
    current = state.tickets.get(window.current) if window.current else None
    if current is None:
        return 0.0
    expected = mean_handling(state, current.service)
    began = current.started_at or current.called_at
    if now is None or began is None:
        return expected / 2  # on average, half way through
    return remaining(state, current.service, (now - began).total_seconds())


def remaining(state: HallState, service: str, elapsed: float) -> float:
    """Expected seconds left of a visit under way for ``elapsed`` seconds: what the recent visits
    that lasted longer went on for, smoothed toward the mean less the time gone (at least a quarter of it)."""
    expected = mean_handling(state, service)
    guess = max(expected - elapsed, expected / 4)
    longer = [s - elapsed for s in state.handling.get(service, ()) if s > elapsed]
    weight = 2
    return (sum(longer) + guess * weight) / (len(longer) + weight)


def _breaks(state: HallState, now: datetime | None) -> list[tuple[float, float]]:
    """The breaks between today's business spans still to come, in seconds from now, when the
    windows stop calling at a span's end (``serve_through_breaks`` false); none otherwise."""
    cfg = state.config
    if now is None or cfg.policy.serve_through_breaks:
        return []
    tz = cfg.hall.tz
    spans = spans_on(now.astimezone(tz).date(), tz, cfg.hall.hours)
    return [((end - now).total_seconds(), (start - now).total_seconds())
            for (_, end), (start, _) in zip(spans, spans[1:]) if start > now]


def priority_load(state: HallState, services: set[str], windows: int, now: datetime | None) -> float:
    """The share of the windows' time that priority tickets still to come will take, at the last hour's rate.

    They are called before every normal ticket waiting, so a normal ticket's wait
    stretches by ``1 / (1 - load)``. The load counts at half weight: on replayed days the
    full fluid share overshot (bias −2.5 min), as a peak's rate falls off during a long
    wait; capped at one half: a burst is not a trend.
    """
    if now is None:
        return 0.0
    since = now.timestamp() - PRIORITY_HOURS * 3600
    work = sum(sum(1 for at in state.priority_issued.get(s, ()) if at > since) * mean_handling(state, s) for s in services)
    return min(0.5, 0.5 * work / (PRIORITY_HOURS * 3600) / windows)


@dataclass(frozen=True, slots=True)
class Pace:
    """When the waiting tickets of one service are likely called, for ETAs (worked out once per service and moment).

    Windows call the earliest ticket of all the services they serve, so a ticket waits for
    the work queued ahead of it across every queue its windows share with others. The
    model plays the queues forward: each window signed in that serves the service, or
    shares a service with one that does, is free after its current citizen (or break) and
    then calls by the hall's own order, each citizen taking the service's recent mean
    handling time, or the recalls of one who does not come, as often as lately
    (``visit_seconds``). ``calls`` are the moments, in seconds from now, the service's waiting
    tickets are called, in queue order; ``tail`` that of a normal ticket taken now. A normal
    ticket's moment is stretched for the priority tickets still to come (``priority_load``).
    Play stops after ``PLAYED_CALLS`` calls, so a queue of thousands costs what one of
    hundreds does; the tickets behind are then called ``every`` seconds. With no window
    signed in there is no pace (``minutes`` is None).
    """

    calls: tuple[float, ...]  # seconds until each waiting ticket of the service is called, in queue order
    tail: float  # seconds until a normal ticket taken now is called
    handling: float  # expected seconds per ticket of this service
    windows: int  # signed in and serving this service; 0: nobody serves it now
    every: float = 0.0  # seconds between calls of this service's tickets past those played; 0: all were played

    @classmethod
    def of(cls, state: HallState, service: str, now: datetime | None = None) -> Pace:
        cfg = state.config
        servers = _signed_in(state, service)
        handling = mean_handling(state, service)
        if not servers:
            return cls((), 0.0, handling, 0)
        windows, services = linked(state, service, servers)
        queues = {s: iter(keys) for s in services if (keys := state.lanes.get(s))}
        heads = {s: next(it) for s, it in queues.items()}
        heads[service] = heads.get(service, TAIL)  # the ticket taken now joins behind the whole queue
        durations = {s: visit_seconds(state, s) for s in services}
        stretch = 1 / (1 - priority_load(state, services, len(windows), now))
        breaks = _breaks(state, now)

        def stretched(at: float) -> float:
            # Priority citizens come while the windows work, not during a break.
            worked = at - sum(max(0.0, min(at, resume) - end) for end, resume in breaks if end < at)
            return at + (stretch - 1) * worked

        free = [(free_in(state, state.windows[n], now), n) for n in sorted(windows)]
        heapq.heapify(free)
        calls: list[float] = []
        played = 0
        while free:
            at, n = heapq.heappop(free)
            later = next((resume for end, resume in breaks if end <= at < resume), None)
            if later is not None:  # free during a break: the window calls again when the next span starts
                heapq.heappush(free, (later, n))
                continue
            played += 1
            if played > PLAYED_CALLS:
                every = at / len(calls) if calls else handling / len(servers)
                waiting = len(state.lanes.get(service) or ())
                return cls(tuple(calls), stretched(at + (waiting - len(calls)) * every), handling, len(servers), every)
            best = None
            for s in cfg.windows[n].services:
                head = heads.get(s)
                if head is not None and (best is None or head < heads[best]):
                    best = s
                    if cfg.windows[n].prefer_listed:
                        break  # such a window empties its services' queues in its list's order
            if best is None:
                continue  # nothing left this window may call: it stays idle
            key = heads[best]
            if best == service:
                if key is TAIL:
                    return cls(tuple(calls), stretched(at), handling, len(servers))
                calls.append(stretched(at) if key[0] else at)
            following = next(queues[best], None) if best in queues else None
            if following is None and best == service:
                following = TAIL
            if following is None:
                del heads[best]
            else:
                heads[best] = following
            heapq.heappush(free, (at + durations[best], n))
        raise AssertionError("a window serving the service was left out")  # pragma: no cover

    def minutes(self, ahead: int) -> int | None:
        """The ETA of a ticket with ``ahead`` people of its own queue before it; None when nobody serves it."""
        if not self.windows:
            return None
        played = len(self.calls)
        if ahead < played:
            seconds = self.calls[ahead]
        elif self.every:
            seconds = min(self.tail, (self.calls[-1] if played else 0.0) + (ahead - played + 1) * self.every)
        else:
            seconds = self.tail
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
