"""Every role against every endpoint: allowed where DESIGN.md says, 401/403 elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from ...conftest import Harness, Http  # type: ignore[import-not-found]

OK = "ok"
ROLES = ["anonymous", "kiosk", "display", "pad15", "pad16", "agent15", "clerk15", "clerk16", "guide", "manager", "admin"]

# endpoint -> role -> expected ("ok" for any 2xx). Run in this order against one hall:
# window 15 is open with clerk15 and two pension tickets waiting (K002, K003).
DENY = {"anonymous": 401, "kiosk": 403, "display": 403, "pad15": 403, "pad16": 403, "agent15": 403,
        "clerk15": 403, "clerk16": 403, "guide": 403, "manager": 403, "admin": 403}
ANYONE = dict.fromkeys(ROLES, OK)
MANAGERS = {**DENY, "manager": OK, "admin": OK}
OPERATORS = {**DENY, "agent15": OK, "clerk15": OK}  # the clerk signed in at window 15, its agent
STATUS = {**OPERATORS, "admin": OK}  # pause, resume, close: also an admin


def when_allowed(allowed: dict[str, Any], code: int) -> dict[str, Any]:
    """The same callers, who get ``code`` (the hall's state refuses, not the role)."""
    return {role: code if expected == OK else expected for role, expected in allowed.items()}


MATRIX: dict[str, dict[str, Any]] = {
    "GET /hall": ANYONE,
    "GET /health": ANYONE,
    "GET /me": ANYONE,
    "GET /tickets/{token}": ANYONE,  # the tracking token is the key
    "POST /tickets": {**DENY, "kiosk": OK, "clerk15": OK, "clerk16": OK, "manager": OK, "admin": OK},
    "POST /windows/15/call-next": OPERATORS,
    "POST /windows/15/recall": OPERATORS,
    "POST /windows/15/start": OPERATORS,
    "POST /windows/15/finish": OPERATORS,
    "POST /windows/15/no-show": when_allowed(OPERATORS, 409),  # nobody at the window now
    "POST /windows/15/transfer": when_allowed(OPERATORS, 409),
    "POST /windows/15/hold": when_allowed(OPERATORS, 409),
    "POST /windows/15/call-back": when_allowed(OPERATORS, 404),  # no held ticket K009
    "POST /windows/15/call-ticket": when_allowed(OPERATORS, 404),  # no ticket Z999
    "POST /windows/15/pause": STATUS,
    "POST /windows/15/resume": when_allowed(STATUS, 409),  # resumed already, by the test
    "POST /windows/20/open": {**DENY, "clerk15": 409, "clerk16": 409, "manager": OK, "admin": OK},
    "POST /evaluations": {**DENY, "anonymous": 404, "pad15": OK, "agent15": OK},
    "GET /windows/15/queue": {**ANYONE, "anonymous": 401, "kiosk": 403, "guide": 403},
    "GET /stats": MANAGERS,
    "GET /audit": {**DENY, "admin": OK},
    "PUT /notice": MANAGERS,
    "GET /people": MANAGERS,
    "POST /people": MANAGERS,
    "PATCH /people/{clerk}": MANAGERS,
    "GET /tokens": MANAGERS,
    "POST /tokens": MANAGERS,
    "DELETE /tokens/{spare}": MANAGERS,
    "GET /devices": {**MANAGERS, "agent15": OK},
    "POST /devices/status": {**DENY, "agent15": OK},
    "POST /requeue": {**when_allowed({**DENY, "kiosk": OK, "agent15": OK, "clerk15": OK, "clerk16": OK,
                                      "manager": OK, "admin": OK}, 404)},  # no ticket Z999
    "POST /cancel": when_allowed({**DENY, "clerk15": OK, "clerk16": OK, "manager": OK, "admin": OK}, 404),
    "POST /reprint": when_allowed({**DENY, "clerk15": OK, "clerk16": OK, "manager": OK, "admin": OK}, 404),
    "DELETE /tickets/{token}": ANYONE,
    "POST /windows/15/close": STATUS,
}
# Notes on the non-auth codes above: clerks 15 and 16 are already signed in elsewhere (409
# clerk_busy), so they may try to open window 20; a manager or admin may sign in at a
# window to serve there; an anonymous rating must name a tracking token, and "x" is none
# (404). A guide (导办/帮办员) signs in but takes no part in the queue: only what anyone may do.


async def caller(server: Harness, role: str) -> Http:
    if role == "anonymous":
        return server.client()
    if role == "kiosk":
        return await server.kiosk()
    if role in ("display",):
        return server.client(await server.token("display"))
    if role.startswith("pad"):
        return server.client(await server.token("pad", windows=(int(role[3:]),)))
    if role == "agent15":
        return server.client(await server.token("agent", windows=(15,), kiosk="k1"))
    if role == "clerk15":
        return server.clerk15  # type: ignore[attr-defined,no-any-return]
    if role == "clerk16":
        return await server.clerk_at(16)
    await server.person(role, role)
    c = server.client()
    await c.login(role)
    return c


@pytest.mark.parametrize("role", ROLES)
async def test_role_matrix(server: Harness, role: str) -> None:
    kiosk = await server.kiosk("k0")
    tickets = [(await kiosk.post("/api/v1/tickets", {"service": "pension"}))[1] for _ in range(3)]
    server.clerk15 = await server.clerk_at(15)  # type: ignore[attr-defined]
    _, done = await server.clerk15.post("/api/v1/windows/15/call-next")  # type: ignore[attr-defined]
    await server.clerk15.post("/api/v1/windows/15/finish")  # type: ignore[attr-defined]
    clerk = await server.person("someclerk", "clerk")
    _, spare = await server.hall.auth.add_token("display", "spare")
    c = await caller(server, role)
    bodies = {
        "POST /tickets": {"service": "pension"},
        "POST /evaluations": {"ticket": done["id"] if role != "anonymous" else "x", "level": 5},
        "PUT /notice": {"text": "通知"},
        "POST /tokens": {"role": "display", "label": "tv"},
        "POST /people": {"login": f"new-{role}", "name": "新人", "role": "clerk", "password": "a-long-password"},
        "PATCH /people/{clerk}": {"department": "综合科"},
        "POST /windows/15/pause": {"reason": "rest"},
        "POST /windows/15/transfer": {"service": "retirement"},
        "POST /windows/15/call-back": {"ticket": "K009"},
        "POST /windows/15/call-ticket": {"ticket": "Z999", "reason": "点号"},
        "POST /devices/status": {"device": "printer-k1", "kind": "printer", "status": "online", "kiosk": "k1"},
        "POST /requeue": {"ticket": "Z999"},
        "POST /cancel": {"ticket": "Z999"},
        "POST /reprint": {"ticket": "Z999"},
    }
    paths = {"{token}": tickets[2]["token"], "{clerk}": clerk.id, "{spare}": spare.id}
    failures = []
    for endpoint, expected_by_role in MATRIX.items():
        method, path = endpoint.split(" ", 1)
        for key, value in paths.items():
            path = path.replace(key, value)
        query = "?date=2026-12-01" if path == "/stats" else ""
        status, body = await c.request(method, "/api/v1" + path + query, bodies.get(endpoint, {} if method != "GET" else None))
        expected = expected_by_role[role]
        good = 200 <= status < 300 if expected == OK else status == expected
        if not good:
            failures.append(f"{endpoint} as {role}: got {status} {body}, expected {expected}")
        if endpoint == "POST /windows/15/pause" and 200 <= status < 300:
            await server.clerk15.post("/api/v1/windows/15/resume")  # type: ignore[attr-defined]
        if status in (401, 403):
            assert body["error"]["code"] and body["error"]["message"]
    assert not failures, "\n".join(failures)


def test_the_matrix_covers_every_core_route() -> None:
    """Each route of the core API (features have their own role tests) is in the matrix."""
    from queue_server.service.actions import core_commands
    from queue_server.web import http as api

    core = {f"{b.method} {b.path}" for cmd in core_commands() for b in cmd.http}
    core |= {f"{r.method} {r.path.removeprefix(api.PREFIX)}" for r, _ in api.SESSION_ROUTES}
    listed = {" ".join((m, "/" + "/".join("{}" if "{" in part else part for part in p.strip("/").split("/"))))
              for m, p in (e.split(" ", 1) for e in MATRIX)}
    normal = {" ".join((m, "/" + "/".join("{}" if "{" in part else part for part in p.strip("/").split("/"))))
              for m, p in (e.split(" ", 1) for e in core)}
    # Sign-in and sign-out are tested with sessions; the window numbers in the matrix stand for {window}.
    missing = {e for e in normal if e not in listed and not e.startswith(("POST /login", "POST /logout"))}
    listed_windows = {e.replace("/15/", "/{}/").replace("/20/", "/{}/") for e in listed}
    missing = {e for e in missing if e not in listed_windows}
    assert not missing, sorted(missing)
