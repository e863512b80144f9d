"""Token buckets: how often a source may do something, with a burst. Pure; the clock is passed in.

A bucket holds up to ``burst`` tokens and gains ``per_minute`` of them a minute; each
action takes one. An empty bucket answers how long until the next token, which is the
``Retry-After`` a refused caller is given. A ``Limiter`` keeps one bucket per source (a
kiosk's token, a client address, a phone session) and forgets buckets that are full again,
so a flood of new sources costs memory only while they are actually limited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from queue_server.core.config import Limits

Clock = Callable[[], float]  # seconds, monotonic


@dataclass(frozen=True)
class Rate:
    """``per_minute`` actions a minute on average, ``burst`` of them at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_minute > 0 and burst >= 1")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class Bucket:
    """One source's bucket."""

    __slots__ = ("rate", "tokens", "at")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.at = now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(float(self.rate.burst), self.tokens + (now - self.at) * self.rate.per_second)
        self.at = max(self.at, now)

    def take(self, now: float) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is there (nothing is taken)."""
        wait = self.wait(now)
        if not wait:
            self.tokens -= 1.0
        return wait

    def wait(self, now: float) -> float:
        """The seconds until a token is there (0.0: now), taking none."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate.per_second

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.rate.burst


class Limiter:
    """Buckets of one rate, one per source."""

    def __init__(self, rate: Rate, clock: Clock, *, max_sources: int = 10_000) -> None:
        self.rate = rate
        self.clock = clock
        self.max_sources = max_sources
        self._buckets: dict[Hashable, Bucket] = {}

    def take(self, source: Hashable) -> float:
        """0.0 when ``source`` may act now, else the seconds it must wait."""
        now = self.clock()
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self.max_sources:
                self._forget_full(now)
            bucket = self._buckets[source] = Bucket(self.rate, now)
        return bucket.take(now)

    def wait(self, source: Hashable) -> float:
        """The seconds ``source`` must wait before it may act (0.0: now), taking nothing."""
        bucket = self._buckets.get(source)
        return bucket.wait(self.clock()) if bucket is not None else 0.0

    def _forget_full(self, now: float) -> None:
        # A full bucket is the same as none. If every source is still limited, the oldest go:
        # a flood of fresh sources must not grow memory without end.
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
        while len(self._buckets) >= self.max_sources:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True)
class Hit:
    """A source that reached its limit: which kind (``kiosk``, ``address``, ``phone``), which one, and for how long."""

    source: str
    key: str
    wait: float
    info: dict[str, Any] = field(default_factory=dict)


class Issuing:
    """The limits on taking tickets, from the hall's [limits] table.

    A kiosk ticket takes a token from its kiosk token's bucket and from its client
    address's; a remote (phone) ticket only from its phone session's bucket, since
    every phone reaches the hall through the one gateway that holds the token. Tokens
    are taken only when every bucket has one, so a refused ticket costs nothing.
    """

    def __init__(self, settings: Limits, clock: Clock, *, report_seconds: float = 3600.0) -> None:
        self.clock = clock
        self.kiosk = Limiter(Rate(settings.kiosk_per_minute, settings.kiosk_burst), clock)
        self.address = Limiter(Rate(settings.address_per_minute, settings.address_burst), clock)
        self.phone = Limiter(Rate(settings.phone_per_hour / 60.0, settings.phone_burst), clock)
        self.report_seconds = report_seconds
        self._reported: dict[tuple[str, str], float] = {}

    def admit(self, *, token: str, address: str, phone_session: str | None, phone: bool) -> Hit | None:
        """Take one ticket's tokens, or say which source must wait (and take nothing)."""
        if phone:
            buckets = [("phone", self.phone, f"{token}/{phone_session or ''}")]
        else:
            buckets = [("kiosk", self.kiosk, token), ("address", self.address, address)]
        waits = [(limiter.wait(key), source, key) for source, limiter, key in buckets]
        wait, source, key = max(waits)
        if wait > 0:
            return Hit(source, key, wait)
        for _, limiter, key in buckets:
            limiter.take(key)
        return None

    def first_report(self, hit: Hit) -> bool:
        """True once per source per ``report_seconds``: when this hit should raise an alert."""
        now = self.clock()
        key = (hit.source, hit.key)
        if now - self._reported.get(key, -math.inf) < self.report_seconds:
            return False
        if len(self._reported) >= 10_000:
            self._reported = {k: t for k, t in self._reported.items() if now - t < self.report_seconds}
        self._reported[key] = now
        return True


def retry_after(seconds: float) -> int:
    """Whole seconds for a ``Retry-After`` header (at least 1)."""
    return max(1, math.ceil(seconds))
