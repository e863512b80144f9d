"""The case desk (/admin/cases): a bad review worked from 预审 to 办结, a 办不成事 case from
登记 to 销号, both through the page and checked against the server; clerks are refused."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect


from .conftest import Browsing
from .helpers import assert_contrast, assert_no_tofu, person, settle, signed_in
from .test_report_pages import serve_some, sign_in


async def submit_and_see(page: Any, state: str) -> None:
    """Send the step's form; the detail then shows the record's new state."""
    await page.locator("#cs-submit").click()
    await expect(page.locator("#cs-d-state")).to_have_text(state, timeout=5000)


async def test_a_bad_review_is_worked_to_its_close(server: Any, clock: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    boss = await signed_in(server, "boss")
    unhappy = await serve_some(server, clock)  # a level-2 rating with 态度 opens a case
    case_id = f"CP{unhappy}"

    async def case() -> dict[str, Any]:
        status, body = await boss.get(f"/api/v1/cases/{case_id}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    page = await pages.open("/admin/cases", width=1600, height=1000)
    await sign_in(page, "boss")
    await expect(page.locator("a[href='/admin/cases']")).to_have_attribute("aria-current", "page")
    row = page.locator(f"#cs-table-case tr[data-id='{case_id}']")
    await expect(row).to_contain_text("预审", timeout=5000)
    for text in ("不满意", "态度", "15号窗口", (await case())["due"]):
        await expect(row).to_contain_text(text)
    await expect(page.locator("#cs-n-case")).to_have_text("1")

    await row.click()
    await expect(page.locator("#cs-d-id")).to_have_text(case_id)
    await expect(page.locator("#cs-d-state")).to_have_text("预审")
    await expect(page.locator("#cs-steps li")).to_have_count(1)
    await expect(page.locator("#cs-do-screen")).to_be_checked()  # 预审通过 first; 申诉 is the other choice
    await settle(page)
    await assert_contrast(page, "case desk")
    await assert_no_tofu(page, "case desk")

    # 预审, held in flight: the button stays disabled and a second submit sends nothing.
    hold = asyncio.Event()

    async def held(route: Any) -> None:
        await hold.wait()
        await route.continue_()

    await page.route(f"**/api/v1/cases/{case_id}/screen", held)
    await page.locator("#cs-f-note").fill("评价属实，转核实")
    await page.locator("#cs-submit").click()
    await expect(page.locator("#cs-submit")).to_be_disabled()
    await page.locator("#cs-act").evaluate("form => form.requestSubmit()")
    hold.set()
    await expect(page.locator("#cs-d-state")).to_have_text("核实", timeout=5000)
    await page.unroute(f"**/api/v1/cases/{case_id}/screen")
    assert (await case())["state"] == "verify"
    assert [s["step"] for s in (await case())["steps"]] == ["opened", "screen"]
    screened = page.locator("#cs-steps li[data-step=screen]")
    await expect(screened).to_contain_text("马主任")
    await expect(screened).to_contain_text("评价属实，转核实")
    await expect(row).to_contain_text("核实")

    # 核实: true and reasonable, so on to 整改.
    await page.locator("#cs-f-substantiated-yes").check()
    await page.locator("#cs-f-reasonable-yes").check()
    await page.locator("#cs-f-finding").fill("经调取录像，工作人员答复生硬")
    await submit_and_see(page, "整改")
    data = await case()
    assert data["state"] == "rectify" and data["verification"] == {
        "substantiated": True, "reasonable": True, "finding": "经调取录像，工作人员答复生硬"}
    await expect(page.locator("#cs-steps li[data-step=verify]")).to_contain_text("情况属实")

    await page.locator("#cs-f-measures").fill("窗口人员接受文明服务培训")
    await submit_and_see(page, "回复")
    assert (await case())["state"] == "reply"

    await page.locator("#cs-f-text").fill("已电话致歉并说明整改情况")
    await page.locator("#cs-f-channel").select_option("phone")
    await submit_and_see(page, "回访")
    data = await case()
    assert data["state"] == "callback" and data["reply"]["channel"] == "phone"

    await page.locator("#cs-f-level").select_option("5")
    await submit_and_see(page, "办结")
    data = await case()
    assert data["state"] == "closed" and data["callback_level"] == 5 and data["result"] == "rectified"
    assert case_id not in server.hall.state.docs.get("case", {})  # no longer an open case
    await expect(page.locator("#cs-done")).to_be_visible()
    await expect(page.locator("#cs-steps li")).to_have_count(6)
    await expect(row).to_have_count(0)  # a closed case leaves the open list
    await expect(page.locator("#cs-none-case")).to_be_visible()
    await expect(page.locator("#cs-n-case")).to_have_text("0")

    # English on the switch.
    await page.locator("[data-lang-toggle]").first.click()
    await expect(page.locator("#cs-d-state")).to_have_text("Closed")
    await expect(page.locator("#cs-tab-case")).to_contain_text("Bad-review follow-up")
    await expect(page.locator("#cs-steps li[data-step=callback]")).to_contain_text("5 · Very satisfied")


async def test_the_ledger_tab_registers_a_case_and_closes_it(server: Any, clock: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "boss", "马主任", "manager")
    await person(server, "deputy", "李副主任", "manager")
    boss = await signed_in(server, "boss")
    day = server.hall.state.day.replace("-", "")
    first, second = f"BC{day}-001", f"BC{day}-002"

    async def record(case_id: str) -> dict[str, Any]:
        status, body = await boss.get(f"/api/v1/ledger/{case_id}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    page = await pages.open("/admin/cases", width=1600, height=1000)
    await sign_in(page, "boss")
    await page.locator("#cs-tab-ledger").click()
    await expect(page.locator("#cs-none-ledger")).to_be_visible(timeout=5000)
    await expect(page.locator("#cs-panel-case")).to_be_hidden()

    await page.locator("#cs-new-matter").fill("不动产转移登记，需自然资源、税务联合办理")
    await page.locator("#cs-new-reason").select_option("coordination")
    await page.locator("#cs-new-department").fill("县自然资源局")
    await page.locator("#cs-new-tier").select_option("7d")
    await page.locator("#cs-new-submit").click()
    row = page.locator(f"#cs-table-ledger tr[data-id='{first}']")
    await expect(row).to_contain_text("多部门协调", timeout=5000)
    await expect(row).to_contain_text("7个工作日")
    await expect(row).to_contain_text("登记")
    await expect(page.locator("#cs-d-id")).to_have_text(first)  # the new case opens beside the list
    data = server.hall.state.docs["ledger"][first].data
    assert (data["state"], data["reason"], data["tier"], data["department"]) == ("open", "coordination", "7d", "县自然资源局")
    await expect(page.locator("#cs-new-matter")).to_have_value("")

    # Another manager registers a phone complaint: it appears live, the citizen masked as stored.
    deputy = await signed_in(server, "deputy")
    status, other = await deputy.post("/api/v1/ledger", {"matter": "电话反映：营业执照变更", "reason": "other",
                                                         "name": "张三丰", "phone": "13812345678"})
    assert status == 201, other
    other_row = page.locator(f"#cs-table-ledger tr[data-id='{second}']")
    await expect(other_row).to_contain_text("电话反映：营业执照变更", timeout=5000)
    await expect(page.locator("#cs-n-ledger")).to_have_text("2")
    await other_row.click()
    await expect(page.locator("#cs-record [data-fact=citizen]")).to_have_text("张**")
    await expect(page.locator("#cs-record [data-fact=phone]")).to_have_text("138****5678")
    await expect(page.locator("#cs-record")).not_to_contain_text("张三丰")

    await row.click()
    await expect(page.locator("#cs-d-id")).to_have_text(first)
    await expect(page.locator("#cs-do-assign")).to_be_checked()  # 交办 first; 当场办理 is the other choice
    await page.locator("#cs-f-department").fill("县自然资源局")
    await page.locator("#cs-f-note").fill("请三个工作日内联系群众")
    await submit_and_see(page, "交办")
    data = await record(first)
    assert data["state"] == "assigned" and data["handover"]["note"] == "请三个工作日内联系群众"

    await expect(page.locator("#cs-do-resolve")).to_be_checked()
    await page.locator("#cs-f-result").fill("联合窗口受理，已办结转移登记")
    await submit_and_see(page, "办理")
    assert (await record(first))["state"] == "resolved"

    await page.locator("#cs-f-text").fill("已短信告知办理结果")
    await page.locator("#cs-f-channel").select_option("sms")
    await submit_and_see(page, "答复")
    data = await record(first)
    assert data["state"] == "replied" and data["reply"]["channel"] == "sms"

    await page.locator("#cs-f-level").select_option("4")
    await page.locator("#cs-f-note").fill("群众表示满意")
    await submit_and_see(page, "销号")
    data = await record(first)
    assert data["state"] == "closed" and data["callback_level"] == 4
    assert [s["step"] for s in data["steps"]] == ["opened", "assign", "resolve", "reply", "close"]
    await expect(page.locator("#cs-steps li")).to_have_count(5)
    await expect(row).to_have_count(0)
    await expect(other_row).to_be_visible()
    await expect(page.locator("#cs-n-ledger")).to_have_text("1")

    # The phone complaint is still unanswered a fortnight on: marked overdue. A fortnight is past
    # the 12-hour sign-in, so the manager signs in again and finds it flagged.
    await expect(other_row.locator(".cs-flag")).to_have_count(0)
    clock.advance(14 * 86400)
    assert [d.id for d in await server.hall.check("ledger")] == [second]
    page = await pages.open("/admin/cases", width=1600, height=1000)
    await sign_in(page, "boss")
    await page.locator("#cs-tab-ledger").click()
    other_row = page.locator(f"#cs-table-ledger tr[data-id='{second}']")
    await expect(other_row.locator(".cs-flag")).to_have_text("已逾期", timeout=5000)
    await expect(other_row).to_have_attribute("data-flag", "overdue")
    await settle(page)
    await assert_contrast(page, "ledger tab")


async def test_a_clerk_is_refused(server: Any, pages: Browsing) -> None:
    pages.base = server.base
    await person(server, "clerk15", "张丽")
    page = await pages.open("/admin/cases")
    await sign_in(page, "clerk15")
    await expect(page.locator("#r-login-error")).to_have_text("需要主管或管理员账号", timeout=5000)
    await expect(page.locator("#r-main")).to_be_hidden()
