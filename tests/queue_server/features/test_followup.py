"""Bad-review follow-up cases: the whole flow, deadlines on the working-day calendar, appeals, escalation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from queue_server.core.model import Event
from queue_server.web import audience

from ...conftest import Harness, config_problems, free_port  # type: ignore[import-not-found]
from ..citizens_kit import EXTRA, at, manager, rate, serve  # type: ignore[import-not-found]
from ..citizens_kit import hall_config as make_config

pytestmark = pytest.mark.every_store  # the store is this module's subject


class Receiver:
    """A real HTTP server standing in for the hall's webhook (a WeChat Work robot, say)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.arrived = asyncio.Condition()
        self.fail_first = 1  # the first POST gets a 503: the notifier must retry

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first:
            self.fail_first -= 1
            return web.Response(status=503)
        body = await request.json()
        async with self.arrived:
            self.got.append(body)
            self.arrived.notify_all()
        return web.Response(status=204)

    async def wait_for(self, event: str) -> dict[str, Any]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: any(b["event"] == event for b in self.got)), 10)
        return next(b for b in self.got if b["event"] == event)


@pytest.fixture
async def receiver() -> Any:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    r.url = f"http://127.0.0.1:{port}/hook"  # type: ignore[attr-defined]
    yield r
    await runner.cleanup()


@pytest.fixture
def hall_config(store_spec: Any, receiver: Any) -> Any:
    extra = EXTRA.replace("escalate_days = 1\n", f"escalate_days = 1\nwebhook = \"{receiver.url}\"\nwebhook_timeout = 2.0\n")
    return make_config(store_spec.url, extra)


async def bad_review(server: Harness, window: int = 15, level: int = 2, reasons: list[str] | None = None) -> tuple[Any, str]:
    clerk = await server.clerk_at(window)
    done = await serve(server, clerk, window, "pension")
    await rate(server, window, done["id"], level, reasons or ["attitude", "efficiency"], "等了很久，态度也不好")
    return clerk, f"CP{done['id']}"


async def test_a_bad_review_runs_the_whole_case_flow(server: Harness, receiver: Receiver) -> None:
    seen: list[Event] = []
    server.hall.subscribe(seen.append)
    clerk, case_id = await bad_review(server)
    mgr = await manager(server)

    status, listed = await mgr.get("/api/v1/cases")
    assert status == 200 and [c["id"] for c in listed["cases"]] == [case_id]
    case = listed["cases"][0]
    assert (case["state"], case["level"], case["reasons"], case["window"]) == ("review", 2, ["attitude", "efficiency"], 15)
    assert case["reason_names"] == ["态度", "效率"] and case["clerk_name"] == "clerk15"
    # Opened Tue 12-01; five working days skip the Friday holiday and the weekend: Wed, Thu, Mon, Tue, Wed.
    assert (case["deadline_days"], case["due"]) == (5, "2026-12-09")

    # Opened in the rating's own commit, and announced to managers only (the admin topic).
    await server.hall.wait_dispatched(server.hall.state.seq)  # listeners get events from the store's tail
    opened = next(e for e in seen if e.name == "case.opened")
    rated = next(e for e in seen if e.name == "evaluation.submitted")
    between = [e.name for e in seen if rated.seq < e.seq < opened.seq]  # other features' hooks, if any
    assert opened.at == rated.at and opened.extra["by"] == rated.extra["by"] and not any(n.startswith("ticket.") for n in between)
    assert [topics for topics, _ in audience.of(server.hall, opened)] == [frozenset({"admin"})]
    assert opened.extra["notify"] == ["window_head", "assessment_manager"]
    hook = await receiver.wait_for("case.opened")  # delivered after one 503 and a retry
    assert hook["docs"][0]["id"] == case_id and hook["extra"]["window_no"] == 15

    # The clerk sees their own case but may not move it.
    status, own = await clerk.get("/api/v1/cases")
    assert status == 200 and [c["id"] for c in own["cases"]] == [case_id]
    status, err = await clerk.post(f"/api/v1/cases/{case_id}/screen")
    assert status == 403

    steps = [
        ("screen", {"note": "评价真实"}, "verify"),
        ("verify", {"substantiated": True, "reasonable": True, "finding": "窗口人员解释不耐心"}, "rectify"),
        ("rectify", {"measures": "约谈提醒，组织服务礼仪培训"}, "reply"),
        ("reply", {"text": "已整改，感谢监督", "channel": "phone"}, "callback"),
        ("callback", {"level": 4, "note": "群众表示满意"}, "closed"),
    ]
    for action, body, state in steps:
        server.hall.clock.advance(hours=2)  # type: ignore[attr-defined]
        status, case = await mgr.post(f"/api/v1/cases/{case_id}/{action}", body)
        assert status == 200 and case["state"] == state, (action, case)
    status, err = await mgr.post(f"/api/v1/cases/{case_id}/reply", {"text": "again"})
    assert status == 404 and err["error"]["code"] == "case_unknown"

    status, final = await mgr.get(f"/api/v1/cases/{case_id}")
    assert status == 200 and final["state"] == "closed" and final["result"] == "rectified" and final["callback_level"] == 4
    assert [s["step"] for s in final["steps"]] == ["opened", "screen", "verify", "rectify", "reply", "callback"]
    assert all(s["at"].endswith("+08:00") and s["by"] for s in final["steps"])
    assert {s["by"] for s in final["steps"][1:]} == {f"person:{(await server.hall.store.person(login='mgr')).id}"}  # type: ignore[union-attr]
    assert case_id not in server.hall.state.docs.get("case", {})  # closed cases leave the live state
    status, open_now = await mgr.get("/api/v1/cases")
    assert open_now["cases"] == []
    status, history = await mgr.get("/api/v1/cases?state=all&from=2026-12-01&to=2026-12-31")
    assert [c["id"] for c in history["cases"]] == [case_id]


