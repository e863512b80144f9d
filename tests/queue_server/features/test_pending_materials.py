"""容缺受理: finishing with materials pending records them with a due date; the console lists them; overdue alerts."""

from __future__ import annotations

from typing import Any

import pytest

from queue_server.core.model import Event
from queue_server.web import audience

from ...conftest import Harness  # type: ignore[import-not-found]
from ..citizens_kit import at, manager, serve  # type: ignore[import-not-found]
from ..citizens_kit import hall_config as make_config

pytestmark = pytest.mark.every_store  # the store is this module's subject


@pytest.fixture
def hall_config(store_spec: Any) -> Any:
    return make_config(store_spec.url)


async def test_pending_materials_are_recorded_listed_and_completed(server: Harness) -> None:
    clerk = await server.clerk_at(15)
    done = await serve(server, clerk, 15, "pension", outcome="pending_materials",
                       details={"materials": ["户口簿复印件", " 近期一寸照片 "], "due": "2026-12-08", "note": "承诺一周内补齐"})
    assert done["outcome"] == "pending_materials"
    default = await serve(server, clerk, 15, "pension", outcome="pending_materials")  # no details: the hall's default
    status, listed = await clerk.get("/api/v1/windows/15/pending")
    assert status == 200
    rows = {r["id"]: r for r in listed["pending"]}
    assert rows[done["id"]]["materials"] == ["户口簿复印件", "近期一寸照片"] and rows[done["id"]]["due"] == "2026-12-08"
    assert rows[default["id"]]["due"] == "2026-12-09"  # five working days, skipping the Friday holiday
    assert [r["id"] for r in listed["pending"]] == [done["id"], default["id"]]  # due soonest first

    other = await server.clerk_at(16)
    assert (await other.get("/api/v1/windows/15/pending"))[0] == 403
    assert (await other.post(f"/api/v1/pending/{done['id']}/complete"))[0] == 403
    status, closed = await clerk.post(f"/api/v1/pending/{done['id']}/complete", {"note": "材料已补齐"})
    assert status == 200 and closed["state"] == "completed" and closed["steps"][-1]["note"] == "材料已补齐"
    status, err = await clerk.post(f"/api/v1/pending/{done['id']}/complete")
    assert status == 404
    mgr = await manager(server)
    status, everything = await mgr.get("/api/v1/pending?state=all&from=2026-12-01&to=2026-12-01")
    assert {r["id"]: r["state"] for r in everything["pending"]} == {done["id"]: "completed", default["id"]: "open"}


async def test_a_due_date_in_the_past_is_refused_with_the_finish(server: Harness) -> None:
    clerk = await server.clerk_at(15)
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await clerk.post("/api/v1/windows/15/call-next")
    status, err = await clerk.post("/api/v1/windows/15/finish",
                                   {"outcome": "pending_materials", "details": {"materials": ["x"], "due": "2026-11-30"}})
    assert status == 422 and err["error"]["code"] == "bad_due"
    status, window = await clerk.get("/api/v1/windows/15/queue")
    assert window["window"]["ticket"]["status"] == "called"  # the finish did not happen without its record


async def test_overdue_records_alert_once(server: Harness) -> None:
    seen: list[Event] = []
    server.hall.subscribe(seen.append)
    clerk = await server.clerk_at(15)
    done = await serve(server, clerk, 15, "pension", outcome="pending_materials", details={"materials": ["证明"], "due": "2026-12-02"})
    server.hall.clock.set(at(2, 17))  # type: ignore[attr-defined]
    assert await server.hall.check("pending") == []
    server.hall.clock.set(at(3, 9))  # type: ignore[attr-defined]
    assert [d.id for d in await server.hall.check("pending")] == [done["id"]]
    assert await server.hall.check("pending") == []
    await server.hall.wait_dispatched(server.hall.state.seq)  # listeners get events from the store's tail
    overdue = [e for e in seen if e.name == "pending.overdue"]
    assert len(overdue) == 1 and [topics for topics, _ in audience.of(server.hall, overdue[0])] == [frozenset({"admin", "window:15"})]
    status, board = await (await manager(server)).get("/api/v1/alerts/deadlines")
    assert [(i["kind"], i["number"], i["materials"], i["window"]) for i in board["items"]] == [
        ("pending", done["number"], ["证明"], 15)]
