"""效能监督: a service's 办结时限 warned before and at the breach, on working days only, and 按时办结率 reported.

The checker runs when the test calls it, on a ManualClock the test moves; the hall is a
real Hall on a real SQLite store, with 养老保险 given a one-hour limit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from queue_server.core import config, periods
from queue_server.core.clock import ManualClock
from queue_server.core.model import DeviceToken, Doc, Person
from queue_server.features import catalog
from queue_server.features.alerts import rules as alert_rules
from queue_server.reports import build as reports
from queue_server.service import auth, webhook
from queue_server.service.hall import Hall
from queue_server.web import audience

from ...conftest import HALL_FILE, TZ, StoreSpec, book  # type: ignore[import-not-found]

KIOSK = auth.from_device(DeviceToken("k1", "kiosk", "kiosk", "", green=True))
ONE_HOUR = 'id = "pension"\ntime_limit = "1h"\n'


@pytest.fixture
def store_spec(tmp_path: Path) -> StoreSpec:
    return StoreSpec("sqlite", f"sqlite://{tmp_path}/hall.db")


def clerk(n: int) -> auth.Principal:
    return auth.from_person(Person(f"c{n}", f"clerk{n}", f"clerk{n}", "clerk", staff_no=f"{n:04d}"))


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm, ss, tzinfo=TZ)  # the 1st is a Tuesday, the 5th a Saturday


@pytest.fixture
async def make_hall(store: Any) -> AsyncIterator[Any]:
    """A hall whose 养老保险 must be finished within one business hour, started at ``start`` on the test's clock."""
    started: list[Hall] = []

    async def make(start: datetime, calendar: str = "") -> tuple[Hall, ManualClock]:
        text = HALL_FILE.read_text(encoding="utf-8").replace('id = "pension"\n', ONE_HOUR) + "\n" + calendar
        cfg = config.loads(text, source="hall.toml", store_url=store.url)
        clock = ManualClock(start)
        h = Hall(cfg, store, clock, features=catalog.build(cfg))
        await h.start(day_timer=False, tickers=False)
        started.append(h)
        return h, clock

    yield make
    for h in started:
        await h.stop()


async def limit_alerts(hall: Hall) -> list[Doc]:
    return [d for d in await hall.check("alerts") if d.data["type"] == "time_limit"]


async def test_warned_at_80_and_90_percent_and_at_the_breach_lunch_not_counted(make_hall: Any) -> None:
    hall, clock = await make_hall(at(1, 11, 30))
    t = await hall.execute("issue", KIOSK, service="pension")
    clock.set(at(1, 14, 47, 59))  # 30 min before lunch, 17:59 after: 47:59 of the hour used
    assert await limit_alerts(hall) == []
    clock.set(at(1, 14, 48))  # 80 %
    [warned] = await limit_alerts(hall)
    assert (warned.data["level"], warned.data["subject"], warned.data["ticket"]) == ("yellow", t["id"], t["number"])
    assert warned.data["due"] == at(1, 15, 0).isoformat()
    view = alert_rules.view(warned, hall.config)
    assert view["message"] == "养老保险：K001 已用办结时限（1小时）的 80%，应于 15:00 前办结"
    assert (view["department"], view["department_name"]) == ("hrss", "人社局")
    clock.set(at(1, 14, 54))
    [orange] = await limit_alerts(hall)
    assert orange.id == warned.id and orange.data["level"] == "orange"
    clock.set(at(1, 14, 59, 59))
    assert await limit_alerts(hall) == []
    clock.set(at(1, 15, 0))  # the breach
    [breach] = await limit_alerts(hall)
    assert breach.id == warned.id and breach.data["level"] == "red"
    assert alert_rules.view(breach, hall.config)["message"].startswith("养老保险：K001 已超出办结时限（1小时，应于 15:00 前办结）")

    await hall.execute("open", clerk(15), window=15)
    await hall.execute("call_next", clerk(15), window=15)
    assert await limit_alerts(hall) == []  # at a window now, still not 办结: the alert stays
    await hall.execute("finish", clerk(15), window=15)
    [cleared] = await limit_alerts(hall)
    assert cleared.id == warned.id and cleared.data["status"] == "cleared"


async def test_no_time_is_used_on_a_weekend_or_a_holiday(make_hall: Any) -> None:
    """Halls that open on Saturdays (周末不打烊) serve, but the working-day clock does not run."""
    hall, clock = await make_hall(at(5, 8, 30))
    await hall.execute("issue", KIOSK, service="pension")
    clock.set(at(5, 17, 30))
    assert await limit_alerts(hall) == []
    await hall.stop()

    hall, clock = await make_hall(at(2, 8, 30), '[calendar]\nholidays = ["2026-12-02"]\n')  # a Wednesday holiday
    await hall.execute("issue", KIOSK, service="pension")
    clock.set(at(2, 17, 0))
    assert await limit_alerts(hall) == []


async def test_a_make_up_working_sunday_runs_the_clock(make_hall: Any) -> None:
    hall, clock = await make_hall(at(6, 8, 30), '[calendar]\nworkdays = ["2026-12-06"]\n')  # 调休: Sunday worked
    await hall.execute("issue", KIOSK, service="pension")
    clock.set(at(6, 9, 18))
    [doc] = await limit_alerts(hall)
    assert doc.data["level"] == "yellow" and doc.data["value"] == 0.8


