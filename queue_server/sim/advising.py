"""The live advice feature: per zone, the windows to open or close now and in the next hour.

``GET /api/v1/advice`` (command ``advice``) answers ``advice.advise`` for the hall now,
with today's forecast from the store's history when it has one (read once per day and
kept), else the last hour's pace. ``POST /api/v1/advice/notify {"zone"}`` (command
``advice_notify``) records the zone's advice as an ``advice.sent`` event: the monitor's
one button, which webhooks subscribed to ``advice.*`` carry to the windows' departments.
A saturation alert raised in a zone with windows to open says so, with the same instruction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from queue_server.core.config import HallConfig
from queue_server.core.errors import Conflict, Invalid
from queue_server.core.schema import obj
from queue_server.core.state import HallState
from queue_server.features.alerts import Alerts
from queue_server.service.auth import MANAGERS
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features

from . import advice, forecast
from .arrivals import settings

_ZONE = {"type": "string", "minLength": 1, "maxLength": 40}


class Advising(Feature):
    name = "advising"
    audience = {"advice.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        self._forecast: tuple[str, advice.Counts | None] | None = None  # (day, today's forecast or None)
        if features.has(Alerts):
            features.get(Alerts).instruct = self._instruct

    def _instruct(self, state: HallState, now: datetime, zones: set[str]) -> dict[str, tuple[str, str]]:
        """The saturation alert's instruction per zone that has a window to open (today's forecast if already read)."""
        counts = self._forecast[1] if self._forecast is not None and self._forecast[0] == state.day else None
        found = advice.advise(self.config, state, now, settings(self.config), counts, zones)
        return {z.zone: advice.instruction(self.config, z) for z in found if z.to_open}

    def commands(self) -> list[Command]:
        return [
            command("advice", "Per zone, the windows to open or close now and in the next hour", MANAGERS,
                    self._advice, http=Http("GET", "/advice", tag="reports")),
            command("advice_notify", "Send a zone's advice to its windows' departments (webhook event advice.sent)",
                    MANAGERS, self._notify, args=obj(["zone"], zone=_ZONE), http=Http("POST", "/advice/notify", tag="reports")),
        ]

    async def _today(self, hall: Hall) -> advice.Counts | None:
        day = hall.state.day
        if self._forecast is None or self._forecast[0] != day:
            try:
                seen = await forecast.outlook(hall.store, self.config.calendar, date.fromisoformat(day))
                counts: advice.Counts | None = seen.counts
            except ValueError:  # a day off or no history: the day's own pace will do
                counts = None
            self._forecast = (day, counts)
        return self._forecast[1]

    async def _zones(self, hall: Hall) -> list[advice.ZoneAdvice]:
        counts = await self._today(hall)
        return advice.advise(self.config, hall.state, hall.clock.now(), settings(self.config), counts)

    async def _advice(self, c: Call) -> dict[str, Any]:
        now = c.hall.clock.now().astimezone(self.config.hall.tz)
        zones = await self._zones(c.hall)
        return {"at": now.isoformat(), "forecast": self._forecast is not None and self._forecast[1] is not None,
                "zones": [z.view(self.config) for z in zones]}

    async def _notify(self, c: Call) -> dict[str, Any]:
        cfg, zone = self.config, c["zone"]
        if zone not in cfg.zones:
            raise Invalid(f"no zone {zone!r}", code="zone_unknown")
        found = next((z for z in await self._zones(c.hall) if z.zone == zone), None)
        if found is None or not (found.to_open or found.to_close or found.next_open or found.next_close):
            raise Conflict(f"{cfg.zones[zone].name}: nothing to open or close now", code="nothing_to_advise")
        data = found.view(cfg)
        for w in (*data["to_open"], *data["to_close"], *data["next_open"], *data["next_close"]):
            w["department"] = c.hall.state.windows[w["number"]].department or cfg.zones[zone].name
        event = await c.decide(lambda tx: tx.emit("advice.sent", extra={"advice": data}))
        return {"seq": event.seq, "advice": data}
