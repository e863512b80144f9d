"""The clerk console: sign in, choose a permitted window, and work it with the keyboard."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import expect

from queue_server.service import auth

from ..conftest import PASSWORD  # type: ignore[import-not-found]
from .conftest import Browsing


async def sign_in(page: Any, login: str) -> None:
    await page.locator("#c-user").fill(login)
    await page.locator("#c-pass").fill(PASSWORD)
    await page.locator("#c-login-form button[type=submit]").click()


async def press(page: Any, key: str) -> None:
    """Press a shortcut once the console is idle: keys pressed mid-request are ignored on purpose."""
    await expect(page.locator("body")).to_have_attribute("data-busy", "false", timeout=3000)
    await page.keyboard.press(key)


def calls(server: Any) -> list[str]:
    return [t.number for t in sorted(server.hall.state.tickets.values(), key=lambda t: t.number) if t.visits]


async def test_sign_in_open_call_and_work_a_ticket(server: Any, pages: Browsing) -> None:
    person = auth.new_person("wangfang", "王芳", "clerk", PASSWORD, staff_no="0115", windows=(15, 16))
    await server.hall.store.put_person(person)
    kiosk = server.client(await server.token("kiosk", green=True))
    for body in ({"service": "pension"}, {"service": "pension"}, {"service": "pension", "priority": "green"},
                 {"service": "retirement"}):
        assert (await kiosk.post("/api/v1/tickets", body))[0] == 201
    screen = await pages.open("/display/window/15", base=server.base, width=1280, height=400)

    page = await pages.open("/console", base=server.base, width=1440, height=900)
    await expect(page.locator("#c-login")).to_be_visible()
    await page.locator("#c-user").fill("wangfang")
    await page.locator("#c-pass").fill("wrong-password")
    await page.locator("#c-login-form button[type=submit]").click()
    await expect(page.locator("#c-login-error")).to_have_text("账号或密码错误")
    await sign_in(page, "wangfang")

    # Only the windows this clerk may use are offered.
    await expect(page.locator(".c-win-choice")).to_have_count(2)
    await page.locator(".c-win-choice[data-window='15']").click()
    await expect(page.locator("#c-window")).to_have_text("15 号窗口 · 养老保险")
    await expect(page.locator("#c-wstatus")).to_have_text("服务中")
    await expect(page.locator("#c-queue tr")).to_have_count(3)
    await expect(page.locator("#c-queue tr.prio")).to_have_count(1)  # the green ticket, marked and first
    await expect(page.locator("#c-queue tr").first).to_contain_text("绿色通道")
    for key in ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8"):
        await expect(page.locator(f".c-act[data-key={key}] kbd")).to_have_text(key)

    # F1 calls: the green ticket first.
    await press(page, "F1")
    await expect(page.locator("#c-number")).to_have_text("K003", timeout=3000)
    await expect(page.locator("#c-tstatus")).to_have_text("已叫号")
    await expect(page.locator("#c-prio")).to_be_visible()
    await expect(screen.locator("#ws-headline")).to_have_text("请 K003 号", timeout=1000)
    await press(page, "F2")  # recall
    await expect(page.locator("#c-tstatus")).to_have_text("已叫号 · 重呼 1 次", timeout=3000)
    await press(page, "F3")  # start
    await expect(page.locator("#c-tstatus")).to_have_text("办理中", timeout=3000)

    # F4 asks for the outcome: 容缺受理 with the missing materials.
    await press(page, "F4")
    await expect(page.locator("#c-finish-dialog")).to_be_visible()
    await page.locator("#c-finish-note").fill("营业执照副本、租赁合同")
    await page.locator("#c-finish-due").fill("2026-12-04")
    await page.locator("#c-finish-dialog [data-outcome=pending_materials]").click()
    await expect(page.locator("#c-number")).to_have_text("—", timeout=3000)
    t = server.hall.state.ticket_by_number("K003")
    assert t.status.value == "done" and t.outcome.value == "pending_materials"
    # The record is listed on the console until the materials come in.
    record = page.locator(f"#c-pending li[data-pending='{t.id}']")
    await expect(record).to_contain_text("营业执照副本、租赁合同", timeout=3000)
    await expect(record).to_contain_text("2026-12-04 前补齐")
    assert server.hall.state.docs["pending"][t.id].data["due"] == "2026-12-04"
    await expect(page.locator("#c-served")).to_have_text("1", timeout=3000)
    await expect(page.locator("#c-mean")).not_to_have_text("–")

    # F1, then F5 (no-show): the missed ticket is listed.
    await press(page, "F1")
    await expect(page.locator("#c-number")).to_have_text("K001", timeout=3000)
    await press(page, "F5")
    await expect(page.locator("#c-missed")).to_contain_text("K001", timeout=3000)
    await expect(page.locator("#c-noshows")).to_have_text("1")

    # F1, then F6: transfer to another service.
    await press(page, "F1")
    await expect(page.locator("#c-number")).to_have_text("K002", timeout=3000)
    await press(page, "F6")
    await page.locator("#c-transfer-service").select_option("retirement")
    await page.locator("#c-transfer-go").click()
    await expect(page.locator("#c-number")).to_have_text("—", timeout=3000)
    moved = server.hall.state.ticket_by_number("K002")
    assert (moved.status.value, moved.service) == ("waiting", "retirement")

    # The citizen brings the missing materials: the record closes and leaves the list.
    await record.locator("button").click()
    await expect(record).to_have_count(0, timeout=3000)
    await expect(page.locator("#c-pending-title")).to_be_hidden()
    assert t.id not in server.hall.state.docs.get("pending", {})

    # F7 pauses with a reason; the window screen says so; F7 again resumes.
    await press(page, "F7")
    await page.locator("#c-pause-dialog [data-reason=consulting]").click()
    await expect(page.locator("#c-wstatus")).to_have_text("暂停服务", timeout=3000)
    await expect(page.locator("#c-paused")).to_have_text("暂停服务 · 业务咨询")
    await expect(page.locator(".c-act[data-act=call]")).to_be_disabled()
    await expect(screen.locator("#ws-headline")).to_have_text("暂停服务", timeout=1000)
    await expect(screen.locator("#ws-detail")).to_have_text("业务咨询")
    assert server.hall.state.windows[15].pause_reason == "consulting"
    await press(page, "F7")
    await expect(page.locator("#c-wstatus")).to_have_text("服务中", timeout=3000)

    # F8 signs out of the window: back to the list.
    await press(page, "F8")
    await expect(page.locator("#c-choose")).to_be_visible(timeout=3000)
    assert server.hall.state.windows[15].status.value == "closed"


async def test_a_second_click_never_calls_twice(server: Any, pages: Browsing) -> None:
    await server.hall.store.put_person(auth.new_person("lina", "李娜", "clerk", PASSWORD, staff_no="0016"))
    kiosk = server.client(await server.token("kiosk"))
    for _ in range(4):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    page = await pages.open("/console", base=server.base, width=1440, height=900)
    await sign_in(page, "lina")
    await page.locator(".c-win-choice[data-window='16']").click()
    await expect(page.locator("#c-queue tr")).to_have_count(4, timeout=3000)

    # Hold the first request until every other click and key press has happened.
    release = asyncio.Event()
    held: list[str] = []

    async def hold(route: Any) -> None:
        held.append(route.request.url)
        await release.wait()
        await route.continue_()

    await page.route("**/call-next", hold)
    button = page.locator(".c-act[data-act=call]")
    await button.dblclick()
    await expect(button).to_be_disabled()
    await page.keyboard.press("F1")
    await button.click(force=True)  # even a forced click on the disabled button does nothing
    assert await page.evaluate("window.hallcall.console.state().busy") is True
    release.set()
    await expect(page.locator("#c-number")).to_have_text("K001", timeout=3000)
    assert len(held) == 1
    await expect(button).to_be_enabled()
    assert calls(server) == ["K001"]
    await expect(page.locator("#c-queue tr")).to_have_count(3, timeout=3000)


async def _console_at(server: Any, pages: Browsing, login: str, window: int, tickets: int, service: str = "pension") -> Any:
    await server.hall.store.put_person(auth.new_person(login, login, "clerk", PASSWORD, staff_no=f"0{window:03d}"))
    kiosk = server.client(await server.token("kiosk"))
    for _ in range(tickets):
        await kiosk.post("/api/v1/tickets", {"service": service})
    page = await pages.open("/console", base=server.base, width=1440, height=900)
    await sign_in(page, login)
    await page.locator(f".c-win-choice[data-window='{window}']").click()
    await expect(page.locator("#c-queue tr")).to_have_count(tickets, timeout=3000)
    return page


async def test_calling_with_a_ticket_at_the_window_asks_for_its_outcome_first(server: Any, pages: Browsing) -> None:
    page = await _console_at(server, pages, "zhaolei", 16, 3)
    button = page.locator(".c-act[data-act=call]")
    await button.click()
    await expect(page.locator("#c-number")).to_have_text("K001", timeout=3000)
    # A second click after the first call returned (a slow double click) calls nobody and finishes nothing.
    await button.click()
    dialog = page.locator("#c-finish-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#c-finish-first")).to_have_text("K001 还在窗口：请先选择办理结果，再叫下一位")
    assert calls(server) == ["K001"] and server.hall.state.ticket_by_number("K001").status.value == "called"
    await page.keyboard.press("Escape")  # cancelled: nothing happens
    await expect(dialog).to_be_hidden()
    assert calls(server) == ["K001"]

    # Given the outcome (未到, since K001 was never started), the next citizen is called.
    await press(page, "F1")
    await page.locator("#c-finish-dialog [data-outcome=no_show]").click()
    await expect(page.locator("#c-number")).to_have_text("K002", timeout=3000)
    assert server.hall.state.ticket_by_number("K001").status.value == "no_show"
    await press(page, "F3")
    await expect(page.locator("#c-tstatus")).to_have_text("办理中", timeout=3000)
    await press(page, "F1")
    await expect(page.locator("#c-finish-noshow")).to_be_hidden()  # a started ticket did come
    await page.locator("#c-finish-dialog [data-outcome=done]").click()
    await expect(page.locator("#c-number")).to_have_text("K003", timeout=3000)
    k002 = server.hall.state.ticket_by_number("K002")
    assert (k002.status.value, k002.outcome.value) == ("done", "done")


async def test_the_lists_have_their_actions_pick_hold_call_back_and_requeue(server: Any, pages: Browsing) -> None:
    page = await _console_at(server, pages, "sunli", 16, 4)
    # 点号: the third waiting ticket, with a reason.
    await page.locator("#c-queue tr[data-ticket=K003] [data-row-act=pick]").click()
    await expect(page.locator("#c-pick-number")).to_have_text("K003")
    await page.locator("#c-pick-go").click()  # no reason: refused on the page
    await expect(page.locator("#c-pick-dialog")).to_be_visible()
    await page.locator("#c-pick-reason").fill("老年人、残疾人优先")
    await page.locator("#c-pick-go").click()
    await expect(page.locator("#c-number")).to_have_text("K003", timeout=3000)
    called = [e for e in await server.hall.store.events_since(0) if e.name == "ticket.called"]
    assert [(e.ticket.number, e.extra.get("reason")) for e in called] == [("K003", "老年人、残疾人优先")]
    # Nobody may be picked while a ticket is at the window.
    await expect(page.locator("#c-queue [data-row-act=pick]").first).to_be_disabled()

    # 挂起 (F9): the held ticket is listed with 回呼.
    await press(page, "F9")
    held = page.locator("#c-held li[data-ticket=K003]")
    await expect(held).to_be_visible(timeout=3000)
    await expect(page.locator("#c-number")).to_have_text("—")
    await held.locator("[data-row-act=call-back]").click()
    await expect(page.locator("#c-number")).to_have_text("K003", timeout=3000)
    await expect(held).to_have_count(0, timeout=3000)
    await press(page, "F4")
    await page.locator("#c-finish-dialog [data-outcome=done]").click()
    await expect(page.locator("#c-number")).to_have_text("—", timeout=3000)

    # 过号重排: a no-show goes back into the queue from the console.
    await press(page, "F1")
    await expect(page.locator("#c-number")).to_have_text("K001", timeout=3000)
    await press(page, "F5")
    missed = page.locator("#c-missed li[data-ticket=K001]")
    await missed.locator("[data-row-act=requeue]").click(timeout=3000)
    await expect(missed).to_have_count(0, timeout=3000)
    await expect(page.locator("#c-queue tr[data-ticket=K001]")).to_be_visible(timeout=3000)
    assert server.hall.state.ticket_by_number("K001").status.value == "waiting"


async def test_signing_out_in_another_tab_shows_the_sign_in_form(server: Any, pages: Browsing) -> None:
    page = await _console_at(server, pages, "qianwei", 16, 1)
    other = await pages.open("/console", base=server.base, width=1440, height=900)  # the same browser: one session
    await expect(other.locator("#c-main")).to_be_visible(timeout=3000)
    await other.locator("#c-logout").click()
    await expect(other.locator("#c-login")).to_be_visible(timeout=3000)
    # The first tab shows the sign-in form by itself, not a working screen whose buttons say 请先登录.
    await expect(page.locator("#c-login")).to_be_visible(timeout=3000)
    await expect(page.locator("#c-main")).to_be_hidden()
    await expect(page.locator("#c-user")).to_be_visible()


async def test_an_expired_session_shows_the_sign_in_form_at_the_first_click(server: Any, pages: Browsing) -> None:
    page = await _console_at(server, pages, "zhoujie", 16, 1)
    [cookie] = [c["value"] for c in await pages.context.cookies() if c["name"] == auth.SESSION_COOKIE]
    await server.hall.store.delete_session(auth.digest(cookie))  # gone behind the page's back, as an expired one is
    server.hall.auth.forget()
    await press(page, "F1")
    await expect(page.locator("#c-login")).to_be_visible(timeout=3000)
    assert calls(server) == []


async def test_durations_read_as_durations_never_as_clock_times(server: Any, pages: Browsing) -> None:
    await server.hall.store.put_person(auth.new_person("hefang", "何芳", "clerk", PASSWORD, staff_no="0016"))
    kiosk = server.client(await server.token("kiosk"))
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    server.hall.clock.advance(12 * 60 + 34)
    page = await pages.open("/console", base=server.base, width=1440, height=900)
    await sign_in(page, "hefang")
    await page.locator(".c-win-choice[data-window='16']").click()
    first = page.locator("#c-queue tr").first.locator("td").nth(3)
    await expect(first).to_have_text(re.compile(r"^已等 12分3\d秒$"), timeout=3000)
    await press(page, "F1")
    await expect(page.locator("#c-timer")).to_have_text(re.compile(r"^叫号后 \d+秒$"), timeout=3000)
    await page.locator("[data-lang-toggle]").first.click()
    await expect(page.locator("#c-queue tr").first.locator("td").nth(3)).to_have_text(
        re.compile(r"^waited 12 min 3\d s$"), timeout=3000)
    await expect(page.locator("#c-timer")).to_have_text(re.compile(r"^called \d+ s ago$"), timeout=3000)
