"""容缺受理: a service accepted while some materials are still missing, and their due date.

Finishing a ticket with the outcome ``pending_materials`` opens a record (a Doc of kind
"pending", id = the ticket id; for a bundle's part, the ticket id and the part's service) in the same transaction, through the ``finished`` hook:
the missing materials and the date they are due, given by the clerk or else
``[followup] pending_days`` working days on. The clerk's console lists the window's
open records; once the materials are in, the record is completed. One not completed
by its due date raises ``pending.overdue`` once, to managers and the window.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from queue_server.core.config import HallConfig
from queue_server.core.errors import Conflict, Forbidden, Invalid
from queue_server.core.model import Doc, Outcome, Ticket
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, WINDOW, obj
from queue_server.core.state import HallState
from queue_server.features.followup import FollowUp
from queue_server.service import auth
from queue_server.service.auth import MANAGERS, STAFF, Principal, rule
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker, listed, log_step, on_open_record

KIND = "pending"


def _put(tx: Tx, doc: Doc, name: str, data: dict[str, Any], **extra: Any) -> Doc:
    new = Doc(KIND, doc.id, doc.day, data, keys=(f"window:{data['window']}", f"state:{data['state']}"),
              live=data["state"] == "open")
    tx.emit(f"pending.{name}", docs=(new,), extra={"pending": doc.id, **extra})
    return new


def open_record(tx: Tx, t: Ticket, details: dict[str, Any], default_days: int) -> Doc:
    """Record the materials a 容缺受理 service still waits for."""
    today = tx.now.date()
    if details.get("due"):
        try:
            due = date.fromisoformat(details["due"])
        except ValueError:
            raise Invalid("details.due must be a date, YYYY-MM-DD", code="bad_due") from None
        if due < today:
            raise Invalid("details.due is in the past", code="bad_due")
    else:
        due = tx.config.calendar.add(today, default_days)
    svc = tx.config.services.get(t.service)
    w = tx.state.windows.get(t.window) if t.window is not None else None
    data = {
        "ticket": t.id, "number": t.number, "day": t.day, "service": t.service, "service_name": svc.name if svc else t.service,
        "window": t.window, "clerk": t.clerk, "clerk_name": w.clerk_name if w is not None else None,
        "materials": [m.strip() for m in details.get("materials") or [] if m.strip()], "due": due.isoformat(),
        "note": details.get("note"), "state": "open", "overdue": False, "opened_at": tx.now.isoformat(),
        "completed_at": None, "steps": [log_step(tx, "accepted_pending")],
    }
    # A bundle's parts may each be 容缺受理: one record per part.
    doc_id = f"{t.id}.{t.service}" if t.parts else t.id
    return _put(tx, Doc(KIND, doc_id, t.day, data), "opened", data, window_no=t.window, due=data["due"])


def complete(tx: Tx, doc: Doc, note: str | None = None) -> Doc:
    """The missing materials are in (补齐)."""
    if doc.data["state"] != "open":
        raise Conflict(f"record {doc.id} is {doc.data['state']}", code="pending_state")
    data = {**doc.data, "state": "completed", "completed_at": tx.now.isoformat(),
            "steps": [*doc.data["steps"], log_step(tx, "completed", note=note)]}
    return _put(tx, doc, "completed", data, window_no=data["window"])


def check(tx: Tx) -> list[Doc]:
    """Mark records past their due date overdue, once."""
    today = tx.now.date()
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["state"] == "open" and not doc.data["overdue"] and today > date.fromisoformat(doc.data["due"]):
            out.append(_put(tx, doc, "overdue", {**doc.data, "overdue": True}, window_no=doc.data["window"], due=doc.data["due"]))
    return out


def view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data}


def _at_its_window(p: Principal, st: HallState, args: Any) -> None:
    """A clerk completes the records of the window they are signed in at."""
    if p.role != "clerk":
        return
    doc = st.docs.get(KIND, {}).get(args.get("id", ""))
    if doc is not None:
        w = st.windows.get(doc.data.get("window") or 0)
        if w is None or w.clerk != p.id:
            raise Forbidden(f"sign in at window {doc.data.get('window')} to complete its records")


class PendingMaterials(Feature):
    name = "pending_materials"
    audience = {"pending.": ("admin", "window")}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        followup = features.get(FollowUp).settings
        self.due_days = followup.pending_days
        self.check_seconds = followup.check_seconds

    def on_finished(self, tx: Tx, t: Ticket, details: dict[str, Any]) -> None:
        if t.outcome is Outcome.PENDING_MATERIALS:
            open_record(tx, t, details, self.due_days)

    def tickers(self) -> list[Ticker]:
        return [Ticker("pending", self.check_seconds, self.check)]

    async def check(self, hall: Hall) -> list[Doc]:
        return await hall.run(check)

    def commands(self) -> list[Command]:
        return [
            command("window_pending", "Open 容缺受理 records of a window, due soonest first", auth.WINDOW_RECORDS,
                    self._of_window, args=obj(["window"], window=WINDOW),
                    http=Http("GET", "/windows/{window}/pending", tag="windows")),
            command("pending", "容缺受理 records: open ones, or all of a period", MANAGERS, self._list,
                    args=obj(state={"type": "string", "enum": ["open", "all"]}, **{"from": DAY, "to": DAY}),
                    http=Http("GET", "/pending", tag="followup")),
            command("pending_complete", "The missing materials are in: close the 容缺受理 record",
                    rule("the clerk signed in at its window, manager, admin", *STAFF.roles, check=_at_its_window),
                    on_open_record(KIND, "容缺受理 record", "pending_unknown",
                                   lambda tx, d, c: complete(tx, d, c.get("note")), view),
                    args=obj(["id"], id={"type": "string", "maxLength": 80},
                                             note={"type": "string", "maxLength": 500}),
                    http=Http("POST", "/pending/{id}/complete", tag="followup")),
        ]

    async def _of_window(self, c: Call) -> dict[str, Any]:
        number = c["window"]
        docs = [d for d in c.hall.state.docs.get(KIND, {}).values() if d.data.get("window") == number]
        return {"window": number, "pending": [view(d) for d in sorted(docs, key=lambda d: (d.data["due"], d.id))]}

    async def _list(self, c: Call) -> dict[str, Any]:
        docs = await listed(c, KIND)
        return {"pending": [view(d) for d in sorted(docs, key=lambda d: (d.data["due"], d.id))]}

