"""Helpers shared by the tests of the citizen-facing features (follow-up, ledger, appointments, privacy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from queue_server.core import config

from ..conftest import HALL_FILE, TZ, Harness, Http, lifted  # type: ignore[import-not-found]

# Friday 2026-12-04 is a holiday in the test hall, so deadlines visibly skip it as well as weekends.
EXTRA = """
[calendar]
holidays = ["2026-12-04"]

[followup]
deadline_days = 5
escalate_days = 1

[appointments]
no_show_limit = 2
bar_days = 30
"""

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    """A resident ID number with a correct check digit."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def hall_config(store_url: str, extra: str = EXTRA) -> config.HallConfig:
    return lifted(config.loads(HALL_FILE.read_text(encoding="utf-8") + extra, source=str(HALL_FILE), store_url=store_url))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


async def manager(server: Harness, login: str = "mgr", role: str = "manager") -> Http:
    await server.person(login, role)
    c = server.client()
    await c.login(login)
    return c


async def serve(server: Harness, clerk: Http, window: int, service: str, *, outcome: str = "done",
                details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A kiosk ticket for ``service``, called and finished at ``window``; returns the finished ticket."""
    kiosk = server.client(await server.token("kiosk", kiosk="k9"))
    status, t = await kiosk.post("/api/v1/tickets", {"service": service})
    assert status == 201, t
    status, called = await clerk.post(f"/api/v1/windows/{window}/call-next")
    assert status == 200 and called["number"] == t["number"], called
    body: dict[str, Any] = {"outcome": outcome}
    if details:
        body["details"] = details
    status, done = await clerk.post(f"/api/v1/windows/{window}/finish", body)
    assert status == 200, done
    return {**done, "token": t["token"]}


async def rate(server: Harness, window: int, ticket_id: str, level: int, reasons: list[str] | None = None,
               comment: str | None = None, *, kind: str = "pad") -> dict[str, Any]:
    device = server.client(await server.token(kind, windows=(window,)))
    body: dict[str, Any] = {"ticket": ticket_id, "level": level, "reasons": reasons or []}
    if comment:
        body["comment"] = comment
    status, ev = await device.post("/api/v1/evaluations", body)
    assert status == 201, ev
    return ev  # type: ignore[no-any-return]
