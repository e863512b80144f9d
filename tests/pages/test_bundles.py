"""一件事 on the pages: the phone follows a bundle's parts live, the kiosk lists them, the console ticks them."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from ..conftest import HALL_FILE  # type: ignore[import-not-found]
from .conftest import SCREENS, Browsing
from .test_console import _console_at  # type: ignore[import-not-found]
from .test_kiosk import choose  # type: ignore[import-not-found]


async def test_the_phone_shows_a_route_bundles_progress_live(server: Any, pages: Browsing) -> None:
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "open-supermarket"})
    phone = await pages.open(f"/t/{mine['token']}", base=server.base, width=390, height=844)
    await phone.evaluate("window.hallcall.track.live.ready")
    parts = phone.locator("#tr-parts-list li")
    await expect(parts).to_have_count(5, timeout=5000)
    await expect(phone.locator("#tr-service")).to_have_text("我要开超市 · 企业设立登记")
    await expect(phone.locator("#tr-parts-left")).to_have_text("还有 5 项待办理")
    await expect(parts.nth(0)).to_have_attribute("data-state", "todo")

    clerk = await server.clerk_at(3)
    await clerk.post("/api/v1/windows/3/call-next")
    await expect(phone.locator("#tr-called")).to_be_visible(timeout=2000)
    await expect(phone.locator("#tr-called-where")).to_have_text("请到 3 号窗口")
    await phone.locator("#tr-called-ok").click()
    await expect(parts.nth(0)).to_have_attribute("data-state", "current")
    await clerk.post("/api/v1/windows/3/finish", {"outcome": "done"})
    # Done at once on the phone, and waiting for the next part under the same number.
    await expect(parts.nth(0)).to_have_attribute("data-state", "done", timeout=2000)
    await expect(parts.nth(0).locator(".hc-part-state")).to_have_text("已办结")
    await expect(phone.locator("#tr-parts-left")).to_have_text("还有 4 项待办理")
    await expect(phone.locator("#tr-number")).to_have_text("S001")
    await expect(phone.locator("#tr-status")).to_have_text("排队等候中")
    SCREENS.mkdir(parents=True, exist_ok=True)
    await phone.screenshot(path=str(SCREENS / "track-bundle-390x844.png"), full_page=True)
    next_part = server.hall.state.ticket_by_number("S001").service
    window = {"food-licence": 4, "tax-invoice": 6, "free-seals": 7}[next_part]
    other = await server.clerk_at(window)
    await other.post(f"/api/v1/windows/{window}/call-next")
    await expect(phone.locator("#tr-called-where")).to_have_text(f"请到 {window} 号窗口", timeout=2000)


async def test_the_kiosk_ticket_lists_the_parts(server: Any, pages: Browsing) -> None:
    token = await server.token("kiosk", kiosk="k1")
    page = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await choose(page, "enterprise", "open-restaurant")
    await page.locator("#k-take").click()
    await expect(page.locator("#k-ticket-number")).to_have_text("R001", timeout=5000)
    await expect(page.locator("#k-ticket-service")).to_have_text("我要开饭店")
    names = page.locator("#k-ticket-parts-list .hc-part-name")
    await expect(names).to_have_text(["企业设立登记", "食品经营许可", "税务登记与发票申领", "免费刻制印章", "社保公积金开户"])


async def test_the_console_ticks_the_parts_of_a_one_window_bundle(server: Any, pages: Browsing) -> None:
    page = await _console_at(server, pages, "chenjing", 1, 1, service="company-startup")
    await page.locator(".c-act[data-act=call]").click()
    await expect(page.locator("#c-number")).to_have_text("Y001", timeout=3000)
    await expect(page.locator("#c-parts-list li")).to_have_count(4)
    await expect(page.locator("#c-parts-left")).to_have_text("剩余 4 项")
    first = page.locator("#c-parts-list li").nth(0)
    await first.locator("[data-outcome=done]").click()
    await expect(first).to_have_attribute("data-state", "done", timeout=2000)
    await expect(page.locator("#c-parts-left")).to_have_text("剩余 3 项")
    await expect(first.locator("button")).to_have_count(0)  # a part done is not ticked again
    second = page.locator("#c-parts-list li").nth(1)
    await second.locator("[data-outcome=pending_materials]").click()
    await expect(second).to_have_attribute("data-state", "pending_materials", timeout=2000)
    assert [p["outcome"] for p in server.hall.state.ticket_by_number("Y001").parts] == [
        "done", "pending_materials", None, None]


async def test_the_console_names_a_route_bundles_part_with_its_bundle(server: Any, pages: Browsing) -> None:
    page = await _console_at(server, pages, "zhangsan", 3, 1, service="open-supermarket")
    await page.locator(".c-act[data-act=call]").click()
    await expect(page.locator("#c-number")).to_have_text("S001", timeout=3000)
    await expect(page.locator("#c-service")).to_have_text("我要开超市 · 企业设立登记")


async def test_the_reports_page_shows_the_bundles(server: Any, pages: Browsing) -> None:
    from .helpers import person  # type: ignore[import-not-found]
    from .test_report_pages import sign_in  # type: ignore[import-not-found]

    kiosk = server.client(await server.token("kiosk"))
    await kiosk.post("/api/v1/tickets", {"service": "open-supermarket"})
    clerk = await server.clerk_at(3)
    await clerk.post("/api/v1/windows/3/call-next")
    await clerk.post("/api/v1/windows/3/finish", {"outcome": "done"})
    await person(server, "boss", "马主任", "manager")
    page = await pages.open("/admin/reports", base=server.base, width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("#r-heading")).to_contain_text("综合指标", timeout=5000)
    registration = page.locator("#r-table tbody tr[data-key=company-registration]")
    await expect(registration.locator("td").nth(7)).to_have_text("1")  # 环节办件: the bundle's first part
    await page.locator("#r-report").select_option("bundles")
    await expect(page.locator("#r-by-box")).to_be_hidden()
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_have_text("一件事一次办 · 2026-12", timeout=5000)
    shop = page.locator("#r-table tbody tr[data-key=open-supermarket]")
    await expect(shop.locator("td")).to_have_text(["我要开超市", "1", "0", "0", "0", "0", "–", "–", "3", "8"])
    assert await page.locator("#r-xlsx").get_attribute("href") == "/api/v1/reports/bundles?period=2026-12&format=xlsx"


async def test_rated_by_part_the_pad_asks_for_the_part_done_at_its_window(make_server: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=HALL_FILE.read_text(encoding="utf-8") + '\n[policy]\nbundle_rating = "part"\n')
    clerk = await server.clerk_at(3)
    pad_token = await server.token("pad", windows=(3,))
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "open-restaurant"})
    pad = await pages.open(f"/pad/3?token={pad_token}&thanks=1", base=server.base, width=1280, height=800)
    await expect(pad.locator("#pad-name")).to_have_text("clerk3", timeout=5000)
    await clerk.post("/api/v1/windows/3/call-next")
    await clerk.post("/api/v1/windows/3/finish", {"outcome": "done"})
    # The ticket goes on to 食品经营许可; the pad at window 3 asks about 企业设立登记, done here.
    await expect(pad.locator("#pad-rate")).to_be_visible(timeout=2000)
    await expect(pad.locator("#pad-ticket")).to_have_text(mine["number"])
    await expect(pad.locator("#pad-part")).to_have_text("企业设立登记")
    await pad.locator("#pad-levels .rate-l5").click()
    await expect(pad.locator("#pad-thanks")).to_be_visible(timeout=3000)
    [ev] = await server.hall.store.evaluations(mine["day"], mine["day"])
    assert (ev.part, ev.service, ev.window, ev.level, ev.source) == ("company-registration", "company-registration", 3, 5, "pad")
    await expect(pad.locator("#pad-card")).to_be_visible(timeout=3000)
    # A plain ticket next at the same window is asked for as itself, with no part shown.
    _, plain = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
    await clerk.post("/api/v1/windows/3/call-next")
    await clerk.post("/api/v1/windows/3/finish", {"outcome": "done"})
    await expect(pad.locator("#pad-ticket")).to_have_text(plain["number"], timeout=2000)
    await expect(pad.locator("#pad-part")).to_be_hidden()


async def test_rated_by_part_the_phone_rates_the_part_the_pads_left(make_server: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=HALL_FILE.read_text(encoding="utf-8") + '\n[policy]\nbundle_rating = "part"\n')
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "open-restaurant"})
    phone = await pages.open(f"/t/{mine['token']}", base=server.base, width=390, height=844)
    await phone.evaluate("window.hallcall.track.live.ready")
    for n in (3, 4, 6, 7, 8):  # 企业设立登记, 食品经营许可, 税务, 印章, 社保: each part's pad rates it but 印章's
        clerk = await server.clerk_at(n)
        await clerk.post(f"/api/v1/windows/{n}/call-next")
        await clerk.post(f"/api/v1/windows/{n}/finish", {"outcome": "done"})
        if n != 7:
            pad = server.client(await server.token("pad", windows=(n,)))
            status, body = await pad.post("/api/v1/evaluations", {"ticket": mine["id"], "level": 5})
            assert status == 201, body
    await expect(phone.locator("#tr-rate")).to_be_visible(timeout=2000)
    await phone.locator("#tr-levels .rate-l4").click()
    await phone.locator("#tr-submit").click()
    await expect(phone.locator("#tr-thanks")).to_be_visible(timeout=3000)
    rated = {e.part: (e.level, e.source) for e in await server.hall.store.evaluations(mine["day"], mine["day"])}
    assert rated["free-seals"] == (4, "phone") and len(rated) == 5
    # Opened again: every part is rated, so the page thanks instead of asking (the ticket's own rating stays empty).
    await phone.reload()
    await phone.evaluate("window.hallcall.track.live.ready")
    await expect(phone.locator("#tr-thanks")).to_be_visible(timeout=3000)
    await expect(phone.locator("#tr-rate")).to_be_hidden()
