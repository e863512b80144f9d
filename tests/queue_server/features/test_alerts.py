"""Supervision alerts: each type fires at its threshold and not before, escalates, clears, is handled once.

The checker is driven by calling its ``check`` with a ManualClock, never by waiting for
its background loop. Every test runs on each real store.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.core.errors import Conflict, Invalid
from queue_server.core.model import DeviceToken, Doc, Person
from queue_server.features.alerts import Alerts
from queue_server.features.alerts import rules as alert_rules
from queue_server.features import catalog
from queue_server.service import auth, webhook
from queue_server.service.hall import Hall
from queue_server.web import audience

from ...conftest import HALL_FILE, TZ, Harness, StoreSpec, free_port  # type: ignore[import-not-found]

KIOSK = auth.from_device(DeviceToken("k1", "kiosk", "kiosk", "", green=True))
PAD = auth.from_device(DeviceToken("pad", "pad", "pads", "", windows=tuple(range(1, 41))))


@pytest.fixture
def store_spec(tmp_path: Path) -> StoreSpec:
    """The rules read the live state, not the store: one real store (SQLite) is enough here."""
    return StoreSpec("sqlite", f"sqlite://{tmp_path}/hall.db")


def clerk(n: int) -> auth.Principal:
    return auth.from_person(Person(f"c{n}", f"clerk{n}", f"clerk{n}", "clerk", staff_no=f"{n:04d}"))


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 12, 1, hh, mm, ss, tzinfo=TZ)


def of(hall: Hall, kind: str) -> list[Doc]:
    return [d for d in hall.state.docs.get("alert", {}).values() if d.data["type"] == kind]


async def check(hall: Hall, kind: str | None = None) -> list[Doc]:
    changed = await hall.check("alerts")
    return [d for d in changed if kind is None or d.data["type"] == kind]


@pytest.fixture
async def make_hall(store: Any, clock: ManualClock) -> AsyncIterator[Any]:
    """A hall on the test's store with extra hall-file text (an [alerts] or [attendance] table)."""
    started: list[Hall] = []

    async def make(extra: str) -> Hall:
        cfg = config.loads(HALL_FILE.read_text(encoding="utf-8") + "\n" + extra, source="hall.toml", store_url=store.url)
        h = Hall(cfg, store, clock, features=catalog.build(cfg))
        await h.start(day_timer=False)
        started.append(h)
        return h

    yield make
    for h in started:
        await h.stop()


