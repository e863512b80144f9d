"""The core's commands: tickets, windows, ratings, notices, devices, people and tokens.

Each is a ``Command`` (see commands.py): a name, an argument schema, one authorization
rule and what it does, usually one decision of ``core.rules`` run through ``Call.decide``.
Features add theirs beside these; the web layer serves them all.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from queue_server.core import bundles, rules
from queue_server.core.errors import Conflict, Forbidden, Invalid, NotFound, TooMany
from queue_server.core.model import REASONS, Channel, Outcome, Priority, Status, Ticket
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, NUMBER, STR, WINDOW, obj
from queue_server.core.state import HallState

from . import auth, limits, views
from .auth import ANYONE, MANAGERS, STAFF, Principal, rule
from .commands import Call, Command, Http, command

TOKEN = {"type": "string", "pattern": "[A-Za-z0-9_-]{8,64}"}
LEVEL = {"type": "integer", "minimum": 1, "maximum": 5}
OUTCOME = {"type": "string", "enum": [o.value for o in Outcome]}
DETAILS = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "materials": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 20},
        "due": {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"},
        "reason": {"type": "string", "maxLength": 300},
        "note": {"type": "string", "maxLength": 500},
    },
}


def today_by_token(st: HallState, token: str) -> Ticket:
    t = st.ticket_by_token(token)
    if t is None:
        raise NotFound("no such ticket today", code="ticket_unknown")
    return t


def today_by_number(st: HallState, number: str) -> Ticket:
    t = st.ticket_by_number(number)
    if t is None:
        raise NotFound(f"no ticket {number} today", code="ticket_unknown")
    return t


# -- tickets --------------------------------------------------------------------------------------


def _channel_and_priority(p: Principal, channel: str | None, priority: str | None) -> tuple[Channel, Priority]:
    prio = Priority(priority or "normal")
    if p.role != "kiosk":
        return Channel(channel or "staff"), prio
    if channel is not None and channel not in (Channel.KIOSK, Channel.PHONE):
        raise Forbidden(f"a kiosk may issue kiosk or phone tickets, not {channel!r}")
    if prio is Priority.GREEN and not p.green:
        raise Forbidden("the green channel is not enabled on this kiosk", code="green_disabled")
    if prio is Priority.APPOINTMENT:
        raise Forbidden("appointment tickets come from a booking check-in", code="appointment_only")
    return Channel(channel or "kiosk"), prio


def scoped_request_id(p: Principal, key: str | None) -> str | None:
    """An Idempotency-Key as kept with the ticket: the caller's own, so another caller's same key is another request.

    Hashed with who sent it, so a key seen by one kiosk names nothing for the next one.
    """
    if not key:
        return None
    return "rq_" + auth.digest(f"{p.actor or p.role}\n{key}")[:40]


async def _within_limits(c: Call, channel: Channel) -> None:
    """Refuse a kiosk's ticket over its limits (429); the first refusal of a source in an hour raises an alert.

    Staff are not limited: they issue for citizens at the desk, signed in and answerable.
    """
    p = c.principal
    if p.role != "kiosk":
        return
    session = c.get("phone_session")
    hit = c.hall.issuing.admit(token=p.id, address=p.address, phone_session=session, phone=channel is Channel.PHONE)
    if hit is None:
        return
    # A phone session is the gateway's own opaque id; only a hash of it is kept in the alert.
    key = auth.digest(hit.key)[:12] if hit.source == "phone" else hit.key
    if c.hall.issuing.first_report(hit):
        info = {"source": hit.source, "key": key, "kiosk": p.kiosk, "label": p.name}
        await c.hall.run(lambda tx: rules.limit_reached(tx, info), p.actor)
    wait = limits.retry_after(hit.wait)
    what = {"kiosk": "this kiosk", "address": "this address", "phone": "this phone"}[hit.source]
    raise TooMany(f"{what} is taking tickets too fast; try again in {wait} s", retry_after=wait)


async def issue(c: Call) -> dict[str, Any]:
    p = c.principal
    chan, prio = _channel_and_priority(p, c.get("channel"), c.get("priority"))
    tracking = c.hall.tracking
    print_to = p.kiosk if p.role == "kiosk" and p.kiosk else None
    request_id = scoped_request_id(p, c.get("request_id"))
    if request_id not in c.hall.state.by_request:  # a retry of a ticket already taken is not another ticket
        await _within_limits(c, chan)

    def decide(tx: Tx) -> dict[str, Any]:
        t = rules.issue(tx, c["service"], token=tracking.key_of, channel=chan, priority=prio, staff=p.is_staff,
                        request_id=request_id, print_to=print_to)
        issued = tx.events[0] if tx.events else None
        # A new ticket's place is known from the rule, so no queue scan per ticket.
        ahead = issued.extra["ahead"] if issued is not None and issued.ticket is not None and issued.ticket.id == t.id else None
        return views.ticket(tx.state, t, ahead=ahead, token=tracking.token(t.id))

    return await c.decide(decide)


async def ticket(c: Call) -> dict[str, Any]:
    """A ticket by its tracking token: today's from memory, older ones from the store."""
    st = c.hall.state
    t = st.ticket_by_token(c["token"]) or await c.hall.store.ticket_by_token(c["token"])
    if t is None:
        raise NotFound("no such ticket", code="ticket_unknown")
    # The hall's sequence number when read, so a page can tell this reply from a newer event.
    return {**views.ticket(st, t, token=c["token"]), "seq": st.seq}


