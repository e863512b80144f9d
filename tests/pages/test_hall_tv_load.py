"""The hall TV under load: 50 calls a second through a real server never leave it
behind, and 10,000 calls grow neither its DOM nor its heap."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from playwright.async_api import expect

from queue_server.service import auth

from ..conftest import PASSWORD  # type: ignore[import-not-found]
from .conftest import Browsing

WINDOWS = (15, 16, 17, 18, 20, 23, 25, 26, 27, 28)  # the windows that serve pension


async def test_fifty_calls_a_second_do_not_leave_it_behind(server: Any, pages: Browsing) -> None:
    agent_token = await server.token("agent", windows=WINDOWS)
    kiosk = server.client(await server.token("kiosk"))
    for n in WINDOWS:
        await server.hall.store.put_person(auth.new_person(f"c{n}", f"clerk {n}", "clerk", PASSWORD, staff_no=f"s{n}"))
    numbers = []
    for _ in range(100):
        status, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
        assert status == 201
        numbers.append(t["number"])
    tv = await pages.open("/display/hall", base=server.base, width=1920, height=1080)
    await expect(tv.locator(".tv-service[data-service=pension] [data-waiting]")).to_have_text("100", timeout=5000)

    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "token": agent_token, "topics": []})
        msg_id = 0
        results: dict[int, asyncio.Future[Any]] = {}

        async def read() -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "result":
                    results[data["id"]].set_result(data)

        reader = asyncio.create_task(read())

        def send(name: str, **args: Any) -> asyncio.Future[Any]:
            nonlocal msg_id
            msg_id += 1
            results[msg_id] = asyncio.get_running_loop().create_future()
            asyncio.ensure_future(ws.send_json({"type": "command", "id": msg_id, "name": name, **args}))
            return results[msg_id]

        for n in WINDOWS:
            assert (await send("open", window=n, staff_no=f"s{n}"))["ok"]
        # 100 calls at 50 a second, spread over the windows: each is put on the loop's
        # timer at its instant, and the test awaits their results.
        loop = asyncio.get_running_loop()
        start = loop.time()
        pending: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(100)]

        def fire(i: int) -> None:
            asyncio.ensure_future(send("call_next", window=WINDOWS[i % len(WINDOWS)])).add_done_callback(
                lambda f: pending[i].set_result(f.result()))

        for i in range(100):
            loop.call_at(start + i / 50, fire, i)
        done = await asyncio.wait_for(asyncio.gather(*pending), 30)
        reader.cancel()
    assert all(r["ok"] for r in done)
    last = done[-1]["data"]["number"]
    assert sorted(r["data"]["number"] for r in done) == numbers

    # Within a second of the last call returning, the TV shows it and has taken every call.
    await expect(tv.locator("#tv-hero-number")).to_have_text(last, timeout=1000)
    await expect(tv.locator(".tv-service[data-service=pension] [data-waiting]")).to_have_text("0", timeout=1000)
    assert await tv.evaluate("window.hallcall.tv.model.calls") == 100
    assert await tv.evaluate("window.hallcall.tv.rendered()") == 100


BURST_JS = """
async ({ count, perFrame }) => {
  const tv = window.hallcall.tv;
  const windows = [15, 16, 17, 18, 19, 20];
  let seq = tv.live.seq + 1;
  for (let i = 0; i < count; i += perFrame) {
    for (let j = i; j < Math.min(count, i + perFrame); j++) {
      tv.live.dispatch({ type: "event", seq: seq++, name: "ticket.called", at: new Date().toISOString(),
        data: { ticket: { id: "x" + j, number: "K" + String(j % 10000).padStart(4, "0"), window: windows[j % 6],
                          zone: "social", service: "pension" },
                queues: [{ id: "pension", waiting: count - j }] } });
    }
    await new Promise((r) => requestAnimationFrame(r));
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return { calls: tv.model.calls, rendered: tv.rendered(), nodes: document.getElementsByTagName("*").length,
           kept: [...tv.model.zones.values()].reduce((a, l) => a + l.length, 0) };
}
"""


async def heap(cdp: Any) -> int:
    await cdp.send("HeapProfiler.collectGarbage")
    return (await cdp.send("Runtime.getHeapUsage"))["usedSize"]


async def test_ten_thousand_calls_keep_state_and_memory_bounded(server: Any, pages: Browsing) -> None:
    tv = await pages.open("/display/hall", base=server.base, width=1920, height=1080)
    await tv.evaluate("window.hallcall.tv.live.ready")
    cdp = await tv.context.new_cdp_session(tv)
    await cdp.send("Runtime.enable")
    # Warm up with the same code path, so the baseline already holds compiled code and caches.
    warm = await tv.evaluate(BURST_JS, {"count": 500, "perFrame": 50})
    before = await heap(cdp)
    after_run = await tv.evaluate(BURST_JS, {"count": 10_000, "perFrame": 50})
    after = await heap(cdp)
    await cdp.detach()

    assert after_run["calls"] == warm["calls"] + 10_000
    assert after_run["rendered"] == after_run["calls"]  # every batch was drawn: it kept up
    assert after_run["nodes"] == warm["nodes"]  # not one element more
    assert after_run["kept"] <= 5 * 3  # three calls per zone on the full-hall board
    assert after - before < 512 * 1024, f"heap grew by {after - before} bytes over 10,000 calls"
    await expect(tv.locator("#tv-hero-number")).to_have_text("K9999")
    await expect(tv.locator(".tv-service[data-service=pension] [data-waiting]")).to_have_text("1")


async def test_a_rush_of_tickets_reaches_the_tv_as_counts(server: Any, pages: Browsing) -> None:
    """Hundreds of tickets a second: the TV gets digests of the counts (no event per ticket) and
    shows every one of them counted."""
    tv = await pages.open("/display/hall", base=server.base, width=1920, height=1080)
    await tv.evaluate("window.hallcall.tv.live.ready")
    kiosk = server.client(await server.token("kiosk"))
    results = await asyncio.gather(*(kiosk.post("/api/v1/tickets", {"service": "pension"}) for _ in range(80)))
    assert all(status == 201 for status, _ in results)
    await expect(tv.locator(".tv-service[data-service=pension] [data-waiting]")).to_have_text("80", timeout=5000)
