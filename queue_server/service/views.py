"""How the hall's records look to clients: tickets with position and ETA, services, windows, the snapshot.

Pure functions of the configuration and a state; the API, the WebSocket hub and the
pages all show the hall through them.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from queue_server.core import bundles, queueing
from queue_server.core.clock import within_hours
from queue_server.core.config import HallConfig
from queue_server.core.model import Priority, Status, Ticket
from queue_server.core.state import HallState


def ticket(st: HallState, t: Ticket, *, token: str | None = None, ahead: int | None = None) -> dict[str, Any]:
    """A ticket as the API returns it: the record plus position, ETA and names; ``token`` for its holder only."""
    cfg = st.config
    data = t.public()
    if token is not None:
        data["token"] = token
    svc = cfg.services.get(t.service)
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
    data["eta_range"] = wire_range(data["eta_minutes"])
    if t.window is not None and t.window in cfg.windows:
        data["window_name"] = cfg.windows[t.window].name
    bundle = bundles.bundle_of(cfg, t)
    if bundle is not None:
        data["parts"] = bundles.progress(cfg, t)
        data["bundle"] = {"id": bundle.id, "name": bundle.name, "name_en": bundle.name_en, "mode": bundle.mode,
                          "left": len(bundles.open_parts(t))}
    return data


def wire_range(minutes: int | None) -> list[int] | None:
    """An ETA's shown span as JSON (``[15, 25]``), or None when the figure is shown alone."""
    span = queueing.eta_range(minutes)
    return list(span) if span else None


def service(st: HallState, service_id: str) -> dict[str, Any]:
    svc = st.config.services[service_id]
    # A route bundle's new ticket joins its first part's queue: its wait and windows are that queue's.
    # (Its own queue stays empty: its tickets are counted where they wait, in the parts' queues.)
    at = bundles.next_queue(st, svc) if svc.routed else service_id
    queue = st.waiting.get(service_id, {})
    eta = queueing.eta_minutes(st, at, queueing.tail_ahead(st, at, Priority.NORMAL))
    first = st.oldest_waiting(service_id)
    oldest = first.queued_at if first is not None else None
    return {
        "id": svc.id, "name": svc.name, "name_en": svc.name_en, "zone": svc.zone, "prefix": svc.prefix,
        "bundle": list(svc.bundle), "mode": svc.mode or None, "waiting": len(queue),
        "priority_waiting": st.priority_waiting.get(service_id, 0),
        "eta_minutes": eta,
        "eta_range": wire_range(eta),
        "issued": st.counters.get(service_id, 0), "daily_limit": svc.daily_limit,
        "remaining": max(0, svc.daily_limit - st.counters.get(service_id, 0)),
        "oldest_since": oldest.isoformat() if oldest else None,
        "target_wait_minutes": svc.target_wait_minutes,
        "windows_open": st.staffed_windows(at),
    }


def window(st: HallState, number: int) -> dict[str, Any]:
    wcfg = st.config.windows[number]
    data = st.windows[number].to_dict()
    data.update(name=wcfg.name, name_en=wcfg.name_en, zone=wcfg.zone, services=list(wcfg.services))
    current = st.current_ticket(number)
    data["ticket"] = current.public() if current else None
    return data


def is_open(cfg: HallConfig, now: datetime) -> bool:
    return within_hours(now, cfg.hall.tz, cfg.hall.hours)


def snapshot(st: HallState, now: datetime) -> dict[str, Any]:
    """The live state of the whole hall, as screens start from."""
    cfg = st.config
    return {
        "seq": st.seq,
        "day": st.day,
        "now": now.astimezone(cfg.hall.tz).isoformat(),
        "open_now": is_open(cfg, now),
        "windows": [window(st, n) for n in cfg.windows],
        "services": [service(st, s) for s in cfg.services],
        "recent_calls": list(st.recent_calls),
        "notice": st.notice.to_dict(),
    }


def describe(cfg: HallConfig) -> dict[str, Any]:
    """The hall's fixed layout: zones, services, windows, hours."""
    h = cfg.hall
    return {
        "id": h.id, "name": h.name, "name_en": h.name_en, "timezone": h.timezone, "language": h.language,
        "bilingual_tickets": h.bilingual_tickets,
        "hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in h.hours],
        "zones": [{"id": z.id, "name": z.name, "name_en": z.name_en} for z in cfg.zones.values()],
        "services": [
            {"id": s.id, "zone": s.zone, "name": s.name, "name_en": s.name_en, "prefix": s.prefix,
             "daily_limit": s.daily_limit, "target_wait_minutes": s.target_wait_minutes, "bundle": list(s.bundle)}
            for s in cfg.services.values()
        ],
        "windows": [
            {"number": w.number, "zone": w.zone, "name": w.name, "name_en": w.name_en, "services": list(w.services)}
            for w in cfg.windows.values()
        ],
    }


def window_queue(st: HallState, number: int, limit: int = 50) -> list[dict[str, Any]]:
    """The tickets a window could call, in the order it would (priority marked)."""
    wcfg = st.config.windows[number]
    return [ticket(st, t) for t in itertools.islice(queueing.window_order(st, wcfg), limit)]


def held_and_missed(st: HallState, number: int) -> dict[str, list[dict[str, Any]]]:
    wcfg = st.config.windows[number]
    held = [t for t in st.tickets.values() if t.status is Status.HELD and t.pinned_window == number]
    missed = [t for t in st.tickets.values() if t.status is Status.NO_SHOW and t.service in wcfg.services]
    return {
        "held": [ticket(st, t) for t in sorted(held, key=lambda t: t.rank)],
        "missed": [ticket(st, t) for t in sorted(missed, key=lambda t: t.missed_at or t.issued_at)],
    }


def devices(st: HallState) -> list[dict[str, Any]]:
    return [d.data for d in sorted(st.docs.get("device", {}).values(), key=lambda d: d.id)]