async def test_steps_out_of_order_are_refused(server: Harness) -> None:
    _, case_id = await bad_review(server)
    mgr = await manager(server)
    status, err = await mgr.post(f"/api/v1/cases/{case_id}/rectify", {"measures": "x"})
    assert status == 409 and err["error"]["code"] == "case_state" and "预审" in err["error"]["message"]
    status, err = await mgr.post(f"/api/v1/cases/{case_id}/verify", {"substantiated": True})
    assert status == 422 and err["error"]["code"] == "missing_field"


async def test_a_complaint_found_untrue_is_answered_without_rectification(server: Harness) -> None:
    _, case_id = await bad_review(server)
    mgr = await manager(server)
    await mgr.post(f"/api/v1/cases/{case_id}/screen")
    status, case = await mgr.post(f"/api/v1/cases/{case_id}/verify",
                                  {"substantiated": False, "reasonable": False, "finding": "监控显示办理规范"})
    assert case["state"] == "reply" and case["result"] == "not_substantiated"
    await mgr.post(f"/api/v1/cases/{case_id}/reply", {"text": "经核实办理符合规定"})
    status, case = await mgr.post(f"/api/v1/cases/{case_id}/callback", {"level": 2})
    assert case["state"] == "closed"  # nothing was rectified, so a second round would change nothing


async def test_an_unhappy_callback_sends_the_case_back_once(server: Harness) -> None:
    _, case_id = await bad_review(server)
    mgr = await manager(server)
    for action, body in (("screen", {}), ("verify", {"substantiated": True, "reasonable": True, "finding": "属实"}),
                         ("rectify", {"measures": "调整岗位"}), ("reply", {"text": "已整改"})):
        assert (await mgr.post(f"/api/v1/cases/{case_id}/{action}", body))[0] == 200
    server.hall.clock.set(at(3, 10))  # type: ignore[attr-defined]
    await mgr.login("mgr")  # two days on: yesterday's sign-in has ended
    status, case = await mgr.post(f"/api/v1/cases/{case_id}/callback", {"level": 1, "note": "仍不满意"})
    assert (case["state"], case["round"], case["due"]) == ("rectify", 2, "2026-12-11")  # from Thu 12-03, over the holiday
    await mgr.post(f"/api/v1/cases/{case_id}/rectify", {"measures": "更换窗口人员"})
    await mgr.post(f"/api/v1/cases/{case_id}/reply", {"text": "再次整改"})
    status, case = await mgr.post(f"/api/v1/cases/{case_id}/callback", {"level": 2})
    assert case["state"] == "closed" and case["round"] == 2


