"""Moving events from the log into the outbox, and posting what is due, with backoff.

The sender never trusts memory: it fills each endpoint's outbox from the event log after
the endpoint's cursor, and posts what the store says is due. A restart (or another
server process on the same Redis) carries on from there. Each attempt is posted with a
fresh signature over the same body; a failed attempt is due again after a doubling,
jittered delay, and after ``max_attempts`` it is marked failed until a manager replays it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from typing import Any, Callable

import aiohttp

from queue_server.store.outbox import DELIVERED, FAILED, PENDING, Delivery

from . import payload, signing
from .settings import Endpoint

log = logging.getLogger("hallcall.webhooks")

FILL_BATCH = 1_000  # events read from the log per fill
CLAIM_BATCH = 50  # deliveries posted at once
POLL_SECONDS = 0.5  # how often the log and the retries that came due are looked at
LEASE_MARGIN = 2.0
RECENT = 200  # settled attempts kept in memory for whoever awaits them (the replay command, tests)  # seconds past a post's timeout before another attempt may take a claimed delivery


def retry_delay(ep: Endpoint, attempts: int, jitter: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (``jitter`` in [0, 1))."""
    return float(min(ep.max_backoff_seconds, ep.backoff_seconds * 2 ** (attempts - 1)) * (1 - 0.2 * jitter))


class Sender:
    def __init__(self, hall: Any, endpoints: list[Endpoint], session: aiohttp.ClientSession, *,
                 now: Callable[[], float] = time.time) -> None:
        self.hall = hall
        self.session = session
        self.endpoints = {ep.name: ep for ep in endpoints}
        self.now = now
        self.secrets = {ep.name: ep.secret() for ep in endpoints}
        self.settled = asyncio.Condition()  # notified after each attempt is written, with it in ``recent``
        self.recent: collections.deque[Delivery] = collections.deque(maxlen=RECENT)
        self.lease = max((ep.timeout_seconds for ep in endpoints), default=5.0) + LEASE_MARGIN

    async def fill(self) -> int:
        """Take the events after each endpoint's cursor into its outbox; how many deliveries were added."""
        added = 0
        for ep in self.endpoints.values():
            while True:
                cursor = await self.hall.store.outbox_cursor(ep.name)
                if cursor is None:  # a new endpoint hears of events from now on
                    await self.hall.store.outbox_fill(ep.name, None, self.hall.state.seq, [])
                    break
                events = await self.hall.store.events_since(cursor, FILL_BATCH)
                if not events:
                    break
                at = self.now()
                items = [Delivery(ep.name, e.seq, e.name, payload.body(self.hall.config.hall.id, e), next_at=at, updated_at=at)
                         for e in events if payload.selects(ep.events, e.name)]
                if await self.hall.store.outbox_fill(ep.name, cursor, events[-1].seq, items):
                    added += len(items)
                if len(events) < FILL_BATCH:
                    break
        return added

    async def send_due(self) -> int:
        """Post every delivery due now (one batch); how many were attempted."""
        due = [d for d in await self.hall.store.outbox_claim(self.now(), self.lease, CLAIM_BATCH) if d.endpoint in self.endpoints]
        await asyncio.gather(*(self._attempt(d) for d in due))
        return len(due)

    async def _attempt(self, d: Delivery) -> None:
        ep = self.endpoints[d.endpoint]
        body = d.body.encode()
        d.attempts += 1
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "hallcall-webhooks",
                   "X-Hallcall-Event": d.event, "X-Hallcall-Event-Seq": str(d.seq),
                   "X-Hallcall-Delivery-Attempt": str(d.attempts),
                   signing.HEADER: signing.header(self.secrets[ep.name], int(self.now()), body)}
        try:
            async with self.session.post(ep.url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=ep.timeout_seconds)) as resp:
                d.last_status, d.last_error = resp.status, "" if resp.status < 300 else (await resp.text())[:200]
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            d.last_status, d.last_error = None, (str(exc) or type(exc).__name__)[:200]
        d.updated_at = self.now()
        if d.last_status is not None and d.last_status < 300:
            d.status = DELIVERED
        elif d.attempts >= ep.max_attempts:
            d.status = FAILED
            log.warning("webhook %s gave up on event %d after %d attempts: %s", ep.name, d.seq, d.attempts,
                        d.last_status or d.last_error)
        else:
            d.status, d.next_at = PENDING, d.updated_at + retry_delay(ep, d.attempts, random.random())
        await self.hall.store.outbox_settle(d)
        async with self.settled:
            self.recent.append(d)
            self.settled.notify_all()

    async def drain(self) -> None:
        """Fill and post until nothing is due now (retries that are not yet due wait for a later round)."""
        await self.fill()
        while await self.send_due():
            await self.fill()
