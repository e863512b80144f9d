"""One write per socket per flush: frames queued for WebSocket clients, written together.

A write to a socket is a system call that wakes the reader (on loopback, the receiver's
TCP work runs in it too), and under load that, not encoding, is where the fan-out's time
goes: at 1,000 screens and 500 tickets a second, one write per frame is half a million
writes and wake-ups a second, and on a busy machine every wake-up may hand the core to
another process. Frames queued for a client are therefore joined and written once per
flush.

The writes of recent flushes are kept as a debt that drains at ``WRITE_RATE`` a second.
Within ``BURST`` writes of debt a flush is due at once: the hub flushes at the end of
each event it routes (``flush_due``), and anything else queued is flushed on the next
turn of the event loop, so in a quiet hall a call reaches the screens at once. Past it,
the next flush waits for the debt to drain back (at most ``MAX_DELAY``), so under
sustained load the frames of several events go out in one write per socket. Counting
writes rather than timing them keeps the pacing the same on a quiet machine and a busy one.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

WRITE_RATE = 100_000.0  # writes a second that sustained load is paced to (100 flushes to 1,000 screens)
BURST = 5_000  # writes that may go out unpaced (a call-next is two or three events for every screen)
MAX_DELAY = 0.015  # seconds a flush may be put off, however far behind


class Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    """Runs the ``flush`` of every client that queued a frame, once per flush, in queueing order."""

    def __init__(self, write_rate: float = WRITE_RATE, burst: int = BURST, max_delay: float = MAX_DELAY) -> None:
        self.write_rate = write_rate
        self.burst = burst
        self.max_delay = max_delay
        self._dirty: list[Flushable] = []
        self._handle: asyncio.Handle | None = None
        self._due = False  # the scheduled flush may run now
        self._debt = 0.0  # writes not yet paid off by time passing
        self._at = 0.0  # loop time of the debt's last update

    def queued(self, client: Flushable) -> None:
        """Note that ``client`` has frames to write (call once per first frame since its last flush)."""
        self._dirty.append(client)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            wait = (self._owed(loop.time()) - self.burst) / self.write_rate
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
        self._debt = max(0.0, self._debt - (now - self._at) * self.write_rate)
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
        dirty, self._dirty = self._dirty, []
        for client in dirty:
            client.flush()
        self._owed(asyncio.get_running_loop().time())
        self._debt += len(dirty)