async def test_wait_alert_fires_at_the_standard_escalates_and_clears(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("issue", KIOSK, service="pension")  # target 15 min: yellow 15, orange 22.5, red 30
    clock.advance(15 * 60 - 1)
    assert await check(hall) == []
    clock.advance(1)
    [raised] = await check(hall)
    assert (raised.data["type"], raised.data["level"], raised.data["subject"]) == ("wait", "yellow", "pension")
    assert raised.data["ticket"] == "K001" and raised.data["status"] == "active"
    clock.advance(7 * 60 + 29)
    assert await check(hall) == []  # nothing new to record below orange
    clock.advance(1)
    [orange] = await check(hall)
    assert orange.id == raised.id and orange.data["level"] == "orange" and orange.data["escalated_at"]
    clock.advance(7 * 60 + 30)
    [red] = await check(hall)
    assert red.id == raised.id and red.data["level"] == "red"
    await hall.execute("open", clerk(15), window=15)
    await hall.execute("call_next", clerk(15), window=15)
    [cleared] = await check(hall)
    assert cleared.data["status"] == "cleared" and cleared.data["cleared_at"] and cleared.live
    assert await check(hall) == []


async def test_wait_alert_does_not_count_the_lunch_break(hall: Hall, clock: ManualClock) -> None:
    clock.set(at(11, 50))
    await hall.execute("issue", KIOSK, service="pension")
    clock.set(at(14, 34, 59))  # 10 min before lunch + 4:59 after it
    assert await check(hall, "wait") == []
    clock.set(at(14, 35))
    [doc] = await check(hall, "wait")
    assert doc.data["level"] == "yellow" and doc.data["value"] == 15.0


async def test_handling_alert(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("open", clerk(29), window=29)
    await hall.execute("issue", KIOSK, service="referral")
    await hall.execute("call_next", clerk(29), window=29)
    await hall.execute("start", clerk(29), window=29)  # default handling thresholds 30, 45, 60 min
    levels = []
    for minutes in (30, 45, 60):
        clock.set(at(9, 0) + timedelta(minutes=minutes, seconds=-1))
        assert await check(hall, "handling") == []
        clock.advance(1)
        [doc] = await check(hall, "handling")
        levels.append(doc.data["level"])
    assert levels == ["yellow", "orange", "red"] and doc.data["window"] == 29 and doc.data["ticket"] == "P001"
    await hall.execute("finish", clerk(29), window=29)
    [cleared] = await check(hall, "handling")
    assert cleared.data["status"] == "cleared"


async def test_saturation_by_window_and_by_queue_suggests_a_flexible_window(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("open", clerk(29), window=29)  # referral is also served by 30, 33 and 34, all closed
    for _ in range(7):
        await hall.execute("issue", KIOSK, service="referral")
    assert await check(hall, "saturation") == []
    await hall.execute("issue", KIOSK, service="referral")  # 8 waiting per open window: yellow
    [doc] = await check(hall, "saturation")
    assert doc.data["level"] == "yellow" and doc.data["open_windows"] == 1 and doc.data["suggest"] == [30, 33, 34]
    for _ in range(4):
        await hall.execute("issue", KIOSK, service="referral")
    assert [d.data["level"] for d in await check(hall, "saturation")] == ["orange"]
    for _ in range(4):
        await hall.execute("issue", KIOSK, service="referral")
    assert [d.data["level"] for d in await check(hall, "saturation")] == ["red"]
    for n in (30, 33, 34):
        await hall.execute("open", clerk(n), window=n)
    [cleared] = await check(hall, "saturation")  # 16 / 4 = 4 per window, under 8
    assert cleared.data["status"] == "cleared"

    pension = [15, 16, 17, 18, 20, 23, 25, 26, 27, 28]
    for n in pension:
        await hall.execute("open", clerk(n), window=n)
    for _ in range(29):
        await hall.execute("issue", KIOSK, service="pension")
    assert await check(hall, "saturation") == []
    await hall.execute("issue", KIOSK, service="pension")  # 30 waiting: the queue threshold, though only 3 per window
    [doc] = await check(hall, "saturation")
    assert doc.data["subject"] == "pension" and doc.data["measure"] == "queue" and doc.data["level"] == "yellow"
    for more, level in ((19, None), (1, "orange"), (29, None), (1, "red")):  # 49, 50, 79, 80 waiting
        for _ in range(more):
            await hall.execute("issue", KIOSK, service="pension")
        assert [d.data["level"] for d in await check(hall, "saturation")] == ([level] if level else [])


async def test_pause_and_absence_alerts(make_hall: Any, clock: ManualClock) -> None:
    hall = await make_hall("[attendance]\nexpected_windows = [7]\n")

    async def pause_alerts(window: int) -> list[Doc]:
        return [d for d in await check(hall, "pause") if d.data["window"] == window]

    # Window 7 is expected from the first span (08:30) and has not come: absent for 30 minutes at 09:00.
    [seven] = await pause_alerts(7)
    assert (seven.data["kind"], seven.data["level"]) == ("absent", "orange")
    await hall.execute("open", clerk(3), window=3)
    await hall.execute("pause", clerk(3), window=3, reason="meeting")
    for minutes, level in ((15, "yellow"), (30, "orange"), (45, "red")):
        clock.set(at(9, 0) + timedelta(minutes=minutes, seconds=-1))
        assert await pause_alerts(3) == []
        clock.advance(1)
        [doc] = await pause_alerts(3)
        assert (doc.data["level"], doc.data["kind"], doc.data["reason"]) == (level, "paused", "meeting")
    await hall.execute("resume", clerk(3), window=3)
    [cleared] = await pause_alerts(3)
    assert cleared.data["status"] == "cleared" and cleared.data["subject"] == "w3.paused"

    await hall.execute("open", clerk(5), window=5)
    clock.set(at(10, 0))
    await hall.execute("close", clerk(5), window=5)  # signed out in business hours
    clock.set(at(10, 14, 59))
    assert await pause_alerts(5) == []
    clock.set(at(10, 15))
    [away] = await pause_alerts(5)
    assert (away.data["kind"], away.data["level"]) == ("absent", "yellow")
    await hall.execute("open", clerk(5), window=5)
    [back] = await pause_alerts(5)
    assert back.data["status"] == "cleared"


async def test_no_show_rate_in_a_time_slot(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("open", clerk(29), window=29)
    for _ in range(20):
        await hall.execute("issue", KIOSK, service="referral")
    for i in range(19):
        await hall.execute("call_next", clerk(29), window=29)
        if i < 2:
            await hall.execute("no_show", clerk(29), window=29)
        else:
            await hall.execute("finish", clerk(29), window=29)
    assert await check(hall, "no_show_rate") == []  # 19 calls: under the 20 a rate needs
    await hall.execute("call_next", clerk(29), window=29)
    await hall.execute("finish", clerk(29), window=29)
    assert await check(hall, "no_show_rate") == []  # 2 of 20 = 10%: under the 15% yellow
    for _ in range(20):
        await hall.execute("issue", KIOSK, service="referral")
    await hall.execute("call_next", clerk(29), window=29)
    await hall.execute("no_show", clerk(29), window=29)
    assert await check(hall, "no_show_rate") == []  # 3 of 21
    for _ in range(5):
        await hall.execute("call_next", clerk(29), window=29)
        await hall.execute("no_show", clerk(29), window=29)
    [doc] = await check(hall, "no_show_rate")  # 8 of 26 = 30.8%: straight to red
    assert doc.data["level"] == "red" and doc.data["called"] == 26 and doc.data["count"] == 8
    clock.advance(60 * 60 + 1)  # the calls leave the 60-minute slot
    [cleared] = await check(hall, "no_show_rate")
    assert cleared.data["status"] == "cleared"


async def test_no_show_rate_escalates_step_by_step_and_clears(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("open", clerk(29), window=29)
    for _ in range(40):
        await hall.execute("issue", KIOSK, service="referral")

    async def calls(n: int, *, missed: bool) -> None:
        for _ in range(n):
            await hall.execute("call_next", clerk(29), window=29)
            await hall.execute("no_show" if missed else "finish", clerk(29), window=29)

    await calls(3, missed=True)
    await calls(17, missed=False)
    assert [d.data["level"] for d in await check(hall, "no_show_rate")] == ["yellow"]  # 3 of 20 = 15%
    await calls(1, missed=True)
    assert await check(hall, "no_show_rate") == []  # 4 of 21 = 19%: still yellow, nothing new
    await calls(1, missed=True)
    assert [d.data["level"] for d in await check(hall, "no_show_rate")] == ["orange"]  # 5 of 22 = 22.7%
    await calls(2, missed=True)
    assert await check(hall, "no_show_rate") == []  # 7 of 24 = 29.2%
    await calls(1, missed=True)
    [red] = await check(hall, "no_show_rate")  # 8 of 25 = 32%
    assert red.data["level"] == "red" and red.data["status"] == "active"
    await calls(15, missed=False)
    assert await check(hall, "no_show_rate") == []  # 8 of 40 = 20%: the level never goes down
    clock.advance(60 * 60 + 1)
    [cleared] = await check(hall, "no_show_rate")
    assert cleared.data["status"] == "cleared" and cleared.id == red.id


async def test_a_rate_fires_at_its_threshold_exactly(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("open", clerk(29), window=29)
    for _ in range(20):
        await hall.execute("issue", KIOSK, service="referral")
    for i in range(20):
        await hall.execute("call_next", clerk(29), window=29)
        await hall.execute("no_show" if i < 3 else "finish", clerk(29), window=29)
    [doc] = await check(hall, "no_show_rate")  # 3 of 20 = 15%: the yellow threshold exactly
    assert doc.data["level"] == "yellow" and doc.data["value"] == 0.15


async def test_over_wait_rate_in_a_time_slot(hall: Hall, clock: ManualClock) -> None:
    for _ in range(4):
        await hall.execute("issue", KIOSK, service="referral")  # referral's standard: 10 minutes
    clock.advance(10 * 60)  # these four will have waited exactly the standard: not over it
    for _ in range(16):
        await hall.execute("issue", KIOSK, service="referral")
    await hall.execute("open", clerk(29), window=29)
    for _ in range(20):
        await hall.execute("call_next", clerk(29), window=29)
        await hall.execute("finish", clerk(29), window=29)
    assert await check(hall, "over_wait_rate") == []

    clock.advance(60 * 60 + 1)
    for _ in range(4):
        await hall.execute("issue", KIOSK, service="referral")
    clock.advance(10 * 60 + 1)
    for _ in range(16):
        await hall.execute("issue", KIOSK, service="referral")
    for _ in range(20):
        await hall.execute("call_next", clerk(29), window=29)
        await hall.execute("finish", clerk(29), window=29)
    [doc] = await check(hall, "over_wait_rate")  # 4 of 20 over: 20%, the yellow threshold
    assert doc.data["level"] == "yellow" and doc.data["count"] == 4

    async def over(n: int) -> None:
        """``n`` citizens who wait a second past the standard, then are called."""
        for _ in range(n):
            await hall.execute("issue", KIOSK, service="referral")
        clock.advance(10 * 60 + 1)
        for _ in range(n):
            await hall.execute("call_next", clerk(29), window=29)
            await hall.execute("finish", clerk(29), window=29)

    await over(3)
    assert [d.data["level"] for d in await check(hall, "over_wait_rate")] == ["orange"]  # 7 of 23 = 30.4%
    await over(7)
    [red] = await check(hall, "over_wait_rate")  # 14 of 30 = 46.7%
    assert red.data["level"] == "red" and red.id == doc.id
    clock.advance(60 * 60 + 1)
    [cleared] = await check(hall, "over_wait_rate")
    assert cleared.data["status"] == "cleared" and cleared.id == doc.id


async def test_bad_review_alert_commits_with_the_rating(hall: Hall, clock: ManualClock) -> None:
    seen: list[Any] = []
    hall.subscribe(seen.append)
    await hall.execute("open", clerk(29), window=29)
    for level in (3, 2, 1):
        await hall.execute("issue", KIOSK, service="referral")
        t = await hall.execute("call_next", clerk(29), window=29)
        await hall.execute("finish", clerk(29), window=29)
        clock.advance(8)  # the citizen reads the pad and presses
        reasons = ["attitude"] if level < 3 else []
        await hall.execute("evaluate", PAD, level=level, ticket=t["id"], reasons=reasons)
    await hall.wait_dispatched(hall.state.seq)
    raised = [e for e in seen if e.name == "alert.raised"]
    assert [e.docs[0].data["level"] for e in raised] == ["orange", "red"]  # 基本满意 raises nothing
    for e in raised:
        [rating] = [x for x in seen if x.name == "evaluation.submitted" and x.seq == e.seq - 1]
        assert rating.at == e.at and rating.evaluation.level == e.docs[0].data["rating"]
        assert "topics" not in e.extra  # who sees it is the web layer's business, not the stored event's
        assert [topics for topics, _ in audience.of(hall, e)] == [frozenset({"admin"})]
    assert await check(hall, "bad_review") == []  # the checker never clears a bad review

    alert_id = raised[0].docs[0].id
    acked = await hall.run(lambda tx: alert_rules.acknowledge(tx, alert_id, "boss", "calling the citizen back"))
    assert acked.data["acknowledged_by"] == "boss" and acked.data["ack_note"] == "calling the citizen back"
    with pytest.raises(Conflict):
        await hall.run(lambda tx: alert_rules.acknowledge(tx, alert_id, "boss2"))
    with pytest.raises(Invalid):
        await hall.run(lambda tx: alert_rules.close(tx, alert_id, "boss", "  "))
    closed = await hall.run(lambda tx: alert_rules.close(tx, alert_id, "boss", "apologised; clerk retrained"))
    assert closed.data["status"] == "closed" and not closed.live
    assert alert_id not in hall.state.docs["alert"]
    stored = await hall.store.doc("alert", alert_id)
    assert stored is not None and stored.data["close_note"] == "apologised; clerk retrained"


async def _serve(hall: Hall, window: int, service: str) -> dict[str, Any]:
    await hall.execute("issue", KIOSK, service=service)
    t = await hall.execute("call_next", clerk(window), window=window)
    await hall.execute("finish", clerk(window), window=window)
    return t


async def test_ratings_faster_than_a_person_presses_several_times_in_a_row_raise_an_alert(
        make_hall: Any, clock: ManualClock) -> None:
    hall = await make_hall("[alerts]\nrating_fast = [3, 4, 6]\nfast_rating_seconds = 2")
    await hall.execute("open", clerk(29), window=29)
    for i in range(2):
        t = await _serve(hall, 29, "referral")
        clock.advance(1)  # within the 2 s a person needs
        await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    t = await _serve(hall, 29, "referral")
    clock.advance(5)  # a person's pace breaks the run
    await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    for _ in range(2):
        t = await _serve(hall, 29, "referral")
        await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    assert of(hall, "rating_fast") == []  # two in a row since the slow one
    t = await _serve(hall, 29, "referral")
    await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    [doc] = of(hall, "rating_fast")
    assert (doc.data["level"], doc.data["window"], doc.data["in_row"], doc.data["ticket"]) == ("yellow", 29, 3, t["number"])
    assert "连续 3 次评价" in alert_rules.view(doc, hall.config)["message"]
    t = await _serve(hall, 29, "referral")
    await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    [doc] = of(hall, "rating_fast")
    assert (doc.data["level"], doc.data["in_row"]) == ("orange", 4)
    assert await check(hall, "rating_fast") == []  # the checker leaves it to a manager


async def test_a_window_whose_unrated_share_stands_far_from_the_halls_is_flagged(
        make_hall: Any, clock: ManualClock) -> None:
    hall = await make_hall("[alerts]\nmin_served = 4\nunrated_gap = [0.3, 0.5, 0.7]")
    for n in (15, 16, 29):
        await hall.execute("open", clerk(n), window=n)
    for n, service in ((15, "pension"), (16, "pension"), (29, "referral")):
        for i in range(4):
            t = await _serve(hall, n, service)
            clock.advance(10)
            if n != 29 or i == 0:  # window 29 leaves 3 of its 4 services unrated
                await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    [doc] = await check(hall, "unrated_gap")  # 75% unrated against 25% for the hall
    assert (doc.data["window"], doc.data["share"], doc.data["hall_share"], doc.data["level"]) == (29, 0.75, 0.25, "orange")
    assert "未评价占比 75%" in alert_rules.view(doc, hall.config)["message"]
    for _ in range(4):  # rated again: back in line with the hall
        t = await _serve(hall, 29, "referral")
        clock.advance(10)
        await hall.execute("evaluate", PAD, level=5, ticket=t["id"])
    [cleared] = await check(hall, "unrated_gap")
    assert cleared.data["status"] == "cleared"


async def test_a_closed_alert_stays_on_the_board_until_its_cause_is_gone(hall: Hall, clock: ManualClock) -> None:
    await hall.execute("issue", KIOSK, service="pension")
    clock.advance(15 * 60)
    [doc] = await check(hall)
    closed = await hall.run(lambda tx: alert_rules.close(tx, doc.id, "boss", "opening window 16"))
    assert closed.live and closed.data["status"] == "closed" and closed.data["acknowledged_by"] == "boss"
    clock.advance(20 * 60)
    assert await check(hall) == []  # closed: no escalation, and no second alert for the same cause
    await hall.execute("open", clerk(16), window=16)
    await hall.execute("call_next", clerk(16), window=16)
    [gone] = await check(hall)
    assert gone.id == doc.id and not gone.live and doc.id not in hall.state.docs["alert"]


async def test_two_checkers_raise_each_alert_once(hall: Hall, clock: ManualClock) -> None:
    """As two server processes would: each decides inside its transaction, so one alert results."""
    await hall.execute("issue", KIOSK, service="pension")
    clock.advance(16 * 60)
    first, second = await asyncio.gather(hall.check("alerts"), hall.check("alerts"))
    assert len(first) + len(second) == 1
    assert len(of(hall, "wait")) == 1


async def test_alert_board_and_handling_over_http_and_websocket(server: Harness) -> None:
    hall = server.hall
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    hall.clock.advance(31 * 60)  # type: ignore[attr-defined]
    await server.hall.check("alerts")
    status, board = await boss.get("/api/v1/alerts")
    assert status == 200 and board["counts"]["red"] == 1
    [alert] = board["alerts"]
    assert alert["message"].startswith("养老保险") and alert["message_en"].startswith("Pension insurance")
    # Only 人社局's windows serve 养老保险: the board groups the alert under that 窗口单位.
    assert (alert["department"], alert["department_name"]) == ("hrss", "人社局")
    assert board["departments"] == [{"department": "hrss", "name": "人社局", "name_en": "Human Resources and Social Security Bureau",
                                     "alerts": 1, "counts": {"yellow": 0, "orange": 0, "red": 1}}]

    clerk15 = await server.clerk_at(15)
    assert (await clerk15.post(f"/api/v1/alerts/{alert['id']}/ack", {}))[0] == 403
    status, acked = await boss.post(f"/api/v1/alerts/{alert['id']}/ack", {"note": "on it"})
    assert status == 200 and acked["acknowledged_by"] == "boss"
    status, again = await boss.post(f"/api/v1/alerts/{alert['id']}/ack", {})
    assert status == 409 and again["error"]["code"] == "already_acknowledged"
    status, err = await boss.post(f"/api/v1/alerts/{alert['id']}/close", {})
    assert status == 422

    async with aiohttp.ClientSession(cookie_jar=boss.session.cookie_jar) as s:
        async with s.ws_connect(server.ws_url) as ws:
            await ws.send_json({"type": "hello", "topics": ["admin"]})
            await ws.send_json({"type": "command", "id": 1, "name": "alert_close", "alert": alert["id"], "note": "window 16 opened"})
            async for msg in ws:
                data = json.loads(msg.data)
                if data["type"] == "result":
                    assert data["ok"] and data["data"]["status"] == "closed"
                    break
    status, err = await boss.post(f"/api/v1/alerts/{alert['id']}/close", {"note": "again"})
    assert status == 409 and err["error"]["code"] == "already_closed"
    status, history = await boss.get("/api/v1/alerts/history?period=2026-12-01")
    assert status == 200 and history["counts"]["wait"]["red"] == 1


async def test_an_alert_at_a_window_belongs_to_the_windows_department_and_one_of_a_shared_service_to_none(
        hall: Hall, clock: ManualClock) -> None:
    await hall.execute("open", clerk(6), window=6)
    await hall.execute("issue", KIOSK, service="tax-invoice")  # served by 税务局 (6) and 人社局 (8)
    await hall.execute("call_next", clerk(6), window=6)
    await hall.execute("issue", KIOSK, service="tax-invoice")
    clock.advance(60 * 60)
    changed = {d.data["type"]: alert_rules.view(d, hall.config) for d in await check(hall)}
    assert (changed["handling"]["department"], changed["handling"]["department_name"]) == ("tax", "税务局")
    assert changed["wait"]["department"] is None


async def test_webhook_posts_alert_events_with_retries(hall: Hall, clock: ManualClock) -> None:
    got: list[dict[str, Any]] = []
    arrived = asyncio.Event()
    calls = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.Response(status=503)  # the receiver is restarting: the sender retries
        got.append(await request.json())
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sender = webhook.Poster(f"http://127.0.0.1:{port}/hook", webhook.alert_payload("taikang", ("alert.raised",)))
    sender.backoff = 0.0
    try:
        async with webhook.posting(hall, sender):
            await hall.execute("issue", KIOSK, service="pension")
            clock.advance(15 * 60)
            await check(hall)
            await asyncio.wait_for(arrived.wait(), 10)
    finally:
        await runner.cleanup()
    [payload] = got
    assert calls == 2 and payload["event"] == "alert.raised" and payload["alert"]["type"] == "wait"
    assert payload["hall"] == "taikang" and isinstance(payload["seq"], int)


def test_alert_settings_are_checked_with_file_and_line() -> None:
    text = HALL_FILE.read_text(encoding="utf-8") + (
        "\n[alerts]\nwait = [30, 20, 40]\nno_show_rate = [0.1, 0.2, 3]\nbogus = 1\n"
        "[alerts.services.horses]\nwait = [1, 2, 3]\n[webhook]\nurl = \"ftp://x\"\n")
    cfg = config.loads(text, source="hall.toml")
    with pytest.raises(config.ConfigError) as err:
        catalog.build(cfg)
    found = {i.field: i for i in err.value.issues}
    assert "yellow ≤ orange ≤ red" in found["alerts.wait"].message
    assert found["alerts.wait"].line == text.splitlines().index("wait = [30, 20, 40]") + 1
    assert "shares" in found["alerts.no_show_rate"].message
    assert {"alerts.bogus", "alerts.services.horses", "webhook.url"} <= set(found)
    good = config.loads(HALL_FILE.read_text(encoding="utf-8") + "\n[alerts]\nhandling = [20, 30, 40]\n"
                        "[alerts.services.pension]\nwait = [5, 10, 15]\n", source="hall.toml")
    s = catalog.build(good).get(Alerts).settings
    assert s.levels(good, "wait", "pension") == (5.0, 10.0, 15.0)
    assert s.levels(good, "wait", "referral") == (10.0, 15.0, 20.0)  # the service's target ×1, ×1.5, ×2
    assert s.levels(good, "handling", "pension") == (20.0, 30.0, 40.0)
