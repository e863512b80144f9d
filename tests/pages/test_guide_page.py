"""帮办代办 in the browser: 需要帮办 at the kiosk, the guide's phone page takes it and records the help,
and the citizen's phone, the clerk's console and the live monitor show it as it happens."""

from __future__ import annotations

import re
from typing import Any, AsyncIterator

import pytest_asyncio
from playwright.async_api import expect

from ..conftest import PASSWORD  # type: ignore[import-not-found]
from .conftest import Browsing, hall_text
from .helpers import assert_contrast, assert_no_tofu, person, settle, signed_in
from .test_kiosk import choose

PHONE = {"width": 390, "height": 844}


@pytest_asyncio.fixture(loop_scope="session")
async def people(browser: Any) -> AsyncIterator[Any]:
    """Browser contexts of their own (one sign-in each), JS errors collected as in ``pages``."""
    made: list[Browsing] = []

    async def make() -> Browsing:
        b = Browsing(await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=1))
        made.append(b)
        return b

    yield make
    for b in made:
        await b.context.close()
    assert not [e for b in made for e in b.errors], "JavaScript errors:\n" + "\n".join(e for b in made for e in b.errors)


async def sign_in(page: Any, prefix: str, login: str) -> None:
    await page.locator(f"#{prefix}-user").fill(login)
    await page.locator(f"#{prefix}-pass").fill(PASSWORD)
    await page.locator(f"#{prefix}-login-form button[type=submit]").click()


async def guide_page(b: Browsing, login: str) -> Any:
    page = await b.open("/guide", **PHONE)
    await sign_in(page, "g", login)
    await expect(page.locator("#g-main")).to_be_visible(timeout=5000)
    await page.wait_for_function("window.hallcall && window.hallcall.guide", timeout=5000)
    await page.evaluate("window.hallcall.guide.live.ready")
    return page


