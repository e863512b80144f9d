"""Every page at its design sizes over a realistic morning: screenshots (docs/screens holds a set),
WCAG AA contrast of every visible text, and no CJK tofu (Chromium's own account of the
fonts it drew each element's Chinese with).

They go to $TMPDIR/hallcall-screens; set HALLCALL_SCREENS_DIR=docs/screens to refresh the committed set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from ..conftest import PASSWORD  # type: ignore[import-not-found]
from ..queue_server.replay_kit import Replayed, replayed_day, serve_copy  # type: ignore[import-not-found]
from .conftest import SCREENS, Browsing
from .helpers import assert_contrast, assert_no_tofu, demo_hall, person, settle

CHECKED: dict[str, int] = {}


async def shoot(page: Any, name: str) -> None:
    """Contrast, fonts, then the screenshot, in that order, of the page as it is now."""
    await settle(page)
    CHECKED[name] = await assert_contrast(page, name)
    await assert_no_tofu(page, name)
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / f"{name}.png"))


async def freeze(page: Any, iso: str) -> None:
    # The pages show the server's time; pinning the browser's clock keeps screenshots stable.
    await page.clock.set_fixed_time(iso)


async def test_every_page_at_its_design_sizes(make_server: Any, clock: Any, pages: Browsing) -> None:
    server = await make_server()
    demo = await demo_hall(server, clock)
    pages.base = server.base
    at = clock.now().isoformat()
    newest = server.hall.state.recent_calls[-1]["number"]

    # Hall TV, full hall, 1080p and 4K; one zone at 1080p.
    for w, h, name in ((1920, 1080, "hall-tv-1920x1080"), (3840, 2160, "hall-tv-3840x2160")):
        tv = await pages.open(f"/display/hall?token={demo.display_token}", width=w, height=h)
        await freeze(tv, at)
        await expect(tv.locator("#tv-hero-number")).to_have_text(newest, timeout=5000)
        await tv.evaluate("document.querySelector('#tv-hero').classList.remove('flash')")
        await shoot(tv, name)
        await tv.close()
    tv = await pages.open("/display/hall?zone=social", width=1920, height=1080)
    await expect(tv.locator(".tv-zone[data-zone=social] .tv-call").first).not_to_have_text("", timeout=5000)
    await shoot(tv, "hall-tv-zone-1920x1080")
    await tv.close()

    # Window screens: serving, called, paused; wide, 800×480 and a 16:9 monitor.
    for n, w, h, name in ((15, 1280, 400, "window-15-serving-1280x400"), (3, 1280, 400, "window-3-called-1280x400"),
                          (16, 1280, 400, "window-16-paused-1280x400"), (3, 800, 480, "window-3-called-800x480"),
                          (3, 1920, 1080, "window-3-called-1920x1080"), (3, 1366, 768, "")):
        ws = await pages.open(f"/display/window/{n}", width=w, height=h)
        await expect(ws.locator("#ws-clerk-name")).not_to_have_text("", timeout=5000)
        # Everything on the panel, whatever its shape: nothing runs off the bottom or the side.
        assert await ws.evaluate("""() => [...document.querySelectorAll('.ws-state, .ws-clerk, .ws-number')]
            .every((e) => { const r = e.getBoundingClientRect(); return r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1; })""")
        if not name:
            await ws.close()
            continue
        # A clerk's photo where the store has one, the name's first character where not.
        await expect(ws.locator("#ws-photo img" if n in (3, 16) else "#ws-photo .hc-initial")).to_have_count(1)
        await ws.evaluate("document.querySelector('.ws-state').style.animation = 'none'")
        await shoot(ws, name)
        await ws.close()

    # Evaluation pad: the clerk's card, then the rating request after a finish.
    pad = await pages.open(f"/pad/3?token={demo.pad_tokens[3]}", width=1280, height=800)
    await expect(pad.locator("#pad-name")).to_have_text("李明", timeout=5000)
    await shoot(pad, "pad-card-1280x800")
    await demo.clerks[3].post("/api/v1/windows/3/finish", {"outcome": "done"})
    await expect(pad.locator("#pad-rate")).to_be_visible(timeout=5000)
    await shoot(pad, "pad-rate-1280x800")
    await pad.locator(".rate-l2").click()
    await pad.locator(".pad-reason[data-reason=efficiency]").click()
    await shoot(pad, "pad-reasons-1280x800")
    await pad.close()

    # Kiosk, portrait and landscape: the start screen and a ticket.
    for w, h, number, take in ((1080, 1920, "K013", "#k-take"), (1920, 1080, "K014", "#k-take-green")):
        kiosk = await pages.open(f"/kiosk?token={demo.kiosk_token}", width=w, height=h)
        await freeze(kiosk, at)
        await kiosk.locator(".k-zone[data-zone=social]").click()
        await expect(kiosk.locator(".k-service[data-service=pension] [data-waiting]")).to_contain_text("人", timeout=5000)
        await shoot(kiosk, f"kiosk-start-{w}x{h}")
        await kiosk.locator(".k-service[data-service=pension]").click()
        await expect(kiosk.locator("#k-take-green")).to_be_visible()
        await shoot(kiosk, f"kiosk-confirm-{w}x{h}")
        await kiosk.locator(take).click()
        await expect(kiosk.locator("#k-ticket-number")).to_have_text(number, timeout=5000)
        await shoot(kiosk, f"kiosk-ticket-{w}x{h}")
        ticket = await kiosk.evaluate("window.hallcall.kiosk.state().ticket")
        await kiosk.close()

    # The phone page of the ticket just taken: waiting, then called.
    phone = await pages.open(f"/t/{ticket['token']}", width=390, height=844)
    await expect(phone.locator("#tr-ahead")).to_contain_text("人", timeout=5000)
    await shoot(phone, "track-waiting-390x844")
    for _ in range(20):
        await demo.clerks[15].post("/api/v1/windows/15/finish", {"outcome": "done"})  # the clerk gives the outcome first
        status, called = await demo.clerks[15].post("/api/v1/windows/15/call-next")
        if status == 200 and called["number"] == ticket["number"]:
            break
    await expect(phone.locator("#tr-called")).to_be_visible(timeout=5000)
    await shoot(phone, "track-called-390x844")
    await phone.close()

    # Clerk console at window 15 with a ticket being served.
    await demo.clerks[15].post("/api/v1/windows/15/start")
    console = await pages.open("/console", width=1440, height=900)
    await freeze(console, at)
    await console.locator("#c-user").fill("clerk15")
    await console.locator("#c-pass").fill("secret-pw")
    await console.locator("#c-login-form button[type=submit]").click()
    await expect(console.locator("#c-number")).to_have_text(ticket["number"], timeout=5000)
    await expect(console.locator("#c-queue tr").first).to_be_visible()
    await shoot(console, "console-1440x900")
    await console.close()

    # Live monitor and its token page, with the devices' agents reporting.
    agent = server.client(await server.token("agent", kiosk="k1"))
    for device, kind, status, where in (("printer-k1", "printer", "online", {"kiosk": "k1"}),
                                        ("printer-k2", "printer", "paper_near_end", {"kiosk": "k2"}),
                                        ("keypad-3", "keypad", "online", {"window": 3}),
                                        ("eval-15", "evaluator", "online", {"window": 15}),
                                        ("led-16", "led", "offline", {"window": 16, "detail": "no reply"})):
        await agent.post("/api/v1/devices/status", {"device": device, "kind": kind, "status": status, **where})
    admin = await pages.open("/admin", width=1920, height=1080)
    await freeze(admin, at)
    await admin.locator("#a-user").fill("director")
    await admin.locator("#a-pass").fill("secret-pw")
    await admin.locator("#a-login-form button[type=submit]").click()
    await expect(admin.locator(".a-win[data-window='15'] [data-clerk]")).to_contain_text("张丽", timeout=5000)
    await expect(admin.locator("#a-devices tr")).to_have_count(5)
    await shoot(admin, "admin-monitor-1920x1080")
    await admin.locator(".a-tab[data-tab=tokens]").click()
    await expect(admin.locator("#a-tokens tr").first).to_be_visible(timeout=5000)
    await shoot(admin, "admin-tokens-1920x1080")
    await admin.close()

    # The guides' page: one request in hand, two waiting (the green channel first).
    await person(server, "guide1", "赵敏", "guide", staff_no="0301")
    guide = server.client()
    await guide.login("guide1")
    waiting = [t for t in demo.tickets if server.hall.state.tickets[t["id"]].status.value == "waiting"][:3]
    for t in waiting:
        await guide.post("/api/v1/assist", {"ticket": t["number"], **({"need": "老人，需代填表"} if t is waiting[0] else {})})
    await guide.post(f"/api/v1/assist/{waiting[0]['id']}/accept")
    phone = await pages.open("/guide", width=390, height=844)
    await freeze(phone, at)
    await phone.locator("#g-user").fill("guide1")
    await phone.locator("#g-pass").fill("secret-pw")
    await phone.locator("#g-login-form button[type=submit]").click()
    await expect(phone.locator("#g-mine li")).to_have_count(1, timeout=5000)
    await expect(phone.locator("#g-open li")).to_have_count(len(waiting) - 1)
    await shoot(phone, "guide-390x844")
    await phone.close()

    index = await pages.open("/", width=1440, height=900)
    await shoot(index, "index-1440x900")
    await index.close()
    assert sum(CHECKED.values()) > 500


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


async def test_manager_pages_over_a_replayed_day(day: Replayed, tmp_path: Path, pages: Browsing) -> None:
    """Reports and the alert board over the sample day's 2,400 citizens."""
    async with serve_copy(day, tmp_path) as server:
        await person(server, "boss", "马主任", "manager")
        pages.base = server.base
        page = await pages.open("/admin/reports", width=1920, height=1080)
        await page.locator("#r-user").fill("boss")
        await page.locator("#r-pass").fill(PASSWORD)
        await page.locator("#r-login-form button[type=submit]").click()
        await expect(page.locator("#r-table tbody tr[data-key=pension]")).to_be_visible(timeout=10000)
        for chart in ("#r-chart-waits", "#r-chart-satisfaction", "#r-chart-windows"):
            await expect(page.locator(chart)).to_have_js_property("complete", True, timeout=10000)
        await shoot(page, "reports-1920x1080")
        board = await pages.open("/admin/alerts", width=1920, height=1080)
        await expect(board.locator("#al-live tr").first).to_be_visible(timeout=10000)
        await shoot(board, "alerts-1920x1080")
        desk = await pages.open("/admin/cases", width=1920, height=1080)
        await desk.locator("#cs-table-case tbody tr").first.click(timeout=10000)  # the day's bad reviews
        await expect(desk.locator("#cs-d-state")).to_have_text("预审", timeout=5000)
        await shoot(desk, "cases-1920x1080")


