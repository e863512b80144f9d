"""WebSocket fuzzing: malformed, oversized and out-of-order frames never crash the hub or a connection.

The frames come from a seeded generator, so a failure names the seed and frame that
caused it and replays the same way. After each burst the connection still answers a
ping, the hall still issues tickets, and nothing was logged above INFO.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import aiohttp
import pytest

from queue_server.service.limits import Rate

from ...conftest import Harness  # type: ignore[import-not-found]
from .test_hostile_input import Records, records  # noqa: F401 - the fixture

FRAMES = 400
NAMES = ["issue", "call_next", "finish", "open", "evaluate", "cancel", "ticket", "report_figures", "ledger_export",
         "people", "add_person", "set_notice", "nope", "", "__class__"]
VALUES: list[Any] = [None, True, 0, -1, 2**63, 1.5e308, "", "x", "²", "A001", "9" * 300, [], {}, [1, [2, [3]]],
                     {"$ref": "#"}, "'; DROP TABLE tickets; --", "<script>alert(1)</script>", "\u0000", "\ud83d"]


def _value(rnd: random.Random) -> Any:
    return rnd.choice(VALUES) if rnd.random() < 0.8 else {"k": rnd.choice(VALUES), "n": [rnd.choice(VALUES)]}


def frame(rnd: random.Random) -> str | bytes:
    """One hostile frame: wrong JSON, wrong shapes, wrong order, too big."""
    kind = rnd.randrange(12)
    if kind == 0:
        return rnd.choice(['{', '{"type":', "null", "[]", '"hello"', "1e999999", "{\"type\": \"ping\"}}", "\xff\xfe",
                           "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000])
    if kind == 1:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 64)))  # binary
    if kind == 2:
        return json.dumps({"type": "ping", "pad": "a" * (64 * 1024 + rnd.randrange(1, 4096))})  # over 64 KiB
    if kind == 3:
        return json.dumps({"type": "hello", "token": _value(rnd), "topics": _value(rnd), "since": _value(rnd)})
    if kind == 4:
        return json.dumps({"type": "subscribe", "topics": rnd.choice([
            ["ticket:" + "x" * rnd.randrange(0, 200)], ["window:²"], ["window:-1"], ["kiosk:k1"], ["admin"], ["devices"],
            ["zone:" + "z" * 50], [_value(rnd)], _value(rnd)])})
    if kind in (5, 6, 7):
        msg = {"type": "command", "id": _value(rnd), "name": rnd.choice(NAMES)}
        for key in rnd.sample(["window", "service", "ticket", "token", "level", "format", "staff_no", "text", "x"], 3):
            msg[key] = _value(rnd)
        return json.dumps(msg)
    if kind == 8:
        return json.dumps({"type": rnd.choice(["", "event", "result", "welcome", "snapshot", "HELLO", None, 7])})
    if kind == 9:
        return json.dumps({"type": "command", "name": "issue", "service": "pension"})  # no id
    if kind == 10:
        return json.dumps({"type": "ping", **{f"k{i}": i for i in range(rnd.randrange(0, 2000))}})
    return "".join(chr(rnd.randrange(1, 0x2FFF)) for _ in range(rnd.randrange(0, 200)))


async def _alive(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json({"type": "ping"})
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        if json.loads(msg.data).get("type") == "pong":
            return


@pytest.mark.parametrize("role", ["anonymous", "kiosk", "agent", "manager"])
async def test_hostile_frames_after_hello(make_server: Any, records: Records, role: str) -> None:  # noqa: F811
    # As fast as the test can send them: the frame rate limit (test_ws_limits.py) is lifted here.
    server = await make_server(ws_messages=Rate(per_minute=60 * FRAMES, burst=2 * FRAMES))
    token = None
    if role in ("kiosk", "agent"):
        token = await server.token(role, windows=(15,) if role == "agent" else (), kiosk="k1")
    elif role == "manager":
        await server.person("boss", "manager")
        token = None
    rnd = random.Random(f"ws-fuzz-{role}")
    session = aiohttp.ClientSession()
    if role == "manager":
        async with session.post(server.base + "/api/v1/login", json={"login": "boss", "password": "secret-pw"}) as resp:
            assert resp.status == 200
    try:
        async with session.ws_connect(server.ws_url, max_msg_size=0) as ws:
            await ws.send_json({"type": "hello", "topics": ["hall"], **({"token": token} if token else {})})
            assert json.loads((await ws.receive(timeout=10)).data)["type"] == "welcome"
            for i in range(FRAMES):
                f = frame(rnd)
                await (ws.send_bytes(f) if isinstance(f, bytes) else ws.send_str(f))
                if i % 50 == 49:
                    await _alive(ws)  # still reading, still answering
            await _alive(ws)
    finally:
        await session.close()
    kiosk = await server.kiosk("k9")
    assert (await kiosk.post("/api/v1/tickets", {"service": "pension"}))[0] == 201
    assert not [r for r in records.records if r.levelno > logging.INFO], records.loud()


async def test_out_of_order_frames_before_hello(server: Harness, records: Records) -> None:  # noqa: F811
    """Anything but hello first is refused with an error frame and a close; a second hello is an error."""
    rnd = random.Random("ws-fuzz-first")
    firsts = [json.dumps({"type": "command", "id": 1, "name": "call_next", "window": 15}),
              json.dumps({"type": "subscribe", "topics": ["hall"]}), json.dumps({"type": "ping"}), b"\x00\x01",
              "{", "[]", json.dumps({"type": "hello", "topics": "hall"}), *[frame(rnd) for _ in range(20)]]
    for first in firsts:
        async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
            await (ws.send_bytes(first) if isinstance(first, bytes) else ws.send_str(first))
            msg = await ws.receive(timeout=15)
            if msg.type == aiohttp.WSMsgType.TEXT:
                reply = json.loads(msg.data)
                if reply["type"] == "welcome":  # the generator made a hello good enough
                    continue
                assert reply["type"] == "error", reply
                msg = await ws.receive(timeout=15)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "topics": []})
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "welcome"
        await ws.send_json({"type": "hello", "topics": ["hall"]})
        while True:
            reply = json.loads((await ws.receive(timeout=10)).data)
            if reply["type"] == "error":
                break
        assert reply["error"]["code"] == "bad_type"
        await _alive(ws)
    assert not [r for r in records.records if r.levelno > logging.INFO], records.loud()
