"""A client that trickles its request body is answered 408 and its socket is closed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from queue_server.core import config

from ...conftest import Harness  # type: ignore[import-not-found]

TIMEOUT = 10


async def trickle(server: Harness, path: str = "/api/v1/tickets") -> tuple[bytes, bytes]:
    """Send the headers and a tenth of the body, then nothing: what comes back, and the rest until EOF."""
    host, port = server.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"service": "pension"}).encode()
    writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:2])
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # b"" only once the server closed the socket
    finally:
        writer.close()
    return head, rest


async def test_a_trickled_body_is_answered_408_and_the_socket_freed(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await make_server(cfg=replace(hall_config, limits=replace(hall_config.limits, body_seconds=0.3)))
    results = await asyncio.gather(*(trickle(server) for _ in range(20)))
    for head, rest in results:
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(rest)["error"]["code"] == "body_timeout"  # then EOF: read() returned
    assert server.hall.state.tickets == {}
    # Whole bodies are served as ever.
    kiosk = await server.kiosk()
    assert (await kiosk.post("/api/v1/tickets", {"service": "pension"}))[0] == 201


async def test_the_sign_in_route_is_covered_too(make_server: Any, hall_config: config.HallConfig) -> None:
    server = await make_server(cfg=replace(hall_config, limits=replace(hall_config.limits, body_seconds=0.3)))
    head, rest = await trickle(server, "/api/v1/login")
    assert head.startswith(b"HTTP/1.1 408 ") and b"body_timeout" in rest
