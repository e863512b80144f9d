"""Reconnect delays: capped exponential growth with jitter, reset after a success.

Shared by the protocol client and the device agent's serial port supervisors: a hall's
worth of screens, pads, agents and ports must not all knock at once after a restart.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Capped exponential delays with jitter; ``next()`` gives the wait before the next try."""

    def __init__(self, initial: float = 0.5, cap: float = 30.0, factor: float = 2.0, jitter: float = 0.5,
                 rng: Callable[[], float] = random.random) -> None:
        if not 0 < initial <= cap or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(f"bad backoff: initial {initial}, cap {cap}, factor {factor}, jitter {jitter}")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rng = rng
        self.attempt = 0

    def next(self) -> float:
        """Return the next delay in seconds: within ``[ceiling * (1 - jitter), ceiling]``."""
        ceiling = min(self.cap, self.initial * self.factor**self.attempt)
        self.attempt = min(self.attempt + 1, 64)  # the ceiling is capped long before; keeps the power finite
        return ceiling * (1 - self.jitter * self._rng())

    def reset(self) -> None:
        """Start again from ``initial``: the last connection worked."""
        self.attempt = 0
