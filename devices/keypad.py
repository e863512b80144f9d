"""FF68 call keypads on one serial port (RS-485 multi-drop, one address per window).

Keypads speak first: a key frame arrives, is echoed back at once as the protocol's
acknowledgement, debounced (a resend inside the window is the same press), decoded
and handed to the agent. Ticket numbers go the other way as display frames; the
latest number per keypad is kept and shown again when the port comes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import ff68
from .keypress import KeyPress
from .serial_port import PortError
from .supervisor import PortSupervisor

log = logging.getLogger("hallcall.devices.keypad")


@dataclass(frozen=True, slots=True)
class KeypadBinding:
    device: str  # device id, as reported to the server
    address: int
    window: int


KeyCallback = Callable[[KeypadBinding, KeyPress], None]
HealthCallback = Callable[[KeypadBinding, str, str], None]


class FF68Keypads:
    """The keypads on one port: a ``PortHandler`` plus a writer task (``run``)."""

    def __init__(self, keypads: list[KeypadBinding], *, on_key: KeyCallback, on_health: HealthCallback | None = None,
                 debounce: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.by_address = {k.address: k for k in keypads}
        self.on_key = on_key
        self.on_health = on_health
        self.clock = clock
        self.parser = ff68.FF68Parser()
        self.debouncer = ff68.Debouncer(debounce)
        self.unknown_keys = 0
        self.port: PortSupervisor | None = None
        self._displays: dict[int, bytes] = {}  # address -> last display frame
        self._out: asyncio.Queue[bytes] = asyncio.Queue()

    # -- PortHandler ----------------------------------------------------------------------

    def connection_made(self, port: PortSupervisor) -> None:
        self.port = port
        # The keypads cannot say they are there; an open port is the best sign of them.
        for k in self.by_address.values():
            self._health(k, "online", "")
        for frame in self._displays.values():
            self._out.put_nowait(frame)

    def data_received(self, data: bytes) -> None:
        for frame in self.parser.feed(data):
            self._frame(frame)

    def line_idle(self) -> None:
        for frame in self.parser.idle():
            self._frame(frame)

    def connection_lost(self, reason: str) -> None:
        for k in self.by_address.values():
            self._health(k, "offline", reason)

    def port_state(self, up: bool, detail: str) -> None:
        if not up:
            self.connection_lost(detail)

    # -- frames ------------------------------------------------------------------------------

    def _frame(self, frame: ff68.FF68Frame) -> None:
        if frame.func != ff68.Func.KEY:
            return  # our own display frames, heard back on a two-wire bus
        self._out.put_nowait(frame.encode())  # the echo is the acknowledgement
        keypad = self.by_address.get(frame.addr)
        if keypad is None:
            log.warning("key frame from unbound keypad address %d", frame.addr)
            return
        if not self.debouncer.accept(frame, self.clock()):
            self.parser.stats.duplicates += 1
            return
        press = ff68.decode_key(frame)
        if press is None:
            self.unknown_keys += 1
            log.info("keypad %s: key %s is not used", keypad.device, frame.data.hex(" "))
            return
        self.on_key(keypad, press)

    def show(self, window: int, number: str) -> None:
        """Show a ticket number on the window's keypad ("" blanks it)."""
        for k in self.by_address.values():
            if k.window == window:
                frame = ff68.display_frame(k.address, number).encode()
                self._displays[k.address] = frame
                self._out.put_nowait(frame)

    def _health(self, keypad: KeypadBinding, status: str, detail: str) -> None:
        if self.on_health is not None:
            self.on_health(keypad, status, detail)

    # -- writer -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write echoes and display frames in order; drop them while the port is down."""
        while True:
            frame = await self._out.get()
            if self.port is None or not self.port.connected.is_set():
                continue  # displays are re-sent on reconnect; a stale echo is worthless
            try:
                await self.port.write(frame)
            except PortError as exc:
                log.warning("keypad port: %s", exc)