async def test_kiosk_request_taken_and_done_on_the_guide_page(server: Any, pages: Browsing, people: Any) -> None:
    pages.base = server.base
    await person(server, "li", "李导办", "guide", staff_no="D01")
    await person(server, "boss", "马主任", "manager")
    guide = await guide_page(pages, "li")
    await expect(page_none := guide.locator("#g-none-open")).to_be_visible()

    monitor_ctx = await people()
    monitor_ctx.base = server.base
    monitor = await monitor_ctx.open("/admin", width=1920, height=1080)
    await sign_in(monitor, "a", "boss")
    await expect(monitor.locator("#a-assist-none")).to_be_visible(timeout=5000)

    # The citizen asks at the kiosk, on the confirmation step, and takes a ticket.
    kiosk = await pages.open(f"/kiosk?token={await server.token('kiosk', kiosk='k1')}&done=120", width=1080, height=1920)
    await choose(kiosk, "social", "pension")
    await expect(kiosk.locator("#k-assist")).to_contain_text("需要帮办")
    await kiosk.locator("#k-assist").click()
    await expect(kiosk.locator("#k-assist")).to_have_attribute("aria-pressed", "true")
    await kiosk.locator("#k-take").click()
    await expect(kiosk.locator("#k-ticket-number")).to_have_text("K001", timeout=5000)
    await expect(kiosk.locator("#k-assist-note")).to_have_text("已通知导办人员，请在取号机旁稍候", timeout=5000)
    token = await kiosk.evaluate("window.hallcall.kiosk.state().ticket.token")

    # Live on the guide's phone and on the monitor.
    item = guide.locator("#g-open li[data-number=K001]")
    await expect(item).to_contain_text("取号机申请", timeout=5000)
    await expect(item).to_contain_text("养老保险")
    await expect(item.locator(".g-since")).to_have_text(re.compile(r"已等 \d+秒"))  # a duration in words
    await expect(page_none).to_be_hidden()
    row = monitor.locator("#a-assist tr[data-state=open]")
    await expect(row).to_contain_text("K001", timeout=5000)
    await expect(row).to_contain_text("待接单")

    phone = await pages.open(f"/t/{token}", **PHONE)
    await expect(phone.locator("#tr-assist")).to_have_text("已通知导办人员，请稍候", timeout=5000)

    # Nobody takes it for five minutes: red on the guide's phone and on the monitor.
    server.hall.clock.advance(300)
    assert len(await server.hall.check("assist")) == 1
    await expect(guide.locator("#g-open li.overdue[data-number=K001]")).to_be_visible(timeout=5000)
    await expect(monitor.locator("#a-assist tr.fault[data-state=open]")).to_contain_text("K001", timeout=5000)

    await settle(guide)
    await assert_contrast(guide, "guide page")
    await assert_no_tofu(guide, "guide page")

    await item.locator("button").click()  # 接单
    mine = guide.locator("#g-mine li[data-number=K001]")
    await expect(mine).to_be_visible(timeout=5000)
    await expect(guide.locator("#g-open li")).to_have_count(0)
    await expect(phone.locator("#tr-assist")).to_have_text("导办人员 李导办 (D01) 将为您提供帮办服务", timeout=5000)
    await expect(monitor.locator("#a-assist tr[data-state=accepted]")).to_contain_text("李导办", timeout=5000)

    # The clerk who calls the ticket sees who is looking after the citizen.
    clerk = await server.clerk_at(15)
    console_ctx = await people()
    console_ctx.base = server.base
    console = await console_ctx.open("/console", width=1440, height=900)
    await sign_in(console, "c", "clerk15")
    await expect(console.locator("#c-main")).to_be_visible(timeout=5000)
    await clerk.post("/api/v1/windows/15/call-next")
    await expect(console.locator("#c-number")).to_have_text("K001", timeout=5000)
    await expect(console.locator("#c-assist")).to_have_text("帮办：李导办 (D01)", timeout=5000)

    # Done, with the help given: it leaves the guide's list and the monitor, and the citizen is told.
    await mine.get_by_role("button", name="完成").click()
    form = mine.locator("form.g-done")
    await form.locator("input[value=fill_forms]").check()
    await form.locator("input[value=escort]").check()
    await form.locator("input[name=note]").fill("代填申请表")
    await form.get_by_role("button", name="确认完成").click()
    await expect(guide.locator("#g-none-mine")).to_be_visible(timeout=5000)
    await expect(phone.locator("#tr-assist")).to_have_text("帮办服务已完成", timeout=5000)
    await expect(monitor.locator("#a-assist-none")).to_be_visible(timeout=5000)
    await expect(console.locator("#c-assist")).to_contain_text("已完成", timeout=5000)

    boss = await signed_in(server, "boss")
    status, report = await boss.get("/api/v1/reports/assist?by=guide")
    assert status == 200
    assert [(r["name"], r["requests"], r["accepted"], r["done"], r["help"]["fill_forms"]) for r in report["rows"]] == [
        ("李导办", 1, 1, 1, 1)]


async def test_a_request_taken_by_one_guide_leaves_the_others_list(server: Any, pages: Browsing, people: Any) -> None:
    pages.base = server.base
    await person(server, "li", "李导办", "guide")
    await person(server, "wang", "王帮办", "guide")
    kiosk = server.client(await server.token("kiosk", kiosk="k1", green=True))
    _, plain = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    _, green = await kiosk.post("/api/v1/tickets", {"service": "pension", "priority": "green"})
    li = await guide_page(pages, "li")
    other = await people()
    other.base = server.base
    wang = await guide_page(other, "wang")
    for t in (plain, green):
        await kiosk.post("/api/v1/assist", {"token": t["token"]})
    # The green channel first, on both phones.
    for page in (li, wang):
        await expect(page.locator("#g-open li")).to_have_count(2, timeout=5000)
        await expect(page.locator("#g-open li").first).to_contain_text("绿色通道")
    await li.locator(f"#g-open li[data-number={green['number']}] button").click()
    await expect(li.locator(f"#g-mine li[data-number={green['number']}]")).to_be_visible(timeout=5000)
    await expect(wang.locator("#g-open li")).to_have_count(1, timeout=5000)
    await expect(wang.locator("#g-mine li")).to_have_count(0)
    # Given back, it is open again for every guide.
    await li.locator(f"#g-mine li[data-number={green['number']}]").get_by_role("button", name="释放").click()
    await expect(wang.locator("#g-open li")).to_have_count(2, timeout=5000)

    # The guide desk flags a ticket by its number.
    _, third = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await wang.locator("#g-number").fill(third["number"].lower())
    await wang.locator("#g-need").fill("听障，需手语")
    await wang.locator("#g-desk button[type=submit]").click()
    flagged = li.locator(f"#g-open li[data-number={third['number']}]")
    await expect(flagged).to_contain_text("导办台登记 · 听障，需手语", timeout=5000)


