"""The kiosk's other screens: green channel, hall closed, tickets exhausted, server
unreachable, a missing or revoked token, and the return to the start screen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import expect

from ..conftest import OPEN_TIME  # type: ignore[import-not-found]
from .conftest import Browsing, hall_text


async def choose(page: Any, zone: str, service: str) -> None:
    await page.locator(f".k-zone[data-zone={zone}]").click()
    tile = page.locator(f".k-service[data-service={service}]")
    await expect(tile).to_be_enabled(timeout=5000)
    await tile.click()


async def test_green_channel_and_return_to_start(server: Any, pages: Browsing) -> None:
    token = await server.token("kiosk", kiosk="k2", green=True)
    page = await pages.open(f"/kiosk?token={token}&done=2", base=server.base, width=1920, height=1080)
    await choose(page, "medical", "referral")
    await expect(page.locator("#k-take-green")).to_be_visible()
    await expect(page.locator("#k-take-green")).to_contain_text("老年人、残疾人、军人、孕妇")
    await page.locator("#k-take-green").click()
    await expect(page.locator("#k-ticket-number")).to_have_text("P001", timeout=5000)
    await expect(page.locator("#k-ticket-green")).to_be_visible()
    assert server.hall.state.ticket_by_number("P001").priority.value == "green"
    # Nothing personal stays: after the timeout the start screen is back, with no ticket.
    await expect(page.locator("#k-start")).to_be_visible(timeout=5000)
    await expect(page.locator("#k-ticket")).to_be_hidden()
    assert await page.evaluate("window.hallcall.kiosk.state().ticket") is None


async def test_idle_confirmation_returns_to_start(server: Any, pages: Browsing) -> None:
    token = await server.token("kiosk")
    page = await pages.open(f"/kiosk?token={token}&idle=1", base=server.base, width=1080, height=1920)
    await choose(page, "general", "housing-fund")
    await expect(page.locator("#k-confirm")).to_be_visible()
    await expect(page.locator("#k-confirm")).to_be_hidden(timeout=4000)
    await expect(page.locator(".k-zone[data-zone=enterprise]")).to_have_attribute("aria-pressed", "true")


async def test_hall_closed(server: Any, clock: Any, pages: Browsing) -> None:
    clock.set(OPEN_TIME + timedelta(hours=10))  # 19:00
    token = await server.token("kiosk")
    page = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await expect(page.locator("#k-banner")).to_contain_text("办公时间：08:30-12:00、14:30-17:30", timeout=5000)
    await expect(page.locator(".k-service[data-service=pension]")).to_be_disabled()
    # The server says the same if asked anyway.
    status, body = await server.client(token).post("/api/v1/tickets", {"service": "pension"})
    assert status == 409 and body["error"]["code"] == "hall_closed"


async def test_tickets_exhausted(make_server: Any, pages: Browsing) -> None:
    server = await make_server(hall_text=hall_text({'prefix = "D"\ndaily_limit = 200': 'prefix = "D"\ndaily_limit = 1'}))
    token = await server.token("kiosk")
    other = await pages.open(f"/kiosk?token={token}", base=server.base, width=1920, height=1080)
    page = await pages.open(f"/kiosk?token={token}", base=server.base, width=1920, height=1080)
    # Two citizens at two kiosks choose the last ticket; the second is told clearly.
    await choose(other, "enterprise", "free-seals")
    await choose(page, "enterprise", "free-seals")
    await other.locator("#k-take").click()
    await expect(other.locator("#k-ticket-number")).to_have_text("D001", timeout=5000)
    await page.locator("#k-take").click()
    await expect(page.locator("#k-message-title")).to_have_text("今日号已取完", timeout=5000)
    await page.locator("#k-message-ok").click()
    tile = page.locator(".k-service[data-service=free-seals]")
    await expect(tile).to_be_disabled(timeout=5000)
    await expect(tile.locator("[data-waiting]")).to_have_text("今日号已取完")


async def test_server_unreachable(server: Any, pages: Browsing) -> None:
    token = await server.token("kiosk")
    page = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await choose(page, "social", "pension")
    # The ticket request cannot get through: a clear message, no ticket.
    await page.route("**/api/v1/tickets", lambda route: route.abort("connectionrefused"))
    await page.locator("#k-take").click()
    await expect(page.locator("#k-message-title")).to_have_text("暂时无法连接服务器", timeout=5000)
    await page.unroute("**/api/v1/tickets")
    await page.locator("#k-message-ok").click()
    # The server goes away altogether: the offline state shows and taking is disabled.
    await server.runner.cleanup()
    await expect(page.locator("#hc-net")).to_be_visible(timeout=5000)
    await expect(page.locator("#k-banner")).to_have_text("暂时无法连接服务器，正在重试…")
    await expect(page.locator(".k-service[data-service=pension]")).to_be_disabled()


async def test_missing_and_revoked_tokens(server: Any, pages: Browsing) -> None:
    page = await pages.open("/kiosk", base=server.base, width=1080, height=1920)
    await expect(page.locator("#k-message-title")).to_have_text("本机尚未登记")
    await expect(page.locator("#k-message-ok")).to_be_hidden()
    token = await server.token("kiosk")
    _, row = await server.hall.auth.add_token("kiosk", "spare")
    await server.hall.auth.revoke_token(row.id)
    page = await pages.open("/kiosk?token=hc_not-a-real-token", base=server.base, width=1080, height=1920)
    await expect(page.locator("#k-message-title")).to_have_text("本机设备令牌无效", timeout=5000)
    page = await pages.open(f"/kiosk?token={token}", base=server.base, width=1080, height=1920)
    await expect(page.locator(".k-service[data-service=company-registration]")).to_be_enabled(timeout=5000)
