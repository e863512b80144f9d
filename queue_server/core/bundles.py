"""A bundle's parts (一件事的环节): which are done, which come next, what the bundle's outcome is.

A bundle ticket carries one entry per part, in the bundle's order: the part's service,
and once it is done its outcome, window, clerk and time. Pure functions over the
configuration and a state; the rules in ``rules.py`` decide with them.
"""

from __future__ import annotations

from typing import Any

from .config import HallConfig, Service
from .model import Outcome, Ticket
from .state import HallState

# A part that counts as handled: 办结, or 容缺受理 (accepted, materials to follow).
ACCEPTED = frozenset({Outcome.DONE.value, Outcome.PENDING_MATERIALS.value})


def bundle_of(cfg: HallConfig, t: Ticket) -> Service | None:
    """The bundle a ticket was issued for, or None for a plain ticket."""
    svc = cfg.services.get(t.origin_service)
    return svc if svc is not None and svc.is_bundle and t.parts else None


def fresh_parts(svc: Service) -> tuple[dict[str, Any], ...]:
    """The parts of a new ticket: none done."""
    return tuple({"service": part, "outcome": None} for part in svc.bundle)


def open_parts(t: Ticket) -> list[str]:
    return [p["service"] for p in t.parts if p["outcome"] is None]


def done_parts(t: Ticket) -> list[dict[str, Any]]:
    return [p for p in t.parts if p["outcome"] is not None]


def current_step(svc: Service, t: Ticket) -> tuple[str, ...]:
    """The open parts of the first route step that still has any: those that may be served now."""
    left = set(open_parts(t))
    for step in svc.route:
        now = tuple(part for part in step if part in left)
        if now:
            return now
    return ()


def next_queue(st: HallState, svc: Service, t: Ticket | None = None) -> str:
    """The part whose queue a routed ticket joins next: of the parts it may be served for now,
    the one with the fewest waiting (ties: the route's order), so a parallel group goes
    where a window frees first."""
    step = current_step(svc, t) if t is not None else svc.route[0]
    return min(step, key=lambda part: (len(st.waiting.get(part, {})), step.index(part)))


def mark(t: Ticket, part: str, outcome: Outcome, window: int | None, clerk: str | None, at: str) -> tuple[dict[str, Any], ...]:
    """The ticket's parts with one open part done."""
    return tuple({**p, "outcome": outcome.value, "window": window, "clerk": clerk, "at": at}
                 if p["service"] == part and p["outcome"] is None else p for p in t.parts)


def last_mark(t: Ticket) -> str | None:
    """When the latest part was done (ISO time), or None."""
    times = [p["at"] for p in t.parts if p.get("at")]
    return max(times) if times else None


def outcome(parts: tuple[dict[str, Any], ...]) -> Outcome:
    """A finished bundle's outcome: 办结 when every part is, 容缺受理 when every part is accepted, else 办不成."""
    outcomes = {p["outcome"] for p in parts}
    if outcomes == {Outcome.DONE.value}:
        return Outcome.DONE
    if outcomes <= ACCEPTED:
        return Outcome.PENDING_MATERIALS
    return Outcome.NOT_DONE


def progress(cfg: HallConfig, t: Ticket) -> list[dict[str, Any]]:
    """The parts as pages show them: names, state, and where each was done."""
    out = []
    for p in t.parts:
        svc = cfg.services.get(p["service"])
        out.append({**p, "name": svc.name if svc else p["service"], "name_en": svc.name_en if svc else "",
                    "current": p["outcome"] is None and p["service"] == t.service})
    return out


# -- rating each part on its own ([policy] bundle_rating = "part") -------------------------


def rated_by_part(cfg: HallConfig, t: Ticket) -> bool:
    """Whether each part of a ticket is rated at its own window: a route bundle's, when the hall says so.

    A one-window bundle is one visit with one clerk at one window, so it is rated once either way.
    """
    svc = bundle_of(cfg, t)
    return svc is not None and svc.routed and cfg.policy.bundle_rating == "part"


def done_at(t: Ticket, window: int) -> str | None:
    """When the latest part done at a window was done (ISO time), or None."""
    times = [p["at"] for p in t.parts if p["outcome"] is not None and p.get("window") == window]
    return max(times) if times else None


def rating_window(t: Ticket, windows: frozenset[int], part: str | None = None) -> int | None:
    """Of a device's windows, the one where the part named was done, else where the ticket's latest part was."""
    named: int | None = next((p.get("window") for p in t.parts if p["service"] == part), None) if part is not None else None
    if named is not None and named in windows:
        return named
    marks = [(at, w) for w in windows if (at := done_at(t, w)) is not None]
    return max(marks)[1] if marks else None


def part_to_rate(t: Ticket, part: str | None, window: int | None) -> dict[str, Any] | None:
    """The part a rating is for: the one named; else the one done last at ``window``; else
    (the citizen by token) the one done last that is not rated yet, or the last done."""
    if part is not None:
        return next((p for p in t.parts if p["service"] == part), None)
    done = [p for p in done_parts(t) if window is None or p.get("window") == window]
    if window is None:
        done = [p for p in done if p.get("rating") is None] or done
    return max(done, key=lambda p: p["at"]) if done else None


def rate(t: Ticket, part: str, level: int) -> tuple[dict[str, Any], ...]:
    """The ticket's parts with one part's rating recorded."""
    return tuple({**p, "rating": level} if p["service"] == part else p for p in t.parts)
