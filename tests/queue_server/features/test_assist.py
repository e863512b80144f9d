"""帮办代办: a request at the kiosk, a guide takes it and records the help; races, ownership, reports, roles."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import openpyxl
import pytest

from queue_server.core.model import Event, token_key
from queue_server.web import audience

from ...conftest import Harness, Http  # type: ignore[import-not-found]
from ..citizens_kit import at, manager
from ..web.test_ws import ws_client

pytestmark = pytest.mark.every_store  # the store is this module's subject


async def guide(server: Harness, login: str, name: str, staff_no: str = "") -> Http:
    await server.person(login, "guide", name=name, staff_no=staff_no)
    c = server.client()
    await c.login(login)
    return c


async def kiosk_ticket(server: Harness, *, green: bool = False) -> dict[str, Any]:
    kiosk = await server.kiosk("k1", green=green)
    body = {"service": "pension", **({"priority": "green"} if green else {})}
    status, t = await kiosk.post("/api/v1/tickets", body)
    assert status == 201, t
    return t  # type: ignore[no-any-return]


async def test_kiosk_request_accepted_and_done_is_live_and_counted(server: Harness) -> None:
    seen: list[Event] = []
    server.hall.subscribe(seen.append)
    mgr = await manager(server)
    li = await guide(server, "li", "李导办", "D01")
    citizen_ws = await ws_client(server)
    t = await kiosk_ticket(server)
    kiosk = await server.kiosk("k1")

    status, asked = await kiosk.post("/api/v1/assist", {"token": t["token"]})
    assert status == 201, asked
    assert (asked["state"], asked["source"], asked["number"], asked["guide"]) == ("open", "kiosk", t["number"], None)
    status, again = await kiosk.post("/api/v1/assist", {"token": t["token"]})
    assert status == 409 and again["error"]["code"] == "assist_exists"

    await citizen_ws.connect([f"ticket:{t['token']}"])
    status, listed = await li.get("/api/v1/assist")
    assert status == 200 and [r["number"] for r in listed["assist"]] == [t["number"]]

    server.hall.clock.advance(180)  # type: ignore[attr-defined]
    status, taken = await li.post(f"/api/v1/assist/{asked['id']}/accept")
    assert status == 200 and (taken["state"], taken["guide_name"], taken["staff_no"]) == ("accepted", "李导办", "D01")
    pushed = await citizen_ws.next("event", "assist.accepted")
    record = pushed["data"]["docs"][0]["data"]
    assert record["guide_name"] == "李导办" and record["state"] == "accepted"
    assert "need" not in record and "steps" not in record  # the citizen sees who helps, not the staff's records
    status, mine = await server.client().get(f"/api/v1/tickets/{t['token']}/assist")
    assert status == 200 and mine["assist"]["guide_name"] == "李导办" and mine["assist"]["state_name"] == "帮办中"

    status, live = await mgr.get("/api/v1/assist")
    assert [(r["number"], r["state"], r["guide_name"]) for r in live["assist"]] == [(t["number"], "accepted", "李导办")]

    server.hall.clock.advance(600)  # type: ignore[attr-defined]
    status, bad = await li.post(f"/api/v1/assist/{asked['id']}/done", {"help": ["other"]})
    assert status == 422 and bad["error"]["code"] == "note_required"
    status, done = await li.post(f"/api/v1/assist/{asked['id']}/done",
                                 {"help": ["fill_forms", "escort"], "note": "代填申请表，引导至15号窗口"})
    assert status == 200 and done["state"] == "done" and done["help_names"] == ["代填表", "引导"]
    assert [s["step"] for s in done["steps"]] == ["requested", "accepted", "done"]
    status, after = await li.post(f"/api/v1/assist/{asked['id']}/release")
    assert status == 404  # no longer open

    status, live = await mgr.get("/api/v1/assist")
    assert live["assist"] == []
    status, everything = await mgr.get("/api/v1/assist?state=all&from=2026-12-01&to=2026-12-01")
    assert [(r["number"], r["state"]) for r in everything["assist"]] == [(t["number"], "done")]

    status, rep = await mgr.get("/api/v1/reports/assist?period=2026-12-01&by=guide")
    assert status == 200, rep
    [row] = rep["rows"]
    assert (row["name"], row["requests"], row["accepted"], row["done"]) == ("李导办", 1, 1, 1)
    assert row["wait_to_accept"]["mean"] == 180 and row["help_minutes"] == 10
    assert row["help"]["fill_forms"] == 1 and row["help"]["escort"] == 1
    assert {k: rep["total"][k] for k in ("requests", "accepted", "done", "help_minutes")} == {
        "requests": 1, "accepted": 1, "done": 1, "help_minutes": 10}

    await server.hall.wait_dispatched(server.hall.state.seq)  # listeners get events from the store's tail
    steps = [e for e in seen if e.name.startswith("assist.")]
    assert [e.name for e in steps] == ["assist.requested", "assist.accepted", "assist.done"]
    (staff, staff_view), (phone, phone_view) = audience.of(server.hall, steps[-1])
    assert staff == frozenset({"admin", "guides"}) and staff_view["docs"][0]["data"]["note"] == "代填申请表，引导至15号窗口"
    assert phone == frozenset({f"ticket:{token_key(t['token'])}"}) and "note" not in phone_view["docs"][0]["data"]


async def test_the_guides_topic_needs_a_person(server: Harness) -> None:
    sock = await ws_client(server)
    sock.ws = await sock.session.ws_connect(server.ws_url)
    await sock.send({"type": "hello", "topics": ["guides"]})
    refused = await sock.next("error")
    assert refused["error"]["code"] == "unauthorized"
    screen = await ws_client(server)
    screen.ws = await screen.session.ws_connect(server.ws_url)
    await screen.send({"type": "hello", "topics": ["guides"], "token": await server.token("display")})
    assert (await screen.next("error"))["error"]["code"] == "forbidden"


async def test_two_guides_racing_to_accept_one_wins(server: Harness) -> None:
    t = await kiosk_ticket(server)
    kiosk = await server.kiosk("k1")
    _, asked = await kiosk.post("/api/v1/assist", {"token": t["token"]})
    li, wang = await guide(server, "li", "李导办"), await guide(server, "wang", "王帮办")
    results = await asyncio.gather(*(g.post(f"/api/v1/assist/{asked['id']}/accept") for g in (li, wang, li, wang)))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 409, 409, 409], results
    winner = next(b for s, b in results if s == 200)
    losers = [b for s, b in results if s != 200]
    assert {b["error"]["code"] for b in losers} == {"assist_taken"}
    doc = server.hall.state.docs["assist"][asked["id"]]
    assert doc.data["guide_name"] == winner["guide_name"] and [s["step"] for s in doc.data["steps"]] == ["requested", "accepted"]


async def test_a_guide_cannot_act_on_another_guides_request(server: Harness) -> None:
    t = await kiosk_ticket(server)
    li, wang = await guide(server, "li", "李导办"), await guide(server, "wang", "王帮办")
    status, asked = await li.post("/api/v1/assist", {"ticket": t["number"], "need": "老人，需代填表"})
    assert status == 201 and asked["source"] == "desk" and asked["need"] == "老人，需代填表"
    assert (await li.post(f"/api/v1/assist/{asked['id']}/accept"))[0] == 200
    for action, body in (("done", {"help": ["escort"]}), ("release", {}), ("cancel", {})):
        status, err = await wang.post(f"/api/v1/assist/{asked['id']}/{action}", body)
        assert status == 403 and err["error"]["code"] == "assist_not_yours", (action, err)
    status, back = await li.post(f"/api/v1/assist/{asked['id']}/release", {"note": "临时有事"})
    assert status == 200 and back["state"] == "open" and back["guide"] is None
    status, taken = await wang.post(f"/api/v1/assist/{asked['id']}/accept")
    assert status == 200 and taken["guide_name"] == "王帮办"
    status, done = await wang.post(f"/api/v1/assist/{asked['id']}/done", {"help": ["translate"]})
    assert status == 200
    # The wait to accept runs to the first acceptance; the request counts under the guide who helped.
    mgr = await manager(server)
    _, rep = await mgr.get("/api/v1/reports/assist?by=guide")
    assert [(r["name"], r["requests"], r["done"]) for r in rep["rows"]] == [("王帮办", 1, 1)]


async def test_green_channel_requests_come_first_and_ended_tickets_are_withdrawn(server: Harness) -> None:
    plain = await kiosk_ticket(server)
    green = await kiosk_ticket(server, green=True)
    kiosk = await server.kiosk("k1")
    for t in (plain, green):
        assert (await kiosk.post("/api/v1/assist", {"token": t["token"]}))[0] == 201
    li = await guide(server, "li", "李导办")
    _, listed = await li.get("/api/v1/assist")
    assert [(r["number"], r["green"]) for r in listed["assist"]] == [(green["number"], True), (plain["number"], False)]

    assert (await server.client().delete(f"/api/v1/tickets/{plain['token']}"))[0] == 200
    withdrawn = await server.hall.check("assist")
    assert [d.data["number"] for d in withdrawn] == [plain["number"]]
    assert withdrawn[0].data["cancel_reason"] == "ticket_ended"
    _, listed = await li.get("/api/v1/assist")
    assert [r["number"] for r in listed["assist"]] == [green["number"]]
    status, err = await kiosk.post("/api/v1/assist", {"token": plain["token"]})
    assert status == 409 and err["error"]["code"] == "ticket_ended"


async def test_the_console_sees_the_guide_of_the_ticket_at_its_window(server: Harness) -> None:
    t = await kiosk_ticket(server)
    li = await guide(server, "li", "李导办")
    _, asked = await li.post("/api/v1/assist", {"ticket": t["number"]})
    await li.post(f"/api/v1/assist/{asked['id']}/accept")
    clerk = await server.clerk_at(15)
    status, none = await clerk.get("/api/v1/windows/15/assist")
    assert status == 200 and none["assist"] is None
    await clerk.post("/api/v1/windows/15/call-next")
    status, found = await clerk.get("/api/v1/windows/15/assist")
    assert status == 200 and found["assist"]["guide_name"] == "李导办" and found["assist"]["number"] == t["number"]
    other = await server.clerk_at(16)
    assert (await other.get("/api/v1/windows/15/assist"))[0] == 403


async def test_report_totals_are_the_sums_of_rows_and_files_are_safe(server: Harness) -> None:
    li = await guide(server, "li", "=HYPERLINK(\"x\")")  # a name typed by a person reaches the file
    wang = await guide(server, "wang", "王帮办")
    tickets = [await kiosk_ticket(server) for _ in range(4)]
    ids = []
    for t in tickets:
        _, asked = await li.post("/api/v1/assist", {"ticket": t["number"]})
        ids.append(asked["id"])
    for g, i in ((li, ids[0]), (wang, ids[1]), (wang, ids[2])):
        await g.post(f"/api/v1/assist/{i}/accept")
        server.hall.clock.advance(120)  # type: ignore[attr-defined]
    await li.post(f"/api/v1/assist/{ids[0]}/done", {"help": ["proxy"]})
    await wang.post(f"/api/v1/assist/{ids[1]}/done", {"help": ["escort", "fill_forms"]})
    mgr = await manager(server)
    for by in ("guide", "service"):
        _, rep = await mgr.get(f"/api/v1/reports/assist?by={by}")
        for key in ("requests", "accepted", "done", "cancelled", "overdue", "green", "help_minutes"):
            assert rep["total"][key] == pytest.approx(sum(r[key] for r in rep["rows"])), (by, key)
        assert rep["total"]["requests"] == 4 and rep["total"]["accepted"] == 3 and rep["total"]["done"] == 2
    _, by_guide = await mgr.get("/api/v1/reports/assist?by=guide")
    # li holds one request, wang two, one was never taken (the last row)
    assert [(r["name"], r["requests"]) for r in by_guide["rows"]] == [("=HYPERLINK(\"x\")", 1), ("王帮办", 2), ("未接单", 1)]
    status, body = await mgr.request("GET", "/api/v1/reports/assist?by=guide&format=csv")
    assert status == 200
    text = body if isinstance(body, str) else body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["名称", "帮办申请数", "接单数", "完成数"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"x\")", "王帮办", "未接单", "合计"]
    async with mgr.session.get(server.base + "/api/v1/reports/assist?by=guide&format=xlsx") as resp:
        assert resp.status == 200
        sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
    names = [row[0] for row in sheet.iter_rows(min_row=3, values_only=True)]  # under the title and the header
    assert names == ["'=HYPERLINK(\"x\")", "王帮办", "未接单", "合计"]


# -- who may do what --------------------------------------------------------------------------------

ROLES = ["anonymous", "kiosk", "display", "pad15", "agent15", "clerk15", "guide", "other_guide", "manager", "admin"]
OK = "ok"
DENY = dict.fromkeys(ROLES, 403) | {"anonymous": 401}
# Run in this order against one hall: requests {taken} and {held} are accepted by "guide", {open} by nobody.
MATRIX: dict[str, dict[str, Any]] = {
    "POST /assist#token": {role: OK for role in ROLES},  # the ticket's token is the key (each role its own ticket)
    "POST /assist#number": {**DENY, "clerk15": OK, "guide": OK, "other_guide": OK, "manager": OK, "admin": OK},
    "GET /assist": {**DENY, "clerk15": OK, "guide": OK, "other_guide": OK, "manager": OK, "admin": OK},
    "GET /tickets/{token}/assist": {role: OK for role in ROLES},
    "GET /windows/15/assist": {**DENY, "agent15": OK, "clerk15": OK, "manager": OK, "admin": OK},
    "POST /assist/{taken}/done": {**DENY, "guide": OK, "other_guide": 403},
    "POST /assist/{held}/release": {**DENY, "guide": OK, "other_guide": 403, "manager": OK, "admin": OK},
    "POST /assist/{open}/accept": {**DENY, "guide": OK, "other_guide": OK},
    "POST /assist/{open}/cancel": {**DENY, "guide": OK, "other_guide": OK, "manager": OK, "admin": OK},
    "GET /reports/assist": {**DENY, "manager": OK, "admin": OK},
}


def test_the_matrix_covers_every_assist_route() -> None:
    from queue_server.core.config import loads
    from queue_server.features.assist import Assist
    from queue_server.features.catalog import build

    from ...conftest import HALL_FILE  # type: ignore[import-not-found]

    cfg = loads(HALL_FILE.read_text(encoding="utf-8"), source=str(HALL_FILE))
    routes = {f"{b.method} {b.path}" for cmd in build(cfg).get(Assist).commands() for b in cmd.http}
    listed = {e.split("#")[0].replace("{taken}", "{id}").replace("{held}", "{id}").replace("{open}", "{id}").replace("/15/", "/{window}/")
              for e in MATRIX}
    assert routes == listed


async def _caller(server: Harness, role: str) -> Http:
    if role == "anonymous":
        return server.client()
    if role in ("kiosk", "display"):
        return server.client(await server.token(role, kiosk="k1"))
    if role == "pad15":
        return server.client(await server.token("pad", windows=(15,)))
    if role == "agent15":
        return server.client(await server.token("agent", windows=(15,), kiosk="k1"))
    if role == "clerk15":
        return server.clerk15  # type: ignore[attr-defined,no-any-return]
    if role in ("guide", "other_guide"):
        return server.guides[role]  # type: ignore[attr-defined,no-any-return]
    return await manager(server, role, role)


@pytest.mark.parametrize("role", ROLES)
async def test_assist_role_matrix(server: Harness, role: str) -> None:
    server.clerk15 = await server.clerk_at(15)  # type: ignore[attr-defined]
    server.guides = {"guide": await guide(server, "g1", "甲"), "other_guide": await guide(server, "g2", "乙")}  # type: ignore[attr-defined]
    mine, numbered, *asking = [await kiosk_ticket(server) for _ in range(5)]
    kiosk = await server.kiosk("k1")
    taken, held, opened = [(await kiosk.post("/api/v1/assist", {"token": t["token"]}))[1] for t in asking]
    for r in (taken, held):
        assert (await server.guides["guide"].post(f"/api/v1/assist/{r['id']}/accept"))[0] == 200  # type: ignore[attr-defined]
    c = await _caller(server, role)
    bodies = {"POST /assist#token": {"token": mine["token"]}, "POST /assist#number": {"ticket": numbered["number"]},
              "POST /assist/{taken}/done": {"help": ["escort"]}}
    paths = {"{token}": mine["token"], "{taken}": taken["id"], "{held}": held["id"], "{open}": opened["id"]}
    failures = []
    for endpoint, expected_by_role in MATRIX.items():
        method, path = endpoint.split("#")[0].split(" ", 1)
        for key, value in paths.items():
            path = path.replace(key, value)
        status, body = await c.request(method, "/api/v1" + path, bodies.get(endpoint, {} if method != "GET" else None))
        expected = expected_by_role[role]
        if not (200 <= status < 300 if expected == OK else status == expected):
            failures.append(f"{endpoint} as {role}: got {status} {body}, expected {expected}")
    assert not failures, "\n".join(failures)


async def test_managers_add_guides_and_guides_sign_in(server: Harness) -> None:
    mgr = await manager(server)
    body = {"login": "zhao", "name": "赵帮办", "role": "guide", "password": "a-long-password", "staff_no": "D07"}
    status, added = await mgr.post("/api/v1/people", body)
    assert status == 201 and added["role"] == "guide"
    status, err = await mgr.post("/api/v1/people", {**body, "login": "boss", "role": "manager"})
    assert status == 403
    zhao = server.client()
    me = await zhao.login("zhao", "a-long-password")
    assert me["person"]["role"] == "guide"
    assert (await zhao.post("/api/v1/windows/15/open"))[0] == 403  # a guide never signs in at a window


async def test_requests_left_at_day_end_are_withdrawn_not_counted_as_help(server: Harness) -> None:
    t = await kiosk_ticket(server)
    li = await guide(server, "li", "李导办")
    _, held = await li.post("/api/v1/assist", {"ticket": t["number"]})
    await li.post(f"/api/v1/assist/{held['id']}/accept")
    server.hall.clock.set(at(2, 9))  # type: ignore[attr-defined]
    withdrawn = await server.hall.check("assist")
    assert [(d.id, d.data["state"], d.data["cancel_reason"]) for d in withdrawn] == [(held["id"], "cancelled", "day_end")]
    assert server.hall.state.docs.get("assist", {}) == {}
    _, rep = await (await manager(server)).get("/api/v1/reports/assist?period=2026-12-01&by=service")
    [row] = rep["rows"]
    assert (row["name"], row["requests"], row["accepted"], row["done"], row["cancelled"]) == ("养老保险", 1, 1, 0, 1)


async def test_a_request_nobody_takes_is_marked_overdue_once(server: Harness) -> None:
    seen: list[Event] = []
    server.hall.subscribe(seen.append)
    t = await kiosk_ticket(server)
    kiosk = await server.kiosk("k1")
    _, asked = await kiosk.post("/api/v1/assist", {"token": t["token"]})
    server.hall.clock.advance(299)  # type: ignore[attr-defined]
    assert await server.hall.check("assist") == []
    server.hall.clock.advance(1)  # type: ignore[attr-defined]
    [late] = await server.hall.check("assist")  # five minutes, the default [assist] alert_minutes
    assert late.data["overdue"] is True and late.data["state"] == "open"
    assert await server.hall.check("assist") == []
    await server.hall.wait_dispatched(server.hall.state.seq)
    [event] = [e for e in seen if e.name == "assist.overdue"]
    assert event.extra["waited_minutes"] == 5.0
    assert audience.of(server.hall, event)[0][0] == frozenset({"admin", "guides"})
    li = await guide(server, "li", "李导办")
    await li.post(f"/api/v1/assist/{asked['id']}/accept")
    _, rep = await (await manager(server)).get("/api/v1/reports/assist?by=service")
    assert rep["total"]["overdue"] == 1 and rep["total"]["wait_to_accept"]["mean"] == 300
