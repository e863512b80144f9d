"""The provincial export feature: the exporter's ticker and its two commands."""

from __future__ import annotations

from typing import Any

from queue_server.core.config import HallConfig, Section
from queue_server.core.errors import Conflict
from queue_server.core.schema import DAY, obj
from queue_server.service.auth import ADMIN, MANAGERS
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker

from . import platform
from .platform import KIND, JsonDirectory, Platform


class ProvincialExport(Feature):
    name = "export"
    audience = {"export.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        top = cfg.extra.get("followup", {})
        sec = Section(cfg, "followup.export", top.get("export", {}) if isinstance(top, dict) else {})
        self.settings = platform.read(cfg, sec)
        self.done(sec)

    def platform(self) -> Platform | None:
        return JsonDirectory(self.settings.dir) if self.settings.dir else None

    def tickers(self) -> list[Ticker]:
        return [Ticker("export", self.settings.interval_seconds if self.settings.dir else 0, self.run)]

    async def run(self, hall: Hall, to: Platform | None = None) -> dict[str, int]:
        """Export what is due now to the configured platform (or the one given)."""
        target = to or self.platform()
        if target is None:
            raise Conflict("no exporter is configured: set [followup.export] dir", code="export_off")
        return await platform.export_once(hall, target, self.settings)

    def commands(self) -> list[Command]:
        return [
            command("export_run", "Export pending records to the provincial platform now", ADMIN,
                    lambda c: self.run(c.hall), http=Http("POST", "/export/run", tag="followup")),
            command("export_status", "Export status of each record of a period", MANAGERS, self._status,
                    args=obj(date=DAY, status={"type": "string", "enum": ["sent", "failed"]}, **{"from": DAY, "to": DAY}),
                    http=Http("GET", "/export", tag="followup")),
        ]

    async def _status(self, c: Call) -> dict[str, Any]:
        d_from, d_to = c.hall.period_of(c.args)
        wanted = c.get("status")
        docs = await c.hall.store.docs(KIND, day_from=d_from, day_to=d_to, key=f"status:{wanted}" if wanted else None)
        return {"from": d_from, "to": d_to, "records": [{"id": d.id, **d.data} for d in docs]}
