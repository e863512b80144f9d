"""Simplified Chinese first, English as a switch on every page a person touches: remembered on
their own pages, forgotten for the next citizen on the hall's kiosk and pad. (The TV and the
window screen have no switch: test_kiosk_citizen.py.)"""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from .conftest import Browsing

# page, a Chinese text it shows by default, the same place in English
PAGES = [
    ("/", "h1", "大厅页面一览", "The hall's pages"),
    ("/kiosk", ".k-title", "请选择办理事项", "Please choose a service"),
    ("/t/unknownticket0", "#tr-status", "未找到该号票", "Ticket not found"),
    ("/console", "#c-login h1", "工作人员登录", "Staff sign-in"),
    ("/pad/15", ".pad-supervise", "欢迎监督，请对我的服务作出评价", "Your rating helps us improve"),
    ("/admin", "#a-login h1", "管理人员登录", "Manager sign-in"),
]
SHARED = ("/kiosk", "/pad/15")


async def test_every_page_switches_to_english_and_remembers(server: Any, pages: Browsing) -> None:
    await server.clerk_at(15)
    await server.hall.execute("set_notice", await _manager(server), text="今日通知", text_en="Today's notice")
    for path, where, zh, en in PAGES:
        page = await pages.open(path, base=server.base)
        await expect(page.locator(where)).to_have_text(zh, timeout=5000)
        assert await page.get_attribute("html", "lang") == "zh-CN"
        toggle = page.locator("[data-lang-toggle]").first
        await expect(toggle).to_have_text("English")
        await toggle.click()
        await expect(page.locator(where)).to_have_text(en, timeout=2000)
        assert await page.get_attribute("html", "lang") == "en"
        await expect(toggle).to_have_text("中文")
        await page.reload()
        if path in SHARED:
            # The hall's device: the next citizen starts in the hall's language again.
            await expect(page.locator(where)).to_have_text(zh, timeout=5000)
        else:
            # A person's own page: the next load comes in English from the server already.
            await expect(page.locator(where)).to_have_text(en, timeout=5000)
            await page.locator("[data-lang-toggle]").first.click()  # back to Chinese for the next page
            await expect(page.locator(where)).to_have_text(zh, timeout=2000)
        await page.close()


async def _manager(server: Any) -> Any:
    from queue_server.service import auth

    p = auth.new_person("i18n-boss", "主任", "manager", "secret-pw")
    await server.hall.store.put_person(p)
    return auth.from_person(p)


async def test_the_hall_tv_in_english_fits_its_boxes(server: Any, pages: Browsing) -> None:
    """English names are longer: a call's window label stays inside its box, a zone's name in its row."""
    kiosk = await server.kiosk()
    for service, window in (("pension", 16), ("social-card", 22), ("referral", 30), ("cross-province", 36)):
        await kiosk.post("/api/v1/tickets", {"service": service})
        clerk = await server.clerk_at(window)
        await clerk.post(f"/api/v1/windows/{window}/call-next")
    tv = await pages.open("/display/hall?lang=en", base=server.base, width=1920, height=1080)
    await expect(tv.locator(".tv-call:not(.empty) .tv-call-window")).to_have_count(4, timeout=5000)
    await expect(tv.locator(".tv-call:not(.empty) .tv-call-window").first).to_contain_text("Window")
    assert await tv.locator(".tv-call:not(.empty)").count() == 4
    spill = await tv.evaluate("""() => [
        ...[...document.querySelectorAll('.tv-call')].filter((e) => e.scrollWidth > e.clientWidth + 1)
          .map((e) => 'call ' + e.textContent.trim()),
        ...[...document.querySelectorAll('.tv-zone-title')].filter((e) => e.scrollHeight > e.clientHeight + 1 && getComputedStyle(e).webkitLineClamp === 'none')
          .map((e) => 'zone ' + e.textContent.trim()),
        ...[...document.querySelectorAll('.tv-zone-title')].filter((e) => e.getBoundingClientRect().bottom > e.closest('.tv-zone').getBoundingClientRect().bottom + 1)
          .map((e) => 'zone ' + e.textContent.trim()),
    ]""")
    assert spill == []
    await tv.close()
    # A 16:10 set or an old 5:4 monitor: the same board, scaled to the width, nothing off the side.
    for width, height in ((1280, 800), (1280, 1024)):
        for lang in ("zh", "en"):
            tv = await pages.open(f"/display/hall?lang={lang}", base=server.base, width=width, height=height)
            await expect(tv.locator(".tv-call:not(.empty)")).to_have_count(4, timeout=5000)
            assert await tv.evaluate("""() => [...document.querySelectorAll(".tv *")].filter((e) => !e.closest(".tv-notice"))  // the notice scrolls by design
                .filter((e) => e.getBoundingClientRect().right > innerWidth + 1).map((e) => e.className + " " + e.getBoundingClientRect().right)""") == [], (width, height, lang)
            await tv.close()


async def test_the_kiosk_in_english_fits_every_tile_on_every_shape(server: Any, pages: Browsing) -> None:
    """English names take two or three lines: every tile grows to hold its name and wait, on a
    portrait, a 16:9 and a 5:4 screen, and nothing widens the page."""
    token = await server.token("kiosk")
    for width, height in ((1080, 1920), (1920, 1080), (1280, 1024)):
        kiosk = await pages.open(f"/kiosk?token={token}&lang=en", base=server.base, width=width, height=height)
        await expect(kiosk.locator(".k-title")).to_have_text("Please choose a service", timeout=5000)
        zones = kiosk.locator(".k-zone")
        spilled: list[str] = []
        for i in range(await zones.count()):
            await zones.nth(i).click()
            spilled += await kiosk.evaluate("""() => [...document.querySelectorAll('.k-service, .k-checkin-open')]
                .filter((e) => e.offsetParent && e.scrollHeight > e.clientHeight + 1)
                .map((e) => e.textContent.trim().replace(/\\s+/g, ' '))""")
        assert spilled == [], (width, height)
        assert await kiosk.evaluate("document.documentElement.scrollWidth <= innerWidth"), (width, height)
        await kiosk.close()


async def test_the_window_screen_in_english_fits_every_panel(server: Any, pages: Browsing) -> None:
    """The longest English lines (idle: "Please take a ticket and wait") stay on the panel."""
    await server.clerk_at(15)  # open, nobody called: the idle welcome
    for width, height in ((1280, 400), (800, 480), (1280, 800), (1920, 1080)):
        ws = await pages.open("/display/window/15?lang=en", base=server.base, width=width, height=height)
        await expect(ws.locator(".ws-detail")).to_have_text("Please take a ticket and wait", timeout=5000)
        assert await ws.evaluate("""() => [...document.querySelectorAll('.ws-state, .ws-clerk, .ws-number')]
            .every((e) => { const r = e.getBoundingClientRect(); return r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1; })"""), (width, height)
        await ws.close()
