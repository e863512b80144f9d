"""What the kiosk and the phone promise a citizen: no wait where no window serves, "printing"
only with a printer that is there, and each citizen starting in the hall's language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import expect

from queue_server.service import auth

from ..conftest import OPEN_TIME  # type: ignore[import-not-found]
from .conftest import Browsing, hall_text
from .test_kiosk import choose

NO_WINDOW = "暂无窗口办理"


async def test_no_promised_wait_where_no_window_serves(server: Any, pages: Browsing) -> None:
    token = await server.token("kiosk", kiosk="k1")
    kiosk = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await kiosk.locator(".k-zone[data-zone=social]").click()
    tile = kiosk.locator(".k-service[data-service=pension]")
    await expect(tile.locator("[data-eta]")).to_have_text(NO_WINDOW, timeout=5000)
    await tile.click()
    await expect(kiosk.locator("#k-confirm-eta")).to_have_text(NO_WINDOW)
    await kiosk.locator("#k-take").click()  # the hall lets kiosks issue anyway (the default policy)
    await expect(kiosk.locator("#k-ticket-number")).to_have_text("K001", timeout=5000)
    await expect(kiosk.locator("#k-ticket-eta")).to_have_text(NO_WINDOW)
    ticket = await kiosk.evaluate("window.hallcall.kiosk.state().ticket")
    assert ticket["eta_minutes"] is None and ticket["ahead"] == 0
    # The printed slip carries the same warning, not a wait.
    [job] = [e for e in await server.hall.store.events_since(0) if e.name == "print.requested"]
    assert job.extra["eta_minutes"] is None and job.extra["no_window"] is True and "opens_at" not in job.extra

    phone = await pages.open(f"/t/{ticket['token']}", base=server.base, width=390, height=844)
    await expect(phone.locator("#tr-eta")).to_have_text(NO_WINDOW, timeout=5000)
    await phone.evaluate("window.hallcall.track.live.ready")
    # A clerk signs in at a pension window: a real wait appears on the phone and the kiosk.
    await server.clerk_at(15)
    await expect(phone.locator("#tr-eta")).to_have_text("即将叫号", timeout=5000)  # first in line at an idle window
    await kiosk.locator("#k-done").click()
    await kiosk.locator(".k-zone[data-zone=social]").click()
    await expect(tile.locator("[data-eta]")).to_have_text("预计约 8 分钟", timeout=5000)  # after one 8-minute visit
    # A longer wait is uncertain: the kiosk shows it as a span.
    api = await server.kiosk()
    await api.post("/api/v1/tickets", {"service": "pension"})
    await expect(tile.locator("[data-eta]")).to_have_text("预计约 10–20 分钟", timeout=5000)
    _, third = await api.post("/api/v1/tickets", {"service": "pension"})  # 16 minutes: two visits ahead
    assert (third["eta_minutes"], third["eta_range"]) == (16, [10, 20])
    follower = await pages.open(f"/t/{third['token']}", base=server.base, width=390, height=844)
    await expect(follower.locator("#tr-eta")).to_have_text("约 10–20 分钟", timeout=5000)
    status, body = await server.client().get(f"/api/v1/tickets/{ticket['token']}")
    assert status == 200 and body["eta_minutes"] is not None


async def test_between_spans_the_kiosk_says_when_service_starts(make_server: Any, clock: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=hall_text({"[hall]\n": "[policy]\nissue_outside_hours = true\n\n[hall]\n"}))
    clock.set(OPEN_TIME + timedelta(hours=3, minutes=30))  # 12:30, lunch
    token = await server.token("kiosk", kiosk="k1")
    kiosk = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await choose(kiosk, "social", "pension")
    await expect(kiosk.locator("#k-confirm-eta")).to_have_text("暂无窗口办理，14:30 起办理")
    await kiosk.locator("#k-take").click()
    await expect(kiosk.locator("#k-ticket-eta")).to_have_text("暂无窗口办理，14:30 起办理", timeout=5000)
    [job] = [e for e in await server.hall.store.events_since(0) if e.name == "print.requested"]
    assert job.extra["opens_at"] == "14:30"


async def test_a_hall_may_refuse_tickets_nobody_serves(make_server: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=hall_text({"[hall]\n": "[policy]\nissue_without_window = false\n\n[hall]\n"}))
    kiosk = await server.kiosk()
    status, body = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    assert status == 409 and body["error"]["code"] == "no_window"
    await server.clerk_at(15)
    status, body = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    assert status == 201 and body["number"] == "K001"


async def _printer(server: Any, status: str, kiosk: str = "k1") -> None:
    _, row = await server.hall.auth.add_token("agent", "printer agent", kiosk=kiosk)
    await server.hall.execute("device_status", auth.from_device(row),
                              {"device": f"printer-{kiosk}", "kind": "printer", "status": status, "kiosk": kiosk})


async def test_printing_is_said_only_with_a_printer_online(server: Any, pages: Browsing) -> None:
    await server.clerk_at(15)
    token = await server.token("kiosk", kiosk="k1")
    kiosk = await pages.open(f"/kiosk?token={token}&done=60", base=server.base, width=1080, height=1920)
    await choose(kiosk, "social", "pension")
    await kiosk.locator("#k-take").click()
    await expect(kiosk.locator("#k-ticket-number")).to_have_text("K001", timeout=5000)
    # No printer has ever reported for this kiosk.
    await expect(kiosk.locator("#k-print")).to_have_text("请记下您的号码，或用手机扫码查看排队进度")
    # Its printer comes online (reported by the device agent over the protocol).
    await _printer(server, "online")
    await expect(kiosk.locator("#k-print")).to_have_text("凭条正在打印，请取走凭条", timeout=5000)
    # Another kiosk's printer running out of paper is not this kiosk's business.
    await _printer(server, "paper_out", kiosk="k2")
    await _printer(server, "paper_out")
    await expect(kiosk.locator("#k-print")).to_have_text("请记下您的号码，或用手机扫码查看排队进度", timeout=5000)
    # A kiosk that starts after the report reads it from its snapshot.
    await _printer(server, "online")
    again = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await choose(again, "social", "pension")
    await again.locator("#k-take").click()
    await expect(again.locator("#k-print")).to_have_text("凭条正在打印，请取走凭条", timeout=5000)


async def test_each_citizen_starts_in_the_halls_language(server: Any, pages: Browsing) -> None:
    token = await server.token("kiosk", kiosk="k1")
    kiosk = await pages.open(f"/kiosk?token={token}&done=1&idle=1", base=server.base, width=1080, height=1920)
    await kiosk.locator("[data-lang-toggle]").click()
    await expect(kiosk.locator(".k-title")).to_have_text("Please choose a service")
    # Left idle: the start screen comes back in Chinese for the next citizen.
    await expect(kiosk.locator(".k-title")).to_have_text("请选择办理事项", timeout=5000)
    # After a ticket too.
    await kiosk.locator("[data-lang-toggle]").click()
    await choose(kiosk, "social", "pension")
    await kiosk.locator("#k-take").click()
    await expect(kiosk.locator("#k-ticket-number")).to_have_text("K001", timeout=5000)
    await expect(kiosk.locator("#k-start")).to_be_visible(timeout=5000)
    await expect(kiosk.locator(".k-title")).to_have_text("请选择办理事项")
    # A reload does not bring back the last citizen's choice either.
    await kiosk.locator("[data-lang-toggle]").click()
    await kiosk.reload()
    await expect(kiosk.locator(".k-title")).to_have_text("请选择办理事项", timeout=5000)


async def test_screens_follow_the_halls_language(make_server: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=hall_text({'timezone = "Asia/Shanghai"': 'timezone = "Asia/Shanghai"\nlanguage = "en"'}))
    token = await server.token("display")
    tv = await pages.open(f"/display/hall?token={token}", base=server.base, width=1920, height=1080)
    screen = await pages.open(f"/display/window/15?token={token}", base=server.base, width=1280, height=400)
    await expect(tv.locator(".tv-hero-label")).to_have_text("Now calling", timeout=5000)
    await expect(screen.locator("#ws-headline")).to_have_text("Window closed", timeout=5000)
    # Nobody touches these screens: no language button on them.
    assert await tv.locator("[data-lang-toggle]").count() == 0
    assert await screen.locator("[data-lang-toggle]").count() == 0
    # A person's own choice on another page never changes them.
    console = await pages.open("/console", base=server.base)
    await console.locator("[data-lang-toggle]").first.click()
    await expect(console.locator("#c-login h1")).to_have_text("工作人员登录")
    await tv.reload()
    await expect(tv.locator(".tv-hero-label")).to_have_text("Now calling", timeout=5000)
    # And the kiosk starts each citizen in English there.
    kiosk = await pages.open(f"/kiosk?token={await server.token('kiosk')}", base=server.base, width=1080, height=1920)
    await expect(kiosk.locator(".k-title")).to_have_text("Please choose a service", timeout=5000)
