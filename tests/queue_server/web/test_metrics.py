"""/metrics: scraped in the middle of a replayed morning and at its end, checked against the API."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.sim import replay as simulate
from queue_server.web.metrics import separate_site

from ...conftest import HALL_FILE, PROJECT, TZ, Harness, free_port  # type: ignore[import-not-found]
from ..replay_kit import TRACE, serve  # type: ignore[import-not-found]

TOKEN = "metrics-secret-0123456789"
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Samples:
    out: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def by(samples: Samples, name: str, label: str, **where: str) -> dict[str, float]:
    """One metric's values keyed by one label, over the samples matching ``where``."""
    out: dict[str, float] = {}
    for labels, value in samples.get(name, {}).items():
        d = dict(labels)
        if all(d.get(k) == v for k, v in where.items()):
            out[d[label]] = out.get(d[label], 0) + value
    return out


@pytest.fixture
async def replay_server(tmp_path: Path) -> AsyncIterator[tuple[Harness, ManualClock, config.HallConfig]]:
    cfg = config.load(HALL_FILE, store_url=f"sqlite://{tmp_path}/hall.db?synchronous=normal")
    cfg = simulate.pooled(cfg, simulate.settings(cfg).pooled_zones)
    clock = ManualClock(datetime(2026, 12, 1, 8, 0, tzinfo=TZ))
    async with serve(cfg, clock, metrics_token=TOKEN) as h:
        yield h, clock, cfg


async def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def check_against_api(h: Harness, manager: Any) -> Samples:
    """Scrape once the hall is still, then compare every hall figure with the snapshot and /stats."""
    await h.hall.wait_dispatched(h.hall.state.seq)
    status, text = await scrape(h.base + "/metrics")
    assert status == 200, text
    m = parse(text)
    _, hall = await manager.get("/api/v1/hall")
    snap = hall["live"]
    assert by(m, "hallcall_waiting", "service") == {s["id"]: s["waiting"] for s in snap["services"]}
    for state in ("open", "paused", "closed"):
        assert sum(by(m, "hallcall_windows", "zone", status=state).values()) == sum(
            1 for w in snap["windows"] if w["status"] == state), state
    status, stats = await manager.get("/api/v1/stats?by=service")
    assert status == 200, stats
    rows = {r["service"]: r for r in stats["by"]["service"]}
    assert rows, "the replay issued nothing yet"
    for figure in ("issued", "called", "served", "no_show"):
        got = by(m, "hallcall_tickets_today", "service", figure=figure)
        assert got == {s: float(r[figure]) for s, r in rows.items()}, figure
    # The histograms count what this process passed on since it started with the day.
    assert sum(by(m, "hallcall_wait_seconds_count", "service").values()) == stats["hall"]["called"]
    assert sum(by(m, "hallcall_handling_seconds_count", "service").values()) == stats["hall"]["served"]
    mean = sum(by(m, "hallcall_wait_seconds_sum", "service").values()) / stats["hall"]["called"]
    assert abs(mean - stats["hall"]["wait_seconds"]["mean"]) < 1
    passed = m["hallcall_event_seq"][()]
    assert passed == snap["seq"] or passed >= snap["seq"]  # a ticker may have committed since the snapshot
    # The store was empty when the process started: it has passed on, and committed, every event.
    assert sum(by(m, "hallcall_events_total", "name").values()) == passed
    assert m["hallcall_commit_events_sum"][()] == passed
    assert m["hallcall_commit_seconds_count"][()] == m["hallcall_commit_events_count"][()] > 0
    return m


async def test_metrics_during_a_replay_agree_with_the_api(replay_server: Any) -> None:
    h, clock, cfg = replay_server
    hall = h.hall
    await h.person("boss", "manager")
    manager = h.client()
    await manager.login("boss")
    # A printer running out of paper, and a hall screen and a pad connected throughout.
    agent = h.client(await h.token("agent", windows=(1,), kiosk="k1"))
    status, body = await agent.post("/api/v1/devices/status", {"device": "printer-k1", "kind": "printer",
                                                               "status": "paper_near_end", "kiosk": "k1"})
    assert status == 200, body
    session = aiohttp.ClientSession()
    screens = []
    for role in ("display", "pad"):
        ws = await session.ws_connect(h.ws_url)
        await ws.send_json({"type": "hello", "token": await h.token(role, windows=(1,)), "topics": ["hall"]})
        assert (await ws.receive_json(timeout=10))["type"] in ("snapshot", "welcome")
        screens.append(ws)
    try:
        arrivals = [a for a in simulate.read_trace(TRACE) if a.at.hour < 11]
        clerks = await simulate.ensure_clerks(hall.store, cfg, list(cfg.windows))
        replayer = simulate.Replayer(hall, clock, arrivals, clerks, simulate.settings(cfg))
        checked: list[Samples] = []

        async def mid_morning() -> None:
            checked.append(await check_against_api(h, manager))

        # Half a second past a whole second: an instant of its own, when nothing else is in flight.
        replayer.at(datetime(2026, 12, 1, 10, 30, 0, 500_000, tzinfo=TZ), mid_morning)
        result = await replayer.run()
        assert result.served > 100 and checked
        during = checked[0]
        assert by(during, "hallcall_windows", "status")["open"] > 0
        assert by(during, "hallcall_websocket_clients", "role") == {
            "anonymous": 0, "clerk": 0, "manager": 0, "admin": 0, "guide": 0, "kiosk": 0, "display": 1, "pad": 1, "agent": 0}
        assert by(during, "hallcall_devices", "status", kind="printer") == {"paper_near_end": 1}
        assert by(during, "hallcall_device_status", "device", status="paper_near_end") == {"printer-k1": 1}
        after = await check_against_api(h, manager)
        assert sum(by(after, "hallcall_tickets_today", "service", figure="served").values()) == result.served
        assert sum(by(after, "hallcall_waiting", "service").values()) == 0
    finally:
        for ws in screens:
            await ws.close()
        await session.close()


async def test_metrics_need_the_token_on_the_main_port(make_server: Any) -> None:
    h = await make_server(metrics_token=TOKEN)
    assert (await scrape(h.base + "/metrics", None))[0] == 401
    assert (await scrape(h.base + "/metrics", "wrong"))[0] == 401
    status, text = await scrape(h.base + "/metrics")
    assert status == 200 and "hallcall_waiting" in text


async def test_the_grafana_dashboard_uses_only_metrics_that_exist(make_server: Any) -> None:
    h = await make_server(metrics_token=TOKEN)
    _, text = await scrape(h.base + "/metrics")
    exposed = {family.name for family in text_string_to_metric_families(text)}  # also those not observed yet
    dashboard = json.loads((PROJECT / "docs" / "grafana" / "hallcall.json").read_text(encoding="utf-8"))
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"(hallcall_[a-z_]+?)(?:_bucket|_sum|_count|_total)?\b", target["expr"])}
    assert len(used) >= 10
    assert used <= exposed, used - exposed


async def test_without_a_token_metrics_are_only_on_their_own_address(make_server: Any) -> None:
    port = free_port()
    h = await make_server(extras=[separate_site("127.0.0.1", port)])
    assert (await scrape(h.base + "/metrics", None))[0] == 404
    assert (await scrape(h.base + "/metrics", "anything"))[0] == 404
    status, text = await scrape(f"http://127.0.0.1:{port}/metrics", None)
    assert status == 200 and "hallcall_commit_seconds_bucket" in text
    assert (await scrape(f"http://127.0.0.1:{port}/api/v1/hall", None))[0] == 404
