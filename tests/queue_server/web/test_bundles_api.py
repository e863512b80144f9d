"""一件事 over HTTP and the WebSocket: one number called to each part's window, parts ticked at one window."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from queue_server.core import config

from ...conftest import Harness  # type: ignore[import-not-found]
from .test_ws import ws_client  # type: ignore[import-not-found]


async def test_a_route_bundle_is_called_to_three_windows_in_turn_with_one_number(server: Harness) -> None:
    kiosk = await server.kiosk()
    status, ticket = await kiosk.post("/api/v1/tickets", {"service": "open-restaurant"})
    assert status == 201 and ticket["number"] == "R001" and ticket["bundle"]["left"] == 5
    assert [p["name"] for p in ticket["parts"]] == ["企业设立登记", "食品经营许可", "税务登记与发票申领", "免费刻制印章", "社保公积金开户"]
    screen = await ws_client(server)
    await screen.connect(["hall"])
    phone = await ws_client(server)
    await phone.connect([f"ticket:{ticket['token']}"])
    # 企业设立登记 at window 3, then 食品经营许可 at window 4, then the parallel group: 税务 at window 6.
    clerks = {n: await server.clerk_at(n) for n in (3, 4, 6, 7, 8)}
    calls = []
    for window in (3, 4, 6):
        status, called = await clerks[window].post(f"/api/v1/windows/{window}/call-next", {"expect": None})
        assert status == 200, called
        event = await screen.next("event", "ticket.called")
        calls.append((event["data"]["ticket"]["number"], event["data"]["window"]["number"]))
        status, after = await clerks[window].post(f"/api/v1/windows/{window}/finish",
                                                  {"outcome": "done", "expect": called["number"]})
        assert status == 200 and after["status"] == "waiting", after
        routed = await phone.next("event", "ticket.routed")
        done = [p["service"] for p in routed["data"]["ticket"]["parts"] if p["outcome"]]
        assert done[-1] == called["service"]  # the phone sees each part done as it is
    assert calls == [("R001", 3), ("R001", 4), ("R001", 6)]
    # A part done is never called again: window 3 (企业设立登记) and window 4 (食品经营许可) find nobody.
    for window in (3, 4):
        status, _ = await clerks[window].post(f"/api/v1/windows/{window}/call-next", {"expect": None})
        assert status == 204
    status, mine = await kiosk.get(f"/api/v1/tickets/{ticket['token']}")
    assert [p["outcome"] for p in mine["parts"]] == ["done", "done", "done", None, None] and mine["bundle"]["left"] == 2
    for window in (7, 8):
        status, called = await clerks[window].post(f"/api/v1/windows/{window}/call-next", {"expect": None})
        assert called["number"] == "R001"
        await clerks[window].post(f"/api/v1/windows/{window}/finish", {"outcome": "done", "expect": "R001"})
    finished = await phone.next("event", "ticket.finished")
    assert finished["data"]["ticket"]["status"] == "done" and finished["data"]["visit"]["service"] == "open-restaurant"
    asked = await phone.next("event", "evaluation.requested")
    assert asked["data"]["window"]["number"] == 8  # rated once, at the last part's window


async def test_a_one_window_bundle_refuses_to_finish_until_every_part_is_ticked(server: Harness) -> None:
    kiosk = await server.kiosk()
    status, ticket = await kiosk.post("/api/v1/tickets", {"service": "company-startup"})
    clerk = await server.clerk_at(1)
    status, called = await clerk.post("/api/v1/windows/1/call-next", {"expect": None})
    assert called["number"] == "Y001" and called["service"] == "company-startup"
    status, body = await clerk.post("/api/v1/windows/1/tick-part", {"part": "company-registration", "expect": "Y001"})
    assert status == 200 and body["bundle"]["left"] == 3
    status, body = await clerk.post("/api/v1/windows/1/finish", {"outcome": "done", "expect": "Y001"})
    assert status == 409 and body["error"]["code"] == "parts_open"
    assert "税务登记与发票申领" in body["error"]["message"]
    status, body = await clerk.post("/api/v1/windows/1/tick-part", {"part": "company-registration"})
    assert status == 409 and body["error"]["code"] == "part_done"
    status, body = await clerk.post("/api/v1/windows/1/tick-part", {"part": "pension"})
    assert status == 404 and body["error"]["code"] == "part_unknown"
    for part, outcome in (("tax-invoice", "not_done"), ("free-seals", "pending_materials"),
                          ("employer-enrolment", "pending_materials")):
        status, body = await clerk.post("/api/v1/windows/1/tick-part",
                                        {"part": part, "outcome": outcome, "details": {"reason": "税务信息未确认"}})
        assert status == 200, body
    status, done = await clerk.post("/api/v1/windows/1/finish", {"expect": "Y001"})
    assert status == 200 and done["status"] == "done" and done["outcome"] == "not_done"
    parts: list[dict[str, Any]] = done["parts"]
    assert [(p["outcome"], p["window"]) for p in parts] == [
        ("done", 1), ("not_done", 1), ("pending_materials", 1), ("pending_materials", 1)]
    # Each part accepted with materials to follow has its own 容缺受理 record, at this window.
    status, pending = await clerk.get("/api/v1/windows/1/pending")
    assert status == 200 and sorted(r["service"] for r in pending["pending"]) == ["employer-enrolment", "free-seals"]


async def test_rated_by_part_each_window_s_pad_rates_its_own_part_once(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await make_server(cfg=replace(hall_config, policy=replace(hall_config.policy, bundle_rating="part")))
    kiosk = await server.kiosk()
    status, ticket = await kiosk.post("/api/v1/tickets", {"service": "open-restaurant"})
    clerks = {n: await server.clerk_at(n) for n in (3, 4, 6)}
    pads = {n: server.client(await server.token("pad", windows=(n,))) for n in (3, 4, 6, 7)}
    pad_screen = await ws_client(server)
    await pad_screen.connect(["window:3", "window:4", "window:6"])
    pad3_screen = await ws_client(server)
    await pad3_screen.connect(["window:3"])
    rated = []
    # 企业设立登记 at window 3, 食品经营许可 at window 4, 税务 at window 6.
    for window, level in ((3, 5), (4, 4), (6, 2)):
        if window != 4:  # window 4 called the citizen already, while the pad at window 3 waited
            status, called = await clerks[window].post(f"/api/v1/windows/{window}/call-next", {"expect": None})
            assert status == 200 and called["number"] == "R001", called
        status, after = await clerks[window].post(f"/api/v1/windows/{window}/finish", {"outcome": "done", "expect": "R001"})
        assert status == 200 and after["status"] == "waiting", after
        asked = await pad_screen.next("event", "evaluation.requested")
        assert (asked["data"]["window"]["number"], asked["data"]["part"]) == (window, after["parts"][len(rated)]["service"])
        if window == 3:  # the citizen walks on: window 4 calls them before the pad at window 3 is pressed
            status, called = await clerks[4].post("/api/v1/windows/4/call-next", {"expect": None})
            assert status == 200 and called["number"] == "R001", called
        status, ev = await pads[window].post("/api/v1/evaluations", {"ticket": ticket["id"], "level": level,
                                                                     "reasons": ["efficiency"] if level < 3 else []})
        assert status == 201, ev
        rated.append((ev["part"], ev["service"], ev["window"], ev["level"]))
        if window == 3:  # window 3's pad hears of it, though the ticket is at window 4 now
            heard = await pad3_screen.next("event", "evaluation.submitted")
            assert heard["data"]["evaluation"] == {"ticket": ticket["id"], "level": 5, "part": "company-registration"}
        status, again = await pads[window].post("/api/v1/evaluations", {"ticket": ticket["id"], "level": 5})
        assert status == 409 and again["error"]["code"] == "already_rated"
    assert rated == [("company-registration", "company-registration", 3, 5), ("food-licence", "food-licence", 4, 4),
                     ("tax-invoice", "tax-invoice", 6, 2)]
    # Window 7's pad has nothing of this ticket to rate.
    status, body = await pads[7].post("/api/v1/evaluations", {"ticket": ticket["id"], "level": 5})
    assert status == 403, body
    status, mine = await kiosk.get(f"/api/v1/tickets/{ticket['token']}")
    assert [p.get("rating") for p in mine["parts"]] == [5, 4, 2, None, None]


async def test_by_default_a_route_bundle_part_is_not_rated_at_its_window(server: Harness) -> None:
    kiosk = await server.kiosk()
    status, ticket = await kiosk.post("/api/v1/tickets", {"service": "open-restaurant"})
    clerk = await server.clerk_at(3)
    await clerk.post("/api/v1/windows/3/call-next", {"expect": None})
    await clerk.post("/api/v1/windows/3/finish", {"outcome": "done", "expect": "R001"})
    pad = server.client(await server.token("pad", windows=(3,)))
    status, body = await pad.post("/api/v1/evaluations", {"ticket": ticket["id"], "level": 5})
    assert status == 409 and body["error"]["code"] == "not_finished"