async def test_a_clerk_is_told_the_guide_page_is_for_guides(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "zhang", "张三")
    page = await pages.open("/guide", **PHONE)
    await sign_in(page, "g", "zhang")
    await expect(page.locator("#g-login-error")).to_have_text("此页面供导办/帮办人员使用，请用导办账号登录", timeout=5000)
    await expect(page.locator("#g-main")).to_be_hidden()


async def test_a_guide_is_told_the_console_is_for_window_staff(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "li", "李导办", "guide")
    page = await pages.open("/console")
    await sign_in(page, "c", "li")
    await expect(page.locator("#c-login-error")).to_have_text("此页面供窗口工作人员使用，请用窗口账号登录", timeout=5000)
    await expect(page.locator("#c-choose")).to_be_hidden()
    await expect(page.locator("#c-main")).to_be_hidden()


async def test_a_hall_can_keep_the_kiosk_without_the_button(make_server: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=hall_text({}) + "\n[assist]\nkiosk = false\n")
    page = await pages.open(f"/kiosk?token={await server.token('kiosk')}", base=server.base, width=1080, height=1920)
    await choose(page, "social", "pension")
    await expect(page.locator("#k-take")).to_be_visible()
    await expect(page.locator("#k-assist")).to_have_count(0)


async def test_the_reports_page_counts_assistance_by_guide_and_service(server: Any, clock: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    await person(server, "li", "李导办", "guide")
    li = await signed_in(server, "li")
    kiosk = server.client(await server.token("kiosk", kiosk="k1"))
    for _ in range(2):
        _, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
        _, asked = await kiosk.post("/api/v1/assist", {"token": t["token"]})
    await li.post(f"/api/v1/assist/{asked['id']}/accept")
    clock.advance(300)
    await li.post(f"/api/v1/assist/{asked['id']}/done", {"help": ["escort"]})

    page = await pages.open("/admin/reports", width=1600, height=1000)
    await page.locator("#r-user").fill("boss")
    await page.locator("#r-pass").fill(PASSWORD)
    await page.locator("#r-login-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_contain_text("综合指标", timeout=5000)
    await page.locator("#r-report").select_option("assist")
    await expect(page.locator("#r-by option[value=guide]")).to_have_js_property("hidden", False)
    await page.locator("#r-by").select_option("guide")
    await page.locator("#r-form button[type=submit]").click()
    await expect(page.locator("#r-heading")).to_have_text("帮办代办 · 2026-12 · 导办人员", timeout=5000)
    rows = page.locator("#r-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0).locator("td")).to_have_text(["李导办", "1", "1", "1", "0", "0", "0", "0.0", "5", "5"])
    await expect(rows.nth(1).locator("td").first).to_have_text("未接单")
    await expect(page.locator("#r-table tfoot td")).to_have_text(["合计", "2", "1", "1", "0", "0", "0", "0.0", "5", "5"])
    assert await page.locator("#r-csv").get_attribute("href") == "/api/v1/reports/assist?period=2026-12&by=guide&format=csv"
    await page.locator("#r-report").select_option("figures")
    assert await page.locator("#r-by").input_value() == "service"  # a guide is no grouping of the figures
