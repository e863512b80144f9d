"""The HTTP API against a real server: flows, bad input, sessions, stats."""

from __future__ import annotations

import json

import pytest

from ...conftest import Harness, Http  # type: ignore[import-not-found]


async def test_hall_snapshot(server: Harness) -> None:
    status, body = await server.client().get("/api/v1/hall")
    assert status == 200
    assert body["name"] == "太康县行政服务中心" and len(body["windows"]) == 40 and len(body["services"]) == 21
    live = body["live"]
    assert live["day"] == "2026-12-01" and live["open_now"] is True
    assert {s["id"]: s["waiting"] for s in live["services"]}["pension"] == 0


async def test_a_ticket_from_kiosk_to_rating(server: Harness) -> None:
    kiosk = await server.kiosk()
    status, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    assert status == 201
    assert (t["number"], t["status"], t["ahead"], t["service_name"]) == ("K001", "waiting", 0, "养老保险")
    assert t["issued_at"].endswith("+08:00") and len(t["token"]) >= 16
    assert t["eta_minutes"] is None  # no window serving pension is signed in: no wait is promised
    citizen = server.client()
    status, seen = await citizen.get(f"/api/v1/tickets/{t['token']}")
    assert status == 200 and seen["number"] == "K001" and seen["ahead"] == 0
    assert seen["seq"] == server.hall.state.seq  # pages tell a late reply from a newer event by it

    clerk = await server.clerk_at(15)
    server.hall.clock.advance(120)  # type: ignore[attr-defined]
    status, called = await clerk.post("/api/v1/windows/15/call-next")
    assert status == 200 and called["number"] == "K001" and called["window"] == 15 and "token" not in called
    assert (await clerk.post("/api/v1/windows/15/recall"))[1]["recalls"] == 1
    assert (await clerk.post("/api/v1/windows/15/start"))[1]["status"] == "serving"
    server.hall.clock.advance(300)  # type: ignore[attr-defined]
    status, done = await clerk.post("/api/v1/windows/15/finish", {"outcome": "pending_materials"})
    assert status == 200 and done["status"] == "done" and done["outcome"] == "pending_materials"
    assert (await clerk.post("/api/v1/windows/15/call-next"))[0] == 204

    pad = server.client(await server.token("pad", windows=(15,)))
    status, ev = await pad.post("/api/v1/evaluations", {"ticket": done["id"], "level": 2, "reasons": ["efficiency"]})
    assert status == 201 and ev["level"] == 2 and ev["window"] == 15
    status, err = await pad.post("/api/v1/evaluations", {"ticket": done["id"], "level": 5})
    assert status == 409 and err["error"]["code"] == "already_rated"
    status, seen = await citizen.get(f"/api/v1/tickets/{t['token']}")
    assert seen["rating"] == 2


async def test_citizen_rates_and_cancels_with_the_token(server: Harness) -> None:
    kiosk = await server.kiosk()
    _, t1 = await kiosk.post("/api/v1/tickets", {"service": "referral"})
    _, t2 = await kiosk.post("/api/v1/tickets", {"service": "referral"})
    citizen = server.client()
    status, gone = await citizen.delete(f"/api/v1/tickets/{t2['token']}")
    assert status == 200 and gone["status"] == "cancelled"
    status, err = await citizen.delete(f"/api/v1/tickets/{t2['token']}")
    assert status == 409 and err["error"]["code"] == "illegal_transition"
    clerk = await server.clerk_at(29)
    await clerk.post("/api/v1/windows/29/call-next")
    await clerk.post("/api/v1/windows/29/finish")
    status, err = await citizen.post("/api/v1/evaluations", {"ticket": t1["token"], "level": 1})
    assert status == 422 and err["error"]["code"] == "reason_required"
    status, ev = await citizen.post("/api/v1/evaluations", {"ticket": t1["token"], "level": 5, "comment": "很快"})
    assert status == 201 and ev["source"] == "phone"


async def test_no_show_requeue_and_transfer(server: Harness) -> None:
    kiosk = await server.kiosk()
    numbers = [(await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]["number"] for _ in range(5)]
    clerk = await server.clerk_at(21)
    assert (await clerk.post("/api/v1/windows/21/call-next"))[1]["number"] == numbers[0]
    assert (await clerk.post("/api/v1/windows/21/no-show"))[1]["status"] == "no_show"
    status, back = await kiosk.post("/api/v1/requeue", {"ticket": numbers[0]})
    assert status == 200 and back["status"] == "waiting" and back["ahead"] == 3
    assert (await clerk.post("/api/v1/windows/21/call-next"))[1]["number"] == numbers[1]
    status, moved = await clerk.post("/api/v1/windows/21/transfer", {"service": "pension"})
    assert status == 200 and moved["service"] == "pension" and moved["number"] == numbers[1]
    other = await server.clerk_at(15)
    assert (await other.post("/api/v1/windows/15/call-next"))[1]["number"] == numbers[1]
    status, err = await other.post("/api/v1/windows/15/transfer", {"service": "pension", "to_window": 3})
    assert status == 422 and err["error"]["code"] == "transfer_target"
    status, moved = await other.post("/api/v1/windows/15/transfer", {"to_window": 21})
    assert status == 200 and moved["pinned_window"] == 21