async def test_appeal_of_a_malicious_review(server: Harness) -> None:
    clerk, case_id = await bad_review(server, level=1, reasons=["other"])
    mgr = await manager(server)
    status, case = await clerk.post(f"/api/v1/cases/{case_id}/appeal",
                                    {"ground": "malicious", "statement": "该群众未办理业务即给出差评，有监控为证"})
    assert status == 200 and case["state"] == "appeal" and case["appeal"]["ground_name"] == "恶意差评"
    status, err = await clerk.post(f"/api/v1/cases/{case_id}/appeal-decision", {"upheld": True})
    assert status == 403  # a clerk does not decide appeals, least of all their own
    _, before = await mgr.get("/api/v1/stats?date=2026-12-01&by=window")
    assert before["hall"]["levels"]["1"] == 1 and before["hall"]["bad"] == 1
    status, case = await mgr.post(f"/api/v1/cases/{case_id}/appeal-decision", {"upheld": True, "note": "经调取监控，申诉成立"})
    assert status == 200 and case["state"] == "closed" and case["result"] == "appeal_upheld" and case["excluded"] is True
    assert case["appeal"]["upheld"] is True and case["appeal"]["decided_by"] != case["appeal"]["by"]
    # The set-aside review no longer counts, wherever satisfaction is reported.
    _, after = await mgr.get("/api/v1/stats?date=2026-12-01&by=window")
    assert after["hall"]["rated"] == 0 and after["hall"]["bad"] == 0
    [stored] = await server.hall.store.evaluations("2026-12-01", "2026-12-01")
    assert stored.excluded is True and stored.level == 1
    assert sum(g.count for g in await server.hall.store.rating_facts("2026-12-01", "2026-12-01")) == 0


async def test_a_rejected_appeal_goes_on_to_verification_and_nobody_decides_their_own(server: Harness) -> None:
    _, case_id = await bad_review(server, level=1, reasons=["integrity"])
    mgr = await manager(server)
    status, case = await mgr.post(f"/api/v1/cases/{case_id}/appeal", {"ground": "mistaken", "statement": "评价对象有误"})
    assert status == 200
    status, err = await mgr.post(f"/api/v1/cases/{case_id}/appeal-decision", {"upheld": True})
    assert status == 403 and err["error"]["code"] == "own_appeal"
    boss = await manager(server, "director", "admin")
    status, case = await boss.post(f"/api/v1/cases/{case_id}/appeal-decision", {"upheld": False, "note": "申诉理由不充分"})
    assert case["state"] == "verify" and case["appeal"]["upheld"] is False
    other_clerk = await server.clerk_at(16)
    status, err = await other_clerk.post(f"/api/v1/cases/{case_id}/appeal", {"ground": "mistaken", "statement": "x"})
    assert status == 403


async def test_escalation_before_the_deadline_and_overdue_after(server: Harness) -> None:
    seen: list[Event] = []
    server.hall.subscribe(seen.append)
    _, case_id = await bad_review(server)  # Tue 12-01, due Wed 12-09
    clock = server.hall.clock

    async def check_on(day: int) -> list[str]:
        clock.set(at(day, 9, 30))  # type: ignore[attr-defined]
        return [d.data["case"] for d in await server.hall.check("followup")]

    assert await check_on(2) == []
    assert await check_on(7) == []  # Monday: two working days left
    assert await check_on(8) == [case_id]  # Tuesday: one working day left -> escalated
    assert await check_on(8) == []  # once
    assert await check_on(9) == []  # due today: escalated already, not yet overdue
    assert await check_on(10) == [case_id]  # overdue
    assert await check_on(11) == []
    await server.hall.wait_dispatched(server.hall.state.seq)
    names = [e.name for e in seen if e.name.startswith("case.")]
    assert names == ["case.opened", "case.escalated", "case.overdue"]
    escalated = next(e for e in seen if e.name == "case.escalated")
    assert escalated.extra["left_days"] == 1 and escalated.extra["notify"] == ["window_head", "assessment_manager"]
    case = server.hall.state.docs["case"][case_id]
    assert case.data["overdue"] and case.data["escalated"]
    # The alert board lists it beside the alerts, for managers only.
    boss = await manager(server, "director", "manager")
    status, board = await boss.get("/api/v1/alerts/deadlines")
    assert status == 200 and board["overdue"] == 1
    assert [(i["kind"], i["id"], i["overdue"], i["due"]) for i in board["items"]] == [("case", case_id, True, "2026-12-09")]
    clerk = await server.clerk_at(16)
    assert (await clerk.get("/api/v1/alerts/deadlines"))[0] == 403


async def test_good_reviews_open_no_case(server: Harness) -> None:
    clerk = await server.clerk_at(15)
    for level in (5, 4, 3):
        done = await serve(server, clerk, 15, "pension")
        await rate(server, 15, done["id"], level)
    assert server.hall.state.docs.get("case", {}) == {}


def test_the_followup_section_is_checked() -> None:
    cfg = make_config("sqlite://x.db", "\n[followup]\ndeadline_days = 0\nwebhook = \"ftp://x\"\nspeed = 3\n")
    issues = [str(i) for i in config_problems(cfg)]
    assert any("followup.deadline_days: must be between 1 and 60" in i for i in issues), issues
    assert any("followup.webhook: must be an http" in i for i in issues) and any("followup.speed: unknown" in i for i in issues)
    assert all(i.startswith(cfg.source + ":") for i in issues)
