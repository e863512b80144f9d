"""Ratings made on satisfaction keypads, kept on disk until the server has them.

A citizen's rating is never lost: it is written here (and fsynced) before the keypad
is told it was received, and leaves only when the server accepted it or answered that
the ticket was already rated. A rating the server refuses for good (unknown ticket,
not allowed) moves to a rejected file for a manager to look at, instead of being
retried forever.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from queue_server import protocol

from .journal import Journal

# Answers meaning the server already holds this rating.
DELIVERED_CODES = frozenset({"already_rated"})
# Answers worth another try later; anything else is final.
RETRY_CODES = frozenset({"unavailable", "timeout", "internal", "not_connected", "rate_limited", "busy"})


@dataclass(frozen=True, slots=True)
class Rating:
    ticket: str  # the rating key: the ticket id, or "ticket.part" for a bundle's part rated on its own
    level: int
    reasons: tuple[str, ...] = ()
    window: int | None = None
    device: str = ""
    at: float = field(default=0.0)  # wall clock when the citizen pressed

    def command_args(self) -> dict[str, Any]:
        reasons = list(self.reasons)
        if self.level <= 2 and not reasons:
            reasons = ["other"]  # the server requires a reason for the two lowest levels
        ticket, part = protocol.split_rating_key(self.ticket)
        args: dict[str, Any] = {"ticket": ticket, "level": self.level, "source": "keypad"}
        if part:
            args["part"] = part
        if reasons:
            args["reasons"] = reasons
        return args

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Rating:
        return cls(str(rec["ticket"]), int(rec["level"]), tuple(rec.get("reasons") or ()), rec.get("window"),
                   str(rec.get("device", "")), float(rec.get("at", 0)))


class Outbox:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.journal = Journal(Path(state_dir) / "ratings.jsonl")
        self.rejected = Journal(Path(state_dir) / "ratings-rejected.jsonl")
        self._pending: dict[str, Rating] = {}
        self._delivered: set[str] = set()
        self.changed = asyncio.Event()
        self._settled = asyncio.Condition()

    async def load(self) -> Outbox:
        records = await asyncio.to_thread(self.journal.read)
        for rec in records:
            ticket = str(rec.get("ticket", ""))
            if rec.get("op") == "add":
                try:
                    self._pending[ticket] = Rating.from_record(rec)
                except (KeyError, ValueError, TypeError):
                    continue
            elif rec.get("op") in ("delivered", "rejected"):
                self._pending.pop(ticket, None)
        await asyncio.to_thread(self.journal.rewrite, [self._record(r) for r in self._pending.values()])
        if self._pending:
            self.changed.set()
        return self

    @staticmethod
    def _record(r: Rating) -> dict[str, Any]:
        rec = asdict(r)
        rec["reasons"] = list(r.reasons)
        return {"op": "add", **rec}

    def pending(self) -> list[Rating]:
        return list(self._pending.values())

    async def add(self, rating: Rating) -> bool:
        """Keep a rating durably; False if this ticket's rating is already kept or delivered."""
        if rating.ticket in self._pending or rating.ticket in self._delivered:
            return False
        if not rating.at:
            rating = Rating(rating.ticket, rating.level, rating.reasons, rating.window, rating.device, time.time())
        await self.journal.append(self._record(rating))
        self._pending[rating.ticket] = rating
        self.changed.set()
        return True

    async def delivered(self, ticket: str) -> None:
        await self.journal.append({"op": "delivered", "ticket": ticket})
        self._pending.pop(ticket, None)
        self._delivered.add(ticket)
        await self._notify()

    async def _notify(self) -> None:
        async with self._settled:
            self._settled.notify_all()

    async def wait_empty(self) -> None:
        """Wait until every kept rating was delivered or rejected."""
        async with self._settled:
            await self._settled.wait_for(lambda: not self._pending)

    async def reject(self, ticket: str, code: str, message: str) -> None:
        rating = self._pending.get(ticket)
        if rating is not None:
            await self.rejected.append({**self._record(rating), "op": "rejected", "code": code, "message": message,
                                        "rejected_at": time.time()})
        await self.journal.append({"op": "rejected", "ticket": ticket})
        self._pending.pop(ticket, None)
        await self._notify()
