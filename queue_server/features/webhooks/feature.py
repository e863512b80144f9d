"""The webhooks feature: its endpoints, the sender's lifetime, the delivery log and the replay command."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import aiohttp

from queue_server.core.config import HallConfig
from queue_server.core.errors import NotFound
from queue_server.core.schema import obj
from queue_server.service.auth import MANAGERS
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker

from . import settings
from .sender import POLL_SECONDS, Sender

_ENDPOINT = {"type": "string", "pattern": r"[a-z0-9_-]{1,40}"}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}
_SEQ = {"type": "integer", "minimum": 1}
LOG_LIMIT = 20  # deliveries per endpoint the log shows unless asked for more


class Webhooks(Feature):
    name = "webhooks"
    section = "webhooks"

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        self.endpoints, issues = settings.parse(cfg)
        self.issues += issues
        self.sender: Sender | None = None

    @contextlib.asynccontextmanager
    async def lifetime(self, hall: Hall) -> AsyncIterator[None]:
        if not self.endpoints:
            yield
            return
        async with aiohttp.ClientSession() as session:
            self.sender = Sender(hall, self.endpoints, session)
            await self.sender.fill()  # a new endpoint's cursor starts here, before the first request
            try:
                yield
            finally:
                self.sender = None

    def tickers(self) -> list[Ticker]:
        return [Ticker("webhooks", POLL_SECONDS if self.endpoints else 0, self.deliver)]

    async def deliver(self, hall: Hall) -> None:
        """Fill the outbox from the log and post everything due now."""
        if self.sender is not None:
            await self.sender.drain()

    def commands(self) -> list[Command]:
        return [
            command("webhook_deliveries", "The latest deliveries of each webhook endpoint, newest first", MANAGERS,
                    self._deliveries, args=obj(endpoint=_ENDPOINT, limit=_LIMIT),
                    http=Http("GET", "/webhooks/deliveries", tag="webhooks")),
            command("webhook_replay", "Post an endpoint's failed deliveries again (or one event, by its seq)", MANAGERS,
                    self._replay, args=obj(["endpoint"], endpoint=_ENDPOINT, seq=_SEQ),
                    http=Http("POST", "/webhooks/{endpoint}/replay", tag="webhooks")),
        ]

    def _endpoint(self, name: str) -> settings.Endpoint:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise NotFound(f"no webhook endpoint {name!r}", code="webhook_unknown")

    async def _deliveries(self, c: Call) -> dict[str, Any]:
        chosen = [self._endpoint(c["endpoint"])] if c.get("endpoint") else self.endpoints
        limit = c.get("limit", LOG_LIMIT)
        out = []
        for ep in chosen:
            found = await c.hall.store.outbox_log(ep.name, limit)
            out.append({"name": ep.name, "url": ep.shown_url, "events": list(ep.events),
                        "deliveries": [d.view() for d in found]})
        return {"endpoints": out}

    async def _replay(self, c: Call) -> dict[str, Any]:
        ep = self._endpoint(c["endpoint"])
        now = self.sender.now() if self.sender is not None else 0.0
        count = await c.hall.store.outbox_replay(ep.name, c.get("seq"), now)
        if c.get("seq") is not None and not count:
            raise NotFound(f"webhook {ep.name} has no delivery of event {c['seq']}", code="delivery_unknown")
        return {"endpoint": ep.name, "replayed": count}
