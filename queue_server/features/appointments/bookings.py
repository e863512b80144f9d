"""Appointments (预约) as pure decisions: bookings from a booking system, kiosk check-in, no-show voiding.

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
from typing import Any, Callable

from queue_server.core import rules
from queue_server.core.config import HallConfig, Section
from queue_server.core.errors import Conflict, Invalid, NotFound
from queue_server.core.model import Channel, Doc, Priority, Ticket
from queue_server.core.rules import Tx
from queue_server.service.plugin import log_step

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


def read(sec: Section) -> Settings:
    """The [appointments] table over the defaults; problems collect on ``sec``."""
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
    return s


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
    tx.emit(f"booking.{name}", docs=(doc,), extra={"booking": doc.id, "status": data["status"], **extra})
    return doc


def _start(doc: Doc) -> datetime:
    return datetime.fromisoformat(doc.data["slot_start"])


def _mine(tx: Tx, idhash: str, history: list[Doc]) -> list[Doc]:
    """A person's bookings: the store's history, overridden by the live state."""
    found = {d.id: d for d in history}
    found.update({d.id: d for d in tx.state.docs.get(KIND, {}).values() if d.data["idhash"] == idhash})
    return list(found.values())


def _check(tx: Tx, s: Settings, service: str, start: datetime, end: datetime, idhash: str, history: list[Doc],
           exclude: str | None = None) -> None:
    """Everything a booking must satisfy; each failure says what to do."""
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
    if not tx.config.calendar.is_workday(start.date()):
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


def book(tx: Tx, s: Settings, *, code: str, service: str, start: datetime, end: datetime, idhash: str, name: str, phone: str,
         ref: str | None, history: list[Doc]) -> Doc:
    """Create a booking. ``idhash`` is the salted hash; ``name`` and ``phone`` come masked."""
    if ref:
        for d in _mine(tx, idhash, history):
            if d.data.get("ref") == ref:
                return d  # the booking system retried: same booking, no new event
    _check(tx, s, service, start, end, idhash, history)
    data = {
        "booking": code, "service": service, "service_name": tx.config.services[service].name,
        "slot_start": start.isoformat(), "slot_end": end.isoformat(), "day": start.date().isoformat(),
        "idhash": idhash, "name": name, "phone": phone, "ref": ref, "status": "booked", "created_at": tx.now.isoformat(),
        "changes": 0, "ticket": None, "number": None, "checked_in_at": None, "steps": [log_step(tx, "booked")],
    }
    return _put(tx, data, "created")


def _live(tx: Tx, code: str) -> Doc:
    doc = tx.state.docs.get(KIND, {}).get(code)
    if doc is None:
        raise NotFound(f"no open booking {code}", code="booking_unknown")
    return doc


def change(tx: Tx, s: Settings, code: str, *, service: str | None, start: datetime | None, end: datetime | None,
           name: str | None, phone: str | None, history: list[Doc]) -> Doc:
    doc = _live(tx, code)
    if _start(doc) <= tx.now:
        raise Conflict("the slot has started; the booking can no longer change", code="slot_past")
    service = service or doc.data["service"]
    if start is not None and end is None:
        end = start + (datetime.fromisoformat(doc.data["slot_end"]) - _start(doc))
    start, end = start or _start(doc), end or datetime.fromisoformat(doc.data["slot_end"])
    _check(tx, s, service, start, end, doc.data["idhash"], history, exclude=doc.id)
    data = {**doc.data, "service": service, "service_name": tx.config.services[service].name, "slot_start": start.isoformat(),
            "slot_end": end.isoformat(), "day": start.date().isoformat(), "changes": doc.data["changes"] + 1,
            "steps": [*doc.data["steps"], log_step(tx, "changed", slot_start=start.isoformat(), service=service)]}
    if name is not None:
        data["name"] = name
    if phone is not None:
        data["phone"] = phone
    return _put(tx, data, "changed")


def cancel(tx: Tx, code: str) -> Doc:
    doc = _live(tx, code)
    data = {**doc.data, "status": "cancelled", "steps": [*doc.data["steps"], log_step(tx, "cancelled")]}
    return _put(tx, data, "cancelled")


def check_in(tx: Tx, s: Settings, *, token: str | Callable[[str], str], code: str | None = None, idhash: str | None = None,
             service: str | None = None, print_to: str | None = None) -> tuple[Ticket, Doc]:
    """Check a booking in at the kiosk and issue its appointment ticket, atomically."""
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
            "steps": [*doc.data["steps"], log_step(tx, "checked_in", number=t.number)]}
    return t, _put(tx, data, "checked_in", number=t.number)


def check(tx: Tx, s: Settings) -> list[Doc]:
    """Void bookings not checked in ``void_after_minutes`` after their slot started: no-shows."""
    after = timedelta(minutes=s.void_after_minutes)
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["status"] == "booked" and tx.now >= _start(doc) + after:
            data = {**doc.data, "status": "no_show", "steps": [*doc.data["steps"], log_step(tx, "no_show")]}
            out.append(_put(tx, data, "no_show"))
    return out
