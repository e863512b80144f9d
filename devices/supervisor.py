"""Supervision of one serial port: open, read, and reopen after it goes away.

open → on failure report the port down (the agent turns that into a device status a
manager sees), back off with jitter, retry → read loop feeding the device driver →
on a read or write error close, report, back off, reopen → on stop, close cleanly.
A device unplugged and plugged back is picked up without restarting the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from queue_server.protocol.backoff import Backoff

from .serial_port import PortError, SerialPort, SerialSettings, WriteTimeout

log = logging.getLogger("hallcall.devices.supervisor")

# A port that stayed open this long is healthy again: its next failure retries fast.
STABLE_AFTER = 10.0


class PortHandler(Protocol):
    """A device driver fed by a supervisor."""

    def connection_made(self, port: PortSupervisor) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def line_idle(self) -> None: ...

    def connection_lost(self, reason: str) -> None: ...


StateCallback = Callable[[bool, str], None]
Opener = Callable[[SerialSettings], Awaitable[SerialPort]]


class PortClosed(PortError):
    """A write while the port is down."""


class PortSupervisor:
    def __init__(self, settings: SerialSettings, handler: PortHandler, *, on_state: StateCallback | None = None,
                 backoff: Backoff | None = None, opener: Opener = SerialPort.open) -> None:
        self.settings = settings
        self.handler = handler
        self.on_state = on_state
        self.backoff = backoff or Backoff()
        self._opener = opener
        self._port: SerialPort | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.up: bool | None = None  # None until the first attempt
        self.detail = ""
        self.opens = 0

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"port {self.settings.port}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Keep the port open until cancelled."""
        while True:
            try:
                port = await self._opener(self.settings)
            except (PortError, OSError, ValueError) as exc:
                self._set_state(False, f"cannot open {self.settings.port}: {exc}")
                await asyncio.sleep(self.backoff.next())
                continue
            opened_at = time.monotonic()
            reason = "closed"
            self._port = port
            self.opens += 1
            self.connected.set()
            self._set_state(True, f"open {self.settings.describe()}")
            self.handler.connection_made(self)
            try:
                await self._read_loop(port)
            except (PortError, OSError) as exc:
                reason = f"{self.settings.port}: {exc}"
            finally:
                self._port = None
                self.connected.clear()
                # Shielded so a stop() during the read still closes the port fully.
                await asyncio.shield(port.close())
                self.handler.connection_lost(reason)
                self._set_state(False, reason)
            if time.monotonic() - opened_at >= min(STABLE_AFTER, self.backoff.cap):
                self.backoff.reset()  # it was up a good while: come back fast
            await asyncio.sleep(self.backoff.next())

    async def _read_loop(self, port: SerialPort) -> None:
        while True:
            data = await port.read()
            if data:
                self.handler.data_received(data)
            else:
                self.handler.line_idle()

    def _set_state(self, up: bool, detail: str) -> None:
        changed = up != self.up
        self.up, self.detail = up, detail
        if changed:
            (log.info if up else log.warning)("port %s %s: %s", self.settings.port, "up" if up else "down", detail)
            if self.on_state is not None:
                self.on_state(up, detail)

    # -- I/O for the driver -------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Write to the port; a failed write drops the connection so it is reopened."""
        port = self._port
        if port is None:
            raise PortClosed(f"{self.settings.port} is not open")
        try:
            await port.write(data)
        except PortError as exc:
            if not isinstance(exc, (PortClosed, WriteTimeout)):
                await port.close()  # the read loop sees the closed port and reconnects
            raise

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self.connected.wait()

