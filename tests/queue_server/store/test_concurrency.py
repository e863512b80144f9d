"""Forty windows calling at once over HTTP: every ticket is called exactly once (a route bundle's
ticket once for each of its parts)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from ...conftest import Harness  # type: ignore[import-not-found]

pytestmark = pytest.mark.every_store  # the store is this module's subject


async def test_forty_windows_call_a_thousand_tickets_exactly_once(server: Harness) -> None:
    services = list(server.hall.config.services)
    kiosk = server.client(await server.token("kiosk"))
    rnd = random.Random(7)
    # Spread by daily limit so no service runs out (the bundles allow 50 a day).
    limits = [server.hall.config.services[s].daily_limit for s in services]
    plan = rnd.choices(services, weights=limits, k=1000)
    issued: list[str] = []

    async def issue(chunk: list[str]) -> None:
        for service in chunk:
            status, t = await kiosk.post("/api/v1/tickets", {"service": service})
            assert status == 201, t
            issued.append(t["number"])

    await asyncio.gather(*(issue(plan[i::32]) for i in range(32)))
    assert len(set(issued)) == 1000

    clerks = [await server.clerk_at(n) for n in server.hall.config.windows]
    called: list[tuple[str, str]] = []

    async def work(n: int, clerk) -> None:  # type: ignore[no-untyped-def]
        while True:
            status, t = await clerk.post(f"/api/v1/windows/{n}/call-next", {"expect": None})
            if status == 204:
                return
            assert status == 200, t
            assert t["window"] == n
            called.append((t["number"], t["service"]))
            if t.get("bundle") and t["bundle"]["mode"] == "one-window":
                for part in t["parts"]:
                    status, ticked = await clerk.post(f"/api/v1/windows/{n}/tick-part", {"part": part["service"]})
                    assert status == 200, ticked
            status, done = await clerk.post(f"/api/v1/windows/{n}/finish", {"expect": t["number"]})
            assert status == 200, done

    await asyncio.gather(*(work(n, c) for n, c in zip(server.hall.config.windows, clerks)))
    counts = Counter(called)
    assert [n for n, c in counts.items() if c > 1] == []  # no ticket twice for the same part
    parts = {t.number: len(t.parts) if t.service != t.origin_service else 1 for t in server.hall.state.tickets.values()}
    assert sorted(Counter(number for number, _ in called).items()) == sorted(parts.items())
    assert sorted(parts) == sorted(issued)
    assert all(t.status == "done" for t in server.hall.state.tickets.values())
    assert all(not q for q in server.hall.state.waiting.values())
