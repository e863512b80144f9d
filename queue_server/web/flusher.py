"""One write per socket per flush: frames queued for WebSocket clients, written together.

A write to a socket costs a system call (on loopback, the receiver's TCP work too), and
under load that, not encoding, is what the fan-out spends: at 1,000 screens and 500
tickets a second, one write per frame is half a million writes a second. Frames queued
for a client are therefore joined and written once per flush. In a quiet hall a flush
runs on the next turn of the event loop, so a call reaches the screens at once; under
load the next flush waits a little after the last one, in proportion to what that one
cost, so writing never takes more than about ``SHARE`` of the loop and every socket gets
fewer, larger writes. A frame waits at most ``MAX_DELAY`` plus one flush.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

SHARE = 0.25  # under load, flushes take at most about this share of the event loop's time
MAX_DELAY = 0.015  # seconds a flush may be put off after the last one, however long that took


class Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    """Runs the ``flush`` of every client that queued a frame, once per flush, in queueing order."""

    def __init__(self, share: float = SHARE, max_delay: float = MAX_DELAY) -> None:
        self.rest = (1 - share) / share  # idle time per unit of flushing time
        self.max_delay = max_delay
        self._dirty: list[Flushable] = []
        self._handle: asyncio.Handle | None = None
        self._not_before = 0.0  # loop time before which the next flush does not start

    def queued(self, client: Flushable) -> None:
        """Note that ``client`` has frames to write (call once per first frame since its last flush)."""
        self._dirty.append(client)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            if loop.time() >= self._not_before:
                self._handle = loop.call_soon(self.flush)
            else:
                self._handle = loop.call_at(self._not_before, self.flush)

    def flush(self) -> None:
        """Write every queued frame now (also on shutdown and before closing a socket)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._dirty:
            return
        started = time.perf_counter()
        dirty, self._dirty = self._dirty, []
        for client in dirty:
            client.flush()
        took = time.perf_counter() - started
        self._not_before = asyncio.get_running_loop().time() + min(self.max_delay, took * self.rest)
