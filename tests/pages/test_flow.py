"""The hall's main path through the browser pages, against a real server.

A kiosk takes a ticket and the hall TV's waiting count rises; a clerk calls it and the
hall TV, the window screen and the citizen's phone show the call within one second of
the HTTP call returning; the clerk finishes, the pad asks for a rating, the citizen
taps it and the rating is stored. A display token can watch but never call.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from .conftest import Browsing
from .helpers import person, signed_in

WITHIN = 1000  # ms after the HTTP call returns


async def test_take_call_show_finish_rate(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    kiosk_token = await server.token("kiosk", kiosk="k1")
    display_token = await server.token("display")
    pad_token = await server.token("pad", windows=(15,))
    await person(server, "zhangli", "张丽", staff_no="0115", department="人社局")
    clerk = await signed_in(server, "zhangli")
    status, _ = await clerk.post("/api/v1/windows/15/open")
    assert status == 200

    tv = await pages.open(f"/display/hall?token={display_token}", width=1920, height=1080)
    screen = await pages.open(f"/display/window/15?token={display_token}", width=1280, height=400)
    pad = await pages.open(f"/pad/15?token={pad_token}", width=1280, height=800)
    kiosk = await pages.open(f"/kiosk?token={kiosk_token}", width=1080, height=1920)
    waiting = tv.locator(".tv-service[data-service=pension] [data-waiting]")
    await expect(waiting).to_have_text("0", timeout=5000)
    await expect(pad.locator("#pad-name")).to_have_text("张丽", timeout=5000)
    await expect(pad.locator("#pad-staff-no")).to_have_text("0115")  # the clerk's card, as the national rules ask
    await expect(pad.locator("#pad-dept")).to_have_text("人社局")
    await expect(screen.locator("#ws-headline")).to_have_text("欢迎光临", timeout=5000)
    await expect(screen.locator("#ws-clerk-name")).to_have_text("张丽")
    await expect(screen.locator("#ws-clerk-no")).to_have_text("0115")

    # The kiosk: zone, service, the count and ETA before taking, then the ticket.
    await kiosk.locator(".k-zone[data-zone=social]").click()
    await expect(kiosk.locator(".k-service[data-service=pension] [data-waiting]")).to_have_text("等候 0 人", timeout=5000)
    await kiosk.locator(".k-service[data-service=pension]").click()
    await expect(kiosk.locator("#k-confirm-waiting")).to_have_text("0 人")
    await expect(kiosk.locator("#k-confirm-eta")).not_to_be_empty()
    await expect(kiosk.locator("#k-take-green")).to_be_hidden()  # not enabled on this kiosk
    await kiosk.locator("#k-take").click()
    await expect(kiosk.locator("#k-ticket-number")).to_have_text("K001", timeout=5000)
    await expect(kiosk.locator("#k-ticket-ahead")).to_have_text("0 人")
    assert await kiosk.locator("#k-qr svg path").count() == 1
    ticket = await kiosk.evaluate("window.hallcall.kiosk.state().ticket")
    assert ticket["number"] == "K001" and ticket["channel"] == "kiosk"
    await expect(waiting).to_have_text("1", timeout=WITHIN)

    # The printer agent's job went to this kiosk's topic (print.requested).
    [job] = [e for e in await server.hall.store.events_since(0) if e.name == "print.requested"]
    assert job.extra["kiosk"] == "k1" and job.ticket.number == "K001"

    phone = await pages.open(f"/t/{ticket['token']}", width=390, height=844)
    await expect(phone.locator("#tr-number")).to_have_text("K001", timeout=5000)
    await expect(phone.locator("#tr-status")).to_have_text("排队等候中")
    await expect(phone.locator("#tr-ahead")).to_have_text("0 人")
    await phone.evaluate("window.hallcall.track.live.ready")

    # The call reaches every screen within a second of the HTTP call returning.
    status, called = await clerk.post("/api/v1/windows/15/call-next")
    assert status == 200 and called["number"] == "K001"
    await expect(tv.locator("#tv-hero-number")).to_have_text("K001", timeout=WITHIN)
    await expect(tv.locator("#tv-hero-where")).to_have_text("请到 15 号窗口", timeout=WITHIN)
    await expect(screen.locator("#ws-headline")).to_have_text("请 K001 号", timeout=WITHIN)
    await expect(phone.locator("#tr-called")).to_be_visible(timeout=WITHIN)
    await expect(phone.locator("#tr-called-where")).to_have_text("请到 15 号窗口", timeout=WITHIN)
    await expect(tv.locator(".tv-zone[data-zone=social] .tv-call").first).to_contain_text("K001")
    await expect(waiting).to_have_text("0", timeout=WITHIN)
    await expect(tv.locator("#tv-hero")).to_have_class("tv-hero flash")
    await phone.locator("#tr-called-ok").click()
    await expect(phone.locator("#tr-called")).to_be_hidden()

    # Serving, then finished: the pad asks for a rating.
    await clerk.post("/api/v1/windows/15/start")
    await expect(screen.locator("#ws-headline")).to_have_text("K001", timeout=WITHIN)
    await expect(screen.locator("#ws-detail")).to_have_text("正在办理")
    await expect(phone.locator("#tr-status")).to_have_text("正在 15 号窗口办理", timeout=WITHIN)
    status, _ = await clerk.post("/api/v1/windows/15/finish", {"outcome": "done"})
    assert status == 200
    await expect(pad.locator("#pad-rate")).to_be_visible(timeout=WITHIN)
    await expect(pad.locator("#pad-ticket")).to_have_text("K001")
    await expect(screen.locator("#ws-headline")).to_have_text("欢迎光临", timeout=WITHIN)
    await expect(phone.locator("#tr-rate")).to_be_visible(timeout=WITHIN)

    await pad.locator(".rate-l4").click()  # 满意: no reason needed
    await expect(pad.locator("#pad-thanks")).to_be_visible(timeout=5000)
    [ev] = await server.hall.store.evaluations(ticket["day"], ticket["day"])
    assert (ev.number, ev.level, ev.source, ev.window) == ("K001", 4, "pad", 15)
    # The phone learns the service was rated and does not ask again.
    await expect(phone.locator("#tr-thanks")).to_be_visible(timeout=WITHIN)
    await expect(phone.locator("#tr-rate")).to_be_hidden()


async def test_a_display_token_cannot_call(server: Any, pages: Browsing) -> None:
    display_token = await server.token("display")
    clerk = await server.clerk_at(15)
    await server.kiosk()
    kiosk = server.client(await server.token("kiosk"))
    await kiosk.post("/api/v1/tickets", {"service": "pension"})

    tv = await pages.open(f"/display/hall?token={display_token}", base=server.base)
    await tv.evaluate("window.hallcall.tv.live.ready")
    # The token was taken out of the address bar and kept by the page.
    assert "token=" not in tv.url
    kept = await tv.evaluate("localStorage.getItem('hallcall.token:/display/hall')")
    assert kept == display_token
    # Over the page's own socket: the command is refused.
    refused = await tv.evaluate("""() => window.hallcall.tv.live.command("call_next", { window: 15 })
        .then(() => null, (e) => e.code)""")
    assert refused == "forbidden"
    # Over HTTP with the same token: 403.
    status, body = await server.client(kept).post("/api/v1/windows/15/call-next")
    assert status == 403 and body["error"]["code"] == "forbidden"
    # Nothing was called; the clerk still can.
    assert all(t.status.value == "waiting" for t in server.hall.state.tickets.values())
    status, called = await clerk.post("/api/v1/windows/15/call-next")
    assert status == 200 and called["number"] == "K001"
    await expect(tv.locator("#tv-hero-number")).to_have_text("K001", timeout=WITHIN)