def _by_number_needs(*roles: str) -> auth.StateCheck:
    """A ticket named by its number (not its token) needs one of these roles."""

    def check(p: Principal, st: HallState, args: Any) -> None:
        if "ticket" in args:
            auth.require(p, *roles)
        elif "token" not in args:
            raise Invalid("name the ticket: 'ticket' (its number) or 'token'", code="missing_field")

    return check


async def cancel(c: Call) -> dict[str, Any]:
    """Cancel a waiting ticket: the citizen by its token, staff by its number."""

    def decide(tx: Tx) -> dict[str, Any]:
        if "token" in c.args:
            return views.ticket(tx.state, rules.cancel(tx, today_by_token(tx.state, c["token"])), token=c["token"])
        return views.ticket(tx.state, rules.cancel(tx, today_by_number(tx.state, c["ticket"])))

    def as_citizen(tx: Tx) -> dict[str, Any]:
        c.rule.allows(c.principal, tx.state, c.args)
        return decide(tx)

    if "token" in c.args:  # the citizen acts for themself, whoever else they are
        return await c.hall.run(as_citizen, "citizen")
    return await c.decide(decide)


async def requeue(c: Call) -> dict[str, Any]:
    return await c.decide(lambda tx: views.ticket(tx.state, rules.requeue(tx, today_by_number(tx.state, c["ticket"]))))


async def reprint(c: Call) -> dict[str, Any]:
    def decide(tx: Tx) -> dict[str, Any]:
        t = rules.reprint(tx, today_by_number(tx.state, c["ticket"]), c.get("kiosk"))
        return {**views.ticket(tx.state, t), "printed_at": tx.events[-1].extra["kiosk"]}

    return await c.decide(decide)


# -- windows --------------------------------------------------------------------------------------


def _at_window(act: Any) -> Any:
    """A window action whose result is the ticket it acted on (None when nobody waits).

    With ``expect`` (the ticket the caller's screen shows at the window, or null) the
    action is refused unless the window is in that state (see ``rules.expect_current``).
    """

    async def run(c: Call) -> dict[str, Any] | None:
        def decide(tx: Tx) -> dict[str, Any] | None:
            if "expect" in c.args:
                rules.expect_current(tx, c["window"], c["expect"])
            t = act(tx, c)
            return views.ticket(tx.state, t) if t is not None else None

        return await c.decide(decide)

    return run


def _call_back(tx: Tx, c: Call) -> Ticket:
    number = c["window"]
    if c.get("ticket"):
        t = today_by_number(tx.state, c["ticket"])
    else:
        held = sorted((t for t in tx.state.tickets.values() if t.status is Status.HELD and t.pinned_window == number),
                      key=lambda t: t.rank)
        if not held:
            raise Conflict(f"no ticket is held at window {number}", code="nothing_held")
        t = held[0]
    return rules.call_back(tx, number, t, closes_current=_next_key(c))


def _next_key(c: Call) -> bool:
    """A call keypad (an agent) has one "next" key, which may close the ticket at the window; a console never."""
    return c.principal.role == "agent"


def _call_ticket(tx: Tx, c: Call) -> Ticket:
    return rules.call_ticket(tx, c["window"], today_by_number(tx.state, c["ticket"]), c["reason"])


