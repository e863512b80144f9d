"""The HTTP API under /api/v1: thin adapters over the Hall and the command table.

Every route is declared once in ``ROUTES`` with its schema and who may call it; the
same declaration registers the aiohttp handler and writes the OpenAPI document, so the
two cannot drift apart. Errors of every kind leave as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Awaitable, Callable

from aiohttp import web

from queue_server import protocol
from queue_server.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HallError,
    Invalid,
    NotFound,
    TooLarge,
    Unauthorized,
)
from queue_server.core.model import Person
from queue_server.core.schema import STR, WINDOW, obj, validate
from queue_server.reports import stats
from queue_server.service import auth
from queue_server.service.auth import Principal
from queue_server.service.commands import COMMANDS
from queue_server.service.hall import Hall
from queue_server.store import StoreError

log = logging.getLogger("hallcall.api")

MAX_BODY = 64 * 1024
PREFIX = "/api/v1"

Handler = Callable[[web.Request, Principal, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    who: str
    handler: Handler
    body: dict[str, Any] | None = None
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    tag: str = "hall"
    produces: tuple[str, ...] = ("application/json",)


ROUTES: list[Route] = []
HALL_KEY = web.AppKey("hall", Hall)


def route(method: str, path: str, summary: str, who: str, *, body: dict[str, Any] | None = None,
          query: dict[str, dict[str, Any]] | None = None, status: int = 200, tag: str = "hall",
          produces: tuple[str, ...] = ("application/json",)) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append(Route(method, PREFIX + path, summary, who, fn, body, query or {}, status, tag, produces))
        return fn

    return register


def command_route(method: str, path: str, name: str, *, status: int = 200, tag: str = "windows",
                  path_args: tuple[str, ...] = ("window",)) -> None:
    """Expose a command: path parameters and the JSON body become its arguments."""
    cmd = COMMANDS[name]
    props = {k: v for k, v in cmd.schema["properties"].items() if k not in path_args}
    body = obj([r for r in cmd.schema.get("required", []) if r not in path_args], **props)

    async def handler(request: web.Request, p: Principal, data: dict[str, Any]) -> Any:
        args = dict(data)
        for key in path_args:
            args[key] = int(request.match_info[key]) if key == "window" else request.match_info[key]
        validate(args, cmd.schema)
        return await cmd.run(request.app[HALL_KEY], p, args)

    ROUTES.append(Route(method, PREFIX + path, cmd.summary, cmd.who, handler, body, {}, status, tag))


CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SVG = "image/svg+xml"
TABLES = ("application/json", CSV, XLSX)  # routes with ?format=json|csv|xlsx


# -- request plumbing -----------------------------------------------------------------------


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=protocol.dumps(data), status=status, content_type="application/json", charset="utf-8")


@web.middleware
async def errors_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Map every failure under /api to the JSON error shape; never a bare 500 for bad input."""
    api = request.path.startswith("/api/")
    try:
        return await handler(request)
    except HallError as exc:
        return json_response(error_body(exc.code, exc.message), exc.status)
    except StoreError as exc:
        log.error("store unavailable on %s %s: %s", request.method, request.path, exc)
        return json_response(error_body("unavailable", f"the store cannot be reached: {exc}"), 503)
    except web.HTTPRequestEntityTooLarge:
        return json_response(error_body("too_large", f"body over {MAX_BODY} bytes"), 413)
    except web.HTTPException as exc:
        if not api or exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return json_response(error_body(code, exc.reason), exc.status)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if not api:
            raise
        return json_response(error_body("internal", "internal error; the request was not carried out"), 500)


async def principal_of(request: web.Request) -> Principal:
    """Resolve the caller: bearer token, else session cookie (CSRF-checked), else anonymous."""
    hall = request.app[HALL_KEY]
    header = request.headers.get("Authorization", "")
    if header:
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        p = await hall.auth.bearer(secret.strip())
        if p is None:
            raise Unauthorized("unknown or revoked token", code="bad_token")
        return p
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        p = await hall.auth.cookie(cookie)
        if p is not None:
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                sent = request.headers.get(auth.CSRF_HEADER, "")
                assert p.session is not None
                if not sent or sent != p.session.csrf:
                    raise Forbidden(f"missing or wrong {auth.CSRF_HEADER} header", code="csrf")
            return p
    return auth.ANONYMOUS


