"""Signing in under attack: wrong passwords slow their sender only, and hashing never stalls the hall."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from queue_server.service import auth

from ...conftest import PASSWORD, Harness  # type: ignore[import-not-found]

ATTACKER = {"X-Forwarded-For": "203.0.113.5"}
CLERK_PC = {"X-Forwarded-For": "10.0.8.21"}


async def attempt(server: Harness, login: str, password: str, headers: dict[str, str]) -> tuple[int, dict, dict]:
    c = server.client()
    status, body = await c.post("/api/v1/login", {"login": login, "password": password}, headers=headers)
    return status, body, dict(c.last_headers)


async def test_wrong_passwords_never_lock_the_right_one_out_elsewhere(server: Harness,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    await server.person("admin", "admin")
    limits = server.hall.config.limits
    caplog.set_level(logging.WARNING, "hallcall.auth")
    statuses = [(await attempt(server, "admin", "guess-%d" % i, ATTACKER))[0] for i in range(limits.login_failures + 10)]
    assert statuses[:limits.login_failures] == [401] * limits.login_failures
    assert 429 in statuses  # the attacker now waits before each try
    status, err, headers = await attempt(server, "admin", PASSWORD, ATTACKER)
    assert status == 429 and err["error"]["code"] == "locked" and int(headers["Retry-After"]) >= 1
    # The admin at their own PC signs in as always.
    status, me, _ = await attempt(server, "admin", PASSWORD, CLERK_PC)
    assert status == 200 and me["person"]["role"] == "admin"
    # The attacker's wait is a backoff, not a lock: once it has passed, the right password works there too.
    server.hall.clock.advance(int(headers["Retry-After"]))  # type: ignore[attr-defined]
    assert (await attempt(server, "admin", PASSWORD, ATTACKER))[0] == 200
    lines = [r.getMessage() for r in caplog.records if "sign-in locked" in r.getMessage()]
    assert lines and "'admin'" in lines[0] and "203.0.113.5" in lines[0]
    assert not any("guess-" in m or PASSWORD in m for m in caplog.messages)


async def test_an_address_that_tries_many_logins_runs_out_of_tries(server: Harness) -> None:
    await server.person("lisi", "clerk")
    budget = server.hall.config.limits.address_login_failures
    for i in range(budget):
        assert (await attempt(server, f"user{i}", "nope-nope", ATTACKER))[0] == 401  # one try per login: no backoff
    status, err, headers = await attempt(server, "lisi", PASSWORD, ATTACKER)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert (await attempt(server, "lisi", PASSWORD, CLERK_PC))[0] == 200
    server.hall.clock.advance(int(headers["Retry-After"]))  # type: ignore[attr-defined]
    assert (await attempt(server, "lisi", PASSWORD, ATTACKER))[0] == 200


async def test_a_flood_of_wrong_passwords_hashes_on_its_own_small_pool(server: Harness) -> None:
    """Hashing runs on HASHING_THREADS threads of its own, so the hall keeps answering during a flood."""
    await server.person("admin", "admin")
    flood = [asyncio.ensure_future(attempt(server, "admin", f"wrong-{i}", {"X-Forwarded-For": f"198.51.100.{i}"}))
             for i in range(40)]
    status, health = await server.client().get("/api/v1/health")
    assert status == 200 and health["ok"] is True
    results = await asyncio.gather(*flood)
    hashing = [t for t in threading.enumerate() if t.name.startswith("hallcall-hash")]
    assert 1 <= len(hashing) <= auth.HASHING_THREADS
    # Each wrong password is refused, or, with too many waiting to be hashed, told to come back.
    assert {(s, b["error"]["code"]) for s, b, _ in results} <= {(401, "bad_credentials"), (429, "busy")}
    assert any(s == 401 for s, _, _ in results)
    assert (await attempt(server, "admin", PASSWORD, CLERK_PC))[0] == 200