async def test_idempotency_key_returns_the_same_ticket(server: Harness) -> None:
    kiosk = await server.kiosk()
    headers = {"Idempotency-Key": "kiosk-k1-000042"}
    s1, a = await kiosk.post("/api/v1/tickets", {"service": "pension"}, headers=headers)
    s2, b = await kiosk.post("/api/v1/tickets", {"service": "pension"}, headers=headers)
    assert (s1, s2) == (201, 201) and a["id"] == b["id"] and a["token"] == b["token"]
    _, c = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    assert c["number"] == "K002"


async def test_an_idempotency_key_is_the_callers_own(server: Harness) -> None:
    """Kiosk K2 replaying K1's key gets a ticket of its own, never K1's ticket and tracking token."""
    k1, k2 = await server.kiosk("k1"), await server.kiosk("k2")
    headers = {"Idempotency-Key": "kiosk-000042"}
    _, first = await k1.post("/api/v1/tickets", {"service": "pension"}, headers=headers)
    status, other = await k2.post("/api/v1/tickets", {"service": "pension"}, headers=headers)
    assert status == 201 and other["id"] != first["id"] and other["token"] != first["token"]
    status, err = await k2.post("/api/v1/tickets", {"service": "referral"}, headers=headers)
    assert status == 422 and err["error"]["code"] == "idempotency_mismatch"
    status, err = await k1.post("/api/v1/tickets", {"service": "pension", "channel": "phone"}, headers=headers)
    assert status == 422 and err["error"]["code"] == "idempotency_mismatch" and first["token"] not in json.dumps(err)
    status, again = await k2.post("/api/v1/tickets", {"service": "pension"}, headers=headers)
    assert status == 201 and again["id"] == other["id"]
    assert len(server.hall.state.tickets) == 2


BAD_REQUESTS = [
    ("malformed JSON", "POST", "/api/v1/tickets", b'{"service": ', 400, "bad_json"),
    ("not UTF-8", "POST", "/api/v1/tickets", b'\xff\xfe{"service"', 400, "bad_json"),
    ("array body", "POST", "/api/v1/tickets", b'["pension"]', 422, "bad_type"),
    ("wrong type", "POST", "/api/v1/tickets", b'{"service": 42}', 422, "bad_type"),
    ("missing field", "POST", "/api/v1/tickets", b'{}', 422, "missing_field"),
    ("unknown field", "POST", "/api/v1/tickets", b'{"service": "pension", "vip": true}', 422, "unknown_field"),
    ("unknown service", "POST", "/api/v1/tickets", b'{"service": "horse-licence"}', 404, "service_unknown"),
    ("bad enum", "POST", "/api/v1/tickets", b'{"service": "pension", "priority": "vip"}', 422, "bad_value"),
    ("too long", "POST", "/api/v1/tickets", json.dumps({"service": "x" * 5000}).encode(), 422, "bad_value"),
    ("huge body", "POST", "/api/v1/tickets", b'{"service": "' + b"x" * 200_000 + b'"}', 413, "too_large"),
    ("unknown window", "POST", "/api/v1/windows/999/call-next", b"", 404, "window_unknown"),
    ("window not a number", "POST", "/api/v1/windows/abc/call-next", b"", 404, "not_found"),
    ("unknown ticket", "GET", "/api/v1/tickets/no-such-token", None, 404, "ticket_unknown"),
    ("unknown route", "GET", "/api/v1/nothing-here", None, 404, "not_found"),
    ("wrong method", "PATCH", "/api/v1/tickets", b"{}", 405, "method_not_allowed"),
    ("level out of range", "POST", "/api/v1/evaluations", b'{"ticket": "x", "level": 7}', 422, "bad_value"),
    ("boolean as level", "POST", "/api/v1/evaluations", b'{"ticket": "x", "level": true}', 422, "bad_type"),
    ("bad outcome", "POST", "/api/v1/windows/15/finish", b'{"outcome": "maybe"}', 422, "bad_value"),
    ("bad date", "GET", "/api/v1/stats?date=2026-13-45", None, 422, "bad_date"),
    ("bad bearer", "GET", "/api/v1/stats", None, 401, "bad_token"),
]