async def read_body(request: web.Request, schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLarge(f"body over {MAX_BODY} bytes")
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = protocol.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"body is not valid JSON: {exc}", code="bad_json") from None
    if not isinstance(data, dict):
        raise Invalid("body must be a JSON object", code="bad_type")
    validate(data, schema)
    return data


def _wrap(r: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        p = await principal_of(request)
        body = await read_body(request, r.body)
        for name, schema in r.query.items():
            if name in request.query and "pattern" in schema:
                validate(request.query[name], schema, name)
        result = await r.handler(request, p, body)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return json_response(result, r.status)

    return handler


def setup(app: web.Application) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, _wrap(r))


def hall_of(request: web.Request) -> Hall:
    return request.app[HALL_KEY]


# -- hall and tickets ---------------------------------------------------------------------------


@route("GET", "/hall", "The hall's layout and live state", "anyone")
async def get_hall(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = hall_of(request)
    return {**hall.describe(), "live": hall.snapshot()}


@route("GET", "/health", "Liveness and the last event sequence", "anyone")
async def get_health(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = hall_of(request)
    return {"ok": True, "seq": hall.state.seq, "day": hall.state.day, "store": hall.store.kind}


@route("POST", "/tickets", "Take a ticket (201 with number, ahead, ETA and tracking token)", "kiosk token, staff",
       body=COMMANDS["issue"].schema, status=201, tag="tickets")
async def post_ticket(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    key = request.headers.get("Idempotency-Key")
    if key and len(key) > 100:
        raise Invalid("Idempotency-Key is longer than 100 characters")
    return await hall_of(request).issue(
        p, body["service"], channel=body.get("channel"), priority=body.get("priority"),
        request_id=body.get("request_id") or key,
    )


@route("GET", "/tickets/{token}", "A ticket with its position and ETA", "anyone with the token", tag="tickets")
async def get_ticket(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    return await hall_of(request).ticket(request.match_info["token"])


@route("DELETE", "/tickets/{token}", "Cancel a waiting ticket", "anyone with the token", tag="tickets")
async def delete_ticket(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    return await hall_of(request).cancel(request.match_info["token"])


command_route("POST", "/requeue", "requeue", path_args=(), tag="tickets")
command_route("POST", "/cancel", "cancel", path_args=(), tag="tickets")
command_route("POST", "/reprint", "reprint", path_args=(), tag="tickets")


# -- windows ---------------------------------------------------------------------------------------

for _path, _name in (
    ("open", "open"), ("close", "close"), ("pause", "pause"), ("resume", "resume"), ("call-next", "call_next"),
    ("recall", "recall"), ("start", "start"), ("finish", "finish"), ("no-show", "no_show"), ("transfer", "transfer"),
    ("hold", "hold"), ("call-back", "call_back"),
):
    command_route("POST", "/windows/{window:\\d+}/" + _path, _name)


@route("GET", "/windows/{window:\\d+}/queue", "Tickets the window may call, in calling order; held and missed ones",
       "staff, agent, display", tag="windows")
async def get_window_queue(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "clerk", "manager", "admin", "agent", "display", "pad")
    hall = hall_of(request)
    number = int(request.match_info["window"])
    if number not in hall.config.windows:
        raise NotFound(f"no window {number}", code="window_unknown")
    return {"seq": hall.state.seq, "window": hall.window_view(hall.state, number), "queue": hall.window_queue(number),
            **hall.held_and_missed(number), "today": _window_today(hall, number)}


def _window_today(hall: Hall, number: int) -> dict[str, Any]:
    """Today's served count and mean handling time at one window, from the live state."""
    done = [t for t in hall.state.tickets.values() if t.window == number and t.status.value == "done" and t.ended_at]
    secs = [(t.ended_at - (t.started_at or t.called_at)).total_seconds() for t in done if t.called_at]  # type: ignore[operator]
    return {"served": len(done), "mean_handling_seconds": round(sum(secs) / len(secs), 1) if secs else None,
            "no_show": sum(1 for t in hall.state.tickets.values() if t.window == number and t.status.value == "no_show")}


# -- evaluations, notices, devices ------------------------------------------------------------------


@route("POST", "/evaluations", "Rate a finished service (201)", "the pad or agent of its window, or the token holder",
       body=COMMANDS["evaluate"].schema, status=201, tag="evaluations")
async def post_evaluation(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = hall_of(request)
    common = {"level": body["level"], "reasons": body.get("reasons"), "comment": body.get("comment")}
    if p.role in ("pad", "agent"):
        return await hall.evaluate(p, ticket=body["ticket"], source=body.get("source"), **common)
    if p.role != "anonymous":
        raise Forbidden(f"a {p.role} may not rate services")
    return await hall.evaluate(p, token=body["ticket"], source="phone", **common)


@route("PUT", "/notice", "Set the notice on hall screens", "manager, admin", body=COMMANDS["set_notice"].schema, tag="admin")
async def put_notice(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    return await hall_of(request).set_notice(p, body["text"], body.get("text_en", ""))


@route("GET", "/devices", "Device health as last reported by the agents", "manager, admin, agent", tag="devices")
async def get_devices(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin", "agent")
    return {"devices": hall_of(request).devices()}


command_route("POST", "/devices/status", "device_status", path_args=(), tag="devices")


# -- stats ---------------------------------------------------------------------------------------------

_DAY = {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"}


def parse_period(request: web.Request, today: str) -> tuple[str, str]:
    q = request.query
    try:
        if "date" in q:
            d_from = d_to = date.fromisoformat(q["date"]).isoformat()
        else:
            d_from = date.fromisoformat(q.get("from", today)).isoformat()
            d_to = date.fromisoformat(q.get("to", d_from)).isoformat()
    except ValueError as exc:
        raise Invalid(f"dates must be YYYY-MM-DD: {exc}", code="bad_date") from None
    if d_to < d_from:
        raise Invalid("'to' is before 'from'", code="bad_date")
    if date.fromisoformat(d_to) - date.fromisoformat(d_from) > timedelta(days=400):
        raise Invalid("a period is at most 400 days", code="bad_date")
    return d_from, d_to


@route("GET", "/stats", "Counts, waits, handling times and satisfaction for a day or period", "manager, admin",
       query={"date": _DAY, "from": _DAY, "to": _DAY, "by": {"type": "string", "description": "comma list of service,zone,window,clerk,day"}},
       tag="reports")
async def get_stats(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = hall_of(request)
    d_from, d_to = parse_period(request, hall.state.day)
    groups = [g for g in request.query.get("by", "service,window").split(",") if g]
    bad = [g for g in groups if g not in stats.GROUPS]
    if bad:
        raise Invalid(f"unknown grouping {bad[0]!r}; use {', '.join(stats.GROUPS)}", code="bad_value")
    tickets = await hall.store.tickets(d_from, d_to)
    visits = await hall.store.visits(d_from, d_to)
    evals = await hall.store.evaluations(d_from, d_to)
    return {
        "from": d_from, "to": d_to, "hall": stats.totals(tickets, visits, evals),
        "by": {g: stats.compute(tickets, visits, evals, g) for g in groups},
    }


# -- people and sessions ---------------------------------------------------------------------------------


@route("POST", "/login", "Sign in; sets the session cookie and returns the CSRF token", "people",
       body=obj(["login", "password"], login={"type": "string", "maxLength": 80}, password={"type": "string", "maxLength": 200}),
       tag="auth")
async def post_login(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    cookie, who = await hall_of(request).auth.login(body["login"], body["password"])
    assert who.session is not None
    resp = json_response({"person": who.describe(), "csrf_token": who.session.csrf})
    resp.set_cookie(auth.SESSION_COOKIE, cookie, httponly=True, samesite="Strict", secure=request.secure,
                    max_age=auth.SESSION_HOURS * 3600, path="/")
    return resp


@route("POST", "/logout", "Sign out", "people", body=obj(), tag="auth")
async def post_logout(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        await hall_of(request).auth.logout(cookie)
    resp = web.Response(status=204)
    resp.del_cookie(auth.SESSION_COOKIE, path="/")
    return resp


@route("GET", "/me", "Who the caller is (and the CSRF token of a session)", "anyone", tag="auth")
async def get_me(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    out = p.describe()
    if p.session is not None:
        out["csrf_token"] = p.session.csrf
    hall = hall_of(request)
    out["window"] = next((n for n, w in hall.state.windows.items() if p.is_person and w.clerk == p.id and w.status.value != "closed"), None)
    return out


_PERSON = obj(
    ["login", "name", "role", "password"], login={"type": "string", "pattern": r"[A-Za-z0-9_.-]{2,40}"},
    name={"type": "string", "minLength": 1, "maxLength": 40}, role={"type": "string", "enum": list(auth.PEOPLE_ROLES)},
    password={"type": "string", "minLength": 6, "maxLength": 200}, staff_no={"type": "string", "maxLength": 20},
    department={"type": "string", "maxLength": 60}, photo={"type": "string", "maxLength": 300},
    windows={"type": "array", "items": WINDOW, "maxItems": 200},
)


@route("GET", "/people", "Clerks, managers and admins", "manager, admin", tag="admin")
async def get_people(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    return {"people": [x.public() for x in await hall_of(request).store.people()]}


@route("POST", "/people", "Add a person (managers may add clerks only)", "manager, admin", body=_PERSON, status=201, tag="admin")
async def post_person(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    if p.role == "manager" and body["role"] != "clerk":
        raise Forbidden("a manager may add clerks only")
    hall = hall_of(request)
    if await hall.store.person(login=body["login"]) is not None:
        raise Conflict(f"login {body['login']!r} is taken", code="login_taken")
    person: Person = auth.new_person(
        body["login"], body["name"], body["role"], body["password"], staff_no=body.get("staff_no", ""),
        department=body.get("department", ""), photo=body.get("photo", ""), windows=tuple(body.get("windows", [])),
        now=hall.clock.now(),
    )
    await hall.store.put_person(person)
    return person.public()


@route("PATCH", "/people/{id}", "Change a person: deactivate, reactivate, windows, password…",
       "manager (clerks only), admin", tag="admin",
       body=obj(name={"type": "string", "minLength": 1, "maxLength": 40}, active={"type": "boolean"},
                password={"type": "string", "minLength": 6, "maxLength": 200}, staff_no={"type": "string", "maxLength": 20},
                department={"type": "string", "maxLength": 60}, photo={"type": "string", "maxLength": 300},
                windows={"type": "array", "items": WINDOW, "maxItems": 200}))
async def patch_person(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = hall_of(request)
    person = await hall.store.person(id=request.match_info["id"])
    if person is None:
        raise NotFound("no such person", code="person_unknown")
    if p.role == "manager" and person.role != "clerk":
        raise Forbidden("a manager may change clerks only")
    if person.id == p.id and body.get("active") is False:
        raise Conflict("you cannot deactivate yourself", code="self_deactivate")
    changes: dict[str, Any] = {k: v for k, v in body.items() if k not in ("password", "windows")}
    if "windows" in body:
        changes["windows"] = tuple(body["windows"])
    if "password" in body:
        changes["password_hash"] = auth.hash_password(body["password"])
    updated = replace(person, **changes)
    await hall.store.put_person(updated)
    hall.auth.forget()  # sessions of a deactivated person stop working here at once
    return updated.public()


@route("GET", "/tokens", "Device tokens (never the secrets)", "manager, admin", tag="admin")
async def get_tokens(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    return {"tokens": [t.public() for t in await hall_of(request).store.tokens()]}


@route("POST", "/tokens", "Create a device token; the secret is shown once", "manager, admin",
       body=obj(["role"], role={"type": "string", "enum": list(auth.DEVICE_ROLES)}, label=STR,
                windows={"type": "array", "items": WINDOW, "maxItems": 200}, kiosk={"type": "string", "maxLength": 80},
                green={"type": "boolean"}),
       status=201, tag="admin")
async def post_token(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = hall_of(request)
    unknown = [n for n in body.get("windows", []) if n not in hall.config.windows]
    if unknown:
        raise NotFound(f"no window {unknown[0]}", code="window_unknown")
    secret, row = await hall.auth.add_token(
        body["role"], body.get("label") or body["role"], windows=tuple(body.get("windows", [])),
        kiosk=body.get("kiosk", ""), green=bool(body.get("green", False)),
    )
    return {**row.public(), "token": secret}


@route("DELETE", "/tokens/{id}", "Revoke a device token", "manager, admin", tag="admin")
async def delete_token(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    row = await hall_of(request).auth.revoke_token(request.match_info["id"])
    if row is None:
        raise NotFound("no such token", code="token_unknown")
    return row.public()
