"""容缺受理: a service accepted while some materials are still missing, and their due date.

Finishing a ticket with the outcome ``pending_materials`` opens a record (a Doc of kind
"pending", id = the ticket id) in the same transaction, through the "finished" hook:
the missing materials and the date they are due, given by the clerk or else
``[followup] pending_days`` working days on. The clerk's console lists the window's
open records; once the materials are in, the record is completed. One not completed
by its due date raises ``pending.overdue`` once, to the admin topic and the window.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from queue_server.core import rules, workdays
from queue_server.core.errors import Conflict, Forbidden, Invalid, NotFound
from queue_server.core.model import Doc, Outcome, Ticket
from queue_server.core.rules import Tx
from queue_server.core.schema import obj
from queue_server.features.followup import feature as followup
from queue_server.service import auth, featurekit
from queue_server.service.auth import Principal
from queue_server.service.features import Feature, register
from queue_server.web import http as api
from queue_server.web.http import route

KIND = "pending"


def _put(tx: Tx, doc: Doc, name: str, data: dict[str, Any], **extra: Any) -> Doc:
    new = Doc(KIND, doc.id, doc.day, data, keys=(f"window:{data['window']}", f"state:{data['state']}"),
              live=data["state"] == "open")
    topics = ["admin"] + ([f"window:{data['window']}"] if data.get("window") is not None else [])
    tx.emit(f"pending.{name}", docs=(new,), extra={"topics": topics, "pending": doc.id, **extra})
    return new


def open_record(tx: Tx, t: Ticket, details: dict[str, Any]) -> Doc:
    """Record the materials a 容缺受理 service still waits for (the "finished" hook)."""
    today = tx.now.date()
    if details.get("due"):
        try:
            due = date.fromisoformat(details["due"])
        except ValueError:
            raise Invalid("details.due must be a date, YYYY-MM-DD", code="bad_due") from None
        if due < today:
            raise Invalid("details.due is in the past", code="bad_due")
    else:
        due = workdays.of(tx.config).add(today, followup.settings(tx.config).pending_days)
    svc = tx.config.services.get(t.service)
    w = tx.state.windows.get(t.window) if t.window is not None else None
    data = {
        "ticket": t.id, "number": t.number, "day": t.day, "service": t.service, "service_name": svc.name if svc else t.service,
        "window": t.window, "clerk": t.clerk, "clerk_name": w.clerk_name if w is not None else None,
        "materials": [m.strip() for m in details.get("materials") or [] if m.strip()], "due": due.isoformat(),
        "note": details.get("note"), "state": "open", "overdue": False, "opened_at": tx.now.isoformat(),
        "completed_at": None, "steps": [featurekit.step(tx, "accepted_pending")],
    }
    return _put(tx, Doc(KIND, t.id, t.day, data), "opened", data, window_no=t.window, due=data["due"])


def _on_finished(tx: Tx, t: Ticket, details: dict[str, Any]) -> None:
    if t.outcome is Outcome.PENDING_MATERIALS:
        open_record(tx, t, details)


def complete(tx: Tx, doc: Doc, note: str | None = None) -> Doc:
    """The missing materials are in (补齐)."""
    if doc.data["state"] != "open":
        raise Conflict(f"record {doc.id} is {doc.data['state']}", code="pending_state")
    data = {**doc.data, "state": "completed", "completed_at": tx.now.isoformat(),
            "steps": [*doc.data["steps"], featurekit.step(tx, "completed", note=note)]}
    return _put(tx, doc, "completed", data, window_no=data["window"])


def check(tx: Tx) -> list[Doc]:
    """Mark records past their due date overdue, once."""
    today = tx.now.date()
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["state"] == "open" and not doc.data["overdue"] and today > date.fromisoformat(doc.data["due"]):
            out.append(_put(tx, doc, "overdue", {**doc.data, "overdue": True}, window_no=doc.data["window"], due=doc.data["due"]))
    return out


async def run_check(hall: Any) -> list[Doc]:
    return await hall.run(check)  # type: ignore[no-any-return]


# -- HTTP ---------------------------------------------------------------------------------------------------


def _view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data}


def _may_see_window(hall: Any, p: Principal, number: int) -> None:
    if p.role in ("manager", "admin"):
        return
    if number not in hall.config.windows:
        raise NotFound(f"no window {number}", code="window_unknown")
    auth.require_window_operator(p, hall.state.windows[number])


@route("GET", "/windows/{window:\\d+}/pending", "Open 容缺受理 records of a window, due soonest first",
       "the clerk signed in at the window, its agent, manager, admin", tag="windows")
async def get_window_pending(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = api.hall_of(request)
    number = int(request.match_info["window"])
    _may_see_window(hall, p, number)
    docs = [d for d in hall.state.docs.get(KIND, {}).values() if d.data.get("window") == number]
    return {"window": number, "pending": [_view(d) for d in sorted(docs, key=lambda d: (d.data["due"], d.id))]}


@route("GET", "/pending", "容缺受理 records: open ones, or all of a period", "manager, admin",
       query={"state": {"type": "string", "enum": ["open", "all"]}, "from": api._DAY, "to": api._DAY}, tag="followup")
async def get_pending(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    docs = await featurekit.listed(api.hall_of(request), request, KIND)
    return {"pending": [_view(d) for d in sorted(docs, key=lambda d: (d.data["due"], d.id))]}


@route("POST", "/pending/{id}/complete", "The missing materials are in: close the 容缺受理 record",
       "the clerk signed in at its window, manager, admin", body=obj(note={"type": "string", "maxLength": 500}), tag="followup")
async def post_pending_complete(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = api.hall_of(request)
    record = request.match_info["id"]
    auth.require(p, "clerk", "manager", "admin")

    def decide(tx: Tx) -> dict[str, Any]:
        doc = tx.state.docs.get(KIND, {}).get(record)
        if doc is None:
            raise NotFound(f"no open 容缺受理 record {record}", code="pending_unknown")
        if p.role == "clerk":
            w = tx.state.windows.get(doc.data.get("window") or 0)
            if w is None or w.clerk != p.id:
                raise Forbidden(f"sign in at window {doc.data.get('window')} to complete its records")
        return _view(complete(tx, doc, body.get("note")))

    return await hall.run(decide, p.actor)


rules.HOOKS["finished"].append(_on_finished)
register(Feature("pending", lifetime=featurekit.periodic("pending", lambda cfg: followup.settings(cfg).check_seconds, run_check)))
