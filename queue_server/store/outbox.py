"""The webhook outbox: deliveries to endpoints outside the hall, kept in the store.

Each endpoint has a cursor, the last event sequence number it has taken into the outbox.
A sender fills the outbox from the event log (never from memory), moving the cursor in
the same write that adds the deliveries, so an event committed just before a crash is
picked up from the log after the restart, and two processes never fill it twice. A
delivery is *claimed* by moving its due time past the post's timeout (a lease): a
process killed mid-post leaves it due again once the lease runs out, and it is posted
again with the same sequence number, which is what receivers dedupe on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
KEEP = 2_000  # settled deliveries kept per endpoint for the delivery log; older ones are dropped


@dataclass
class Delivery:
    """One event to post to one endpoint, with what its attempts so far found."""

    endpoint: str
    seq: int
    event: str
    body: str  # the JSON posted, made (and masked) when the event entered the outbox
    status: str = PENDING
    attempts: int = 0
    next_at: float = 0.0  # unix time it is due (or its lease runs out)
    last_status: int | None = None  # the receiver's last HTTP status, None before any answer
    last_error: str = ""
    updated_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Delivery:
        return cls(**json.loads(raw))

    def view(self) -> dict[str, Any]:
        """What the delivery log shows: everything but the body."""
        out = asdict(self)
        del out["body"]
        return out


class Outbox(Protocol):
    """What a store keeps for webhooks (both stores implement it)."""

    async def outbox_cursor(self, endpoint: str) -> int | None:
        """The last seq taken into the outbox for the endpoint, None before its first fill."""
        ...

    async def outbox_fill(self, endpoint: str, expect: int | None, through: int, items: list[Delivery]) -> bool:
        """Add deliveries and move the cursor to ``through``, only if it is still at ``expect``."""
        ...

    async def outbox_claim(self, now: float, lease: float, limit: int) -> list[Delivery]:
        """Pending deliveries due by ``now``, oldest first, each leased until ``now + lease``."""
        ...

    async def outbox_settle(self, delivery: Delivery) -> None:
        """Write what an attempt found (delivered, failed for good, or pending until ``next_at``)."""
        ...

    async def outbox_log(self, endpoint: str, limit: int) -> list[Delivery]:
        """The endpoint's latest deliveries, newest first."""
        ...

    async def outbox_replay(self, endpoint: str, seq: int | None, now: float) -> int:
        """Make deliveries due again now: one (``seq``) or every failed one; how many."""
        ...
