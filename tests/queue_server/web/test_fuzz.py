"""HTTP fuzzing: schemathesis reads the served OpenAPI document and attacks every operation as every role.

One bounded pass: a few generated cases per operation for each role, two roles at a
time, with a fixed seed so a failure replays. It fails on any 5xx, on any answer that
breaks the document's own schema (every error must be ``{"error": {"code", "message"}}``)
and when an operation was left untested. The route × role matrix (test_roles.py) checks
who may do what; this checks that nothing anyone sends breaks the server.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest

from ...conftest import Harness, StoreSpec  # type: ignore[import-not-found]

EXAMPLES = 3  # cases per operation and role
SECONDS = 240  # the bound on one role's pass; on a quiet machine it takes a few seconds
ROLES = ["anonymous", "kiosk", "display", "pad", "agent", "clerk", "guide", "manager", "admin"]


@pytest.fixture
def store_spec(tmp_path: Path) -> StoreSpec:
    """The HTTP layer is the same over every store: fuzz it over SQLite only."""
    return StoreSpec("sqlite", f"sqlite://{tmp_path}/hall.db")


async def _headers(server: Harness, role: str) -> list[str]:
    """The -H options that make schemathesis's requests come from ``role``."""
    if role == "anonymous":
        return []
    if role in ("kiosk", "display", "pad", "agent"):
        token = await server.token(role, windows=(15,) if role in ("pad", "agent") else (), kiosk="k1")
        return ["-H", f"Authorization: Bearer {token}"]
    if role == "clerk":
        c = await server.clerk_at(15)
    else:
        await server.person(role, role)
        c = server.client()
        await c.login(role)
    cookie = next(m for m in c.session.cookie_jar if m.key == "hallcall_session")
    return ["-H", f"Cookie: hallcall_session={cookie.value}", "-H", f"X-CSRF-Token: {c.csrf}"]


async def _fuzz(st: str, server: Harness, role: str, headers: list[str], cwd: Path) -> str | None:
    """One role's pass; what it found, if anything."""
    cwd.mkdir()
    proc = await asyncio.create_subprocess_exec(
        st, "run", f"{server.base}/api/v1/openapi.json", "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "fuzzing", "--max-examples", str(EXAMPLES), "--seed", "20261201", "--workers", "1",
        "--request-timeout", "20", "--no-color",
        "--exclude-path", "/api/v1/logout",  # it would end the session the pass runs in
        *headers, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    out, _ = await asyncio.wait_for(proc.communicate(), SECONDS)
    text = out.decode(errors="replace")
    selected, tested = re.search(r"Selected: (\d+)/\d+", text), re.search(r"Tested: (\d+)", text)
    if proc.returncode == 0 and selected and tested and tested.group(1) == selected.group(1):
        return None
    return f"--- as {role} (exit {proc.returncode}):\n{text[-8000:]}"


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: Harness, tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is part of the test extra: pip install -e '.[test]'"
    kiosk = await server.kiosk()
    for _ in range(3):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    headers = {role: await _headers(server, role) for role in ROLES}
    two = asyncio.Semaphore(2)  # the machine's two cores

    async def one(role: str) -> str | None:
        async with two:
            return await _fuzz(st, server, role, headers[role], tmp_path / role)

    failures = [r for r in await asyncio.gather(*(one(role) for role in ROLES)) if r]
    assert not failures, "\n".join(failures)
