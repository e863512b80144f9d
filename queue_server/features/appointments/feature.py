"""Appointments (预约): bookings from a booking system, kiosk check-in, no-show voiding.

A booking system creates, changes and cancels bookings over the API, with an ``agent``
token bound to no window (an integration token, not a window's device) or as a manager
or admin. A booking is a Doc of kind "booking" whose id is also its code (the content of
the booking QR code); the citizen's ID number is kept only as a salted hash (privacy.py),
name and phone only masked. The citizen checks in at the kiosk by putting the ID card on
the reader or showing the QR code, from ``checkin_before_minutes`` before the slot until
``void_after_minutes`` after it starts; check-in issues a ticket with appointment
priority in the same decision, so a booking is never checked in without its ticket. A
booking still unchecked ``void_after_minutes`` after its slot starts is voided by the
checker and counted as a no-show; ``no_show_limit`` of those within
``no_show_window_days`` bar the person from booking for ``bar_days``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from queue_server.core import rules, workdays
from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.errors import Conflict, Forbidden, Invalid, NotFound
from queue_server.core.model import Channel, Doc, Priority, Ticket
from queue_server.core.rules import Tx
from queue_server.core.schema import STR, obj
from queue_server.service import auth, featurekit, privacy
from queue_server.service.auth import Principal
from queue_server.service.features import Feature, register
from queue_server.web import http as api
from queue_server.web.http import route

KIND = "booking"
SECTION = "appointments"
STATUS = {"booked": "已预约", "checked_in": "已签到", "cancelled": "已取消", "no_show": "爽约"}
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
CODE_LENGTH = 10


@dataclass(frozen=True)
class Settings:
    slot_minutes: int = 30
    checkin_before_minutes: int = 30
    void_after_minutes: int = 30
    max_days_ahead: int = 14
    per_person_per_day: int = 1  # bookings per person per service per day
    slot_capacity: int = 0  # bookings per service and slot; 0 leaves capacity to the booking system
    no_show_limit: int = 3  # no-shows within the window that bar booking; 0 never bars
    no_show_window_days: int = 90
    bar_days: int = 30
    check_seconds: float = 30.0


def _read(cfg: HallConfig) -> tuple[Settings, list[ConfigIssue]]:
    sec = featurekit.Section(cfg, SECTION)
    d = Settings()
    s = Settings(
        slot_minutes=sec.get("slot_minutes", d.slot_minutes, lo=5, hi=480),
        checkin_before_minutes=sec.get("checkin_before_minutes", d.checkin_before_minutes, lo=0, hi=240),
        void_after_minutes=sec.get("void_after_minutes", d.void_after_minutes, lo=1, hi=480),
        max_days_ahead=sec.get("max_days_ahead", d.max_days_ahead, lo=0, hi=366),
        per_person_per_day=sec.get("per_person_per_day", d.per_person_per_day, lo=1, hi=20),
        slot_capacity=sec.get("slot_capacity", d.slot_capacity, lo=0, hi=10_000),
        no_show_limit=sec.get("no_show_limit", d.no_show_limit, lo=0, hi=100),
        no_show_window_days=sec.get("no_show_window_days", d.no_show_window_days, lo=1, hi=3660),
        bar_days=sec.get("bar_days", d.bar_days, lo=0, hi=3660),
        check_seconds=sec.get("check_seconds", d.check_seconds, lo=1, hi=3600),
    )
    return s, sec.finish()


def settings(cfg: HallConfig) -> Settings:
    return featurekit.cached(SECTION, cfg, lambda c: _read(c)[0])


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_of(scanned: str) -> str:
    """The booking code in what a QR reader typed: the bare code, ``hallcall:booking:CODE`` or a URL ending in it."""
    return re.split(r"[/:=?#]", scanned.strip().rstrip("/"))[-1].upper()


def parse_slot(cfg: HallConfig, raw: str, field: str = "slot_start") -> datetime:
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 time such as 2026-12-01T10:00+08:00", code="bad_slot") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=cfg.hall.tz)
    return when.astimezone(cfg.hall.tz)


# -- decisions ----------------------------------------------------------------------------------------------------


def _doc(data: dict[str, Any]) -> Doc:
    keys = [f"idhash:{data['idhash']}", f"day:{data['day']}", f"service:{data['service']}"]
    if data.get("ref"):
        keys.append(f"ref:{data['ref']}")
    return Doc(KIND, data["booking"], data["day"], data, keys=tuple(keys), live=data["status"] == "booked")


def _put(tx: Tx, data: dict[str, Any], name: str, **extra: Any) -> Doc:
    doc = _doc(data)
    tx.emit(f"booking.{name}", docs=(doc,), extra={"topics": ["admin"], "booking": doc.id, "status": data["status"], **extra})
    return doc


def _start(doc: Doc) -> datetime:
    return datetime.fromisoformat(doc.data["slot_start"])


def _mine(tx: Tx, idhash: str, history: list[Doc]) -> list[Doc]:
    """A person's bookings: the store's history, overridden by the live state."""
    found = {d.id: d for d in history}
    found.update({d.id: d for d in tx.state.docs.get(KIND, {}).values() if d.data["idhash"] == idhash})
    return list(found.values())


def _check(tx: Tx, service: str, start: datetime, end: datetime, idhash: str, history: list[Doc], exclude: str | None = None) -> None:
    """Everything a booking must satisfy; each failure says what to do."""
    s = settings(tx.config)
    svc = tx.config.services.get(service)
    if svc is None:
        raise NotFound(f"no service {service!r}", code="service_unknown")
    today = tx.now.date()
    if start <= tx.now:
        raise Conflict("the slot has already started; choose a later one", code="slot_past")
    if end <= start:
        raise Invalid("slot_end must be after slot_start", code="bad_slot")
    if (start.date() - today).days > s.max_days_ahead:
        raise Invalid(f"bookings are taken at most {s.max_days_ahead} days ahead", code="too_far_ahead")
    if not workdays.of(tx.config).is_workday(start.date()):
        raise Invalid(f"the hall is closed on {start.date()} (weekend or holiday)", code="slot_closed")
    if start.date() != end.date() or not any(a <= start.time() and end.time() <= b for a, b in tx.config.hall.hours):
        hours = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in tx.config.hall.hours)
        raise Invalid(f"the slot must lie within the hall's hours ({hours})", code="slot_closed")
    mine = [d for d in _mine(tx, idhash, history) if d.id != exclude]
    if s.no_show_limit:
        since = today - timedelta(days=s.no_show_window_days)
        misses = sorted(date.fromisoformat(d.day) for d in mine if d.data["status"] == "no_show" and date.fromisoformat(d.day) >= since)
        if len(misses) >= s.no_show_limit and today < misses[-1] + timedelta(days=s.bar_days):
            until = misses[-1] + timedelta(days=s.bar_days)
            raise Conflict(f"{len(misses)} bookings were missed since {since}; booking is barred until {until} "
                           f"(多次预约未到，{until} 前暂停预约)", code="booking_barred")
    day = start.date().isoformat()
    same = [d for d in mine if d.data["service"] == service and d.day == day and d.data["status"] in ("booked", "checked_in")]
    if len(same) >= s.per_person_per_day:
        raise Conflict(f"this person already has a booking for {svc.name} on {day} (每人每天每项限约{s.per_person_per_day}次)",
                       code="booking_limit")
    if s.slot_capacity:
        taken = [d for d in tx.state.docs.get(KIND, {}).values()
                 if d.id != exclude and d.data["service"] == service and _start(d) == start and d.data["status"] == "booked"]
        if len(taken) >= s.slot_capacity:
            raise Conflict(f"the {start:%H:%M} slot for {svc.name} is full", code="slot_full")


def book(tx: Tx, *, code: str, service: str, start: datetime, end: datetime, idhash: str, name: str, phone: str,
         ref: str | None, history: list[Doc]) -> Doc:
    """Create a booking. ``idhash`` is the salted hash; ``name`` and ``phone`` come masked."""
    if ref:
        for d in _mine(tx, idhash, history):
            if d.data.get("ref") == ref:
                return d  # the booking system retried: same booking, no new event
    _check(tx, service, start, end, idhash, history)
    data = {
        "booking": code, "service": service, "service_name": tx.config.services[service].name,
        "slot_start": start.isoformat(), "slot_end": end.isoformat(), "day": start.date().isoformat(),
        "idhash": idhash, "name": name, "phone": phone, "ref": ref, "status": "booked", "created_at": tx.now.isoformat(),
        "changes": 0, "ticket": None, "number": None, "checked_in_at": None, "steps": [featurekit.step(tx, "booked")],
    }
    return _put(tx, data, "created")


def _live(tx: Tx, code: str) -> Doc:
    doc = tx.state.docs.get(KIND, {}).get(code)
    if doc is None:
        raise NotFound(f"no open booking {code}", code="booking_unknown")
    return doc


def change(tx: Tx, code: str, *, service: str | None, start: datetime | None, end: datetime | None,
           name: str | None, phone: str | None, history: list[Doc]) -> Doc:
    doc = _live(tx, code)
    if _start(doc) <= tx.now:
        raise Conflict("the slot has started; the booking can no longer change", code="slot_past")
    service = service or doc.data["service"]
    if start is not None and end is None:
        end = start + (datetime.fromisoformat(doc.data["slot_end"]) - _start(doc))
    start, end = start or _start(doc), end or datetime.fromisoformat(doc.data["slot_end"])
    _check(tx, service, start, end, doc.data["idhash"], history, exclude=doc.id)
    data = {**doc.data, "service": service, "service_name": tx.config.services[service].name, "slot_start": start.isoformat(),
            "slot_end": end.isoformat(), "day": start.date().isoformat(), "changes": doc.data["changes"] + 1,
            "steps": [*doc.data["steps"], featurekit.step(tx, "changed", slot_start=start.isoformat(), service=service)]}
    if name is not None:
        data["name"] = name
    if phone is not None:
        data["phone"] = phone
    return _put(tx, data, "changed")


def cancel(tx: Tx, code: str) -> Doc:
    doc = _live(tx, code)
    data = {**doc.data, "status": "cancelled", "steps": [*doc.data["steps"], featurekit.step(tx, "cancelled")]}
    return _put(tx, data, "cancelled")


def check_in(tx: Tx, *, token: str, code: str | None = None, idhash: str | None = None, service: str | None = None,
             print_to: str | None = None) -> tuple[Ticket, Doc]:
    """Check a booking in at the kiosk and issue its appointment ticket, atomically."""
    s = settings(tx.config)
    live = tx.state.docs.get(KIND, {})
    if code is not None:
        found = [_live(tx, code)]
    else:
        found = [d for d in live.values() if d.data["idhash"] == idhash and (service is None or d.data["service"] == service)]
        if not found:
            raise NotFound("no booking for this ID number (未查询到预约)", code="booking_unknown")
    today = [d for d in found if d.day == tx.state.day]
    if not today:
        raise Conflict(f"the booking is for {min(d.day for d in found)}, not today", code="booking_not_today")
    before, after = timedelta(minutes=s.checkin_before_minutes), timedelta(minutes=s.void_after_minutes)
    ready = [d for d in today if _start(d) - before <= tx.now < _start(d) + after]
    if not ready:
        first = min(today, key=_start)
        if tx.now < _start(first) - before:
            raise Conflict(f"check-in opens at {_start(first) - before:%H:%M} (请于{_start(first) - before:%H:%M}后签到)",
                           code="too_early")
        raise Conflict("the check-in time of this booking has passed (预约已过签到时间)", code="booking_expired")
    doc = min(ready, key=_start)
    t = rules.issue(tx, doc.data["service"], token=token, channel=Channel.APPOINTMENT, priority=Priority.APPOINTMENT,
                    staff=True,  # the slot was checked against the hours when booked; an early arrival may beat opening
                    appointment=doc.id, print_to=print_to)
    data = {**doc.data, "status": "checked_in", "checked_in_at": tx.now.isoformat(), "ticket": t.id, "number": t.number,
            "steps": [*doc.data["steps"], featurekit.step(tx, "checked_in", number=t.number)]}
    return t, _put(tx, data, "checked_in", number=t.number)


def check(tx: Tx) -> list[Doc]:
    """Void bookings not checked in ``void_after_minutes`` after their slot started: no-shows."""
    after = timedelta(minutes=settings(tx.config).void_after_minutes)
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["status"] == "booked" and tx.now >= _start(doc) + after:
            data = {**doc.data, "status": "no_show", "steps": [*doc.data["steps"], featurekit.step(tx, "no_show")]}
            out.append(_put(tx, data, "no_show"))
    return out


async def run_check(hall: Any) -> list[Doc]:
    return await hall.run(check)  # type: ignore[no-any-return]


# -- HTTP -------------------------------------------------------------------------------------------------------------


def view(doc: Doc) -> dict[str, Any]:
    """A booking as screens and the booking system see it: masked, and without the ID hash."""
    data = {k: v for k, v in doc.data.items() if k not in ("idhash", "steps")}
    return {"id": doc.id, **data, "status_name": STATUS[doc.data["status"]], "steps": doc.data["steps"]}


def _booking_system(p: Principal) -> None:
    auth.require(p, "agent", "manager", "admin")
    if p.role == "agent" and p.windows:
        raise Forbidden("a window's agent may not manage bookings; use an agent token bound to no window")


_SLOT = {"type": "string", "maxLength": 40}
_ID = {"type": "string", "maxLength": 40}
_NAME = {"type": "string", "maxLength": 40}
_PHONE = {"type": "string", "maxLength": 20}


@route("POST", "/appointments", "Create a booking (201); the ID number is hashed and dropped",
       "agent token bound to no window (the booking system), manager, admin",
       body=obj(["service", "slot_start", "id_number"], service=STR, slot_start=_SLOT, slot_end=_SLOT, id_number=_ID,
                name=_NAME, phone=_PHONE, ref={"type": "string", "maxLength": 64}),
       status=201, tag="appointments")
async def post_appointment(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    _booking_system(p)
    hall = api.hall_of(request)
    s = settings(hall.config)
    idhash = privacy.hasher(request.app).hash_id(body["id_number"])
    start = parse_slot(hall.config, body["slot_start"])
    end = parse_slot(hall.config, body["slot_end"], "slot_end") if body.get("slot_end") else start + timedelta(minutes=s.slot_minutes)
    name, phone = privacy.mask_name(body.get("name")), privacy.check_phone(body.get("phone"))
    history = await hall.store.docs(KIND, key=f"idhash:{idhash}")
    code = new_code()
    return await hall.run(lambda tx: view(book(tx, code=code, service=body["service"], start=start, end=end, idhash=idhash,
                                                name=name, phone=phone, ref=body.get("ref"), history=history)), p.actor)


@route("GET", "/appointments", "Bookings of a day, with counts by status", "agent token bound to no window, manager, admin",
       query={"date": api._DAY, "status": {"type": "string", "enum": list(STATUS)}}, tag="appointments")
async def get_appointments(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    _booking_system(p)
    hall = api.hall_of(request)
    day = request.query.get("date", hall.state.day)
    docs = await hall.store.docs(KIND, key=f"day:{day}")
    counts = {k: sum(1 for d in docs if d.data["status"] == k) for k in STATUS}
    if "status" in request.query:
        docs = [d for d in docs if d.data["status"] == request.query["status"]]
    docs.sort(key=lambda d: (d.data["slot_start"], d.id))
    await privacy.audit(hall, p, "view", KIND, ids=[d.id for d in docs], detail=f"bookings of {day}")
    return {"date": day, "counts": counts, "bookings": [view(d) for d in docs]}


@route("GET", "/appointments/{id}", "One booking", "agent token bound to no window, manager, admin", tag="appointments")
async def get_appointment(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    _booking_system(p)
    hall = api.hall_of(request)
    code = request.match_info["id"].upper()
    doc = hall.state.docs.get(KIND, {}).get(code) or await hall.store.doc(KIND, code)
    if doc is None:
        raise NotFound(f"no booking {code}", code="booking_unknown")
    await privacy.audit(hall, p, "view", KIND, ids=[doc.id])
    return view(doc)


@route("PUT", "/appointments/{id}", "Change a booking's service, slot, name or phone", "agent token bound to no window, manager, admin",
       body=obj(service=STR, slot_start=_SLOT, slot_end=_SLOT, name=_NAME, phone=_PHONE), tag="appointments")
async def put_appointment(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    _booking_system(p)
    hall = api.hall_of(request)
    code = request.match_info["id"].upper()
    current = hall.state.docs.get(KIND, {}).get(code)
    history = await hall.store.docs(KIND, key=f"idhash:{current.data['idhash']}") if current is not None else []
    start = parse_slot(hall.config, body["slot_start"]) if body.get("slot_start") else None
    end = parse_slot(hall.config, body["slot_end"], "slot_end") if body.get("slot_end") else None
    name = privacy.mask_name(body["name"]) if "name" in body else None
    phone = privacy.check_phone(body["phone"]) if "phone" in body else None
    return await hall.run(lambda tx: view(change(tx, code, service=body.get("service"), start=start, end=end, name=name,
                                                  phone=phone, history=history)), p.actor)


@route("DELETE", "/appointments/{id}", "Cancel a booking", "agent token bound to no window, manager, admin", tag="appointments")
async def delete_appointment(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    _booking_system(p)
    code = request.match_info["id"].upper()
    return await api.hall_of(request).run(lambda tx: view(cancel(tx, code)), p.actor)


@route("POST", "/appointments/check-in", "Check a booking in by ID number or booking code and take its priority ticket (201)",
       "kiosk token, staff", body=obj(id_number=_ID, code={"type": "string", "maxLength": 200}, service=STR),
       status=201, tag="appointments")
async def post_check_in(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "kiosk", "clerk", "manager", "admin")
    if ("id_number" in body) == ("code" in body):
        raise Invalid("give exactly one of 'id_number' or 'code'", code="checkin_target")
    hall = api.hall_of(request)
    idhash = privacy.hasher(request.app).hash_id(body["id_number"]) if "id_number" in body else None
    code = code_of(body["code"]) if "code" in body else None
    token = secrets.token_urlsafe(16)
    print_to = p.kiosk if p.role == "kiosk" and p.kiosk else None

    def decide(tx: Tx) -> dict[str, Any]:
        t, doc = check_in(tx, token=token, code=code, idhash=idhash, service=body.get("service"), print_to=print_to)
        booking = view(doc)
        del booking["steps"]
        return {"ticket": hall.ticket_view(tx.state, t), "booking": booking}

    try:
        return await hall.run(decide, p.actor)
    except NotFound as exc:
        gone = await hall.store.doc(KIND, code) if code else None
        if gone is not None:  # say why a known code no longer checks in
            raise Conflict(f"this booking is {gone.data['status']} ({STATUS[gone.data['status']]})", code="booking_closed") from None
        raise exc


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    return _read(cfg)[1]


register(Feature(SECTION, validate=validate,
                 lifetime=featurekit.periodic("appointments", lambda cfg: settings(cfg).check_seconds, run_check)))
