"""Secrets at rest: a copy of the store reads, cancels and rates no ticket; the database file is private."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from queue_server.core import config
from queue_server.core.model import token_key
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store import open_store

from ...conftest import HALL_FILE, Harness, StoreSpec  # type: ignore[import-not-found]


async def _everything_stored(spec: StoreSpec) -> str:
    """Every byte the store holds, as text: the SQLite files, or every Redis key and value."""
    if spec.kind == "sqlite":
        path = spec.url[len("sqlite://"):]
        return "".join(Path(p).read_bytes().decode("latin-1") for p in (path, path + "-wal") if os.path.exists(p))
    r = aioredis.from_url(spec.url, decode_responses=True)
    out: list[str] = []
    try:
        async for key in r.scan_iter():
            kind = await r.type(key)
            out.append(key)
            if kind == "string":
                out.append(str(await r.get(key)))
            elif kind == "hash":
                out.append(json.dumps(await r.hgetall(key)))
            elif kind == "list":
                out.append(json.dumps(await r.lrange(key, 0, -1)))
            elif kind == "set":
                out.append(json.dumps(sorted(await r.smembers(key))))
            elif kind == "zset":
                out.append(json.dumps(await r.zrange(key, 0, -1)))
            elif kind == "stream":
                out.append(json.dumps(await r.xrange(key)))
    finally:
        await r.aclose()
    return "\n".join(out)


async def test_the_store_keeps_no_tracking_token(server: Harness, store_spec: StoreSpec) -> None:
    kiosk_token = await server.token("kiosk", kiosk="k1")
    kiosk = server.client(kiosk_token)
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as printer:
        await printer.send_json({"type": "hello", "token": kiosk_token, "topics": ["kiosk:k1"]})
        assert (await printer.receive_json(timeout=10))["type"] == "welcome"
        tickets = [(await kiosk.post("/api/v1/tickets", {"service": "pension"}, headers={"Idempotency-Key": f"k1-{i}"}))[1]
                   for i in range(3)]
        printed = []
        while len(printed) < 3:
            frame = await printer.receive_json(timeout=10)
            if frame.get("name") == "print.requested":
                printed.append(frame["data"]["ticket"]["token"])
    tokens = [t["token"] for t in tickets]
    assert len(set(tokens)) == 3 and all(len(t) >= 22 for t in tokens)
    assert printed == tokens  # the printer's QR code carries the citizen's token
    again = (await kiosk.post("/api/v1/tickets", {"service": "pension"}, headers={"Idempotency-Key": "k1-0"}))[1]
    assert again["token"] == tokens[0]  # a retried request hands out the same token again
    citizen = server.client()
    status, seen = await citizen.get(f"/api/v1/tickets/{tokens[0]}")
    assert status == 200 and seen["number"] == tickets[0]["number"] and seen["token"] == tokens[0]

    stored = await _everything_stored(store_spec)
    assert tickets[0]["number"] in stored
    leaked = [t for t in tokens if t in stored]
    assert not leaked, f"tracking tokens stored in plain text: {leaked}"
    # What a copy of the store holds of a ticket opens nothing.
    held = server.hall.state.ticket_by_token(tokens[1])
    assert held is not None and held.token == token_key(tokens[1]) and held.token in stored
    for what in (held.token, held.token[:64], held.id):
        path = f"/api/v1/tickets/{what}"
        assert (await citizen.get(path))[0] in (404, 422)
        assert (await citizen.delete(path))[0] in (404, 422)
        assert (await citizen.post("/api/v1/evaluations", {"ticket": what, "level": 1, "reasons": ["attitude"]}))[0] in (404, 422)
    assert server.hall.state.tickets[held.id].status == "waiting"


async def test_a_phone_follows_its_ticket_by_the_token_it_was_given(server: Harness) -> None:
    kiosk = await server.kiosk()
    _, ticket = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clerk = await server.clerk_at(15)
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as phone:
        await phone.send_json({"type": "hello", "topics": [f"ticket:{ticket['token']}"]})
        assert (await phone.receive_json(timeout=10))["type"] == "welcome"
        snapshot = await phone.receive_json(timeout=10)
        assert snapshot["state"]["tickets"][ticket["token"]]["number"] == ticket["number"]
        assert "token" not in snapshot["state"]["tickets"][ticket["token"]]
        await clerk.post("/api/v1/windows/15/call-next")

        async def called() -> dict[str, Any]:
            while True:
                frame = await phone.receive_json()
                if frame.get("name") == "ticket.called":
                    return frame  # type: ignore[no-any-return]

        frame = await asyncio.wait_for(called(), 10)
        assert frame["data"]["ticket"]["number"] == ticket["number"] and "token" not in frame["data"]["ticket"]


async def test_the_database_and_its_keys_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        cfg = config.load(HALL_FILE, store_url=f"sqlite://{tmp_path}/hall.db")
        store = open_store(cfg.store_url, hall_id=cfg.hall.id)
        await store.open()
        hall = Hall(cfg, store)
        await hall.start(day_timer=False, tickers=False)
        try:
            await store.put_person(auth.new_person("zhang", "张三", "clerk", "a-long-password"))
            names = ["hall.db", "hall.db-wal", "hall.db-shm", "hall.db.key"]
            modes = {n: stat.S_IMODE((tmp_path / n).stat().st_mode) for n in names}
        finally:
            await hall.stop()
            await store.close()
    finally:
        os.umask(old)
    assert modes == dict.fromkeys(names, 0o600)
    (tmp_path / "hall.db").chmod(0o644)  # a database an older version left readable is tightened
    store = open_store(cfg.store_url, hall_id=cfg.hall.id)
    await store.open()
    await store.close()
    assert stat.S_IMODE((tmp_path / "hall.db").stat().st_mode) == 0o600
