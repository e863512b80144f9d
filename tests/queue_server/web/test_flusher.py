"""Frames queued for WebSocket clients are written once per client per flush, in order."""

from __future__ import annotations

import asyncio

from queue_server.web.flusher import Flusher

TIMEOUT = 10


class Socket:
    """Stands in for a client's socket: records each write (the hub's ``Client`` joins its frames the same way)."""

    def __init__(self, flusher: Flusher, written: asyncio.Queue[tuple[Socket, bytes]]) -> None:
        self.flusher = flusher
        self.written = written
        self.pending: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.pending.append(frame)
        if len(self.pending) == 1:
            self.flusher.queued(self)

    def flush(self) -> None:
        frames, self.pending = self.pending, []
        self.written.put_nowait((self, b"".join(frames)))


async def test_frames_queued_in_one_turn_go_out_in_one_write_per_client_in_order() -> None:
    flusher = Flusher()
    written: asyncio.Queue[tuple[Socket, bytes]] = asyncio.Queue()
    a, b = Socket(flusher, written), Socket(flusher, written)
    for n in range(3):  # three events committed together, each for both clients
        a.send(b"e%d;" % n)
        b.send(b"e%d;" % n)
    assert written.empty()  # nothing is written while the events are being routed
    first = await asyncio.wait_for(written.get(), TIMEOUT)
    second = await asyncio.wait_for(written.get(), TIMEOUT)
    assert [first, second] == [(a, b"e0;e1;e2;"), (b, b"e0;e1;e2;")]
    assert written.empty()


async def test_under_load_every_frame_is_still_written_and_none_twice() -> None:
    flusher = Flusher(burst=100, max_delay=0.005)
    written: asyncio.Queue[tuple[Socket, bytes]] = asyncio.Queue()
    clients = [Socket(flusher, written) for _ in range(50)]
    got: dict[Socket, bytes] = {c: b"" for c in clients}
    for n in range(200):  # events arriving faster than the flushes
        for c in clients:
            c.send(b"%d;" % n)
        if n % 7 == 6:  # now and then a paced flush runs meanwhile: await its first write
            c, data = await asyncio.wait_for(written.get(), TIMEOUT)
            got[c] += data
    expected = b"".join(b"%d;" % n for n in range(200))
    while any(got[c] != expected for c in clients):
        c, data = await asyncio.wait_for(written.get(), TIMEOUT)
        got[c] += data
    assert written.empty() and all(not c.pending for c in clients)


async def test_a_flush_on_demand_writes_at_once() -> None:
    """Before a socket is closed (a session ended, the server stops) what was queued goes out first."""
    flusher = Flusher()
    written: asyncio.Queue[tuple[Socket, bytes]] = asyncio.Queue()
    a = Socket(flusher, written)
    b = Socket(flusher, written)
    a.send(b"bye")
    flusher.flush()
    assert written.get_nowait() == (a, b"bye")
    # The flush that was scheduled for "bye" no longer runs: the next write is b's alone.
    b.send(b"next")
    assert await asyncio.wait_for(written.get(), TIMEOUT) == (b, b"next")
    assert written.empty()


async def test_a_quiet_hall_flushes_as_the_event_is_routed_a_busy_one_waits_for_the_paced_flush() -> None:
    written: asyncio.Queue[tuple[Socket, bytes]] = asyncio.Queue()
    quiet = Flusher()
    a = Socket(quiet, written)
    a.send(b"called")
    quiet.flush_due()
    assert written.get_nowait() == (a, b"called")  # written before anything else runs

    # Any write at all puts the next flush off; one write a second, so the debt of a write
    # outlasts however slow this machine is between the two sends (at the real rate it
    # drains in 10 µs, and a loaded machine would see a quiet hall).
    busy = Flusher(write_rate=1.0, burst=0)
    b = Socket(busy, written)
    b.send(b"one")
    busy.flush_due()
    assert written.get_nowait() == (b, b"one")
    b.send(b"two")
    b.send(b"three")
    busy.flush_due()
    assert written.empty()  # gathered for the paced flush
    assert await asyncio.wait_for(written.get(), TIMEOUT) == (b, b"twothree")
