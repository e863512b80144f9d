"""One write per socket per flush: frames queued for WebSocket clients, written together.

A write to a socket costs a system call (on loopback, the receiver's TCP work too), and
under load that, not encoding, is what the fan-out spends: at 1,000 screens and 500
tickets a second, one write per frame is half a million writes a second. Frames queued
for a client are therefore joined and written once per flush.

While writing has cost little of late, a flush is due at once: the hub flushes at the
end of each event it routes (``flush_due``), and anything else queued is flushed on the
next turn of the event loop, so in a quiet hall a call reaches the screens at once. The CPU time of flushes is kept
as a debt that drains at ``SHARE`` of the time passing; past ``BURST`` of debt the next
flush waits for it to drain back (at most ``MAX_DELAY``), so under sustained load frames
gather into fewer, larger writes and writing keeps to about that share of a core.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

SHARE = 0.25  # under sustained load, flushes take about this share of a core
BURST = 0.05  # CPU seconds of flushing that may run back to back (a call-next is a few events)
MAX_DELAY = 0.015  # seconds a flush may be put off, however much it is behind


class Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    """Runs the ``flush`` of every client that queued a frame, once per flush, in queueing order."""

    def __init__(self, share: float = SHARE, burst: float = BURST, max_delay: float = MAX_DELAY) -> None:
        self.share = share
        self.burst = burst
        self.max_delay = max_delay
        self._dirty: list[Flushable] = []
        self._handle: asyncio.Handle | None = None
        self._due = False  # the scheduled flush may run now
        self._debt = 0.0  # CPU seconds of flushing not yet paid off by time passing
        self._at = 0.0  # loop time of the debt's last update

    def queued(self, client: Flushable) -> None:
        """Note that ``client`` has frames to write (call once per first frame since its last flush)."""
        self._dirty.append(client)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            wait = (self._owed(loop.time()) - self.burst) / self.share
            self._due = wait <= 0
            if self._due:
                self._handle = loop.call_soon(self.flush)
            else:
                self._handle = loop.call_later(min(wait, self.max_delay), self.flush)

    def flush_due(self) -> None:
        """Flush now if a flush is due now rather than put off."""
        if self._due:
            self.flush()

    def _owed(self, now: float) -> float:
        self._debt = max(0.0, self._debt - (now - self._at) * self.share)
        self._at = now
        return self._debt

    def flush(self) -> None:
        """Write every queued frame now (also on shutdown and before closing a socket)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due = False
        if not self._dirty:
            return
        started = time.thread_time()
        dirty, self._dirty = self._dirty, []
        for client in dirty:
            client.flush()
        self._owed(asyncio.get_running_loop().time())
        self._debt += time.thread_time() - started