async def open_window(c: Call) -> dict[str, Any]:
    p, number = c.principal, c["window"]
    if p.role == "agent":
        if not c.get("staff_no"):
            raise Invalid("an agent opens a window for a clerk: give 'staff_no'", code="staff_no_required")
        person = await c.hall.store.person(staff_no=c["staff_no"])
        if person is None or not person.active:
            raise NotFound(f"no clerk with staff number {c['staff_no']}", code="person_unknown")
        if person.role != "clerk":
            # A keypad knows no password: a staff number is no proof of a manager's or an admin's presence.
            raise Forbidden("a keypad signs in clerks only; managers and admins sign in with their password")
        if person.windows and number not in person.windows:
            raise Forbidden(f"{person.name} may not sign in at window {number}")
        card = person.card()
    else:
        assert p.person is not None
        card = p.person.card()

    def decide(tx: Tx) -> dict[str, Any]:
        rules.open_window(tx, number, card)
        return views.window(tx.state, number)

    return await c.decide(decide)


def _status(act: Any) -> Any:
    async def run(c: Call) -> dict[str, Any]:
        def decide(tx: Tx) -> dict[str, Any]:
            act(tx, c)
            return views.window(tx.state, c["window"])

        return await c.decide(decide)

    return run


def _pause(tx: Tx, c: Call) -> Any:
    reason = (c.get("reason") or "rest").strip()[:100] or "rest"
    return rules.pause_window(tx, c["window"], reason)


async def window_queue(c: Call) -> dict[str, Any]:
    st, number = c.hall.state, c["window"]
    return {"seq": st.seq, "window": views.window(st, number), "queue": views.window_queue(st, number),
            **views.held_and_missed(st, number), "today": await c.hall.window_today(number)}


# -- ratings, notices, devices --------------------------------------------------------------------


def _rater(p: Principal, st: HallState, args: Any) -> None:
    """A pad or keypad rates its own window's services; anybody else rates by the ticket's token."""
    if p.role not in ("pad", "agent"):
        return
    t = st.ticket(args["ticket"]) or st.ticket_by_number(args["ticket"])
    if t is not None and t.window not in p.windows and not (bundles.rated_by_part(st.config, t)
                                                            and bundles.rating_window(t, p.windows) is not None):
        raise Forbidden(f"this {p.role} may rate window {sorted(p.windows)}'s services only")


async def evaluate(c: Call) -> dict[str, Any]:
    p = c.principal
    device = p.role in ("pad", "agent")
    source = c.get("source") or {"pad": "pad", "agent": "keypad"}.get(p.role, "phone") if device else "phone"

    def decide(tx: Tx) -> dict[str, Any]:
        st = tx.state
        window = None
        if device:
            t = st.ticket(c["ticket"]) or st.ticket_by_number(c["ticket"])
            if t is None:
                raise NotFound(f"no ticket {c['ticket']} today", code="ticket_unknown")
            # A bundle rated by part: the device rates the part done at its own window.
            if bundles.rated_by_part(tx.config, t):
                window = bundles.rating_window(t, p.windows, c.get("part"))
                if window is None:
                    raise Conflict(f"no part of {t.number} was done at window {sorted(p.windows)}", code="not_finished")
            if p.role == "pad":
                rules.pad_may_rate(tx, t, window)
        else:
            t = today_by_token(st, c["ticket"])
        return rules.evaluate(tx, t, c["level"], c.get("reasons") or [], c.get("comment"), source,
                              part=c.get("part"), window=window).to_dict()

    def as_citizen(tx: Tx) -> dict[str, Any]:
        c.rule.allows(p, tx.state, c.args)
        return decide(tx)

    if device:
        return await c.decide(decide)
    return await c.hall.run(as_citizen, "citizen")


async def set_notice(c: Call) -> dict[str, Any]:
    return await c.decide(lambda tx: rules.set_notice(tx, c["text"], c.get("text_en", "")).to_dict())


async def device_status(c: Call) -> dict[str, Any]:
    a = c.args
    return await c.decide(lambda tx: rules.device_status(
        tx, a["device"], a["kind"], a["status"], detail=a.get("detail", ""), window=a.get("window"),
        kiosk=a.get("kiosk"), agent=c.principal.id, link=c.principal.extra.get("link")).to_dict())


# -- people and device tokens -----------------------------------------------------------------------


