"""A pseudo-terminal that stands in for a serial device at a fixed path.

The device end (the pty's slave) is symlinked at ``link``, where the agent's config
points, like /dev/ttyUSB0. The controlling end (the master) is read and written here
by a virtual or fake device. ``unplug`` closes the pair and removes the link, as
pulling a USB-serial adapter would; ``plug`` makes a new pair at the same link.
"""

from __future__ import annotations

import asyncio
import os
import pty
import tty
from pathlib import Path


class PtyLink:
    def __init__(self, link: str | os.PathLike[str]) -> None:
        self.link = Path(link)
        self._master = -1
        self._slave = -1
        self._buf = bytearray()
        self._out = bytearray()
        self._data = asyncio.Event()
        self._plugged = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def plug(self) -> None:
        """Create a fresh pty pair and point the link at its device end."""
        if self.plugged:
            return
        self._loop = asyncio.get_running_loop()
        master, slave = pty.openpty()
        # Raw from the start: until the agent opens the port, the line discipline
        # would otherwise echo and translate what the device sends.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)  # atomic: the agent never sees a half-made link
        self._loop.add_reader(master, self._readable)
        self._plugged.set()

    def unplug(self) -> None:
        """Close both ends and remove the link: the agent's reads fail, its reopen fails."""
        if not self.plugged:
            return
        assert self._loop is not None
        self._loop.remove_reader(self._master)
        if self._out:
            self._loop.remove_writer(self._master)
            self._out.clear()
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1
        self._plugged.clear()
        self.link.unlink(missing_ok=True)
        self._data.set()  # wake readers so they see the device is gone

    close = unplug

    async def wait_plugged(self) -> None:
        await self._plugged.wait()

    def _readable(self) -> None:
        try:
            chunk = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buf += chunk
            self._data.set()

    def _writable(self) -> None:
        try:
            n = os.write(self._master, self._out)
        except BlockingIOError:
            return
        del self._out[:n]
        if not self._out:
            assert self._loop is not None
            self._loop.remove_writer(self._master)

    def write(self, data: bytes) -> None:
        """Send bytes to the agent's side; queued if the pty buffer is full."""
        if not self.plugged:
            raise OSError("the device is unplugged")
        if self._out:
            self._out += data
            return
        try:
            n = os.write(self._master, data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            self._out += data[n:]
            assert self._loop is not None
            self._loop.add_writer(self._master, self._writable)

    async def read(self, timeout: float | None = None) -> bytes:
        """Whatever the agent has sent; waits for at least one byte (or raises TimeoutError)."""
        while not self._buf:
            if not self.plugged:
                raise OSError("the device is unplugged")
            self._data.clear()
            async with asyncio.timeout(timeout):
                await self._data.wait()
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def take(self) -> bytes:
        """Whatever has arrived so far, without waiting."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    async def __aenter__(self) -> PtyLink:
        self.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.unplug()
