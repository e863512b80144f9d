"""The live monitor's staffing advice: a loaded zone is told which windows to open, and one button
sends that instruction, signed, to the webhook endpoint of the windows' departments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from ..queue_server.features.webhook_kit import SECRET, Receiver, endpoint_table  # type: ignore[import-not-found]
from .conftest import Browsing, hall_text
from .helpers import person
from .test_admin import sign_in


async def test_the_monitor_advises_a_loaded_zone_and_notifies_its_departments(
        make_server: Any, clock: Any, pages: Browsing, tmp_path: Path) -> None:
    receiver = Receiver(fail_first=0)
    await receiver.start()
    try:
        secret = tmp_path / "depts.secret"
        secret.write_text(SECRET, encoding="utf-8")
        hook = endpoint_table("depts", receiver.url, str(secret), '["advice.*"]', backoff_seconds=0.05)
        server = await make_server(hall_text=hall_text({}) + hook)
        await server.clerk_at(29)  # referral only
        await server.clerk_at(31)  # reimbursement only
        kiosk = await server.kiosk()
        for _ in range(6):  # six reimbursement citizens in twenty minutes: one window cannot keep up
            status, _ = await kiosk.post("/api/v1/tickets", {"service": "medical-reimbursement"})
            assert status == 201
            clock.advance(200)
        await person(server, "boss", "马主任", "manager")

        page = await pages.open("/admin", base=server.base, width=1600, height=1000)
        await sign_in(page, "boss")
        row = page.locator("#a-advice tr[data-zone=medical]")
        await expect(row.locator(".a-advice-text")).to_contain_text("开启 ", timeout=15000)
        advice = await page.evaluate("window.hallcall.admin.advice()")
        [medical] = [z for z in advice["zones"] if z["zone"] == "medical"]
        opened = [w["number"] for w in medical["to_open"]]
        assert opened and all("medical-reimbursement" in w["services"] for w in medical["to_open"])
        text = row.locator(".a-advice-text")
        await expect(text).to_contain_text(f"开启 {'、'.join(map(str, opened))} 号窗口（")
        await expect(text).to_contain_text(f"预计 p90 等候由 {medical['p90_now_minutes']:.0f} 分降至 {medical['p90_advised_minutes']:.0f} 分")
        assert medical["p90_advised_minutes"] <= medical["standard_minutes"] < medical["p90_now_minutes"]
        # A zone nobody queues in has no button.
        await expect(page.locator("#a-advice tr[data-zone=construction] .a-advice-notify")).to_be_hidden()

        await row.locator(".a-advice-notify").click()
        await receiver.wait_until(lambda: bool(receiver.got))
        [(seq, body)] = receiver.got.items()
        assert receiver.bad_signatures == 0 and body["type"] == "advice.sent" and body["seq"] == seq
        sent = body["data"]["advice"]
        assert sent["zone"] == "medical" and [w["number"] for w in sent["to_open"]] == opened
        assert all(w["department"] for w in sent["to_open"])
        assert sent["instruction"] == medical["instruction"] and sent["instruction_en"].startswith("Open window")

        await page.locator("[data-lang-toggle]").click()
        await expect(text).to_contain_text("Open window")
    finally:
        await receiver.stop()