async def add_person(c: Call) -> dict[str, Any]:
    if c.principal.role == "manager" and c["role"] not in auth.MANAGED_ROLES:
        raise Forbidden("a manager may add clerks and guides only")
    store = c.hall.store
    if await store.person(login=c["login"]) is not None:
        raise Conflict(f"login {c['login']!r} is taken", code="login_taken")
    person = auth.new_person(
        c["login"], c["name"], c["role"], c["password"], staff_no=c.get("staff_no", ""),
        department=c.get("department", ""), photo=c.get("photo", ""), windows=tuple(c.get("windows", [])),
        now=c.hall.clock.now(),
    )
    await store.put_person(person)
    return person.public()


async def change_person(c: Call) -> dict[str, Any]:
    hall, p = c.hall, c.principal
    person = await hall.store.person(id=c["id"])
    if person is None:
        raise NotFound("no such person", code="person_unknown")
    if p.role == "manager" and person.role not in auth.MANAGED_ROLES:
        raise Forbidden("a manager may change clerks and guides only")
    if person.id == p.id and c.get("active") is False:
        raise Conflict("you cannot deactivate yourself", code="self_deactivate")
    changes: dict[str, Any] = {k: v for k, v in c.args.items() if k not in ("id", "password", "windows")}
    if "windows" in c.args:
        changes["windows"] = tuple(c["windows"])
    if "password" in c.args:
        changes["password_hash"] = auth.hash_password(c["password"])
    updated = replace(person, **changes)
    await hall.store.put_person(updated)
    hall.auth.forget()  # sessions of a deactivated person stop working here at once
    return updated.public()


async def add_token(c: Call) -> dict[str, Any]:
    hall = c.hall
    unknown = [n for n in c.get("windows", []) if n not in hall.config.windows]
    if unknown:
        raise NotFound(f"no window {unknown[0]}", code="window_unknown")
    secret, row = await hall.auth.add_token(
        c["role"], c.get("label") or c["role"], windows=tuple(c.get("windows", [])), kiosk=c.get("kiosk", ""),
        green=bool(c.get("green", False)),
    )
    return {**row.public(), "token": secret}


async def revoke_token(c: Call) -> dict[str, Any]:
    row = await c.hall.auth.revoke_token(c["id"])
    if row is None:
        raise NotFound("no such token", code="token_unknown")
    return row.public()


async def audit_log(c: Call) -> dict[str, Any]:
    d_from, d_to = c.hall.period_of(c.args)
    actor = c.get("actor")
    docs = await c.hall.store.docs("audit", day_from=d_from, day_to=d_to, key=f"actor:{actor}" if actor else None)
    return {"from": d_from, "to": d_to, "entries": [{"id": d.id, **d.data} for d in docs]}


# -- the table ------------------------------------------------------------------------------------------

_WINDOW_ONLY = obj(["window"], window=WINDOW)
_PERSON_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 40}, "staff_no": {"type": "string", "maxLength": 20},
    "department": {"type": "string", "maxLength": 60}, "photo": {"type": "string", "maxLength": 300},
    "windows": {"type": "array", "items": WINDOW, "maxItems": 200},
    "password": {"type": "string", "minLength": 6, "maxLength": 200},
}
PERIOD_ARGS = {"date": DAY, "from": DAY, "to": DAY}
_OPERATOR = auth.WINDOW_OPERATOR
_STATUS = auth.WINDOW_STATUS


EXPECT = {"type": ["string", "null"], "maxLength": 64}


def _window_command(name: str, path: str, summary: str, act: Any, *, required: tuple[str, ...] = (),
                    **extra: dict[str, Any]) -> Command:
    return command(name, summary, _OPERATOR, _at_window(act),
                   args=obj(["window", *required], window=WINDOW, expect=EXPECT, **extra),
                   http=Http("POST", f"/windows/{{window}}/{path}", tag="windows"),
                   empty_status=204 if name == "call_next" else None)


