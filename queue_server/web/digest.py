"""Queue counts for the hall's shared screens, a few times a second at most.

A hall TV or a kiosk shows how many wait for each service; a new ticket changes nothing
else on it. Sending every ``ticket.issued`` event to every screen costs a write and a
wake-up per screen per ticket: at a morning rush of hundreds of tickets a second and a
thousand screens, that alone fills a core and delays the calls the screens are there to
show. So in such a rush the hub gives those screens a ``queues`` message instead (a quiet
hall's screens get each event as before): the current counts and ETAs of the services
that changed, gathered per screen and sent at once when none went
out in the last ``EVERY`` seconds (a quiet hall sees no delay), else at the end of that
interval. A ``queues`` message has no ``seq``: it is a summary of events, not an event,
and a reconnect still replays the events themselves.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable, Protocol

from queue_server import protocol

EVERY = 0.1  # seconds between two digests, at the most ten a second


class Screen(Protocol):
    closed: bool
    topics: set[str]

    def send(self, frame: bytes) -> None: ...


class Digest:
    """The services whose counts changed on each shared topic, and when to tell its screens.

    Kept per topic, not per screen, so a ticket in a rush costs the same with one screen
    or a thousand; the screens are looked up once per digest.
    """

    def __init__(self, view: Callable[[str], dict[str, Any]], now: Callable[[], str],
                 encode: Callable[[str], bytes], screens: Callable[[str], Iterable[Screen]],
                 every: float = EVERY) -> None:
        self.view = view  # a service's counts and ETA now
        self.now = now  # the hall's time, ISO 8601
        self.encode = encode  # a text message as a finished WebSocket frame
        self.screens = screens  # the screens that follow a topic
        self.every = every
        self._due: dict[str, set[str]] = {}  # topic -> services changed since its last digest
        self._handle: asyncio.Handle | None = None
        self._last = float("-inf")

    def add(self, topics: Iterable[str], services: Iterable[str]) -> None:
        """``services`` changed for the screens of ``topics``: tell them soon."""
        services = tuple(services)
        for topic in topics:
            self._due.setdefault(topic, set()).update(services)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            wait = self._last + self.every - loop.time()
            self._handle = loop.call_soon(self.send) if wait <= 0 else loop.call_later(wait, self.send)

    def send_to(self, screen: Screen) -> None:
        """Tell ``screen`` now what is due to it (before a pong moves its ``since`` on)."""
        services = self._services_of(screen, self._due)
        if services:
            screen.send(self._frame(services, {}))

    def send(self) -> None:
        """Tell every screen what is due to it; one encoded frame per set of services."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._last = asyncio.get_running_loop().time()
        due, self._due = self._due, {}
        told: set[Screen] = set()
        frames: dict[frozenset[str], bytes] = {}
        for topic in due:
            for screen in self.screens(topic):
                if screen in told or screen.closed:
                    continue
                told.add(screen)
                services = self._services_of(screen, due)
                if services:
                    screen.send(self._frame(services, frames))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due.clear()

    @staticmethod
    def _services_of(screen: Screen, due: dict[str, set[str]]) -> frozenset[str]:
        out: set[str] = set()
        for topic in screen.topics:
            out |= due.get(topic, set())
        return frozenset(out)

    def _frame(self, services: frozenset[str], made: dict[frozenset[str], bytes]) -> bytes:
        frame = made.get(services)
        if frame is None:
            message = {"type": protocol.QUEUES, "at": self.now(), "queues": [self.view(s) for s in sorted(services)]}
            frame = made[services] = self.encode(protocol.encode(message))
        return frame
