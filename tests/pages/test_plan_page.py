"""The planning page: a manager plans tomorrow's windows from the store's history, as a table, two charts and a CSV."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from playwright.async_api import expect

from queue_server.core.config import HallConfig
from queue_server.sim import replay as simulate
from queue_server.store import open_store

from ..conftest import DATA_DIR, TZ  # type: ignore[import-not-found]
from .conftest import SCREENS, Browsing
from .helpers import person
from .test_report_pages import sign_in

TUESDAYS = [date(2026, 12, 1) + timedelta(weeks=i) for i in range(3)]


async def replay_history(cfg: HallConfig) -> None:
    """Three Tuesdays of the sample day's first 600 citizens, into the store the server will open."""
    store = open_store(cfg.store_url, hall_id=cfg.hall.id)
    await store.open()
    try:
        morning = simulate.read_trace(DATA_DIR / "taikang-day.csv")[:600]
        await simulate.replay(cfg, store, morning, simulate.settings(cfg, alerts_every_seconds=0), days=TUESDAYS)
    finally:
        await store.close()


async def test_a_manager_plans_tomorrows_windows(hall_config: HallConfig, clock: Any, make_server: Any,
                                                 pages: Browsing) -> None:
    await replay_history(hall_config)
    clock.set(datetime(2026, 12, 21, 17, 0, tzinfo=TZ))  # a Monday evening: tomorrow is the fourth Tuesday
    server = await make_server()
    await person(server, "boss", "马主任", "manager")
    boss = server.client()
    await boss.login("boss")
    status, plan = await boss.get("/api/v1/plan?date=2026-12-22&weeks=8")
    assert status == 200, plan
    assert plan["forecast"]["arrivals"] == 600

    page = await pages.open("/admin/plan", base=server.base, width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("#pl-heading")).to_have_text("2026-12-22 建议开窗安排（分专区、分时段）", timeout=60000)
    await expect(page.locator("#pl-forecast")).to_contain_text("2026-12-22 预计到达 600 人（依据 3 天历史）")

    # Every row of the table is the planner's: windows advised, which ones, waits and use.
    shown = [r for r in plan["advised_rows"] if r["arrivals"] or r["windows"]]
    rows = page.locator("#pl-table tbody tr")
    await expect(rows).to_have_count(len(shown))
    busiest = max(shown, key=lambda r: r["arrivals"])
    cells = page.locator(f"#pl-table tbody tr[data-zone={busiest['zone']}][data-hour='{busiest['hour']}'] td")
    await expect(cells.nth(2)).to_have_text(str(busiest["arrivals"]))
    await expect(cells.nth(3)).to_have_text(str(busiest["windows"]) + (" !" if busiest["short"] else ""))
    await expect(cells.nth(4)).to_have_text("、".join(f"{n}号" for n in busiest["open"]))
    await expect(cells.nth(6)).to_have_text(f"{busiest['p90_wait_minutes']:.1f}")
    assert len(busiest["open"]) == busiest["windows"] >= 1
    # The advice keeps its promise where it can: within 90% of the zone's strictest standard.
    standard = plan["target"]["p90_wait_minutes"]
    limit = {z: 0.9 * min(standard[s.id] for s in hall_config.services.values() if s.zone == z) for z in hall_config.zones}
    kept = [r for r in shown if r["arrivals"] and not r["short"]]
    assert kept and all(r["p90_wait_minutes"] <= limit[r["zone"]] for r in kept)
    social = next(a for a in plan["advice"] if a["zone"] == "social")
    first = social["windows"][0]
    await expect(page.locator("#pl-advice tbody tr[data-zone=social] td").nth(2)).to_contain_text(f"{first['number']}号（")

    for chart in ("#pl-chart-windows", "#pl-chart-waits"):
        await expect(page.locator(chart)).to_have_js_property("complete", True, timeout=30000)
        assert await page.locator(chart).evaluate("img => img.naturalWidth") > 0
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / "plan-1600x1000.png"))
    async with boss.session.get(server.base + await page.locator("#pl-csv").get_attribute("href")) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        lines = (await resp.text()).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("专区,时段,到达人数,开放窗口") and "开放哪些窗口" in lines[0]
    assert len(lines) - 1 == len(plan["advised_rows"])

    # In English, and with a stricter standard of the manager's own.
    await page.locator("[data-lang-toggle]").click()
    await expect(page.locator("#pl-table thead th").nth(3)).to_have_text("Windows open")
    await page.locator("#pl-target").fill("10")
    await page.locator("#pl-form button[type=submit]").click()
    await expect(page.locator("#pl-table")).to_have_attribute("data-query", re.compile("target_wait=10"), timeout=60000)
    await expect(page.locator("#pl-heading")).to_have_text("Windows advised for 2026-12-22, by zone and hour")
    strict = await page.evaluate("window.hallcall.plan.last().data")
    assert strict["target"]["p90_wait_minutes"]["pension"] == 10
    assert sum(sum(a["by_hour"].values()) for a in strict["advice"]) > sum(sum(a["by_hour"].values()) for a in plan["advice"])


async def test_a_hall_without_past_days_is_told_so_on_the_page(make_server: Any, pages: Browsing) -> None:
    """A new install (or the demo) has no history to forecast from: the page says so in place."""
    server = await make_server()
    await person(server, "boss", "马主任", "manager")
    page = await pages.open("/admin/plan", base=server.base, width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("#pl-forecast")).to_contain_text("暂无法测算：还没有此前工作日的取号记录", timeout=30000)
    await expect(page.locator("#hc-toast")).to_be_hidden()
    await expect(page.locator("#pl-csv")).to_be_hidden()
    await expect(page.locator("#pl-result")).to_be_hidden()  # no empty table under the message
