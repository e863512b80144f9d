"""sd_notify without a library: READY, WATCHDOG and STOPPING datagrams to $NOTIFY_SOCKET.

A unit with ``Type=notify`` is started when the server listens (READY=1), not when its
process exists; with ``WatchdogSec=`` systemd restarts a server whose event loop or
Hall actor has stopped answering (no WATCHDOG=1 for that long). Outside systemd
(no $NOTIFY_SOCKET) every call here does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import AsyncIterator, Callable

from aiohttp import web

log = logging.getLogger("hallcall.systemd")


def notify(message: str) -> bool:
    """Send one state line to systemd; False when not run by it (or it cannot be told)."""
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path  # "@name": the abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(message.encode(), address)
        return True
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", path, exc)
        return False


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings: half of systemd's WatchdogSec, or None without a watchdog."""
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def watchdog(alive: Callable[[], bool]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A lifetime that pings the watchdog while ``alive()`` holds, and says STOPPING=1 at the end."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        interval = watchdog_interval()
        task = asyncio.create_task(_ping(interval, alive)) if interval else None
        try:
            yield
        finally:
            notify("STOPPING=1")
            if task is not None:
                task.cancel()

    return lifetime


async def _ping(interval: float, alive: Callable[[], bool]) -> None:
    while True:
        if alive():
            notify("WATCHDOG=1")
        else:
            log.error("the hall is not running: the watchdog is not fed, systemd will restart this server")
        await asyncio.sleep(interval)
