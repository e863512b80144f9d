"""The phone page and the pad: cancelling, rating rules (a reason for the two lowest
levels), one rating per service, and nothing about other citizens on the phone."""

from __future__ import annotations

import asyncio

from typing import Any

from playwright.async_api import expect

from .conftest import Browsing


async def test_phone_cancel_and_privacy(server: Any, pages: Browsing) -> None:
    kiosk = server.client(await server.token("kiosk"))
    _, first = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    phone = await pages.open(f"/t/{mine['token']}", base=server.base, width=390, height=844)
    await expect(phone.locator("#tr-ahead")).to_have_text("1 人", timeout=5000)
    # It follows its own ticket's topic only, and the page never names another ticket.
    assert await phone.evaluate("window.hallcall.track.live.topics") == [f"ticket:{mine['token']}"]
    assert first["number"] not in await phone.content()

    cancel = phone.locator("#tr-cancel")
    await cancel.click()
    await expect(cancel).to_have_text("确认取消？请再点一次")
    assert server.hall.state.ticket_by_number(mine["number"]).status.value == "waiting"
    await cancel.click()
    await expect(phone.locator("#tr-status")).to_have_text("已取消", timeout=3000)
    await expect(cancel).to_be_hidden()
    assert server.hall.state.ticket_by_number(mine["number"]).status.value == "cancelled"


# The speaker and the vibration motor are what a test machine lacks: count what the page asks of them.
COUNT_SOUND_AND_VIBRATION = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
window.__notes = 0;
const makeOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__notes += 1; return makeOscillator.call(this); };
"""


async def test_a_call_chimes_and_vibrates_once_sound_is_allowed(server: Any, pages: Browsing) -> None:
    clerk = await server.clerk_at(15)
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await pages.context.add_init_script(COUNT_SOUND_AND_VIBRATION)
    phone = await pages.open(f"/t/{mine['token']}", base=server.base, width=390, height=844)
    await phone.evaluate("window.hallcall.track.live.ready")
    await phone.locator("#tr-sound").click()  # browsers allow sound after a touch
    await expect(phone.locator("#tr-sound")).to_have_text("叫号提醒音已开启")
    assert await phone.evaluate("window.__notes") == 0
    await clerk.post("/api/v1/windows/15/call-next")
    await expect(phone.locator("#tr-called")).to_be_visible(timeout=1000)
    assert await phone.evaluate("window.__notes") == 4  # ding-dong, twice
    assert await phone.evaluate("window.__vibrations") == [[400, 150, 400, 150, 400]]


async def test_phone_rating_needs_a_reason_for_the_lowest_levels(server: Any, pages: Browsing) -> None:
    clerk = await server.clerk_at(15)
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    phone = await pages.open(f"/t/{mine['token']}", base=server.base, width=390, height=844)
    await phone.evaluate("window.hallcall.track.live.ready")
    await clerk.post("/api/v1/windows/15/call-next")
    await expect(phone.locator("#tr-called")).to_be_visible(timeout=1000)
    await phone.locator("#tr-called-ok").click()
    await clerk.post("/api/v1/windows/15/finish", {"outcome": "not_done", "details": {"reason": "材料不全"}})
    await expect(phone.locator("#tr-rate")).to_be_visible(timeout=1000)

    submit = phone.locator("#tr-submit")
    await expect(submit).to_be_disabled()
    await phone.locator("#tr-levels .rate-l1").click()  # 非常不满意
    await expect(phone.locator("#tr-reasons")).to_be_visible()
    await expect(submit).to_be_disabled()  # no reason yet
    await phone.locator("#tr-reasons input[value=efficiency]").check()
    await phone.locator("#tr-comment").fill("等了很久")
    await expect(submit).to_be_enabled()
    await submit.click()
    await expect(phone.locator("#tr-thanks")).to_be_visible(timeout=3000)
    [ev] = await server.hall.store.evaluations(mine["day"], mine["day"])
    assert (ev.level, ev.reasons, ev.comment, ev.source) == (1, ("efficiency",), "等了很久", "phone")


async def test_pad_reason_rule_and_one_rating_per_service(server: Any, pages: Browsing) -> None:
    clerk = await server.clerk_at(16)
    pad_token = await server.token("pad", windows=(16,))
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    pad = await pages.open(f"/pad/16?token={pad_token}&thanks=1", base=server.base, width=1280, height=800)
    await expect(pad.locator("#pad-name")).to_have_text("clerk16", timeout=5000)
    await expect(pad.locator("#pad-staff-no")).to_have_text("0016")
    await clerk.post("/api/v1/windows/16/call-next")
    await clerk.post("/api/v1/windows/16/finish")
    await expect(pad.locator("#pad-rate")).to_be_visible(timeout=1000)

    # 不满意 asks for a reason; submit stays disabled until one is chosen.
    await pad.locator("#pad-levels .rate-l2").click()
    await expect(pad.locator("#pad-reasons")).to_be_visible()
    await expect(pad.locator("#pad-submit")).to_be_disabled()
    await pad.locator(".pad-reason[data-reason=attitude]").click()
    await pad.locator(".pad-reason[data-reason=compliance]").click()
    await pad.locator(".pad-reason[data-reason=compliance]").click()  # and unchosen again
    await expect(pad.locator(".pad-reason[aria-pressed=true]")).to_have_count(1)
    await pad.locator("#pad-submit").click()
    await expect(pad.locator("#pad-thanks")).to_be_visible(timeout=3000)
    await expect(pad.locator("#pad-card")).to_be_visible(timeout=3000)  # back to the clerk's card

    [ev] = await server.hall.store.evaluations(mine["day"], mine["day"])
    assert (ev.level, ev.reasons, ev.source, ev.window) == (2, ("attitude",), "pad", 16)
    # A second rating for the same service is refused, from the pad's token too.
    status, body = await server.client(pad_token).post("/api/v1/evaluations", {"ticket": ev.ticket, "level": 5})
    assert status == 409 and body["error"]["code"] == "already_rated"
    # And the pad does not ask again when the socket replays the request.
    await pad.evaluate("() => { const live = window.hallcall.pad.live; const back = live.nextWelcome(); live.ws.close(); return back; }")
    await expect(pad.locator("#pad-card")).to_be_visible()


async def test_a_late_ticket_reply_never_hides_a_call(server: Any, pages: Browsing) -> None:
    """The page reads its ticket over HTTP on every connect; a reply read before the call
    but delivered after it (a slow phone network) must not turn the page back to waiting."""
    clerk = await server.clerk_at(15)
    kiosk = server.client(await server.token("kiosk"))
    _, mine = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    held: list[Any] = []
    got_reply = asyncio.Event()

    async def hold(route: Any) -> None:
        held.append((route, await route.fetch()))  # the server answers now: still waiting
        got_reply.set()

    await pages.context.route(f"**/api/v1/tickets/{mine['token']}", hold)
    page = await pages.open(f"/t/{mine['token']}", base=server.base, width=390, height=844)
    await page.evaluate("window.hallcall.track.live.ready")
    await asyncio.wait_for(got_reply.wait(), 10)
    await clerk.post("/api/v1/windows/15/call-next")
    await expect(page.locator("#tr-called")).to_be_visible(timeout=2000)
    route, stale = held[0]
    assert (await stale.json())["status"] == "waiting"
    await route.fulfill(response=stale)
    await page.evaluate("window.hallcall.track.untilLoads(1)")  # the stale reply has been read
    await expect(page.locator("#tr-called")).to_be_visible()
    assert await page.evaluate("window.hallcall.track.state().status") == "called"
