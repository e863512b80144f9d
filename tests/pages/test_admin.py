"""The live monitor: sign-in required; windows and services live; the notice editor
drives the hall TV; people and device tokens are created and revoked."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.async_api import expect

from ..conftest import PASSWORD  # type: ignore[import-not-found]
from .conftest import Browsing
from .helpers import person, signed_in


async def sign_in(page: Any, login: str) -> None:
    await page.locator("#a-user").fill(login)
    await page.locator("#a-pass").fill(PASSWORD)
    await page.locator("#a-login-form button[type=submit]").click()


async def test_monitor_notice_people_and_tokens(server: Any, clock: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    await person(server, "xiaoli", "小李", "clerk")
    clerk = await server.clerk_at(15)
    kiosk = server.client(await server.token("kiosk"))
    for _ in range(2):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    tv = await pages.open("/display/hall", width=1920, height=1080)
    page = await pages.open("/admin", width=1920, height=1080)

    # A clerk may not use the monitor.
    await sign_in(page, "xiaoli")
    await expect(page.locator("#a-login-error")).to_have_text("需要主管或管理员账号", timeout=3000)
    await page.context.clear_cookies()
    await page.reload()
    await sign_in(page, "boss")
    win = page.locator(".a-win[data-window='15']")
    await expect(win).to_have_attribute("data-status", "open", timeout=5000)
    await expect(win.locator("[data-clerk]")).to_have_text("clerk15 · 0015")
    row = page.locator(".a-services tr[data-service=pension]")
    await expect(row.locator("[data-waiting]")).to_have_text("2")

    # Live: a call shows at the window with how long ago; the service over its target turns red.
    await clerk.post("/api/v1/windows/15/call-next")
    await expect(win.locator("[data-ticket]")).to_have_text("K001 已叫号", timeout=1000)
    await expect(row.locator("[data-waiting]")).to_have_text("1", timeout=1000)
    await expect(row).not_to_have_class("over")
    clock.advance(minutes=16)  # pension's target is 15 minutes
    await kiosk.post("/api/v1/tickets", {"service": "retirement"})  # any event brings the server's clock
    await expect(row).to_have_class("over", timeout=7000)
    await expect(page.locator("#a-k-over")).to_have_text("1")
    # How long ago, as a duration with its label, never "16:00" that reads as a time of day.
    await expect(win.locator("[data-ticket]")).to_have_text("K001 已叫号")
    await expect(win.locator("[data-since]")).to_have_text(re.compile(r"^16分\d\d秒$"), timeout=3000)
    clock.advance(-timedelta(minutes=16).total_seconds())

    # The notice editor: publish, and the hall TV shows it.
    await page.locator("#a-notice-zh").fill("今日下午系统升级，请提前取号。")
    await page.locator("#a-notice-en").fill("System upgrade this afternoon.")
    await page.locator("#a-notice-form button[type=submit]").click()
    await expect(tv.locator("#tv-notice-text")).to_contain_text("今日下午系统升级，请提前取号。", timeout=2000)
    assert server.hall.state.notice.text_en == "System upgrade this afternoon."

    # People: add a clerk limited to windows 3-5.
    await page.locator(".a-tab[data-tab=people]").click()
    await page.locator("#p-name").fill("周敏")
    await page.locator("#p-login").fill("zhoumin")
    await page.locator("#p-password").fill("another-pw")
    await page.locator("#p-staff").fill("0203")
    await page.locator("#p-windows").fill("3-5")
    await page.locator("#a-person-form button[type=submit]").click()
    await expect(page.locator("#a-people")).to_contain_text("周敏", timeout=3000)
    added = await server.hall.store.person(login="zhoumin")
    assert added.windows == (3, 4, 5) and added.role == "clerk" and added.staff_no == "0203"

    # A clerk who leaves is deactivated (and can be brought back).
    leaver = page.locator("#a-people tr", has_text="周敏")
    await leaver.locator("button").click()
    await expect(leaver).to_have_class("revoked", timeout=3000)
    assert (await server.hall.store.person(login="zhoumin")).active is False
    await expect(leaver.locator("button")).to_have_text("启用")

    # Device tokens: create a pad token (the secret is shown once), then revoke it.
    await page.locator(".a-tab[data-tab=tokens]").click()
    await page.locator("#tk-role").select_option("pad")
    await page.locator("#tk-label").fill("3号评价器")
    await page.locator("#tk-windows").fill("3")
    await page.locator("#a-token-form button[type=submit]").click()
    await expect(page.locator("#a-secret")).to_be_visible(timeout=3000)
    secret = await page.locator("#a-secret-token").text_content()
    await expect(page.locator("#a-secret-url")).to_have_text(f"{server.base}/pad/3?token={secret}")
    assert (await server.hall.auth.bearer(secret)).role == "pad"
    row = page.locator("#a-tokens tr", has_text="3号评价器")
    await row.locator("button").click()
    await expect(row.locator("button")).to_have_text("确认吊销")
    await row.locator("button").click()
    await expect(page.locator("#a-tokens tr.revoked", has_text="3号评价器")).to_be_visible(timeout=3000)
    server.hall.auth.forget()
    assert await server.hall.auth.bearer(secret) is None


async def test_the_monitor_counts_open_alerts_and_links_to_the_board(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    clerk = await server.clerk_at(15)
    kiosk = server.client(await server.token("kiosk"))
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    page = await pages.open("/admin", width=1920, height=1080)
    await sign_in(page, "boss")
    card = page.locator("#a-k-alerts-card")
    await expect(page.locator("#a-k-alerts")).to_have_text("0", timeout=5000)
    await expect(card).not_to_have_class("a-kpi a-kpi-link alert")
    _, done = await clerk.post("/api/v1/windows/15/call-next")
    await clerk.post("/api/v1/windows/15/finish")
    pad = server.client(await server.token("pad", windows=(15,)))
    status, _ = await pad.post("/api/v1/evaluations", {"ticket": done["id"], "level": 1, "reasons": ["attitude"]})
    assert status == 201
    await expect(page.locator("#a-k-alerts")).to_have_text("1", timeout=3000)  # every bad review raises an alert
    await expect(card).to_have_class("a-kpi a-kpi-link alert")
    await expect(page.locator("a.a-tab[href='/admin/alerts']")).to_be_visible()
    await card.click()
    await expect(page).to_have_url(f"{server.base}/admin/alerts")


async def test_device_health_shows_live_and_a_ticket_is_reprinted_at_its_kiosk(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    agent = server.client(await server.token("agent", kiosk="k1"))
    status, _ = await agent.post("/api/v1/devices/status", {"device": "printer-k1", "kind": "printer", "status": "online", "kiosk": "k1"})
    assert status == 200
    kiosk = await server.kiosk("k1")
    _, ticket = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    page = await pages.open("/admin", width=1920, height=1080)
    await sign_in(page, "boss")
    row = page.locator("#a-devices tr[data-device='printer-k1']")
    await expect(row.locator("[data-dstatus]")).to_have_text("在线", timeout=5000)
    await expect(row).to_contain_text("取号机 k1")
    await expect(page.locator("#a-devices-none")).to_be_hidden()

    # The roll runs out: the row turns red at once, pushed, not polled.
    await agent.post("/api/v1/devices/status", {"device": "printer-k1", "kind": "printer", "status": "paper_out", "kiosk": "k1"})
    await expect(row.locator("[data-dstatus]")).to_have_text("缺纸", timeout=1000)
    await expect(row).to_have_class("fault")

    # The lobby guide reprints the ticket at its own kiosk once the roll is changed.
    await expect(page.locator("#a-reprint-kiosk option[value='k1']")).to_have_count(1)
    await page.locator("#a-reprint-number").fill(ticket["number"].lower())
    await page.locator("#a-reprint-form button[type=submit]").click()
    await expect(page.locator("#hc-toast")).to_contain_text(f"{ticket['number']} 已发送到取号机 k1 打印", timeout=3000)
    jobs = [e for e in await server.hall.store.events_since(0) if e.name == "print.requested"]
    assert [(j.ticket.number, j.extra["kiosk"], j.extra.get("reprint", False)) for j in jobs] == [
        (ticket["number"], "k1", False), (ticket["number"], "k1", True)]

    # A ticket that was never printed needs a kiosk named: a clear message, no job.
    staff = await server.clerk_at(15)
    _, desk = await staff.post("/api/v1/tickets", {"service": "pension"})
    await page.locator("#a-reprint-number").fill(desk["number"])
    await page.locator("#a-reprint-form button[type=submit]").click()
    await expect(page.locator("#hc-toast")).to_contain_text("请选择取号机", timeout=3000)
    await page.locator("#a-reprint-kiosk").select_option("k1")
    await page.locator("#a-reprint-form button[type=submit]").click()
    await expect(page.locator("#hc-toast")).to_contain_text(f"{desk['number']} 已发送到取号机 k1 打印", timeout=3000)


async def test_times_are_the_halls_whatever_the_browsers_timezone(server: Any, browser: Any) -> None:
    """A manager whose laptop is set to New York reads the hall's clock (09:00 in 太康), not 20:00 the day before."""
    context = await browser.new_context(locale="zh-CN", timezone_id="America/New_York")
    pages = Browsing(context, server.base)
    try:
        await person(server, "boss", "马主任", "manager")
        agent = server.client(await server.token("agent", kiosk="k1"))
        await agent.post("/api/v1/devices/status", {"device": "printer-k1", "kind": "printer", "status": "online", "kiosk": "k1"})
        boss = await signed_in(server, "boss")
        status, _ = await boss.put("/api/v1/notice", {"text": "今日正常办公"})
        assert status == 200
        page = await pages.open("/admin", width=1920, height=1080)
        assert await page.evaluate("new Date('2026-12-01T09:00:00+08:00').getHours()") == 20  # the browser is in New York
        await sign_in(page, "boss")
        since = page.locator("#a-devices tr[data-device='printer-k1'] td").last
        await expect(since).to_have_text("09:00", timeout=5000)
        await expect(page.locator("#a-notice-meta")).to_contain_text("2026-12-01 09:00", timeout=5000)
    finally:
        await context.close()
    assert not pages.errors, pages.errors
