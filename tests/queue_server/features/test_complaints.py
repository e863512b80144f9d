"""The 办不成事 ledger: opening, tiers and deadlines, the case flow, overdue alerts, the monthly export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from queue_server.core.model import Event
from queue_server.features import catalog
from queue_server.features.complaints import Complaints
from queue_server.web import audience

from ...conftest import Harness, config_problems  # type: ignore[import-not-found]
from ..citizens_kit import at, manager, serve  # type: ignore[import-not-found]
from ..citizens_kit import hall_config as make_config

pytestmark = pytest.mark.every_store  # the store is this module's subject


@pytest.fixture
def hall_config(store_spec: Any) -> Any:
    return make_config(store_spec.url)


async def test_tiers_set_deadlines_on_the_working_day_calendar(server: Harness) -> None:
    desk = await server.clerk_at(40)  # 办不成事反映窗口
    cases = {}
    for reason, tier in (("materials", None), ("unclear", None), ("policy", None), ("coordination", None),
                         ("other", "1d"), ("policy", "1m")):
        body = {"matter": f"事项 {reason}", "reason": reason, "department": "县市场监管局"}
        if tier:
            body["tier"] = tier
        status, case = await desk.post("/api/v1/ledger", body)
        assert status == 201, case
        cases[(reason, tier)] = case
    due = {k: (c["tier"], c["tier_name"], c["due"]) for k, c in cases.items()}
    assert due[("materials", None)] == ("immediate", "即办", "2026-12-01")
    assert due[("unclear", None)] == ("immediate", "即办", "2026-12-01")
    assert due[("policy", None)] == ("3d", "3个工作日", "2026-12-07")  # Wed, Thu, (Fri holiday), Mon
    assert due[("coordination", None)] == ("7d", "7个工作日", "2026-12-11")
    assert due[("other", "1d")] == ("1d", "1个工作日", "2026-12-02")
    assert due[("policy", "1m")] == ("1m", "1个月", "2027-01-01")
    assert [c["id"] for c in cases.values()] == [f"BC20261201-{n:03d}" for n in range(1, 7)]
    assert all(c["window"] == 40 and c["state"] == "open" for c in cases.values())
    status, err = await desk.post("/api/v1/ledger", {"matter": "x", "reason": "other", "tier": "2w"})
    assert status == 422 and err["error"]["code"] == "bad_tier"
    status, err = await desk.post("/api/v1/ledger", {"matter": "x", "reason": "weather"})
    assert status == 422


async def test_only_the_complaint_window_and_managers_keep_the_ledger(server: Harness) -> None:
    clerk = await server.clerk_at(15)
    status, err = await clerk.post("/api/v1/ledger", {"matter": "x", "reason": "other"})
    assert status == 403 and "办不成事反映窗口" in err["error"]["message"]
    assert (await clerk.get("/api/v1/ledger"))[0] == 403
    assert (await server.client().get("/api/v1/ledger"))[0] == 401
    mgr = await manager(server)
    status, case = await mgr.post("/api/v1/ledger", {"matter": "电话反映", "reason": "other"})
    assert status == 201 and case["window"] is None


async def test_a_case_from_a_transferred_ticket_and_the_whole_flow(server: Harness) -> None:
    clerk = await server.clerk_at(15)
    kiosk = await server.kiosk()
    _, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await clerk.post("/api/v1/windows/15/call-next")
    status, moved = await clerk.post("/api/v1/windows/15/transfer", {"to_window": 40})
    assert status == 200 and moved["pinned_window"] == 40
    desk = await server.clerk_at(40)
    status, called = await desk.post("/api/v1/windows/40/call-next")
    assert called["number"] == t["number"]
    status, case = await desk.post("/api/v1/ledger", {
        "matter": "退休金补发迟迟未到账", "reason": "coordination", "ticket": t["number"], "department": "县人社局",
        "name": "张三", "phone": "138 0000 1234"})
    assert status == 201
    assert (case["ticket"], case["number"], case["service"], case["window"]) == (t["id"], t["number"], "pension", 40)
    assert case["citizen"] == {"name": "张*", "phone": "138****1234"}

    flow = [("assign", {"department": "县人社局养老股", "note": "请3日内核查到账情况"}, "assigned"),
            ("resolve", {"result": "已补发到账"}, "resolved"),
            ("reply", {"text": "已电话告知群众补发到账", "channel": "phone"}, "replied"),
            ("close", {"level": 5, "note": "群众满意，销号"}, "closed")]
    for step, body, state in flow:
        status, case = await desk.post(f"/api/v1/ledger/{case['id']}/{step}", body)
        assert status == 200 and case["state"] == state, case
    assert case["handover"]["department"] == "县人社局养老股" and case["callback_level"] == 5 and case["closed_at"]
    assert [s["step"] for s in case["steps"]] == ["opened", "assign", "resolve", "reply", "close"]
    status, err = await desk.post(f"/api/v1/ledger/{case['id']}/reply", {"text": "again"})
    assert status == 404


async def test_not_done_at_any_window_opens_a_case(server: Harness) -> None:
    clerk = await server.clerk_at(15)
    done = await serve(server, clerk, 15, "pension", outcome="not_done", details={"reason": "policy"})
    [case] = server.hall.state.docs["ledger"].values()
    assert (case.data["ticket"], case.data["reason"], case.data["tier"], case.data["matter"]) == (done["id"], "policy", "3d", "养老保险")
    await serve(server, clerk, 15, "pension", outcome="not_done", details={"reason": "系统故障无法出件"})
    second = server.hall.state.docs["ledger"]["BC20261201-002"]
    assert second.data["reason"] == "other" and second.data["steps"][0]["note"] == "系统故障无法出件"


async def test_overdue_cases_alert_once(server: Harness) -> None:
    seen: list[Event] = []
    server.hall.subscribe(seen.append)
    desk = await server.clerk_at(40)
    _, quick = await desk.post("/api/v1/ledger", {"matter": "缺少证明", "reason": "materials"})  # due today
    _, slow = await desk.post("/api/v1/ledger", {"matter": "跨部门", "reason": "policy"})  # due Mon 12-07
    _, answered = await desk.post("/api/v1/ledger", {"matter": "已答复", "reason": "materials"})
    await desk.post(f"/api/v1/ledger/{answered['id']}/resolve", {"result": "当场补正"})
    await desk.post(f"/api/v1/ledger/{answered['id']}/reply", {"text": "已当场答复"})
    clock = server.hall.clock
    clock.set(at(1, 17))  # type: ignore[attr-defined]
    assert await server.hall.check("ledger") == []
    clock.set(at(2, 9))  # type: ignore[attr-defined]
    assert [d.id for d in await server.hall.check("ledger")] == [quick["id"]]
    clock.set(at(7, 17))  # type: ignore[attr-defined]
    assert await server.hall.check("ledger") == []
    clock.set(at(8, 9))  # type: ignore[attr-defined]
    assert [d.id for d in await server.hall.check("ledger")] == [slow["id"]]
    assert await server.hall.check("ledger") == []
    await server.hall.wait_dispatched(server.hall.state.seq)  # listeners get events from the store's tail
    overdue = [e for e in seen if e.name == "ledger.overdue"]
    assert [e.extra["case"] for e in overdue] == [quick["id"], slow["id"]] 
    assert [topics for topics, _ in audience.of(server.hall, overdue[0])] == [frozenset({"admin"})]
    status, board = await (await manager(server)).get("/api/v1/alerts/deadlines")
    assert [(i["kind"], i["id"], i["matter"]) for i in board["items"]] == [("ledger", quick["id"], "缺少证明"),
                                                                           ("ledger", slow["id"], "跨部门")]
    assert "citizen" not in board["items"][0]


async def test_the_monthly_ledger_export(server: Harness) -> None:
    desk = await server.clerk_at(40)
    await desk.post("/api/v1/ledger", {"matter": "营业执照变更", "reason": "materials", "name": "欧阳娜娜", "phone": "13912345678"})
    await desk.post("/api/v1/ledger", {"matter": "不动产登记", "reason": "coordination", "department": "县自然资源局"})
    mgr = await manager(server)
    async with mgr.session.get(server.base + "/api/v1/ledger/export?month=2026-12&format=csv") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "ledger-taikang-2026-12.csv" in resp.headers["Content-Disposition"]
        text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["编号", "登记时间", "群众", "联系电话", "反映事项"] and len(rows) == 3
    assert rows[1][:5] == ["BC20261201-001", "2026-12-01 09:00", "欧***", "139****5678", "营业执照变更"]
    assert rows[2][rows[0].index("责任部门")] == "县自然资源局" and rows[2][rows[0].index("办理时限")] == "7个工作日"
    async with mgr.session.get(server.base + "/api/v1/ledger/export?month=2026-12&format=xlsx") as resp:
        assert resp.status == 200
        book = load_workbook(io.BytesIO(await resp.read()))
    sheet = list(book.active.values)
    assert sheet[0][0] == "办不成事台账 2026-12" and sheet[2][0] == "BC20261201-001" and len(sheet) == 4
    async with mgr.session.get(server.base + "/api/v1/ledger/export?month=2026-11") as resp:
        assert len(list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))) == 1  # the header alone
    status, err = await mgr.get("/api/v1/ledger/export?month=2026-13")
    assert status == 422
    assert (await desk.get("/api/v1/ledger/export"))[0] == 403


def test_the_ledger_section_is_checked() -> None:
    cfg = make_config("sqlite://x.db", '\n[ledger]\ntiers = { "2w" = "two weeks" }\ndefault_tiers = { policy = "9d" }\nwindows = [99]\n')
    issues = [str(i) for i in config_problems(cfg)]
    assert any("ledger.tiers: tier '2w'" in i for i in issues), issues
    assert any("ledger.default_tiers: unknown tier '9d'" in i for i in issues)
    assert any("ledger.windows" in i for i in issues)
    good = make_config("sqlite://x.db", '\n[ledger]\ntiers = { "15d" = 15 }\ndefault_tiers = { coordination = "15d" }\n')
    assert config_problems(good) == [] and catalog.build(good).get(Complaints).settings.tiers["15d"] == 15
