"""A ``hallcall serve`` killed in the middle of a webhook delivery, and a receiver that goes away:
after both come back every acknowledged ticket's event is delivered, duplicates only by seq."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from ...conftest import ServeProcess, free_port, write_hall_file  # type: ignore[import-not-found]
from .webhook_kit import SECRET, Receiver, endpoint_table  # type: ignore[import-not-found]


async def issue(proc: ServeProcess, token: str, n: int) -> list[str]:
    """Take ``n`` tickets; the numbers the server acknowledged."""
    numbers = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for i in range(n):
            async with s.post(proc.base + "/api/v1/tickets", json={"service": ("pension", "referral")[i % 2]}) as r:
                assert r.status == 201, await r.text()
                numbers.append((await r.json())["number"])
    return numbers


def delivered_numbers(receiver: Receiver) -> set[str]:
    return {b["data"]["ticket"]["number"] for b in receiver.got.values() if b["type"] == "ticket.issued"}


async def test_a_killed_server_and_a_restarted_receiver_lose_no_delivery(store_spec: Any, tmp_path: Path) -> None:
    receiver = Receiver(fail_first=1)
    await receiver.start()
    secret = tmp_path / "webhook.secret"
    secret.write_text(SECRET, encoding="utf-8")
    hall_file = write_hall_file(tmp_path / "hall.toml", extra=endpoint_table(
        "crm", receiver.url, str(secret), '["ticket.issued", "ticket.cancelled"]', backoff_seconds=0.05,
        max_backoff_seconds=1.0, timeout_seconds=2.0, max_attempts=50))
    proc = ServeProcess(hall_file, store_spec.url, free_port(), tmp_path)
    token = proc.token("--role", "kiosk", "--kiosk", "k1")
    acked: list[str] = []
    try:
        await proc.start()
        acked += await issue(proc, token, 5)
        await receiver.wait_until(lambda: delivered_numbers(receiver) >= set(acked))

        # The receiver stops answering; the server is killed while a post is in flight.
        receiver.hold = asyncio.Event()
        acked += await issue(proc, token, 5)
        await asyncio.wait_for(receiver.held.wait(), 30)
        await proc.kill()
        receiver.hold.set()
        await receiver.stop()

        # The server comes back while the receiver is down, and takes more tickets.
        receiver.hold = None
        await proc.start()
        acked += await issue(proc, token, 5)
        await receiver.start()
        await receiver.wait_until(lambda: delivered_numbers(receiver) >= set(acked), 60)
    finally:
        await proc.stop()
        await receiver.stop()
    assert len(acked) == 15 and delivered_numbers(receiver) == set(acked)
    assert receiver.bad_signatures == 0 and receiver.mismatched == []
