"""A server killed with SIGKILL under load loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from queue_server.store import open_store

from ..conftest import ServeProcess, run_cli  # type: ignore[import-not-found]


def make_token(proc: ServeProcess, *args: str) -> str:
    out = run_cli("token", "add", "--config", str(proc.hall_file), "--store", proc.store_url, *args, cwd=proc.log_dir)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


async def test_sigkill_under_load_loses_no_acknowledged_ticket(serve_process: ServeProcess, tmp_path: Path) -> None:
    token = make_token(serve_process, "--role", "kiosk", "--kiosk", "k1")
    await serve_process.start()
    acked: dict[str, dict[str, Any]] = {}
    enough = asyncio.Event()
    services = ["pension", "referral", "social-card", "company-registration"]

    async def issuer(i: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            n = 0
            while True:
                n += 1
                try:
                    async with s.post(serve_process.base + "/api/v1/tickets", json={"service": services[(i + n) % 4]}) as r:
                        if r.status != 201:
                            continue
                        t = await r.json()
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    return  # the server is gone: whatever was not answered was not acknowledged
                acked[t["token"]] = t
                if len(acked) >= 400:
                    enough.set()

    workers = [asyncio.create_task(issuer(i)) for i in range(32)]
    await asyncio.wait_for(enough.wait(), 60)
    await serve_process.kill()  # SIGKILL, mid-flight
    await asyncio.wait_for(asyncio.gather(*workers), 30)

    await serve_process.start()
    async with aiohttp.ClientSession() as s:
        for tok, t in acked.items():
            async with s.get(f"{serve_process.base}/api/v1/tickets/{tok}") as r:
                assert r.status == 200, f"acknowledged ticket {t['number']} is lost"
                assert (await r.json())["number"] == t["number"]
        async with s.post(serve_process.base + "/api/v1/tickets", json={"service": "pension"},
                          headers={"Authorization": f"Bearer {token}"}) as r:
            after = await r.json()
        async with s.get(serve_process.base + "/api/v1/health") as r:
            health = await r.json()
    await serve_process.stop()

    store = open_store(serve_process.store_url, hall_id="taikang", admin=True)  # the sample hall's id
    await store.open()
    try:
        events = await store.events_since(0, 1_000_000)
        tickets = await store.tickets("2000-01-01", "2100-01-01")
    finally:
        await store.close()
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "the event sequence has a gap"
    assert health["seq"] <= events[-1].seq
    numbers = [t.number for t in tickets]
    assert len(numbers) == len(set(numbers)), "a number was given twice"
    pension = sorted(t.seq_no for t in tickets if t.origin_service == "pension")
    assert pension == list(range(1, len(pension) + 1)), "pension numbers have a gap"
    assert after["number"] == f"K{pension[-1]:03d}"
