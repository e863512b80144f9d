"""Key presses on call keypads, whatever protocol they arrived in.

Both keypad protocols decode to a ``KeyPress`` naming the action the clerk wants, so
the agent maps actions to server commands in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

# Actions a keypad can ask for. Most are server command names; "pause_toggle" is
# resolved against the window's status, because FF68 keypads have a single pause key.
ACTIONS = frozenset(
    {
        "call_next",
        "recall",
        "start",
        "finish",
        "no_show",
        "hold",
        "call_back",
        "transfer",
        "pause",
        "resume",
        "pause_toggle",
        "open",
        "close",
    }
)


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One key press: the action and what the clerk typed before it (a window, a staff number)."""

    action: str
    arg: str = ""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown keypad action {self.action!r}")