async def test_on_time_rate_by_service_window_department_and_clerk(make_hall: Any, store: Any) -> None:
    hall, clock = await make_hall(at(1, 9, 0))
    seen: list[Any] = []
    unsubscribe = hall.subscribe(seen.append)
    for n in (15, 16):
        await hall.execute("open", clerk(n), window=n)
    tickets = [await hall.execute("issue", KIOSK, service="pension") for _ in range(3)]
    await hall.execute("issue", KIOSK, service="referral")  # no time limit: never judged
    clock.advance(20 * 60)
    await hall.execute("call_next", clerk(15), window=15)
    await hall.execute("finish", clerk(15), window=15)  # 20 min: on time
    await hall.execute("call_next", clerk(16), window=16)
    clock.advance(40 * 60)
    await hall.execute("finish", clerk(16), window=16, outcome="pending_materials",
                       details={"materials": ["身份证复印件"]})  # 60 min exactly: on time, 容缺受理
    await hall.execute("call_next", clerk(16), window=16)
    clock.advance(1)
    await hall.execute("finish", clerk(16), window=16)  # one second over: late

    await hall.wait_dispatched(hall.state.seq)
    unsubscribe()
    verdicts = [e for e in seen if e.name == "time_limit.judged"]
    assert [e.extra["on_time"] for e in verdicts] == [True, True, False]
    for e in verdicts:  # recorded in the finish's own commit, seen by managers only
        [finished] = [x for x in seen if x.name == "ticket.finished" and x.seq == e.seq - 1]
        assert finished.at == e.at
        assert [topics for topics, _ in audience.of(hall, e)] == [frozenset({"admin"})]
    judged = {d.id: d.data for d in await store.docs("time_limit")}
    assert [judged[t["id"]]["on_time"] for t in tickets] == [True, True, False]
    assert judged[tickets[1]["id"]]["used_seconds"] == 3600 and judged[tickets[1]["id"]]["outcome"] == "pending_materials"

    period = periods.parse("2026-12-01")
    got = {by: await reports.time_limit_report(book(hall.config, store), period, by)
           for by in ("hall", "service", "department", "window", "clerk")}
    assert got["hall"]["hall"] == {"judged": 3, "on_time": 2, "late": 1, "on_time_rate": 0.6667,
                                   "used_mean_minutes": 46.7, "used_max_minutes": 60.0}
    assert [(x["service"], x["limit"]) for x in got["service"]["limits"]] == [("company-registration", "0.5个工作日"),
                                                                              ("pension", "1小时")]
    rows = {by: {r["key"]: r for r in report["rows"]} for by, report in got.items()}
    assert list(rows["service"]) == ["pension"]
    assert (rows["window"][15]["on_time_rate"], rows["window"][16]["on_time_rate"]) == (1.0, 0.5)
    assert rows["department"]["hrss"]["name"] == "人社局" and rows["department"]["hrss"]["judged"] == 3
    assert (rows["clerk"]["c16"]["late"], rows["clerk"]["c15"]["late"]) == (1, 0)
    for report in got.values():  # every total is the sum of its rows
        for column in ("judged", "on_time", "late"):
            assert report["hall"][column] == sum(r[column] for r in report["rows"]), (report["by"], column)


async def test_the_report_over_http_and_as_excel(server: Any) -> None:
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    status, report = await boss.get("/api/v1/reports/time-limits?period=2026-12-01&by=department")
    assert status == 200 and report["hall"]["judged"] == 0 and report["rows"] == []
    status, err = await boss.get("/api/v1/reports/time-limits?period=2026-12-01&by=zone")
    assert status == 422
    async with boss.session.get(server.base + "/api/v1/reports/time-limits?period=2026-12&format=csv") as resp:
        assert resp.status == 200 and "按时办结率" in (await resp.read()).decode("utf-8-sig")
    clerk_client = await server.clerk_at(15)
    assert (await clerk_client.get("/api/v1/reports/time-limits?period=2026-12"))[0] == 403


async def test_limit_alerts_reach_the_webhook(make_hall: Any) -> None:
    """Alert events are what the alert webhook posts: a breach is one of them, with its ticket and due time."""
    hall, clock = await make_hall(at(1, 9, 0))
    seen: list[Any] = []
    got = asyncio.Event()

    def listen(event: Any) -> None:
        if event.name.startswith("alert.") and event.docs and event.docs[0].data["type"] == "time_limit":
            seen.append(event)
            got.set()

    unsubscribe = hall.subscribe(listen)
    try:
        await hall.execute("issue", KIOSK, service="pension")
        clock.advance(3600)
        await hall.check("alerts")
        await asyncio.wait_for(got.wait(), 5)
    finally:
        unsubscribe()
    payload = webhook.alert_payload("taikang", ("alert.raised",))(seen[0])
    assert payload is not None and payload["alert"]["type"] == "time_limit" and payload["alert"]["level"] == "red"
    assert payload["alert"]["due"] == (at(1, 9, 0) + timedelta(hours=1)).isoformat()


async def test_the_warning_shares_are_set_for_the_hall_or_per_service(make_hall: Any) -> None:
    hall, clock = await make_hall(at(1, 9, 0), "[alerts]\ntime_limit = [0.5, 0.75, 1.0]\n"
                                               "[alerts.services.pension]\ntime_limit = [0.25, 0.5, 1.0]\n")
    await hall.execute("issue", KIOSK, service="pension")
    clock.set(at(1, 9, 14, 59))
    assert await limit_alerts(hall) == []
    clock.set(at(1, 9, 15))  # a quarter of the hour, pension's own yellow
    [doc] = await limit_alerts(hall)
    assert (doc.data["level"], doc.data["thresholds"]) == ("yellow", [0.25, 0.5, 1.0])
    text = HALL_FILE.read_text(encoding="utf-8") + "\n[alerts]\ntime_limit = [0.9, 0.8, 1.0]\n"
    with pytest.raises(config.ConfigError) as err:
        catalog.build(config.loads(text, source="hall.toml"))
    [issue] = err.value.issues
    assert issue.field == "alerts.time_limit" and "yellow ≤ orange ≤ red" in issue.message
