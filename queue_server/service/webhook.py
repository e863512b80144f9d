"""Post chosen events to a URL outside the hall, without ever making the hall wait.

Alerts (``[webhook]``) and follow-up notifications (``[followup] webhook``) both go out
this way: a listener that cannot block turns an event into a payload on a bounded queue
(the oldest is dropped when the receiver is down for long), and one sender task posts
them in order with a timeout and retries (capped, jittered backoff). Only the server
process that committed an event posts it, so several processes never post one twice;
each payload carries the event's sequence number so a receiver can ignore a retried
duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import aiohttp

from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.model import Event

log = logging.getLogger("hallcall.webhook")

ALERT_EVENTS = ("alert.raised", "alert.escalated", "alert.cleared", "alert.acknowledged", "alert.closed")
QUEUE = 1000
MAX_BACKOFF = 30.0

Payload = Callable[[Event], "dict[str, Any] | None"]


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    timeout_seconds: float = 5.0
    retries: int = 3
    events: tuple[str, ...] = ALERT_EVENTS


def webhook_settings(cfg: HallConfig) -> WebhookSettings | None:
    """The alerts' ``[webhook]`` table, or None when there is none."""
    raw = cfg.extra.get("webhook")
    if not raw or not raw.get("url"):
        return None
    return WebhookSettings(raw["url"], float(raw.get("timeout_seconds", 5.0)), int(raw.get("retries", 3)),
                           tuple(raw.get("events", ALERT_EVENTS)))


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    raw = cfg.extra.get("webhook")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [cfg.issue("webhook", None, "must be a table")]
    out: list[ConfigIssue] = []
    allowed = {"url", "timeout_seconds", "retries", "events"}
    for key in raw:
        if key not in allowed:
            out.append(cfg.issue("webhook", key, f"unknown field (expected one of: {', '.join(sorted(allowed))})"))
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        out.append(cfg.issue("webhook", "url", "must be an http:// or https:// URL"))
    timeout = raw.get("timeout_seconds", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        out.append(cfg.issue("webhook", "timeout_seconds", "must be a number of seconds between 0 and 60"))
    retries = raw.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        out.append(cfg.issue("webhook", "retries", "must be a whole number from 0 to 10"))
    events = raw.get("events", list(ALERT_EVENTS))
    if not isinstance(events, list) or any(e not in ALERT_EVENTS for e in events):
        out.append(cfg.issue("webhook", "events", f"must list events from {list(ALERT_EVENTS)}"))
    return out


class Poster:
    """One URL, one queue, one sender task."""

    backoff = 1.0  # seconds before the first retry, doubling; tests set 0

    def __init__(self, url: str, payload: Payload, *, timeout: float = 5.0, retries: int = 3,
                 made_here: Callable[[int], bool] = lambda seq: True, name: str = "webhook") -> None:
        self.url = url
        self.payload = payload
        self.timeout = timeout
        self.retries = retries
        self.made_here = made_here
        self.name = name
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        self.sent = 0
        self.dropped = 0

    def on_event(self, event: Event) -> None:
        body = self.payload(event)
        if body is None or not self.made_here(event.seq):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            log.warning("%s queue full: dropped the oldest notification", self.name)
        self.queue.put_nowait(body)

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            while True:
                await self._post(session, await self.queue.get())

    async def _post(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> bool:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Hallcall-Event": payload["event"],
                   "X-Hallcall-Seq": str(payload["seq"])}
        for attempt in range(self.retries + 1):
            try:
                async with session.post(self.url, data=body, headers=headers) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return True
                    if 400 <= resp.status < 500 and resp.status not in (408, 429):
                        log.warning("%s refused %s: HTTP %d", self.name, payload["event"], resp.status)
                        break  # the receiver refuses this body: retrying will not help
                    log.warning("%s got HTTP %d for %s (attempt %d)", self.name, resp.status, payload["event"], attempt + 1)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.warning("%s post failed (attempt %d): %s", self.name, attempt + 1, exc)
            if attempt < self.retries:
                await asyncio.sleep(min(MAX_BACKOFF, self.backoff * 2**attempt) * random.uniform(0.5, 1.0))
        self.dropped += 1
        return False


@contextlib.asynccontextmanager
async def posting(hall: Any, poster: Poster) -> AsyncIterator[Poster]:
    """Post the hall's events the poster selects, from events this process committed, while the block runs."""
    poster.made_here = hall.made_here
    unsubscribe = hall.subscribe(poster.on_event)
    task = asyncio.create_task(poster.run(), name=poster.name)
    try:
        yield poster
    finally:
        unsubscribe()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


def alert_payload(hall_id: str, events: tuple[str, ...]) -> Payload:
    def payload(event: Event) -> dict[str, Any] | None:
        if event.name not in events:
            return None
        return {"hall": hall_id, "event": event.name, "seq": event.seq, "at": event.at.isoformat(),
                "alert": event.docs[0].data if event.docs else None}

    return payload


# Follow-up events worth waking somebody for ([followup] webhook).
NOTIFY_EVENTS = frozenset({"case.opened", "case.escalated", "case.overdue", "ledger.opened", "ledger.overdue",
                           "pending.overdue"})


def notify_payload(hall_id: str) -> Payload:
    """The event's name, sequence, time and its records (already masked)."""

    def payload(event: Event) -> dict[str, Any] | None:
        if event.name not in NOTIFY_EVENTS:
            return None
        return {"hall": hall_id, "event": event.name, "seq": event.seq, "at": event.at.isoformat(),
                "extra": dict(event.extra),
                "docs": [{"kind": d.kind, "id": d.id, **d.data} for d in event.docs]}

    return payload
