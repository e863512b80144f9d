"""The appointments feature: the booking system's commands, kiosk check-in and the no-show checker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from queue_server.core.config import HallConfig
from queue_server.core.errors import Conflict, Forbidden, Invalid, NotFound
from queue_server.core.model import Doc
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, STR, obj
from queue_server.core.state import HallState
from queue_server.service import privacy, views
from queue_server.service.auth import KIOSK_OR_STAFF, Principal, rule
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker

from . import bookings
from .bookings import KIND, STATUS, code_of, parse_slot

_SLOT = {"type": "string", "maxLength": 40}
_ID = {"type": "string", "maxLength": 40}
_NAME = {"type": "string", "maxLength": 40}
_PHONE = {"type": "string", "maxLength": 20}
_CODE = {"type": "string", "maxLength": 40}


def view(doc: Doc) -> dict[str, Any]:
    """A booking as screens and the booking system see it: masked, and without the ID hash."""
    data = {k: v for k, v in doc.data.items() if k not in ("idhash", "steps")}
    return {"id": doc.id, **data, "status_name": STATUS[doc.data["status"]], "steps": doc.data["steps"]}


def _not_a_window_agent(p: Principal, st: HallState, args: Any) -> None:
    if p.role == "agent" and p.windows:
        raise Forbidden("a window's agent may not manage bookings; use an agent token bound to no window")


BOOKING_SYSTEM = rule("agent token bound to no window (the booking system), manager, admin", "agent", "manager", "admin",
                      check=_not_a_window_agent)


class Appointments(Feature):
    name = "appointments"
    section = "appointments"
    audience = {"booking.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        sec = self.read()
        self.settings = bookings.read(sec)
        self.done(sec)

    def tickers(self) -> list[Ticker]:
        return [Ticker("appointments", self.settings.check_seconds, self.check)]

    async def check(self, hall: Hall) -> list[Doc]:
        return await hall.run(lambda tx: bookings.check(tx, self.settings))

    def commands(self) -> list[Command]:
        return [
            command("booking_create", "Create a booking (201); the ID number is hashed and dropped", BOOKING_SYSTEM,
                    self._create,
                    args=obj(["service", "slot_start", "id_number"], service=STR, slot_start=_SLOT, slot_end=_SLOT,
                             id_number=_ID, name=_NAME, phone=_PHONE, ref={"type": "string", "maxLength": 64}),
                    http=Http("POST", "/appointments", 201, "appointments")),
            command("bookings", "Bookings of a day, with counts by status", BOOKING_SYSTEM, self._list,
                    args=obj(date=DAY, status={"type": "string", "enum": list(STATUS)}),
                    http=Http("GET", "/appointments", tag="appointments")),
            command("booking", "One booking", BOOKING_SYSTEM, self._one, args=obj(["id"], id=_CODE),
                    http=Http("GET", "/appointments/{id}", tag="appointments")),
            command("booking_change", "Change a booking's service, slot, name or phone", BOOKING_SYSTEM, self._change,
                    args=obj(["id"], id=_CODE, service=STR, slot_start=_SLOT, slot_end=_SLOT, name=_NAME, phone=_PHONE),
                    http=Http("PUT", "/appointments/{id}", tag="appointments")),
            command("booking_cancel", "Cancel a booking", BOOKING_SYSTEM, self._cancel, args=obj(["id"], id=_CODE),
                    http=Http("DELETE", "/appointments/{id}", tag="appointments")),
            command("check_in", "Check a booking in by ID number or booking code and take its priority ticket (201)",
                    KIOSK_OR_STAFF, self._check_in,
                    args=obj(id_number=_ID, code={"type": "string", "maxLength": 200}, service=STR),
                    http=Http("POST", "/appointments/check-in", 201, "appointments")),
        ]

    async def _create(self, c: Call) -> dict[str, Any]:
        hall, s = c.hall, self.settings
        idhash = hall.privacy.hash_id(c["id_number"])
        start = parse_slot(hall.config, c["slot_start"])
        end = parse_slot(hall.config, c["slot_end"], "slot_end") if c.get("slot_end") else start + timedelta(minutes=s.slot_minutes)
        name, phone = privacy.mask_name(c.get("name")), privacy.check_phone(c.get("phone"))
        history = await hall.store.docs(KIND, key=f"idhash:{idhash}")
        code = bookings.new_code()
        return await c.decide(lambda tx: view(bookings.book(
            tx, s, code=code, service=c["service"], start=start, end=end, idhash=idhash, name=name, phone=phone,
            ref=c.get("ref"), history=history)))

    async def _list(self, c: Call) -> dict[str, Any]:
        hall = c.hall
        day = c.get("date", hall.state.day)
        docs = await hall.store.docs(KIND, key=f"day:{day}")
        counts = {k: sum(1 for d in docs if d.data["status"] == k) for k in STATUS}
        if "status" in c.args:
            docs = [d for d in docs if d.data["status"] == c["status"]]
        docs.sort(key=lambda d: (d.data["slot_start"], d.id))
        await privacy.audit(hall, c.principal, "view", KIND, ids=[d.id for d in docs], detail=f"bookings of {day}")
        return {"date": day, "counts": counts, "bookings": [view(d) for d in docs]}

    async def _one(self, c: Call) -> dict[str, Any]:
        hall = c.hall
        code = c["id"].upper()
        doc = hall.state.docs.get(KIND, {}).get(code) or await hall.store.doc(KIND, code)
        if doc is None:
            raise NotFound(f"no booking {code}", code="booking_unknown")
        await privacy.audit(hall, c.principal, "view", KIND, ids=[doc.id])
        return view(doc)

    async def _change(self, c: Call) -> dict[str, Any]:
        hall = c.hall
        code = c["id"].upper()
        current = hall.state.docs.get(KIND, {}).get(code)
        history = await hall.store.docs(KIND, key=f"idhash:{current.data['idhash']}") if current is not None else []
        start = parse_slot(hall.config, c["slot_start"]) if c.get("slot_start") else None
        end = parse_slot(hall.config, c["slot_end"], "slot_end") if c.get("slot_end") else None
        name = privacy.mask_name(c["name"]) if "name" in c.args else None
        phone = privacy.check_phone(c["phone"]) if "phone" in c.args else None
        return await c.decide(lambda tx: view(bookings.change(tx, self.settings, code, service=c.get("service"), start=start,
                                                              end=end, name=name, phone=phone, history=history)))

    async def _cancel(self, c: Call) -> dict[str, Any]:
        return await c.decide(lambda tx: view(bookings.cancel(tx, c["id"].upper())))

    async def _check_in(self, c: Call) -> dict[str, Any]:
        if ("id_number" in c.args) == ("code" in c.args):
            raise Invalid("give exactly one of 'id_number' or 'code'", code="checkin_target")
        hall, p = c.hall, c.principal
        idhash = hall.privacy.hash_id(c["id_number"]) if "id_number" in c.args else None
        code = code_of(c["code"]) if "code" in c.args else None
        tracking = hall.tracking
        print_to = p.kiosk if p.role == "kiosk" and p.kiosk else None

        def decide(tx: Tx) -> dict[str, Any]:
            t, doc = bookings.check_in(tx, self.settings, token=tracking.key_of, code=code, idhash=idhash, service=c.get("service"),
                                       print_to=print_to)
            booking = view(doc)
            del booking["steps"]
            return {"ticket": views.ticket(tx.state, t, token=tracking.token(t.id)), "booking": booking}

        try:
            return await c.decide(decide)
        except NotFound as exc:
            gone = await hall.store.doc(KIND, code) if code else None
            if gone is not None:  # say why a known code no longer checks in
                raise Conflict(f"this booking is {gone.data['status']} ({STATUS[gone.data['status']]})",
                               code="booking_closed") from None
            raise exc
