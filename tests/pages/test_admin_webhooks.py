"""The webhooks tab of /admin: each endpoint's last deliveries with their state, and replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from queue_server.features.webhooks import Webhooks

from ..conftest import HALL_FILE  # type: ignore[import-not-found]
from ..queue_server.features.webhook_kit import SECRET, Receiver, endpoint_table  # type: ignore[import-not-found]
from .conftest import Browsing
from .helpers import person
from .test_admin import sign_in


async def test_a_failed_delivery_shows_and_is_replayed_from_the_admin_page(make_server: Any, pages: Browsing,
                                                                             tmp_path: Path) -> None:
    receiver = Receiver(fail_first=2)
    await receiver.start()
    secret = tmp_path / "hook.secret"
    secret.write_text(SECRET, encoding="utf-8")
    text = HALL_FILE.read_text(encoding="utf-8") + endpoint_table(
        "crm", receiver.url + "?key=private", str(secret), '["ticket.issued"]', max_attempts=2, backoff_seconds=0.01)
    try:
        server = await make_server(hall_text=text)
        pages.base = server.base
        await person(server, "boss", "马主任", "manager")
        kiosk = server.client(await server.token("kiosk"))
        status, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
        assert status == 201
        sender = server.hall.features.get(Webhooks).sender
        async with sender.settled:  # both attempts spent
            await asyncio.wait_for(sender.settled.wait_for(lambda: any(d.status == "failed" for d in sender.recent)), 30)
        page = await pages.open("/admin", width=1600, height=900)
        await sign_in(page, "boss")
        await page.locator(".a-tab[data-tab=webhooks]").click()
        card = page.locator("#a-hooks [data-endpoint=crm]")
        await expect(card.locator("code").first).to_have_text(receiver.url)  # the query string (a key) is not shown
        row = card.locator("tr[data-status=failed]")
        await expect(row).to_have_count(1, timeout=5000)
        await expect(row.locator("td").nth(3)).to_have_text("2")
        await expect(row).to_contain_text("HTTP 503")
        await expect(row).to_contain_text("失败")

        await card.locator("[data-replay-failed]").click()
        await receiver.wait_until(lambda: len(receiver.got) == 1)
        assert next(iter(receiver.got.values()))["data"]["ticket"]["number"] == t["number"]
        await expect(card.locator("tr[data-status=delivered]")).to_have_count(1, timeout=8000)  # the tab refreshes itself
    finally:
        await receiver.stop()
