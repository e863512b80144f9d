"""帮办代办 requests as pure decisions: a citizen asks for an escort, a guide takes it and records the help.

A request is a Doc of kind "assist", one per ticket (its id is the ticket's id). It runs

    open 待接单 ─accept→ accepted 帮办中 ─done→ done 已完成
      ↑                    │
      └──────release───────┘          open or accepted ─cancel→ cancelled 已撤销

Exactly one guide wins an acceptance: ``accept`` needs the request open, checked inside
the decision, so a second guide's accept is refused against the state the first one left.
Only the guide who accepted a request may mark it done or release it (a manager may
release one a guide left behind). A request left open longer than ``[assist] alert_minutes``
is marked ``overdue`` once (``assist.overdue``, to managers and guides). Each step is a line
of ``steps``; the times the reports read are ``requested_at``, ``first_accepted_at`` (the wait to accept), ``accepted_at`` and
``done_at`` (the help given).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from queue_server.core.errors import Conflict, Invalid
from queue_server.core.model import ACTIVE, TERMINAL, Doc, Priority, Ticket
from queue_server.core.rules import Tx
from queue_server.service.plugin import log_step

KIND = "assist"
STATES = {"open": "待接单", "accepted": "帮办中", "done": "已完成", "cancelled": "已撤销"}
LIVE = frozenset({"open", "accepted"})
# What a guide did for the citizen (帮办内容).
HELP = {"fill_forms": "代填表", "proxy": "代办", "escort": "引导", "translate": "翻译", "other": "其他"}
# Where a request came from: the kiosk's 需要帮办 button, the citizen's phone, or staff at the guide desk.
SOURCES = {"kiosk": "取号机", "phone": "手机", "desk": "导办台"}


def _put(tx: Tx, doc: Doc, name: str, data: dict[str, Any], **extra: Any) -> Doc:
    keys = (f"ticket:{data['ticket']}", f"state:{data['state']}", *((f"guide:{data['guide']}",) if data["guide"] else ()))
    new = Doc(KIND, doc.id, doc.day, data, keys=keys, live=data["state"] in LIVE)
    tx.emit(f"assist.{name}", docs=(new,), extra={"assist": doc.id, "state": data["state"], **extra})
    return new


def _need(doc: Doc, *states: str) -> None:
    state = doc.data["state"]
    if state not in states:
        raise Conflict(f"the request of {doc.data['number']} is {STATES[state]} ({state})", code="assist_state")


def request(tx: Tx, t: Ticket, source: str, need: str | None = None) -> Doc:
    """Ask for an escort for a ticket of today that is still somebody's business."""
    if t.status not in ACTIVE or t.day != tx.state.day:
        raise Conflict(f"ticket {t.number} is {t.status.value}; ask for help with a ticket still in the hall",
                       code="ticket_ended")
    old = tx.state.docs.get(KIND, {}).get(t.id)
    if old is not None:
        raise Conflict(f"{t.number} has asked for help already", code="assist_exists")
    svc = tx.config.services.get(t.service)
    data: dict[str, Any] = {
        "ticket": t.id, "number": t.number, "day": t.day, "service": t.service,
        "service_name": svc.name if svc else t.service, "service_name_en": svc.name_en if svc else "", "zone": t.zone,
        "green": t.priority is Priority.GREEN, "source": source, "need": need or None, "state": "open",
        "guide": None, "guide_name": None, "staff_no": None, "requested_at": tx.now.isoformat(),
        "first_accepted_at": None, "accepted_at": None, "done_at": None, "help": [], "note": None, "overdue": False,
        "steps": [log_step(tx, "requested", source=source, need=need or None)],
    }
    return _put(tx, Doc(KIND, t.id, t.day, data), "requested", data)


def accept(tx: Tx, doc: Doc, guide: str, name: str, staff_no: str) -> Doc:
    """A guide takes the request; whoever comes second finds it taken."""
    if doc.data["state"] == "accepted":
        raise Conflict(f"{doc.data['guide_name'] or 'another guide'} has taken {doc.data['number']}",
                       code="assist_taken")
    _need(doc, "open")
    now = tx.now.isoformat()
    data = {**doc.data, "state": "accepted", "guide": guide, "guide_name": name, "staff_no": staff_no or None,
            "accepted_at": now, "first_accepted_at": doc.data["first_accepted_at"] or now,
            "steps": [*doc.data["steps"], log_step(tx, "accepted")]}
    return _put(tx, doc, "accepted", data, guide=guide)


def release(tx: Tx, doc: Doc, note: str | None = None) -> Doc:
    """Give the request back to every guide (the guide is called away, say)."""
    _need(doc, "accepted")
    data = {**doc.data, "state": "open", "guide": None, "guide_name": None, "staff_no": None, "accepted_at": None,
            "steps": [*doc.data["steps"], log_step(tx, "released", guide=doc.data["guide"], note=note)]}
    return _put(tx, doc, "released", data, guide=doc.data["guide"])


def done(tx: Tx, doc: Doc, help: list[str], note: str | None = None) -> Doc:
    """Record the help given and close the request."""
    _need(doc, "accepted")
    kinds = list(dict.fromkeys(help))
    if not kinds:
        raise Invalid("say what help was given (help)", code="missing_field")
    if "other" in kinds and not (note or "").strip():
        raise Invalid("describe the other help in the note", code="note_required")
    data = {**doc.data, "state": "done", "done_at": tx.now.isoformat(), "help": kinds, "note": note or None,
            "steps": [*doc.data["steps"], log_step(tx, "done", help=kinds, note=note)]}
    return _put(tx, doc, "done", data, guide=doc.data["guide"])


def cancel(tx: Tx, doc: Doc, reason: str, note: str | None = None) -> Doc:
    """Withdraw a request: the citizen left, or the day ended before anyone helped."""
    _need(doc, *LIVE)
    data = {**doc.data, "state": "cancelled", "cancel_reason": reason,
            "steps": [*doc.data["steps"], log_step(tx, "cancelled", reason=reason, note=note)]}
    return _put(tx, doc, "cancelled", data)


def check(tx: Tx, alert_minutes: float = 0) -> list[Doc]:
    """Withdraw requests nobody can act on any more (of a past day, or open for a ticket that has
    ended), and mark, once, those left open longer than ``alert_minutes`` (0: never)."""
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.day != tx.state.day:
            out.append(cancel(tx, doc, "day_end"))
            continue
        t = tx.state.tickets.get(doc.data["ticket"])
        if doc.data["state"] != "open":
            continue
        if t is None or t.status in TERMINAL:
            out.append(cancel(tx, doc, "ticket_ended"))
        elif alert_minutes and not doc.data.get("overdue") and _waited(tx, doc) >= alert_minutes * 60:
            out.append(_put(tx, doc, "overdue", {**doc.data, "overdue": True}, waited_minutes=round(_waited(tx, doc) / 60, 1)))
    return out


def _waited(tx: Tx, doc: Doc) -> float:
    return (tx.now - datetime.fromisoformat(doc.data["requested_at"])).total_seconds()


def view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data, "state_name": STATES[doc.data["state"]], "source_name": SOURCES[doc.data["source"]],
            "help_names": [HELP[h] for h in doc.data["help"]]}
