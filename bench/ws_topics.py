"""Taking a ticket while one anonymous WebSocket holds as many made-up ``ticket:`` topics as it can.

Run by hand: ``.venv/bin/python bench/ws_topics.py [--topics 200000] [--tickets 300]``.
Three rounds on one fresh ``hallcall serve``: tickets taken one after another with nobody
following (``none``), then the same with one socket that said hello with 200 made-up
ticket topics and sent ``subscribe`` frames of 1,000 more until it held ``--topics`` or was
refused (``attacker``), then with that socket gone again (``after``). Prints the issue
latency p50/p99 and the tickets per second of each round, the topics the server accepted and its RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time

import aiohttp

from serverproc import Server, percentile


async def issue_round(base: str, token: str, n: int) -> tuple[list[float], float]:
    out = []
    start = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.post(base + "/api/v1/tickets", json={"service": "pension"}) as r:
                assert r.status == 201, (r.status, await r.text())
                await r.read()
            out.append((time.perf_counter() - t0) * 1000)
    return out, n / (time.perf_counter() - start)


def fakes(n: int) -> list[str]:
    return [f"ticket:{secrets.token_urlsafe(18)}" for _ in range(n)]


async def attack(base: str, topics: int) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, int]:
    s = aiohttp.ClientSession()
    ws = await s.ws_connect(base.replace("http", "ws") + "/ws", max_msg_size=0)
    await ws.send_json({"type": "hello", "topics": fakes(200)})
    held, refused = 200, 0
    while held < topics:
        await ws.send_json({"type": "subscribe", "topics": fakes(1000)})
        while True:
            msg = await ws.receive(timeout=60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return s, ws, held  # closed (rate limited)
            m = json.loads(msg.data)
            if m["type"] == "subscribed":
                held = m.get("count", len(m.get("topics", [])))
                break
            if m["type"] == "error":
                refused += 1
                break
        if refused >= 3:
            break
    return s, ws, held


async def run(topics: int, tickets: int) -> None:
    server = Server()
    token = server.token("kiosk")
    server.start()
    try:
        rounds = {"none": await issue_round(server.base, token, tickets)}
        rss0 = server.rss_mb()
        s, ws, held = await attack(server.base, topics)
        rounds["attacker"] = await issue_round(server.base, token, tickets)
        rss1 = server.rss_mb()
        await ws.close()
        await s.close()
        rounds["after"] = await issue_round(server.base, token, tickets)
        for name, (ms, rate) in rounds.items():
            print(f"{name:9s} issue p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  {rate:6.0f} tickets/s")
        print(f"topics the server accepted from the one socket: {held}; RSS {rss0:.0f} MB → {rss1:.0f} MB")
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topics", type=int, default=200_000)
    ap.add_argument("--tickets", type=int, default=300)
    a = ap.parse_args()
    asyncio.run(run(a.topics, a.tickets))


if __name__ == "__main__":
    main()
