"""The HTTP API under /api/v1, made from the Hall's command table.

Each ``Http`` binding of a command becomes one route: its path parameters and its JSON
body (POST, PUT, PATCH) or query string (GET, DELETE) become the command's arguments,
and the Hall runs it. Only the session routes (sign in, sign out, who am I) are written
by hand, because they set cookies. Errors of every kind leave as
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable

from aiohttp import web

from queue_server import protocol
from queue_server.core.errors import BadRequest, Forbidden, HallError, Invalid, TooLarge, TooMany, Unauthorized
from queue_server.core.schema import obj, validate
from queue_server.service import auth, trace
from queue_server.service.auth import Principal
from queue_server.service.commands import Command, Download, Http
from queue_server.service.hall import Hall
from queue_server.store import StoreError

log = logging.getLogger("hallcall.api")

MAX_BODY = 64 * 1024
PREFIX = "/api/v1"
HALL_KEY = web.AppKey("hall", Hall)
_PARAM = re.compile(r"\{(\w+)\}")
_INTEGER = re.compile(r"-?[0-9]{1,12}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One HTTP route, as served and as documented in OpenAPI."""

    method: str
    path: str  # full path, OpenAPI style: /api/v1/windows/{window}/call-next
    summary: str
    who: str
    body: dict[str, Any] | None  # JSON body schema
    query: dict[str, dict[str, Any]]  # query parameter schemas
    params: dict[str, dict[str, Any]]  # path parameter schemas
    status: int
    tag: str
    produces: tuple[str, ...]
    empty: bool  # may answer 204 (nobody waits)
    command: str | None  # the command it runs; None for the session routes


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=protocol.dumps(data), status=status, content_type="application/json", charset="utf-8")