@pytest.mark.parametrize("what,method,path,raw,status,code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(
    server: Harness, what: str, method: str, path: str, raw: bytes | None, status: int, code: str
) -> None:
    token = await server.token("kiosk", kiosk="k1")
    if what == "bad bearer":
        token = "hc_not-a-real-token"
    elif "evaluations" in path:
        token = await server.token("pad", windows=(15,))
    elif "stats" in path:
        token = None  # type: ignore[assignment]
    caller: Http = server.client(token)
    if "windows/15" in path:
        caller = await server.clerk_at(15)
    if "stats" in path and what == "bad date":
        await server.person("boss", "manager")
        await caller.login("boss")
    got, body = await caller.request(method, path, raw=raw)
    assert got == status, body
    assert body["error"]["code"] == code and body["error"]["message"]
    ok_status, ok = await (await server.kiosk("k9")).post("/api/v1/tickets", {"service": "pension"})
    assert ok_status == 201 and ok["number"].startswith("K")


async def test_sessions_need_csrf_and_end_at_logout(server: Harness) -> None:
    await server.person("lisi", "clerk", staff_no="0099")
    c = server.client()
    status, err = await c.post("/api/v1/login", {"login": "lisi", "password": "wrong-password"})
    assert status == 401 and err["error"]["code"] == "bad_credentials"
    me = await c.login("lisi")
    assert me["person"]["role"] == "clerk" and "password_hash" not in me["person"]["person"]
    csrf, c.csrf = c.csrf, None
    status, err = await c.post("/api/v1/windows/17/open")
    assert status == 403 and err["error"]["code"] == "csrf"
    c.csrf = csrf
    status, w = await c.post("/api/v1/windows/17/open")
    assert status == 200 and w["clerk_name"] == "lisi" and w["staff_no"] == "0099"
    assert (await c.get("/api/v1/me"))[1]["window"] == 17
    assert (await c.post("/api/v1/logout"))[0] == 204
    c.csrf = None
    assert (await c.post("/api/v1/windows/17/call-next"))[0] == 401


async def test_stats_for_a_day(server: Harness) -> None:
    kiosk = await server.kiosk()
    clock = server.hall.clock
    for _ in range(3):
        await kiosk.post("/api/v1/tickets", {"service": "referral"})
    clerk = await server.clerk_at(29)
    waits = []
    for handling in (100, 200, 600):
        clock.advance(60)  # type: ignore[attr-defined]
        status, t = await clerk.post("/api/v1/windows/29/call-next")
        waits.append(t)
        clock.advance(handling)  # type: ignore[attr-defined]
        await clerk.post("/api/v1/windows/29/finish")
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    status, report = await boss.get("/api/v1/stats?date=2026-12-01&by=service,window,clerk,department")
    assert status == 200
    [medical] = report["by"]["department"]  # window 29 is 医保局's
    assert (medical["department"], medical["served"]) == ("medical", 3)
    [referral] = [r for r in report["by"]["service"] if r["service"] == "referral"]
    assert (referral["issued"], referral["called"], referral["served"]) == (3, 3, 3)
    assert referral["handling_seconds"] == {"mean": 300.0, "p90": 600.0, "max": 600.0}
    [w29] = report["by"]["window"]
    assert w29["window"] == 29 and w29["served"] == 3
    assert report["hall"]["issued"] == 3
    status, _ = await kiosk.get("/api/v1/stats?date=2026-12-01")
    assert status == 403


async def test_notice_and_window_queue(server: Harness) -> None:
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    status, notice = await boss.put("/api/v1/notice", {"text": "午休时间 12:00-14:30", "text_en": "Lunch 12:00-14:30"})
    assert status == 200 and notice["text"] == "午休时间 12:00-14:30"
    assert (await server.client().get("/api/v1/hall"))[1]["live"]["notice"]["text_en"] == "Lunch 12:00-14:30"
    kiosk = await server.kiosk(green=True)
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await kiosk.post("/api/v1/tickets", {"service": "pension", "priority": "green"})
    clerk = await server.clerk_at(18)
    status, q = await clerk.get("/api/v1/windows/18/queue")
    assert status == 200 and [t["priority"] for t in q["queue"]] == ["green", "normal"]
    assert q["window"]["clerk_name"] == "clerk18" and q["today"]["served"] == 0


