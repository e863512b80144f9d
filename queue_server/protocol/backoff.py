"""Reconnect delays: fast at first, then capped exponential growth, with jitter; reset after a success.

Shared by the protocol client and the device agent's serial port supervisors: a hall's
worth of screens, pads, agents and ports must not all knock at once after a restart.

A restarted server (systemd's restart, a SIGKILL and a new process) is usually back
within a second or two, and screens should show the hall again the moment it is: for
the first ``fast_for`` seconds of waiting the delay stays at ``initial``, so a client
tries again every ``initial`` at most; only then does it double, up to ``cap``. A
refused connection costs the server's machine next to nothing, and the jitter spreads
the hall's clients over each delay, so they do not all arrive in the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Jittered delays, steady for ``fast_for`` seconds and then growing; ``next()`` gives the next wait."""

    def __init__(self, initial: float = 0.2, cap: float = 30.0, factor: float = 2.0, jitter: float = 0.5,
                 rng: Callable[[], float] = random.random, *, fast_for: float = 3.0) -> None:
        if not 0 < initial <= cap or factor < 1 or not 0 <= jitter <= 1 or fast_for < 0:
            raise ValueError(f"bad backoff: initial {initial}, cap {cap}, factor {factor}, jitter {jitter}, "
                             f"fast_for {fast_for}")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.fast_for = fast_for
        self._rng = rng
        self.attempt = 0  # delays given since the fast stretch ended
        self.waited = 0.0  # seconds of delay given since the last reset

    def next(self) -> float:
        """Return the next delay in seconds: within ``[ceiling * (1 - jitter), ceiling]``."""
        if self.waited < self.fast_for:
            ceiling = self.initial
        else:
            ceiling = min(self.cap, self.initial * self.factor**self.attempt)
            self.attempt = min(self.attempt + 1, 64)  # the ceiling is capped long before; keeps the power finite
        delay = ceiling * (1 - self.jitter * self._rng())
        self.waited += delay
        return delay

    def reset(self) -> None:
        """Start again fast: the last connection worked."""
        self.attempt = 0
        self.waited = 0.0