REQUEST_ID = "X-Request-Id"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (the caller's ``X-Request-Id`` or a new one), traced and sent back."""
    with trace.traced(trace.request_id_from(request.headers.get(REQUEST_ID))) as t:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[REQUEST_ID] = t.request_id
            raise
        if not response.prepared:
            response.headers[REQUEST_ID] = t.request_id
        return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure under /api to the JSON error shape; never a bare 500 for bad input."""
    api = request.path.startswith("/api/")
    try:
        return await handler(request)
    except TooMany as exc:
        resp = json_response(error_body(exc.code, exc.message), exc.status)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except HallError as exc:
        return json_response(error_body(exc.code, exc.message), exc.status)
    except StoreError as exc:
        request.app[HALL_KEY].probe.store_failed("request")
        log.error("store unavailable on %s %s: %s", request.method, request.path, exc)
        return json_response(error_body("unavailable", f"the store cannot be reached: {exc}"), 503)
    except ConnectionError as exc:
        # The client hung up mid-request (a phone leaving the Wi-Fi): nobody is left to answer.
        log.debug("client went away during %s %s: %s", request.method, request.path, type(exc).__name__)
        return web.Response(status=400, reason="Client went away")
    except web.HTTPRequestEntityTooLarge:
        return json_response(error_body("too_large", f"body over {MAX_BODY} bytes"), 413)
    except web.HTTPException as exc:
        if not api or exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        resp = json_response(error_body(code, exc.reason), exc.status)
        if "Allow" in exc.headers:  # a 405 names the methods the path has (RFC 9110)
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if not api:
            raise
        return json_response(error_body("internal", "internal error; the request was not carried out"), 500)


@web.middleware
async def body_timeout_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read a request's body within ``[limits] body_seconds`` of its headers, or answer 408 and close.

    A client that trickles its body (a byte a second) would otherwise hold its socket, and
    a handler, for as long as it likes; a few hundred of them would hold the hall's.
    """
    if request.body_exists:
        seconds = request.app[HALL_KEY].config.limits.body_seconds
        try:
            await asyncio.wait_for(request.read(), seconds)  # kept by aiohttp: the handler reads it again for free
        except asyncio.TimeoutError:
            log.info("%s %s: the body did not arrive within %g s; closing", request.method, request.path, seconds)
            resp = json_response(error_body("body_timeout", f"the request body did not arrive within {seconds:g} s"), 408)
            resp.force_close()
            t = trace.current()
            if t is not None:
                resp.headers[REQUEST_ID] = t.request_id
            await resp.prepare(request)
            await resp.write_eof()
            # Closed now: aiohttp would otherwise linger up to 10 s reading the rest of the body.
            if request.transport is not None:
                request.transport.close()
            return resp
    return await handler(request)


async def principal_of(request: web.Request) -> Principal:
    """Resolve the caller: bearer token, else session cookie (CSRF-checked), else anonymous; with its address."""
    return replace(await _caller(request), address=client_address(request))


async def _caller(request: web.Request) -> Principal:
    hall = request.app[HALL_KEY]
    header = request.headers.get("Authorization", "")
    if header:
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        p = await hall.auth.bearer(secret.strip())
        if p is None:
            raise Unauthorized("unknown or revoked token", code="bad_token")
        trace.act_as(p.role)
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
            trace.act_as(p.role)
            return p
    trace.act_as(auth.ANONYMOUS.role)
    return auth.ANONYMOUS


def client_address(request: web.Request) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy (nginx on this
    host), the nearest address in ``X-Forwarded-For`` that is not one of them."""
    peer = request.remote or ""
    trusted = request.app[HALL_KEY].config.limits.trusted_proxies
    if peer not in trusted:
        return peer
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        hop = hop.strip()
        if hop and hop not in trusted:
            return hop[:64]
    return peer


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLarge(f"body over {MAX_BODY} bytes")
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = protocol.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", code="bad_json") from None
    if not isinstance(data, dict):
        raise Invalid("body must be a JSON object", code="bad_type")
    return data


def from_text(name: str, text: str, schema: dict[str, Any]) -> Any:
    """A path or query parameter in the type its schema names (validation follows)."""
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if "integer" in kinds:
        if not _INTEGER.fullmatch(text):
            raise Invalid(f"{name} must be a whole number", code="bad_type")
        return int(text)
    if "number" in kinds:
        try:
            return float(text)
        except ValueError:
            raise Invalid(f"{name} must be a number", code="bad_type") from None
    if "boolean" in kinds:
        if text not in ("true", "false", "1", "0"):
            raise Invalid(f"{name} must be true or false", code="bad_type")
        return text in ("true", "1")
    return text


# -- routes from commands ---------------------------------------------------------------------------


def route_of(cmd: Command, binding: Http) -> Route:
    props: dict[str, Any] = cmd.args.get("properties", {})
    required = cmd.args.get("required", [])
    names = _PARAM.findall(binding.path)
    params = {n: props.get(n, {"type": "string"}) for n in names}
    rest = {k: v for k, v in props.items() if k not in names and k not in binding.headers.values()}
    body = query = None
    if binding.query:
        query = rest
    else:
        body = obj([r for r in required if r in rest], **rest)
    return Route(binding.method, PREFIX + binding.path, cmd.summary, cmd.rule.who, body, query or {}, params,
                 binding.status, binding.tag, binding.produces, cmd.empty_status is not None, cmd.name)


def _aiohttp_path(r: Route) -> str:
    def param(m: re.Match[str]) -> str:
        kinds = r.params[m.group(1)].get("type")
        # A bounded pattern: a window number of 4,000 digits is a 404, not a conversion error.
        return "{%s:[0-9]{1,9}}" % m.group(1) if kinds == "integer" else m.group(0)

    return _PARAM.sub(param, r.path)


def _handler(hall_key: web.AppKey[Hall], r: Route, binding: Http) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        p = await principal_of(request)
        if r.body is not None:
            args = await read_json(request)
            clash = [n for n in r.params if n in args]
            if clash:
                raise Invalid(f"unknown field {clash[0]}: it is part of the path", code="unknown_field")
        else:
            args = {k: from_text(k, v, r.query[k]) for k, v in request.query.items() if k in r.query}
        for header, name in binding.headers.items():
            if header in request.headers and name not in args:
                args[name] = request.headers[header]
        for name, schema in r.params.items():
            args[name] = from_text(name, request.match_info[name], schema)
        assert r.command is not None
        result = await request.app[hall_key].execute(r.command, p, args)
        return respond(result, r.status)

    return handler


def respond(result: Any, status: int = 200) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if result is None:
        return web.Response(status=204)
    if isinstance(result, Download):
        headers = {}
        if result.filename:
            headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        if result.cache_seconds:
            headers["Cache-Control"] = f"private, max-age={result.cache_seconds}"
        text = result.content_type.startswith("text/") or result.content_type.endswith("+xml")
        return web.Response(body=result.body, content_type=result.content_type, charset="utf-8" if text else None,
                            headers=headers)
    return json_response(result, status)


def command_routes(hall: Hall) -> list[tuple[Route, Http]]:
    return [(route_of(cmd, b), b) for cmd in hall.commands for b in cmd.http]


# -- sessions: the routes that set cookies ---------------------------------------------------------------

LOGIN_BODY = obj(["login", "password"], login={"type": "string", "maxLength": 80}, password={"type": "string", "maxLength": 200})


async def login(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    validate(body, LOGIN_BODY)
    cookie, who = await request.app[HALL_KEY].auth.login(body["login"], body["password"], client_address(request))
    assert who.session is not None
    resp = json_response({"person": who.describe(), "csrf_token": who.session.csrf})
    resp.set_cookie(auth.SESSION_COOKIE, cookie, httponly=True, samesite="Strict", secure=request.secure,
                    max_age=auth.SESSION_HOURS * 3600, path="/")
    return resp


async def logout(request: web.Request) -> web.StreamResponse:
    await principal_of(request)  # a signed-in caller must send the CSRF header
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        await request.app[HALL_KEY].auth.logout(cookie)
    resp = web.Response(status=204)
    resp.del_cookie(auth.SESSION_COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.StreamResponse:
    p = await principal_of(request)
    out = p.describe()
    if p.session is not None:
        out["csrf_token"] = p.session.csrf
    out["window"] = auth.signed_in_at(p, request.app[HALL_KEY].state)
    return json_response(out)


def _session(method: str, path: str, summary: str, body: dict[str, Any] | None, status: int = 200) -> Route:
    return Route(method, PREFIX + path, summary, "people" if path != "/me" else "anyone", body, {}, {}, status, "auth",
                 ("application/json",), False, None)


SESSION_ROUTES: list[tuple[Route, Handler]] = [
    (_session("POST", "/login", "Sign in; sets the session cookie and returns the CSRF token", LOGIN_BODY), login),
    (_session("POST", "/logout", "Sign out", obj(), 204), logout),
    (_session("GET", "/me", "Who the caller is (and the CSRF token of a session)", None), me),
]


def routes(hall: Hall) -> list[Route]:
    """Every route of the API, for the OpenAPI document and the role matrix."""
    return [r for r, _ in command_routes(hall)] + [r for r, _ in SESSION_ROUTES]


def setup(app: web.Application, hall: Hall) -> None:
    for r, binding in command_routes(hall):
        app.router.add_route(r.method, _aiohttp_path(r), _handler(HALL_KEY, r, binding))
    for r, handler in SESSION_ROUTES:
        app.router.add_route(r.method, r.path, handler)


def hall_of(request: web.Request) -> Hall:
    return request.app[HALL_KEY]
