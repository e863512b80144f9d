"""一件事 in the reports: each part under its own service and window, each bundle once in its own row."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from queue_server.core import config, periods
from queue_server.core.clock import ManualClock
from queue_server.reports import build as reports

from ...conftest import OPEN_TIME, TZ, book  # type: ignore[import-not-found]
from ..replay_kit import DAY, Replayed, read_store, replayed_day
from .test_totals import DIMENSIONS, KIOSK, PAD, check_totals, clerk, started, step  # type: ignore[import-not-found]

pytestmark = pytest.mark.every_store  # the facts each store gives are the subject


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


async def play_the_day(hall_config: config.HallConfig, store: Any) -> dict[str, Any]:
    """企业开办 served whole at window 1 with 税务 容缺受理; 我要开超市 left after its licence; 我要开饭店 cancelled."""
    clock = ManualClock(OPEN_TIME)
    hall = await started(hall_config, store, clock)
    try:
        for n in (1, 3, 6):
            await step(hall, clock, "open", clerk(n), window=n)
        startup = await step(hall, clock, "issue", KIOSK, service="company-startup")
        shop = await step(hall, clock, "issue", KIOSK, service="open-supermarket")
        restaurant = await step(hall, clock, "issue", KIOSK, service="open-restaurant")
        assert (startup["number"], shop["number"], restaurant["number"]) == ("Y001", "S001", "R001")
        assert (await step(hall, clock, "call_next", clerk(1), window=1))["number"] == "Y001"
        await step(hall, clock, "start", clerk(1), window=1)
        await step(hall, clock, "tick_part", clerk(1), window=1, part="company-registration")
        await step(hall, clock, "tick_part", clerk(1), window=1, part="tax-invoice", outcome="pending_materials",
                   details={"materials": ["房屋租赁合同"]})
        await step(hall, clock, "tick_part", clerk(1), window=1, part="free-seals")
        await step(hall, clock, "tick_part", clerk(1), window=1, part="employer-enrolment")
        done = await step(hall, clock, "finish", clerk(1), window=1)
        assert (done["status"], done["outcome"]) == ("done", "pending_materials")
        await step(hall, clock, "evaluate", PAD, ticket=done["id"], level=4)
        assert (await step(hall, clock, "call_next", clerk(3), window=3))["number"] == "S001"  # its licence first
        routed = await step(hall, clock, "finish", clerk(3), window=3)
        assert routed["status"] == "waiting" and routed["bundle"]["left"] == 4
        await step(hall, clock, "cancel", clerk(6), ticket="R001")
    finally:
        await hall.stop()
    clock.set(datetime(2026, 12, 2, 0, 0, 5, tzinfo=TZ))  # the day rolls over: 我要开超市 is still waiting
    hall = await started(hall_config, store, clock)
    await hall.stop()
    b = book(hall_config, store)
    out = {by: await reports.figures_report(b, periods.parse(DAY), by) for by in DIMENSIONS}
    out["bundles"] = await reports.bundles_report(b, periods.parse(DAY))
    out["pending"] = await store.docs("pending")
    return out


async def play_a_route_rated_by_part(hall_config: config.HallConfig, store: Any) -> dict[str, Any]:
    """我要开饭店 through windows 3, 4, 6, 7 and 8, its parts rated at the first three (5, 4, 2)."""
    cfg = replace(hall_config, policy=replace(hall_config.policy, bundle_rating="part"))
    clock = ManualClock(OPEN_TIME)
    hall = await started(cfg, store, clock)
    try:
        for n in (3, 4, 6, 7, 8):
            await step(hall, clock, "open", clerk(n), window=n)
        ticket = await step(hall, clock, "issue", KIOSK, service="open-restaurant")
        for n, level in ((3, 5), (4, 4), (6, 2), (7, None), (8, None)):
            assert (await step(hall, clock, "call_next", clerk(n), window=n))["number"] == ticket["number"]
            await step(hall, clock, "start", clerk(n), window=n)
            await step(hall, clock, "finish", clerk(n), window=n)
            if level is not None:
                await step(hall, clock, "evaluate", PAD, ticket=ticket["id"], level=level,
                           reasons=["efficiency"] if level < 3 else [])
    finally:
        await hall.stop()
    clock.set(datetime(2026, 12, 2, 0, 0, 5, tzinfo=TZ))  # the day closes
    hall = await started(cfg, store, clock)
    await hall.stop()
    b = book(cfg, store)
    return {by: await reports.figures_report(b, periods.parse(DAY), by) for by in DIMENSIONS}


async def test_a_route_bundle_rated_by_part_counts_each_rating_under_its_part(
        hall_config: config.HallConfig, store: Any) -> None:
    got = await play_a_route_rated_by_part(hall_config, store)
    for by in DIMENSIONS:
        check_totals(got[by])
    levels = {by: {r["key"]: {n: c for n, c in r["satisfaction"]["levels"].items() if c} for r in got[by]["rows"]}
              for by in ("service", "window", "clerk")}
    assert {k: v for k, v in levels["service"].items() if v} == {
        "company-registration": {"5": 1}, "food-licence": {"4": 1}, "tax-invoice": {"2": 1}}
    assert {k: v for k, v in levels["window"].items() if v} == {3: {"5": 1}, 4: {"4": 1}, 6: {"2": 1}}
    assert {k: v for k, v in levels["clerk"].items() if v} == {"c3": {"5": 1}, "c4": {"4": 1}, "c6": {"2": 1}}
    service = {r["key"]: r["satisfaction"] for r in got["service"]["rows"]}
    # The parts are what is rated: two left unrated (印章, 社保); the bundle's closing mark is not.
    assert (service["free-seals"]["not_rated"], service["employer-enrolment"]["not_rated"]) == (1, 1)
    assert (service["open-restaurant"]["rated"], service["open-restaurant"]["not_rated"]) == (0, 0)
    total = got["hall"]["hall"]
    assert (total["served"], total["parts"], total["satisfaction"]["rated"], total["satisfaction"]["not_rated"],
            total["satisfaction"]["bad"]) == (1, 5, 3, 2, 1)


async def test_a_one_window_bundle_with_one_part_pending_counts_right_everywhere(
        hall_config: config.HallConfig, store: Any) -> None:
    got = await play_the_day(hall_config, store)
    for by in DIMENSIONS:
        check_totals(got[by])
        for row in [*got[by]["rows"], got[by]["hall"]]:
            assert row["satisfaction"]["rated"] + row["satisfaction"]["not_rated"] == row["served"], (by, row)
    total = got["hall"]["hall"]
    # Three citizens, each once: served, expired after a part, cancelled. Five parts were served.
    assert (total["issued"], total["served"], total["expired"], total["cancelled"], total["parts"]) == (3, 1, 1, 1, 5)
    assert total["served"] + total["no_show"] + total["expired"] + total["cancelled"] == total["issued"]
    service = {r["key"]: r for r in got["service"]["rows"]}
    assert (service["company-startup"]["issued"], service["company-startup"]["served"]) == (1, 1)
    assert service["company-startup"]["satisfaction"]["levels"]["4"] == 1  # the bundle is rated as itself
    assert {k: r["parts"] for k, r in service.items() if r["parts"]} == {
        "company-registration": 2, "tax-invoice": 1, "free-seals": 1, "employer-enrolment": 1}
    assert all(service[p]["issued"] == 0 and service[p]["served"] == 0 for p in ("tax-invoice", "free-seals"))
    assert (service["open-supermarket"]["issued"], service["open-supermarket"]["expired"]) == (1, 1)
    assert (service["open-restaurant"]["issued"], service["open-restaurant"]["cancelled"]) == (1, 1)
    window = {r["key"]: r for r in got["window"]["rows"]}
    assert (window[1]["called"], window[1]["served"], window[1]["parts"]) == (1, 1, 4)
    assert (window[3]["called"], window[3]["served"], window[3]["parts"]) == (1, 0, 1)
    # The clerk's time at window 1 is the parts' time plus the closing visit's (after the last tick).
    assert window[1]["handling"]["count"] == 5 and window[3]["handling"]["count"] == 1
    clerks = {r["key"]: r for r in got["clerk"]["rows"]}
    assert (clerks["c1"]["parts"], clerks["c3"]["parts"]) == (4, 1)
    zone = {r["key"]: r for r in got["zone"]["rows"]}
    assert (zone["enterprise"]["issued"], zone["enterprise"]["parts"]) == (3, 5)
    # The 容缺受理 part opened its record, under the part's service.
    [pending] = got["pending"]
    assert (pending.data["number"], pending.data["service"], pending.data["materials"]) == ("Y001", "tax-invoice", ["房屋租赁合同"])


async def test_a_bundle_left_after_its_first_part_is_partly_completed(
        hall_config: config.HallConfig, store: Any) -> None:
    got = await play_the_day(hall_config, store)
    rows = {r["key"]: r for r in got["bundles"]["rows"]}
    startup, shop, restaurant = rows["company-startup"], rows["open-supermarket"], rows["open-restaurant"]
    assert (startup["issued"], startup["completed"], startup["handled"], startup["first_time"]) == (1, 1, 1, 0)
    assert startup["first_time_rate"] == 0.0 and startup["elapsed"]["count"] == 1  # 容缺受理: not 一次办结
    assert (startup["mode"], startup["parts"], startup["steps"], startup["materials"]) == ("one-window", 4, 1, 4)
    assert (shop["issued"], shop["partly"], shop["abandoned"], shop["handled"]) == (1, 1, 0, 1)  # not lost
    assert (shop["mode"], shop["parts"], shop["steps"], shop["materials"]) == ("route", 5, 3, 8)
    assert (restaurant["issued"], restaurant["abandoned"], restaurant["handled"]) == (1, 1, 0)
    total = got["bundles"]["hall"]
    assert (total["issued"], total["handled"], total["completed"], total["partly"], total["abandoned"]) == (3, 2, 1, 1, 1)


async def test_the_replayed_day_counts_its_bundles(day: Replayed) -> None:
    report = await read_store(day.url, lambda s: reports.bundles_report(book(day.cfg, s), periods.parse(DAY)))
    rows = {r["key"]: r for r in report["rows"]}
    for service in ("open-supermarket", "open-restaurant"):
        trace = [row for row in day.trace if row["service"] == service]
        came = [row for row in trace if row["no_show"] != "1"]
        row = rows[service]
        assert (row["issued"], row["completed"], row["first_time"]) == (len(trace), len(came), len(came))
        assert row["abandoned"] == len(trace) - len(came) and row["elapsed"]["count"] == len(came)
        assert row["elapsed"]["mean"] > sum(int(r["service_seconds"]) for r in came) / len(came)  # waits between parts
    assert rows["company-startup"]["issued"] == 0
