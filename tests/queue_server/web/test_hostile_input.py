"""Anonymous input that once made the server answer 500 or log a traceback: each is a 4xx or a quiet line now."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from queue_server.web import http as api

from ...conftest import Harness  # type: ignore[import-not-found]

HUGE = "9" * 4301  # one digit past what int() converts from text


class Records(logging.Handler):
    """Every record of the server's and aiohttp's loggers, and a way to await one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changed.set()

    async def wait_for(self, text: str, timeout: float = 10) -> logging.LogRecord:
        async def found() -> logging.LogRecord:
            while True:
                for r in self.records:
                    if text in r.getMessage():
                        return r
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(found(), timeout)

    def loud(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.fixture
def records() -> Any:
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("hallcall", "aiohttp")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels):
        lg.removeHandler(handler)
        lg.setLevel(level)


async def test_a_window_number_of_4301_digits_is_a_4xx_everywhere(server: Harness, records: Records) -> None:
    admin = await server.person("root", "admin")
    c = server.client()
    await c.login(admin.login)
    paths = [(r.method, r.path.replace("{window}", HUGE)) for r in api.routes(server.hall) if "{window}" in r.path]
    paths += [("GET", f"/display/window/{HUGE}"), ("GET", f"/pad/{HUGE}"), ("GET", f"/pad/{HUGE}?thanks=2")]
    assert len(paths) > 10
    for method, path in paths:
        status, body = await c.request(method, path, {} if method != "GET" else None)
        assert 400 <= status < 500, (method, path[:60], status, body)
    # The same number in a JSON body and in a WebSocket command
    status, body = await c.request("POST", "/api/v1/tickets", raw=f'{{"service": "pension", "window": {HUGE}}}'.encode())
    assert status == 400 and body["error"]["code"] == "bad_json"
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "topics": []})
        assert (await ws.receive_json(timeout=10))["type"] == "welcome"
        assert (await ws.receive_json(timeout=10))["type"] == "snapshot"
        await ws.send_str(f'{{"type": "command", "id": 1, "name": "call_next", "window": {HUGE}}}')
        reply = await ws.receive_json(timeout=10)
        assert reply["type"] == "error" and reply["error"]["code"] == "bad_json"
        for topic in ("window:²", "window:" + HUGE):
            await ws.send_json({"type": "subscribe", "topics": [topic]})
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "error" and reply["error"]["code"] == "bad_topic"
    for topic in ("window:²", "window:" + HUGE):  # in the hello
        async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
            await ws.send_json({"type": "hello", "topics": [topic]})
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "error" and reply["error"]["code"] == "bad_topic"
    assert not records.loud()


@pytest.mark.parametrize("path", ["/kiosk?idle=²", "/kiosk?done=²", "/pad/3?thanks=²", "/pad/3?idle=¹²",
                                  "/kiosk?idle=" + HUGE, "/pad/3?thanks=٣"])
async def test_digits_that_are_not_ascii_are_not_a_500(server: Harness, records: Records, path: str) -> None:
    """``'²'.isdigit()`` is true and ``int('²')`` fails: a page's number parameters are ASCII digits, bounded."""
    async with aiohttp.ClientSession() as s, s.get(server.base + path) as resp:
        assert resp.status == 400, resp.status
        assert "idle" in await resp.text() or "thanks" in await resp.text() or "done" in await resp.text()
    async with aiohttp.ClientSession() as s, s.get(server.base + "/pad/3?thanks=5&idle=30") as resp:
        assert resp.status == 200
        assert "thanks" in await resp.text()
    assert not records.loud()


async def test_a_client_that_drops_mid_body_is_a_quiet_debug_line(server: Harness, records: Records) -> None:
    host, port = server.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"service\": ")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    line = await records.wait_for("went away")
    assert line.levelno == logging.DEBUG and line.exc_info is None
    assert not records.loud()


async def test_a_405_names_the_methods_the_path_has(server: Harness) -> None:
    served: dict[str, set[str]] = {}
    for r in api.routes(server.hall):
        served.setdefault(r.path, set()).add(r.method)
    c = server.client()
    for path, methods in served.items():
        other = next(m for m in ("PATCH", "PUT", "DELETE", "POST", "GET") if m not in methods)
        url = path.replace("{window}", "15").replace("{token}", "x" * 22).replace("{", "").replace("}", "")
        async with c.session.request(other, server.base + url) as resp:
            assert resp.status == 405, (other, url, resp.status)
            allow = set(resp.headers.get("Allow", "").split(","))
            assert methods <= allow, (other, url, resp.headers.get("Allow"))
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
    async with c.session.post(server.base + "/kiosk") as resp:
        assert resp.status == 405 and "GET" in resp.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/export?status=AAA", "/api/v1/ledger?state=0", "/api/v1/cases?state=x",
                                  "/api/v1/reports/figures?by=planet", "/api/v1/reports/attendance?days=2",
                                  "/api/v1/ledger/export?format=pdf", "/api/v1/reports/charts/windows.svg?measure=x"])
async def test_query_parameters_with_fixed_values_are_checked(server: Harness, path: str) -> None:
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    status, body = await boss.get(path)
    assert status == 422 and body["error"]["code"] == "bad_value", (status, body)


async def test_websocket_frames_over_the_limits_get_the_documented_answers(server: Harness) -> None:
    """Over 64 KiB: an error frame and the socket stays open; over 1 MiB: closed with 1009 (message too big)."""
    async with aiohttp.ClientSession() as s, s.ws_connect(server.ws_url) as ws:
        await ws.send_json({"type": "hello", "topics": []})
        assert (await ws.receive_json(timeout=10))["type"] == "welcome"
        assert (await ws.receive_json(timeout=10))["type"] == "snapshot"
        await ws.send_str('{"type": "ping", "pad": "' + "a" * 100_000 + '"}')
        reply = await ws.receive_json(timeout=10)
        assert reply["type"] == "error" and reply["error"]["code"] == "too_large"
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=10))["type"] == "pong"
        await ws.send_str('{"type": "ping", "pad": "' + "a" * 1_100_000 + '"}')
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009
