"""What a window's LED strip (条屏) shows: pure layout, no I/O.

A strip is N characters wide (8 and 16 are common), counted in full-width cells: a
Chinese character takes one cell, a digit or Latin letter half of one. On a new call
the strip flashes the call (or scrolls it, when it is too long to stand still) for a
few seconds, then holds the longest wording that fits. A call repeated within a few
seconds, as when a keypad and the console both press call, is not flashed again.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

IDLE_TEXT = "热情为您服务"
PAUSED_TEXT = "暂停服务"
CLOSED_TEXT = "暂停服务"

STEADY = "steady"
FLASH = "flash"
SCROLL = "scroll"


def columns(text: str) -> int:
    """Half-width columns ``text`` takes on a strip."""
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" and not c.isascii() else 1 for c in text)


def call_texts(number: str, window: int | str) -> list[str]:
    """Wordings of a call, longest first; the first is what the voice says too."""
    return [
        f"请{number}号到{window}号窗口",
        f"{number}号到{window}号窗口",
        f"{number}到{window}号窗口",
        f"{number}到{window}号窗",
        f"{number} {window}号",
    ]


def fit(texts: list[str], width: int) -> str | None:
    """The first text that fits ``width`` cells, or None."""
    return next((t for t in texts if columns(t) <= 2 * width), None)


@dataclass(frozen=True, slots=True)
class LedFrame:
    text: str
    mode: str = STEADY
    until: float | None = None  # the clock value at which the frame changes by itself

    @property
    def flash(self) -> bool:
        return self.mode == FLASH

    @property
    def scroll(self) -> bool:
        return self.mode == SCROLL


class StripLayout:
    """One window's strip, driven by events and a monotonic clock value in seconds."""

    def __init__(
        self, width: int = 16, *, idle_text: str = IDLE_TEXT, paused_text: str = PAUSED_TEXT,
        closed_text: str = CLOSED_TEXT, emphasis: float = 5.0, dedupe: float = 5.0,
    ) -> None:
        if width < 1:
            raise ValueError("a strip is at least one character wide")
        self.width = width
        self.idle_text = idle_text
        self.paused_text = paused_text
        self.closed_text = closed_text
        self.emphasis = emphasis
        self.dedupe = dedupe
        self.status = "open"
        self.number: str | None = None
        self.window: int | str | None = None
        self._emphasis_until = 0.0
        self._last_call: tuple[tuple[str, str], float] | None = None

    # -- inputs --------------------------------------------------------------------------

    def call(self, number: str, window: int | str, now: float) -> LedFrame:
        """A ticket is called (or recalled) to this window."""
        key = (number, str(window))
        repeated = self._last_call is not None and self._last_call[0] == key and now - self._last_call[1] < self.dedupe
        self.number, self.window = number, window
        self.status = "open" if self.status == "closed" else self.status
        if not repeated:
            self._last_call = (key, now)
            self._emphasis_until = now + self.emphasis
        return self.frame(now)

    def show_current(self, number: str | None, window: int | str | None) -> None:
        """Hold a call without flashing it (after a restart or a resync)."""
        self.number, self.window = number, window
        self._emphasis_until = 0.0

    def clear_call(self, number: str | None = None) -> None:
        """The called ticket left the window (finished, missed, transferred, held)."""
        if number is None or number == self.number:
            self.number = None
            self._emphasis_until = 0.0

    def set_status(self, status: str) -> None:
        """Window status: open, paused or closed."""
        if status not in ("open", "paused", "closed"):
            raise ValueError(f"unknown window status {status!r}")
        self.status = status
        if status == "closed":
            self.clear_call()

    def apply(self, name: str, data: dict[str, Any], now: float) -> LedFrame:
        """Fold one protocol event for this window; return what to show now."""
        ticket = data.get("ticket") or {}
        window = data.get("window") or {}
        if name in ("ticket.called", "ticket.recalled") and ticket.get("number"):
            return self.call(ticket["number"], window.get("number", ticket.get("window", "")), now)
        if name in ("ticket.finished", "ticket.routed", "ticket.no_show", "ticket.transferred", "ticket.held",
                    "ticket.cancelled", "ticket.expired"):
            self.clear_call(ticket.get("number"))
        elif name == "window.paused":
            self.set_status("paused")
        elif name in ("window.resumed", "window.opened"):
            self.set_status("open")
        elif name == "window.closed":
            self.set_status("closed")
        return self.frame(now)

    def load(self, window: dict[str, Any]) -> None:
        """Start from a snapshot's window view: its status and the ticket at it."""
        self.set_status(str(window.get("status") or "closed"))
        ticket = window.get("ticket") or {}
        if ticket.get("status") in ("called", "serving") and ticket.get("number"):
            self.show_current(ticket["number"], window.get("number", ticket.get("window")))
        else:
            self.clear_call()

    # -- output --------------------------------------------------------------------------

    def frame(self, now: float) -> LedFrame:
        """What the strip shows at ``now``."""
        if self.status == "closed":
            return self._plain(self.closed_text)
        if self.status == "paused":
            return self._plain(self.paused_text)
        if self.number is None:
            return self._plain(self.idle_text)
        texts = call_texts(self.number, self.window if self.window is not None else "")
        steady = fit(texts, self.width)
        if now < self._emphasis_until:
            if columns(texts[0]) <= 2 * self.width:
                return LedFrame(texts[0], FLASH, self._emphasis_until)
            return LedFrame(texts[0], SCROLL, self._emphasis_until if steady else None)
        if steady is None:
            return LedFrame(texts[0], SCROLL)
        return LedFrame(steady, STEADY)

    def _plain(self, text: str) -> LedFrame:
        return LedFrame(text, STEADY if columns(text) <= 2 * self.width else SCROLL)
