"""The clerk console: sign in, choose a permitted window, and work it with the keyboard."""

from __future__ import annotations

import asyncio
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
