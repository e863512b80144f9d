"""Post alert events to a configured URL, without ever making the hall wait.

The listener only puts a payload on a bounded queue; one sender task posts them in
order with a timeout and retries (capped, jittered backoff). When the receiver is down
for long the oldest payloads are dropped rather than memory growing. Each payload carries
the event's sequence number so a receiver can ignore a retried duplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

import aiohttp

from .config import ConfigIssue, HallConfig
from .model import Event

log = logging.getLogger("hallcall.webhook")

ALERT_EVENTS = ("alert.raised", "alert.escalated", "alert.cleared", "alert.acknowledged", "alert.closed")
QUEUE = 1000
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    timeout_seconds: float = 5.0
    retries: int = 3
    events: tuple[str, ...] = ALERT_EVENTS


def webhook_settings(cfg: HallConfig) -> WebhookSettings | None:
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


class Webhook:
    """One sender per server process; it posts only the events this process decided (``origin``)."""

    backoff = 1.0  # seconds before the first retry, doubling; tests set 0

    def __init__(self, settings: WebhookSettings, hall_id: str, origin: str) -> None:
        self.settings = settings
        self.hall_id = hall_id
        self.origin = origin
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        self.sent = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: Event) -> None:
        if event.name not in self.settings.events or event.extra.get("origin") != self.origin:
            return
        payload = {"hall": self.hall_id, "event": event.name, "seq": event.seq, "at": event.at.isoformat(),
                   "alert": event.docs[0].data if event.docs else None}
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            log.warning("webhook queue full: dropped the oldest alert event")
        self.queue.put_nowait(payload)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                payload = await self.queue.get()
                await self._post(session, payload)

    async def _post(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> bool:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Hallcall-Event": payload["event"],
                   "X-Hallcall-Seq": str(payload["seq"])}
        for attempt in range(self.settings.retries + 1):
            try:
                async with session.post(self.settings.url, data=body, headers=headers) as resp:
                    if resp.status < 500 and resp.status != 429:
                        if resp.status >= 400:
                            log.warning("webhook refused %s: HTTP %d", payload["event"], resp.status)
                        self.sent += 1
                        return resp.status < 400
                    log.warning("webhook got HTTP %d for %s (attempt %d)", resp.status, payload["event"], attempt + 1)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.warning("webhook post failed (attempt %d): %s", attempt + 1, exc)
            if attempt < self.settings.retries:
                await asyncio.sleep(min(MAX_BACKOFF, self.backoff * 2**attempt) * random.uniform(0.5, 1.0))
        self.dropped += 1
        return False