def core_commands() -> list[Command]:
    """Every command of the queue core, in the order the API documents them."""
    return [
        command("hall", "The hall's layout and live state", ANYONE,
                lambda c: _async({**views.describe(c.hall.config), "live": c.hall.snapshot()}),
                http=Http("GET", "/hall")),
        command("health", "Liveness and the last event sequence", ANYONE, lambda c: _async(
            {"ok": True, "seq": c.hall.state.seq, "day": c.hall.state.day, "store": c.hall.store.kind}),
            http=Http("GET", "/health")),
        command("issue", "Take a ticket for a service (201 with number, ahead, ETA and tracking token)",
                auth.KIOSK_OR_STAFF, issue,
                args=obj(["service"], service=STR, channel={"type": "string", "enum": [c.value for c in Channel]},
                         priority={"type": "string", "enum": [p.value for p in Priority]},
                         request_id={"type": "string", "maxLength": 100},
                         phone_session={"type": "string", "minLength": 8, "maxLength": 64}),
                http=Http("POST", "/tickets", 201, "tickets",
                          headers={"Idempotency-Key": "request_id", "X-Phone-Session": "phone_session"})),
        command("ticket", "A ticket with its position and ETA", rule("anyone with the token", *ANYONE.roles), ticket,
                args=obj(["token"], token=TOKEN), http=Http("GET", "/tickets/{token}", tag="tickets")),
        command("cancel", "Cancel a waiting ticket: the citizen by its token, staff by its number",
                rule("anyone with the token; staff by number", *ANYONE.roles, check=_by_number_needs(*auth.STAFF_ROLES)),
                cancel, args=obj(ticket=NUMBER, token=TOKEN),
                http=(Http("DELETE", "/tickets/{token}", tag="tickets"), Http("POST", "/cancel", tag="tickets"))),
        command("requeue", "Put a missed (no-show) ticket back in its queue",
                rule("kiosk, agent, staff", "kiosk", "agent", *auth.STAFF_ROLES), requeue,
                args=obj(["ticket"], ticket=NUMBER), http=Http("POST", "/requeue", tag="tickets")),
        command("reprint", "Print a waiting ticket again, at its own kiosk or at the one named", STAFF, reprint,
                args=obj(["ticket"], ticket=NUMBER, kiosk={"type": "string", "minLength": 1, "maxLength": 80}),
                http=Http("POST", "/reprint", tag="tickets")),
        command("open", "Sign in at a window", auth.MAY_OPEN, open_window,
                args=obj(["window"], window=WINDOW, staff_no={"type": "string", "maxLength": 40}),
                http=Http("POST", "/windows/{window}/open", tag="windows")),
        command("close", "Sign out of the window", _STATUS,
                _status(lambda tx, c: rules.close_window(tx, c["window"])), args=_WINDOW_ONLY,
                http=Http("POST", "/windows/{window}/close", tag="windows")),
        command("pause", "Pause the window", _STATUS, _status(_pause),
                args=obj(["window"], window=WINDOW, reason={"type": "string", "maxLength": 100}),
                http=Http("POST", "/windows/{window}/pause", tag="windows")),
        command("resume", "Resume the window", _STATUS, _status(lambda tx, c: rules.resume_window(tx, c["window"])),
                args=_WINDOW_ONLY, http=Http("POST", "/windows/{window}/resume", tag="windows")),
        _window_command("call_next", "call-next", "Call the next ticket to the window (204 when nobody waits)",
                        lambda tx, c: rules.call_next(tx, c["window"], closes_current=_next_key(c))),
        _window_command("call_ticket", "call-ticket", "Call a chosen waiting ticket out of turn (点号), with a reason",
                        _call_ticket, required=("ticket", "reason"), ticket=NUMBER,
                        reason={"type": "string", "minLength": 1, "maxLength": 100}),
        _window_command("recall", "recall", "Call the current ticket again", lambda tx, c: rules.recall(tx, c["window"])),
        _window_command("start", "start", "Start handling the current ticket", lambda tx, c: rules.start(tx, c["window"])),
        _window_command("finish", "finish", "Finish the current ticket and ask for a rating",
                        lambda tx, c: rules.finish(tx, c["window"], Outcome(c.get("outcome") or "done"), c.get("details")),
                        outcome=OUTCOME, details=DETAILS),
        _window_command("tick_part", "tick-part", "Tick one part of a one-window bundle done (办结 / 容缺受理 / 办不成)",
                        lambda tx, c: rules.tick_part(tx, c["window"], c["part"], Outcome(c.get("outcome") or "done"),
                                                      c.get("details")),
                        required=("part",), part=STR, outcome=OUTCOME, details=DETAILS),
        _window_command("no_show", "no-show", "Mark the current ticket as a no-show",
                        lambda tx, c: rules.no_show(tx, c["window"])),
        _window_command("transfer", "transfer", "Transfer the current ticket to a service or a window",
                        lambda tx, c: rules.transfer(tx, c["window"], service=c.get("service"),
                                                     to_window=c.get("to_window"), head=c.get("head")),
                        service=STR, to_window=WINDOW, head={"type": "boolean"}),
        _window_command("hold", "hold", "Park the current ticket at this window", lambda tx, c: rules.hold(tx, c["window"])),
        _window_command("call_back", "call-back", "Call a held ticket back", _call_back, ticket=NUMBER),
        command("window_queue", "Tickets the window may call, in calling order; held and missed ones; today's figures",
                auth.QUEUE_VIEWERS, window_queue, args=_WINDOW_ONLY,
                http=Http("GET", "/windows/{window}/queue", tag="windows")),
        command("evaluate", "Rate a finished service (201)",
                rule("the pad or agent of its window, or the token holder", "anonymous", "pad", "agent", check=_rater),
                evaluate,
                args=obj(["ticket", "level"], ticket={"type": "string", "maxLength": 64}, level=LEVEL,
                         reasons={"type": "array", "items": {"type": "string", "enum": sorted(REASONS)}, "maxItems": 5},
                         comment={"type": ["string", "null"], "maxLength": 500},
                         source={"type": "string", "enum": ["pad", "keypad", "phone", "web"]},
                         part={"type": "string", "maxLength": 64}),
                http=Http("POST", "/evaluations", 201, "evaluations")),
        command("set_notice", "Set the notice scrolling on hall screens", MANAGERS, set_notice,
                args=obj(["text"], text={"type": "string", "maxLength": 500}, text_en={"type": "string", "maxLength": 500}),
                http=Http("PUT", "/notice", tag="admin")),
        command("devices", "Device health as last reported by the agents",
                rule("manager, admin, agent", "manager", "admin", "agent"),
                lambda c: _async({"devices": views.devices(c.hall.state)}), http=Http("GET", "/devices", tag="devices")),
        command("device_status", "Report a device's health", auth.AGENT, device_status,
                args=obj(["device", "kind", "status"], device={"type": "string", "maxLength": 80},
                         kind={"type": "string", "enum": list(rules.DEVICE_KINDS)},
                         status={"type": "string", "enum": list(rules.DEVICE_STATUSES)},
                         detail={"type": "string", "maxLength": 300}, window={"type": ["integer", "null"], "minimum": 1},
                         kiosk={"type": ["string", "null"], "maxLength": 80}),
                http=Http("POST", "/devices/status", tag="devices")),
        command("people", "Clerks, guides, managers and admins", MANAGERS,
                lambda c: _people(c), http=Http("GET", "/people", tag="admin")),
        command("add_person", "Add a person (managers may add clerks and guides only)", MANAGERS, add_person,
                args=obj(["login", "name", "role", "password"], login={"type": "string", "pattern": r"[A-Za-z0-9_.-]{2,40}"},
                         role={"type": "string", "enum": list(auth.PEOPLE_ROLES)}, **_PERSON_FIELDS),
                http=Http("POST", "/people", 201, "admin")),
        command("change_person", "Change a person: deactivate, reactivate, windows, password…",
                rule("manager (clerks and guides only), admin", "manager", "admin"), change_person,
                args=obj(["id"], id={"type": "string", "maxLength": 64}, active={"type": "boolean"}, **_PERSON_FIELDS),
                http=Http("PATCH", "/people/{id}", tag="admin")),
        command("tokens", "Device tokens (never the secrets)", MANAGERS, lambda c: _tokens(c),
                http=Http("GET", "/tokens", tag="admin")),
        command("add_token", "Create a device token (201); the secret is shown once", MANAGERS, add_token,
                args=obj(["role"], role={"type": "string", "enum": list(auth.DEVICE_ROLES)},
                         label={"type": "string", "maxLength": 80}, windows={"type": "array", "items": WINDOW, "maxItems": 200},
                         kiosk={"type": "string", "maxLength": 80}, green={"type": "boolean"}),
                http=Http("POST", "/tokens", 201, "admin")),
        command("revoke_token", "Revoke a device token", MANAGERS, revoke_token,
                args=obj(["id"], id={"type": "string", "maxLength": 64}), http=Http("DELETE", "/tokens/{id}", tag="admin")),
        command("audit", "Who viewed or exported citizens' personal data", auth.ADMIN, audit_log,
                args=obj(**PERIOD_ARGS, actor={"type": "string", "maxLength": 80}), http=Http("GET", "/audit", tag="privacy")),
    ]


async def _async(value: Any) -> Any:
    return value


async def _people(c: Call) -> dict[str, Any]:
    return {"people": [x.public() for x in await c.hall.store.people()]}


async def _tokens(c: Call) -> dict[str, Any]:
    return {"tokens": [t.public() for t in await c.hall.store.tokens()]}



