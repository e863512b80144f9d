"""A server killed with SIGKILL under load loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from queue_server.store import open_store

from ...conftest import ServeProcess, run_cli  # type: ignore[import-not-found]

pytestmark = pytest.mark.every_store  # the store is this module's subject


async def test_sigkill_under_load_loses_no_acknowledged_ticket(serve_process: ServeProcess, tmp_path: Path) -> None:
    token = serve_process.token("--role", "kiosk", "--kiosk", "k1")
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


async def test_sigkill_loses_no_acknowledged_call_finish_or_rating(serve_process: ServeProcess) -> None:
    """Two windows call, finish and rate as fast as they can while the server is killed."""
    kiosk = serve_process.token("--role", "kiosk")
    agent = serve_process.token("--role", "agent", "--windows", "15-16")
    pad = serve_process.token("--role", "pad", "--windows", "15-16")
    for window in (15, 16):
        out = run_cli("user", "add", "--config", str(serve_process.hall_file), "--store", serve_process.store_url,
                      "--role", "clerk", "--login", f"c{window}", "--name", f"clerk {window}", "--staff-no", f"{window:04d}",
                      "--password-stdin", stdin="a-long-password\n", cwd=serve_process.log_dir)
        assert out.returncode == 0, out.stderr
    await serve_process.start()
    base = serve_process.base
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {kiosk}"}) as s:
        for _ in range(400):
            async with s.post(base + "/api/v1/tickets", json={"service": "pension"}) as r:
                assert r.status == 201
    called: dict[str, int] = {}  # ticket id -> window, for every call answered 200
    finished: set[str] = set()
    rated: dict[str, int] = {}  # ticket id -> level, for every rating answered 201
    enough = asyncio.Event()

    async def work(window: int) -> None:
        async with aiohttp.ClientSession() as s:
            as_agent = {"Authorization": f"Bearer {agent}"}
            async with s.post(f"{base}/api/v1/windows/{window}/open", json={"staff_no": f"{window:04d}"}, headers=as_agent) as r:
                assert r.status == 200
            n = 0
            try:
                while True:
                    n += 1
                    async with s.post(f"{base}/api/v1/windows/{window}/call-next", headers=as_agent) as r:
                        if r.status != 200:
                            return
                        t = await r.json()
                    called[t["id"]] = window
                    async with s.post(f"{base}/api/v1/windows/{window}/finish", headers=as_agent) as r:
                        if r.status != 200:
                            return
                    finished.add(t["id"])
                    level = 1 + n % 5
                    body = {"ticket": t["id"], "level": level, **({"reasons": ["efficiency"]} if level < 3 else {})}
                    async with s.post(f"{base}/api/v1/evaluations", json=body, headers={"Authorization": f"Bearer {pad}"}) as r:
                        if r.status != 201:
                            return
                    rated[t["id"]] = level
                    if len(rated) >= 60:
                        enough.set()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return  # the server is gone: what was not answered was not acknowledged

    workers = [asyncio.create_task(work(w)) for w in (15, 16)]
    await asyncio.wait_for(enough.wait(), 60)
    await serve_process.kill()
    await asyncio.wait_for(asyncio.gather(*workers), 30)

    await serve_process.start()
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/api/v1/health") as r:
            assert r.status == 200  # it serves again
        # systemd stops it with SIGTERM: it closes its sockets and exits cleanly, screens connected.
        async with s.ws_connect(base + "/ws") as screen:
            await screen.send_json({"type": "hello", "topics": ["hall"]})
            assert (await screen.receive_json(timeout=10))["type"] in ("welcome", "snapshot")
            assert await asyncio.wait_for(serve_process.kill(signal.SIGTERM), 15) == 0
            closing = await screen.receive(timeout=10)
            while closing.type is aiohttp.WSMsgType.TEXT:  # the snapshot, sent before the signal
                closing = await screen.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert b"Traceback" not in (serve_process.log_dir / f"serve-{serve_process.port}-2.log").read_bytes()
    store = open_store(serve_process.store_url, hall_id="taikang", admin=True)
    await store.open()
    try:
        tickets = {t.id: t for t in await store.tickets("2000-01-01", "2100-01-01")}
        events = await store.events_since(0, 1_000_000)
    finally:
        await store.close()
    assert len(rated) >= 60
    for tid, window in called.items():
        assert tickets[tid].first_called_at is not None and tickets[tid].window == window, f"the call of {tid} is lost"
    for tid in finished:
        assert tickets[tid].status.value == "done", f"the finish of {tid} is lost"
    for tid, level in rated.items():
        assert tickets[tid].rating == level, f"the rating of {tid} is lost"
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "the event sequence has a gap"