async def test_people_and_tokens_admin(server: Harness) -> None:
    await server.person("root", "admin")
    admin = server.client()
    await admin.login("root")
    status, person = await admin.post("/api/v1/people", {"login": "wangwu", "name": "王五", "role": "clerk",
                                                         "password": "pw123456", "staff_no": "0100", "windows": [1, 2]})
    assert status == 201 and "password_hash" not in person
    assert (await admin.post("/api/v1/people", {"login": "wangwu", "name": "x", "role": "clerk", "password": "pw123456"}))[0] == 409
    status, tok = await admin.post("/api/v1/tokens", {"role": "display", "label": "大厅电视"})
    assert status == 201 and tok["token"].startswith("hc_")
    listed = (await admin.get("/api/v1/tokens"))[1]["tokens"]
    assert [t["label"] for t in listed] == ["大厅电视"] and "hash" not in listed[0]
    display = server.client(tok["token"])
    assert (await display.get("/api/v1/windows/3/queue"))[0] == 200
    assert (await admin.delete(f"/api/v1/tokens/{tok['id']}"))[0] == 200
    server.hall.auth.forget()
    assert (await display.get("/api/v1/windows/3/queue"))[0] == 401



async def test_a_sign_in_ends_on_time_even_just_after_it_was_used(server: Harness) -> None:
    """Twelve hours after sign-in the session is over at once, not after the next cache refresh."""
    await server.person("boss", "manager")
    c = server.client()
    await c.login("boss")
    assert (await c.get("/api/v1/me"))[1]["role"] == "manager"
    server.hall.clock.advance(12 * 3600 + 1)  # type: ignore[attr-defined]
    assert (await c.get("/api/v1/me"))[1]["role"] == "anonymous"
    assert (await c.get("/api/v1/people"))[0] == 401


async def test_deactivating_a_person_ends_their_sign_in(server: Harness) -> None:
    await server.person("root", "admin")
    await server.person("boss", "manager")
    clerk_row = await server.person("leaver", "clerk", staff_no="0333")
    admin = server.client()
    await admin.login("root")
    boss = server.client()
    await boss.login("boss")
    leaver = server.client()
    await leaver.login("leaver")
    assert (await leaver.get("/api/v1/me"))[1]["role"] == "clerk"

    status, changed = await boss.request("PATCH", f"/api/v1/people/{clerk_row.id}", {"active": False})
    assert status == 200 and changed["active"] is False and "password_hash" not in changed
    assert (await leaver.get("/api/v1/me"))[1]["role"] == "anonymous"
    assert (await server.client().post("/api/v1/login", {"login": "leaver", "password": "secret-pw"}))[0] == 401

    root_id = (await admin.get("/api/v1/me"))[1]["id"]
    status, err = await boss.request("PATCH", f"/api/v1/people/{root_id}", {"active": False})
    assert status == 403
    status, err = await admin.request("PATCH", f"/api/v1/people/{root_id}", {"active": False})
    assert status == 409 and err["error"]["code"] == "self_deactivate"
    status, _ = await admin.request("PATCH", f"/api/v1/people/{clerk_row.id}", {"active": True, "password": "new-password", "windows": [7]})
    assert status == 200
    again = server.client()
    status, _ = await again.post("/api/v1/login", {"login": "leaver", "password": "new-password"})
    assert status == 200
    assert (await server.hall.store.person(login="leaver")).windows == (7,)
    assert (await admin.request("PATCH", "/api/v1/people/nobody", {"active": False}))[0] == 404


async def test_keypad_sign_in_opens_a_window_for_clerks_permitted_there_only(server: Harness) -> None:
    """An agent signs in by staff number: a clerk of that window, never a manager or an admin."""
    agent = server.client(await server.token("agent", windows=(15, 16)))
    await server.person("root", "admin", staff_no="A001")
    await server.person("boss", "manager", staff_no="M001")
    await server.person("elsewhere", "clerk", staff_no="0016", windows=(16,))
    await server.person("here", "clerk", staff_no="0015", windows=(15,))
    await server.person("anywhere", "clerk", staff_no="0099")  # no list: permitted at every window
    for staff_no in ("A001", "M001", "0016"):
        status, err = await agent.post("/api/v1/windows/15/open", {"staff_no": staff_no})
        assert status == 403 and err["error"]["code"] == "forbidden", (staff_no, err)
    assert server.hall.state.windows[15].clerk is None
    status, w = await agent.post("/api/v1/windows/15/open", {"staff_no": "0015"})
    assert status == 200 and w["staff_no"] == "0015"
    status, w = await agent.post("/api/v1/windows/16/open", {"staff_no": "0099"})
    assert status == 200 and w["staff_no"] == "0099"