def test_the_shipped_subset_holds_every_character_the_pages_show() -> None:
    """A new string in the language table or a template needs the font rebuilt (static/fonts/README.md)."""
    import importlib.util

    from fontTools.ttLib import TTFont

    fonts = Path(__file__).resolve().parents[2] / "static" / "fonts"
    spec = importlib.util.spec_from_file_location("build_subset", fonts / "build_subset.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    shipped = TTFont(fonts / "hallcall-cjk.woff2").getBestCmap()
    missing = "".join(c for c in build.wanted() if ord(c) not in shipped)
    assert not missing, f"run static/fonts/build_subset.py: the subset lacks {missing}"


async def test_the_shipped_web_font_covers_the_pages(server: Any, pages: Browsing) -> None:
    """A hall PC without any CJK font still gets Chinese: the subset loads and covers the UI."""
    page = await pages.open("/kiosk", base=server.base)
    loaded = await page.evaluate("""async () => {
        const faces = await document.fonts.load('32px "HallCall Sans"', '请到窗口办理取号叫号暂停服务非常满意');
        return { faces: faces.length, check: document.fonts.check('32px "HallCall Sans"', '请到窗口办理取号叫号暂停服务非常满意') };
    }""")
    assert loaded == {"faces": 1, "check": True}
    # And glyphs really come from it: a string drawn only with the subset has the width of CJK glyphs, not boxes.
    widths = await page.evaluate("""() => {
        const c = document.createElement('canvas').getContext('2d');
        c.font = '40px "HallCall Sans", monospace';
        const cjk = c.measureText('请到窗口').width;
        c.font = '40px monospace';
        return { cjk, fallback: c.measureText('请到窗口').width };
    }""")
    assert widths["cjk"] > 100
