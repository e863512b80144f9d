"""A thin async face over one pyserial port.

pyserial blocks: opening a port, reading and writing all wait on the kernel. Each
port gets two threads of its own (one reads, one opens/writes/closes), so a stuck
port never starves the event loop's default executor or another port. The port is a
device path or any pyserial URL (``socket://``, ``rfc2217://``, ``loop://``).
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import serial

FLOW_CONTROLS = ("none", "xonxoff", "rtscts")
PARITIES = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD,
            "N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}

PortError = serial.SerialException  # what opening, reading or writing a gone port raises
WriteTimeout = serial.SerialTimeoutException


@dataclass(frozen=True, slots=True)
class SerialSettings:
    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "none"
    stopbits: float = 1
    # XON/XOFF or RTS/CTS. pyserial's dsrdtr is not offered: on Linux it only sets the
    # DTR line once and never holds output back, so it is no flow control at all.
    flow_control: str = "none"
    write_timeout: float = 2.0
    # How long one read waits; a read that returns nothing tells the parser the line
    # went quiet (a partial frame will not complete).
    read_timeout: float = 0.05

    def __post_init__(self) -> None:
        if self.flow_control not in FLOW_CONTROLS:
            raise ValueError(f"flow_control must be one of {FLOW_CONTROLS}")
        if self.parity not in PARITIES:
            raise ValueError("parity must be none, even or odd")

    def describe(self) -> str:
        return f"{self.port} {self.baudrate} {self.bytesize}{PARITIES[self.parity]}{self.stopbits:g}"


def open_blocking(settings: SerialSettings) -> serial.SerialBase:
    """Open and configure a port; blocks, so call it on a worker thread."""
    ser = serial.serial_for_url(settings.port, do_not_open=True)
    ser.baudrate = settings.baudrate
    ser.bytesize = settings.bytesize
    ser.parity = PARITIES[settings.parity]
    ser.stopbits = settings.stopbits
    ser.xonxoff = settings.flow_control == "xonxoff"
    ser.rtscts = settings.flow_control == "rtscts"
    ser.timeout = settings.read_timeout
    ser.write_timeout = settings.write_timeout
    if hasattr(ser, "exclusive"):
        # Two agents writing to one printer interleave tickets; refuse the second.
        ser.exclusive = True
    ser.open()
    return ser


class SerialPort:
    """An open port: async read and write, blocking work on the port's own threads."""

    def __init__(self, ser: serial.SerialBase, settings: SerialSettings, reader: ThreadPoolExecutor,
                 worker: ThreadPoolExecutor) -> None:
        self._ser = ser
        self.settings = settings
        self._reader = reader
        self._worker = worker
        self._reading: asyncio.Future[bytes] | None = None
        self._write_lock = asyncio.Lock()
        self.closed = False

    @classmethod
    async def open(cls, settings: SerialSettings) -> SerialPort:
        loop = asyncio.get_running_loop()
        name = settings.port.rsplit("/", 1)[-1]
        reader = ThreadPoolExecutor(1, thread_name_prefix=f"serial-read-{name}")
        worker = ThreadPoolExecutor(1, thread_name_prefix=f"serial-io-{name}")
        try:
            ser = await loop.run_in_executor(worker, open_blocking, settings)
        except BaseException:
            reader.shutdown(wait=False)
            worker.shutdown(wait=False)
            raise
        return cls(ser, settings, reader, worker)

    def _read_blocking(self) -> bytes:
        data = self._ser.read(1)
        if data:
            waiting = self._ser.in_waiting  # type: ignore[attr-defined]  # on every port class, missing from the stubs' SerialBase
            if waiting:
                data += self._ser.read(waiting)
        return data

    async def read(self) -> bytes:
        """Bytes received, or b"" when the line stayed quiet for ``read_timeout``."""
        if self.closed:
            raise PortError("the port is closed")
        loop = asyncio.get_running_loop()
        self._reading = loop.run_in_executor(self._reader, self._read_blocking)
        try:
            # Shielded: a cancelled caller must not orphan the thread's result; close()
            # waits for the thread instead.
            return await asyncio.shield(self._reading)
        except OSError as exc:
            raise PortError(str(exc)) from exc

    async def write(self, data: bytes) -> None:
        """Write all of ``data``; raises WriteTimeout if flow control holds it too long."""
        if self.closed:
            raise PortError("the port is closed")
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            try:
                await loop.run_in_executor(self._worker, self._write_blocking, bytes(data))
            except WriteTimeout:
                raise
            except OSError as exc:
                raise PortError(str(exc)) from exc

    def _write_blocking(self, data: bytes) -> None:
        # No flush(): tcdrain has no timeout, and a printer holding XOFF would hang it.
        self._ser.write(data)

    async def close(self) -> None:
        """Stop the reader thread and close the port; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        cancel = getattr(self._ser, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(Exception):
                cancel()
        if self._reading is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._reading)
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self._worker, self._ser.close)
        # Join the port's threads, so a stopped agent leaves nothing running.
        await asyncio.to_thread(self._reader.shutdown, True)
        await asyncio.to_thread(self._worker.shutdown, True)

    @property
    def raw(self) -> Any:
        """The pyserial object, for tests that check its settings."""
        return self._ser
