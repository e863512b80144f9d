"""``hallcall serve`` under systemd: READY=1 once it listens, WATCHDOG=1 while it runs, STOPPING=1 at the end.

The test plays systemd's part: it listens on a datagram socket and runs the units'
command with ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` pointing at it.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from ...conftest import PROJECT, ServeProcess, free_port, write_hall_file  # type: ignore[import-not-found]

UNITS = ("hallcall.service", "hallcall@.service")


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    name = f"@hallcall-test-{os.getpid()}-{secrets.token_hex(4)}"  # abstract: no path length limit, no file
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.setblocking(False)
    yield sock, name
    sock.close()


async def receive_until(sock: socket.socket, wanted: str, timeout: float = 30) -> list[str]:
    """Datagrams received until one has the line ``wanted``."""
    loop = asyncio.get_running_loop()
    got: list[str] = []

    async def read() -> None:
        while True:
            got.append((await loop.sock_recv(sock, 4096)).decode())
            if wanted in got[-1].splitlines():
                return

    await asyncio.wait_for(read(), timeout)
    return got


async def test_serve_tells_systemd_it_is_ready_alive_and_stopping(tmp_path: Path,
                                                                   notify_socket: tuple[socket.socket, str]) -> None:
    sock, name = notify_socket
    proc = ServeProcess(write_hall_file(tmp_path / "hall.toml"), f"sqlite://{tmp_path}/hall.db", free_port(), tmp_path,
                        env={"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "400000"})
    await proc.start()
    try:
        *_, ready = await receive_until(sock, "READY=1")
        assert "STATUS=serving taikang" in ready
        async with aiohttp.ClientSession() as s, s.get(proc.base + "/readyz") as resp:
            assert resp.status == 200  # READY=1 came once it listened
        for _ in range(2):  # fed again and again, every 0.2 s
            await receive_until(sock, "WATCHDOG=1")
    finally:
        code = await proc.kill(signal.SIGTERM)
    assert code == 0
    assert "STOPPING=1" in "\n".join(await receive_until(sock, "STOPPING=1"))


async def test_without_notify_socket_serve_runs_as_before(serve_process: ServeProcess) -> None:
    await serve_process.start()
    async with aiohttp.ClientSession() as s, s.get(serve_process.base + "/healthz") as resp:
        assert resp.status == 200


@pytest.mark.parametrize("unit", UNITS)
def test_the_server_units_wait_for_ready_and_keep_a_watchdog(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(PROJECT / "systemd" / unit)
    service = parser["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) >= 10
    assert "hallcall serve" in service["ExecStart"]
