"""Tell people outside the hall's screens: POST chosen events to the ``[followup] webhook``.

The window's head and the assessment manager see case and overdue events on the admin
topic at once; a hall that routes them on (to a WeChat Work robot, an SMS gateway, the
province's supervision system) names a webhook. The hall never waits for it: committed
events are put on a bounded queue by a listener that cannot block, and one sender task
posts them with a timeout and a few retries. When the queue is full or the receiver is
down for good, the notification is dropped with a warning; the event itself is safe in
the log and on the admin topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator

import aiohttp
from .model import Event

log = logging.getLogger("hallcall.notify")

# Events worth waking somebody for.
NOTIFY = frozenset({"case.opened", "case.escalated", "case.overdue", "ledger.opened", "ledger.overdue", "pending.overdue"})
QUEUE = 1_000


def payload(hall_id: str, event: Event) -> dict[str, Any]:
    """What the receiver gets: the event's name, sequence, time, and its records (already masked)."""
    return {"hall": hall_id, "event": event.name, "seq": event.seq, "at": event.at.isoformat(),
            "extra": {k: v for k, v in event.extra.items() if k != "topics"},
            "docs": [{"kind": d.kind, "id": d.id, **d.data} for d in event.docs]}


class Notifier:
    def __init__(self, url: str, hall_id: str, *, timeout: float = 5.0, retries: int = 3, backoff: float = 1.0) -> None:
        self.url = url
        self.hall_id = hall_id
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        self.sent = 0
        self.dropped = 0

    def listener(self, event: Event) -> None:
        if event.name not in NOTIFY:
            return
        try:
            self.queue.put_nowait(payload(self.hall_id, event))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("webhook queue full; dropped the notification of %s #%d", event.name, event.seq)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                body = await self.queue.get()
                await self._post(session, body)

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        for attempt in range(self.retries + 1):
            try:
                async with session.post(self.url, json=body) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return
                    problem = f"HTTP {resp.status}"
                    if 400 <= resp.status < 500 and resp.status not in (408, 429):
                        break  # the receiver refuses this body: retrying will not help
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self.retries:
                await asyncio.sleep(self.backoff * 2**attempt)
        self.dropped += 1
        log.warning("webhook gave up on %s #%s: %s", body["event"], body["seq"], problem)


@contextlib.asynccontextmanager
async def notifying(hall: Any, url: str, *, timeout: float, retries: int) -> AsyncIterator[Notifier]:
    """Post the hall's notable events to ``url`` while the block runs."""
    notifier = Notifier(url, hall.config.hall.id, timeout=timeout, retries=retries)
    unsubscribe = hall.subscribe(notifier.listener)
    task = asyncio.create_task(notifier.run(), name="webhook")
    try:
        yield notifier
    finally:
        unsubscribe()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
