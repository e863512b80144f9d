"""Pages ride out a server restart: they show "离线", reconnect by themselves with
``since``, and show the next call (and the one made before they were back) without a
reload. The server is ``hallcall serve`` in a child process, killed with SIGKILL."""

from __future__ import annotations

import asyncio
import signal

from playwright.async_api import expect

from queue_server.core.clock import SystemClock
from queue_server.service import auth
from queue_server.store import open_store

from ..conftest import PASSWORD, Http, ServeProcess  # type: ignore[import-not-found]
from .conftest import Browsing

BACK = 15_000  # ms: the restart itself plus the pages' backoff (capped at 5 s)


async def seed(proc: ServeProcess) -> dict[str, str]:
    """People and tokens straight into the store, before the server starts."""
    store = open_store(proc.store_url, hall_id="taikang")
    await store.open()
    try:
        await store.put_person(auth.new_person("zhangli", "张丽", "clerk", PASSWORD, staff_no="0115"))
        await store.put_person(auth.new_person("boss", "马主任", "manager", PASSWORD))
        authn = auth.Authenticator(store, SystemClock())
        tokens = {}
        for role, kw in (("display", {}), ("kiosk", {"kiosk": "k1"}), ("pad", {"windows": (15,)})):
            tokens[role], _ = await authn.add_token(role, role, **kw)
        return tokens
    finally:
        await store.close()


async def test_pages_recover_from_a_restart_without_missing_a_call(serve_process: ServeProcess, pages: Browsing) -> None:
    tokens = await seed(serve_process)
    await serve_process.start()
    pages.base = serve_process.base
    kiosk = Http(serve_process.base, token=tokens["kiosk"])
    clerk = Http(serve_process.base)
    try:
        mine = []
        for _ in range(3):
            status, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
            assert status == 201, t
            mine.append(t)
        await clerk.login("zhangli")
        assert (await clerk.post("/api/v1/windows/15/open"))[0] == 200

        tv = await pages.open(f"/display/hall?token={tokens['display']}", width=1920, height=1080)
        screen = await pages.open("/display/window/15", width=1280, height=400)
        phone = await pages.open(f"/t/{mine[2]['token']}", width=390, height=844)
        pad = await pages.open(f"/pad/15?token={tokens['pad']}", width=1280, height=800)
        console = await pages.open("/console", width=1440, height=900)  # the clerk's own screen, beside the API
        await console.locator("#c-user").fill("zhangli")
        await console.locator("#c-pass").fill(PASSWORD)
        await console.locator("#c-login-form button[type=submit]").click()
        monitor = await pages.open("/admin", width=1920, height=1080)
        await monitor.locator("#a-user").fill("boss")
        await monitor.locator("#a-pass").fill(PASSWORD)
        await monitor.locator("#a-login-form button[type=submit]").click()
        tile = monitor.locator(".a-win[data-window='15'] [data-ticket]")
        await expect(tv.locator(".tv-service[data-service=pension] [data-waiting]")).to_have_text("3", timeout=5000)
        await expect(console.locator("#c-queue tr")).to_have_count(3, timeout=5000)
        await clerk.post("/api/v1/windows/15/call-next")
        await expect(tv.locator("#tv-hero-number")).to_have_text(mine[0]["number"], timeout=2000)
        await expect(screen.locator("#ws-headline")).to_have_text(f"请 {mine[0]['number']} 号", timeout=2000)
        await expect(phone.locator("#tr-ahead")).to_have_text("1 人", timeout=2000)
        await expect(console.locator("#c-number")).to_have_text(mine[0]["number"], timeout=2000)
        await expect(tile).to_contain_text(mine[0]["number"], timeout=2000)

        # SIGKILL: every page says it is offline.
        await serve_process.kill(signal.SIGKILL)
        for page in (tv, screen, phone, pad, console, monitor):
            await expect(page.locator("#hc-net")).to_be_visible(timeout=5000)
            await expect(page.locator("#hc-net")).to_contain_text("离线")
        await expect(tv.locator("#tv-hero-number")).to_have_text(mine[0]["number"])  # the last call stays up

        # Back on the same store and port; the ticket is finished (the pad asks for its rating)
        # and a call is made at once, before the pages are back.
        await serve_process.start()
        await clerk.post("/api/v1/windows/15/finish", {"outcome": "done"})
        await clerk.post("/api/v1/windows/15/call-next")
        await expect(tv.locator("#tv-hero-number")).to_have_text(mine[1]["number"], timeout=BACK)
        await expect(screen.locator("#ws-headline")).to_have_text(f"请 {mine[1]['number']} 号", timeout=BACK)
        await expect(phone.locator("#tr-ahead")).to_have_text("0 人", timeout=BACK)
        await expect(console.locator("#c-number")).to_have_text(mine[1]["number"], timeout=BACK)
        await expect(tile).to_contain_text(mine[1]["number"], timeout=BACK)
        await expect(pad.locator("#pad-rate")).to_be_visible(timeout=BACK)
        for page in (tv, screen, phone, pad, console, monitor):
            await expect(page.locator("#hc-net")).to_be_hidden(timeout=BACK)
        # They resynced with since: events were replayed, not a fresh snapshot, and nothing reloaded.
        assert await tv.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert await tv.evaluate("window.hallcall.tv.model.calls") == 2

        # And they are live: the next call (the phone's own ticket) arrives within a second.
        await clerk.post("/api/v1/windows/15/finish", {"outcome": "done"})
        await clerk.post("/api/v1/windows/15/call-next")
        await expect(tv.locator("#tv-hero-number")).to_have_text(mine[2]["number"], timeout=1000)
        await expect(phone.locator("#tr-called")).to_be_visible(timeout=1000)
        await expect(phone.locator("#tr-called-where")).to_have_text("请到 15 号窗口")
        calls = [c.text_content() for c in await tv.locator(".tv-zone[data-zone=social] .tv-call-number").all()]
        assert [await c for c in calls] == [mine[2]["number"], mine[1]["number"], mine[0]["number"]]
    finally:
        await asyncio.gather(kiosk.close(), clerk.close())
