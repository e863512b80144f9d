"""预约签到 at the kiosk page: the ID card reader types the number, the kiosk shows a priority ticket.

The booking is made over the API (as the booking system would); the citizen checks in on
the real kiosk page in Chromium; the clerk's next call is theirs, before earlier normal
tickets; the ID number is never left on the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from .conftest import Browsing
from .helpers import person, signed_in

ID = "11010519491231002X"


async def test_check_in_by_id_card_at_the_kiosk(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    booking_system = server.client(await server.token("agent"))  # an integration token, bound to no window
    status, booking = await booking_system.post("/api/v1/appointments", {
        "service": "pension", "slot_start": "2026-12-01T10:00+08:00", "id_number": ID, "name": "张三", "phone": "13800000000"})
    assert status == 201, booking
    kiosk_token = await server.token("kiosk", kiosk="k1")
    walk_in = server.client(kiosk_token)
    for _ in range(2):
        assert (await walk_in.post("/api/v1/tickets", {"service": "pension"}))[0] == 201
    server.hall.clock.set(datetime(2026, 12, 1, 9, 40, tzinfo=ZoneInfo("Asia/Shanghai")))

    kiosk = await pages.open(f"/kiosk?token={kiosk_token}", width=1080, height=1920)
    opener = kiosk.locator("#k-checkin-open")
    await expect(opener).to_contain_text("预约签到")
    await expect(opener).to_be_enabled(timeout=5000)

    # A booking code that is not one: a clear message, back to the start.
    await opener.click()
    await kiosk.locator("#k-checkin-input").fill("NOSUCHCODE")
    await kiosk.locator("#k-checkin-input").press("Enter")
    await expect(kiosk.locator("#k-message")).to_have_attribute("data-code", "booking_unknown", timeout=5000)
    await expect(kiosk.locator("#k-message-text")).to_contain_text("未查询到")
    await kiosk.locator("#k-message-ok").click()

    # The card reader types the ID number and Enter.
    await opener.click()
    field = kiosk.locator("#k-checkin-input")
    await expect(field).to_be_focused()
    assert await field.get_attribute("type") == "password"  # not readable over the citizen's shoulder
    await field.type(ID)
    await field.press("Enter")
    await expect(kiosk.locator("#k-ticket-number")).to_have_text("K003", timeout=5000)
    await expect(kiosk.locator("#k-ticket-appt")).to_be_visible()
    await expect(kiosk.locator("#k-ticket-appt")).to_contain_text("预约")
    ticket = await kiosk.evaluate("window.hallcall.kiosk.state().ticket")
    assert (ticket["priority"], ticket["channel"], ticket["appointment"]) == ("appointment", "appointment", booking["id"])
    assert await field.input_value() == ""
    assert ID not in await kiosk.content() and ID not in await kiosk.evaluate("document.body.innerText")

    # Checked in once: the same card again says so.
    await kiosk.locator("#k-done").click()
    await opener.click()
    await field.fill(ID)
    await field.press("Enter")
    await expect(kiosk.locator("#k-message")).to_have_attribute("data-code", "booking_unknown", timeout=5000)

    # The clerk's next call is the booked citizen, before the two who came earlier.
    await person(server, "zhangli", "张丽", staff_no="0115", department="人社局")
    clerk = await signed_in(server, "zhangli")
    assert (await clerk.post("/api/v1/windows/15/open"))[0] == 200
    status, called = await clerk.post("/api/v1/windows/15/call-next")
    assert status == 200 and called["number"] == "K003" and called["priority"] == "appointment"


async def test_too_early_says_when_check_in_opens(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    booking_system = server.client(await server.token("agent"))
    status, booking = await booking_system.post("/api/v1/appointments", {
        "service": "pension", "slot_start": "2026-12-01T11:00+08:00", "id_number": ID})
    assert status == 201
    kiosk = await pages.open(f"/kiosk?token={await server.token('kiosk', kiosk='k1')}&lang=en", width=1080, height=1920)
    await expect(kiosk.locator("#k-checkin-open")).to_be_enabled(timeout=5000)
    await kiosk.locator("#k-checkin-open").click()
    await kiosk.locator("#k-checkin-input").fill(f"hallcall:booking:{booking['id']}")  # the booking QR code
    await kiosk.locator("#k-checkin-go").click()
    await expect(kiosk.locator("#k-message")).to_have_attribute("data-code", "too_early", timeout=5000)
    await expect(kiosk.locator("#k-message-text")).to_contain_text("10:30")
    status, seen = await booking_system.get(f"/api/v1/appointments/{booking['id']}")
    assert seen["status"] == "booked"
