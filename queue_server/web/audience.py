"""Who sees which event: the one place that routes committed events to WebSocket topics.

Stored events carry no topics; this module decides, per event, which clients may see
it and in which form. Tracking tokens never reach a shared screen: the public form of a
ticket drops them, and the one event that carries a token (``print.requested``) goes to
its kiosk's printer alone. Events of features reach the audiences the feature declares
(``Feature.audience``): managers ("admin") and the window an event names ("window").
"""

from __future__ import annotations

from typing import Any, Callable

from queue_server import protocol
from queue_server.core.model import Event
from queue_server.service import views
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature

ALL = "*"
# Core families outside the queue: who viewed citizens' data goes to managers only.
CORE_FAMILIES = {"audit.": ("admin",)}
_QUIET = ("evaluation.submitted", "evaluation.requested", "notice.changed", "device.status")

Audience = tuple[frozenset[str], dict[str, Any]]  # (topics, the payload they get)
ServiceView = Callable[[str], dict[str, Any]]


def _strip_ticket(data: dict[str, Any]) -> dict[str, Any]:
    ticket = data.get("ticket")
    if ticket is not None:
        data = dict(data)
        data["ticket"] = {k: v for k, v in ticket.items() if k not in ("token", "request_id")}
    return data


def touched_services(hall: Hall, event: Event) -> list[str]:
    """Services whose waiting count or ETA an event may change."""
    if event.name == "day.started":
        return list(hall.config.services)
    found: dict[str, None] = {}
    if event.ticket is not None:
        found[event.ticket.service] = None
        if event.extra.get("from_service") in hall.config.services:
            found[event.extra["from_service"]] = None
    if event.window is not None and event.name.startswith("window."):
        wcfg = hall.config.windows.get(event.window.number)
        for service in wcfg.services if wcfg is not None else ():
            found[service] = None  # staffed windows drive the ETA
    # A route bundle shows its first part's queue (views.service): it changes with that queue.
    for svc in hall.config.services.values():
        if svc.routed and any(part in found for part in svc.route[0]):
            found[svc.id] = None
    return list(found)


def _feature_topics(who: tuple[str, ...], event: Event) -> frozenset[str]:
    topics = set()
    if "admin" in who:
        topics.add(protocol.TOPIC_ADMIN)
    if "guides" in who:
        topics.add(protocol.TOPIC_GUIDES)
    if "window" in who:
        window = event.extra.get("window_no")
        if window is None and event.docs:
            window = event.docs[0].data.get("window")
        if isinstance(window, int):
            topics.add(protocol.topic_window(window))
    return frozenset(topics or {protocol.TOPIC_ADMIN})


def _citizen(hall: Hall, feature: Feature, who: tuple[str, ...], event: Event) -> list[Audience]:
    """A feature's event as the citizen's own ticket page sees it: the fields the feature names, no more."""
    if "ticket" not in who or not event.docs:
        return []
    doc = event.docs[0]
    t = hall.state.tickets.get(doc.data.get("ticket", ""))
    if t is None:
        return []
    record = {"kind": doc.kind, "id": doc.id, "data": {k: doc.data.get(k) for k in feature.citizen_fields}}
    return [(frozenset({protocol.topic_ticket(t.token)}), {"docs": [record]})]


def of(hall: Hall, event: Event, service_view: ServiceView | None = None) -> list[Audience]:
    """The audiences of one event, most privileged first.

    Public payloads of queue-changing events carry ``queues``: the services' counts and
    ETAs now, so screens keep them without polling. They are absolute values read from
    the live state (possibly a few events newer than this one), so applying them in
    order always ends at the truth, also when events are replayed after a restart.
    """
    data = event.data()
    name = event.name
    t = event.ticket
    if name == "print.requested":
        # The only payload that carries a tracking token: it goes to the kiosk's printer alone.
        # The store keeps the token's hash; the token is derived again for the printer's QR code.
        if t is not None:
            data = {**data, "ticket": {**data["ticket"], "token": hall.tracking.token(t.id)}}
        return [(frozenset({protocol.topic_kiosk(event.extra.get("kiosk", ""))}), data)]
    core = next((w for family, w in CORE_FAMILIES.items() if name.startswith(family)), None)
    if core is not None:
        return [(_feature_topics(core, event), data)]
    owner = hall.features.owner(name)
    if owner is not None:
        feature, who = owner
        return [(_feature_topics(who, event), data), *_citizen(hall, feature, who, event)]
    public = _strip_ticket(data)
    if name not in _QUIET:
        view = service_view or (lambda s: views.service(hall.state, s))
        touched = touched_services(hall, event)
        if touched:
            public = {**public, "queues": [view(s) for s in touched]}
    if name in ("notice.changed", "day.started"):
        return [(frozenset({ALL}), public)]
    if name == "device.status":
        printers = {protocol.topic_printer(d.data["kiosk"]) for d in event.docs
                    if d.data.get("kind") == "printer" and d.data.get("kiosk")}
        return [(frozenset({protocol.TOPIC_ADMIN, protocol.TOPIC_DEVICES, *printers}), public)]
    if name == "evaluation.submitted" and t is not None:
        out = [(frozenset({protocol.TOPIC_ADMIN, protocol.topic_ticket(t.token)}), public)]
        rating = data["evaluation"]
        # The rated visit's window: a part rated on its own was served where the ticket is no longer.
        if rating["window"] is not None:
            brief = {"ticket": public["ticket"], "evaluation": {"ticket": t.id, "level": rating["level"], "part": rating["part"]}}
            out.append((frozenset({protocol.topic_window(rating["window"])}), brief))
        return out
    if name == "evaluation.requested" and t is not None:
        # Only the window's pad (and keypad), the citizen's phone and managers ask for ratings;
        # hall screens never need it, and a call-next would otherwise fan out three frames.
        asked = {protocol.TOPIC_ADMIN, protocol.topic_ticket(t.token)}
        if t.window is not None:
            asked.add(protocol.topic_window(t.window))
        return [(frozenset(asked), public)]
    topics: set[str] = set()
    if t is not None:
        topics |= {protocol.topic_hall(), protocol.topic_zone(t.zone), protocol.topic_ticket(t.token), protocol.TOPIC_ADMIN}
        for n in (t.window, t.pinned_window, event.extra.get("from_window")):
            if n is not None:
                topics.add(protocol.topic_window(n))
        if event.extra.get("from_service") in hall.config.services:
            topics.add(protocol.topic_zone(hall.config.services[event.extra["from_service"]].zone))
    if event.window is not None:
        wcfg = hall.config.windows.get(event.window.number)
        topics |= {protocol.topic_hall(), protocol.topic_window(event.window.number), protocol.TOPIC_ADMIN}
        if wcfg is not None:
            topics.add(protocol.topic_zone(wcfg.zone))
    if not topics:
        topics.add(protocol.TOPIC_ADMIN)  # an event no rule above names: managers see it
    return [(frozenset(topics), public)]
