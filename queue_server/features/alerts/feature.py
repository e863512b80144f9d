"""Live supervision alerts with yellow, orange and red thresholds: the checker, the commands, the webhook.

The rules are pure (``rules.py``); this feature runs them. Its ticker looks at the hall's
state every ``check_seconds``; only when a dry run on a copy of the state finds something
to record does it run the check as a Hall decision, which compares with the alerts
inside the transaction (evaluating again if the state moved meanwhile), so two server
processes never raise the same alert twice.

Bad reviews are raised by a hook on the rating itself: the alert commits atomically with
the rating, at once, exactly once per rating and in whichever process took it — a
checker would have to remember which ratings it had seen.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from queue_server.core import periods
from queue_server.core.config import HallConfig
from queue_server.core.errors import Conflict, NotFound
from queue_server.core.model import Doc, Evaluation
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, PERIOD, obj
from queue_server.reports.feature import Reports
from queue_server.service import webhook
from queue_server.service.auth import MANAGERS
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker

from . import rules, settings
from .settings import LEVELS, RANK, TYPES

_NOTE = {"type": "string", "maxLength": 500}
_ALERT = {"type": "string", "pattern": r"[A-Za-z0-9_.:-]{1,160}"}

# Records of the citizens' loops that run against a deadline: bad-review follow-up cases,
# 办不成事 cases and 容缺受理 records. Those near (escalated) or past (overdue) their
# deadline belong on the board beside the alerts.
DEADLINE_KINDS = ("case", "ledger", "pending")


class Alerts(Feature):
    name = "alerts"
    section = "alerts"
    tables = ("webhook",)
    audience = {"alert.": ("admin",), "rating.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        self.issues += settings.validate(cfg) + webhook.validate(cfg)
        reports = features.get(Reports) if features.has(Reports) else None
        self.settings = settings.parse(cfg, reports.attendance.expected_windows if reports else ())
        self.webhook = webhook.webhook_settings(cfg)
        if reports is not None:
            # A handling time over the yellow threshold is "over the standard" in the reports too.
            reports.handling_standard = {sid: self.settings.levels(cfg, "handling", sid)[0] for sid in cfg.services}

    def on_evaluated(self, tx: Tx, ev: Evaluation) -> None:
        rules.bad_review(tx, ev, self.settings)
        rules.rating_pace(tx, ev, self.settings)

    def on_limited(self, tx: Tx, hit: dict[str, Any]) -> None:
        rules.rate_limit(tx, hit, self.settings)

    def tickers(self) -> list[Ticker]:
        return [Ticker("alerts", self.settings.check_seconds, self.check)]

    async def check(self, hall: Hall) -> list[Doc]:
        """Record what changed since the last check (nothing at all when nothing did)."""
        s = self.settings
        seen = rules.dry_run(hall.state, hall.clock.now(), s)
        if not seen.changes:
            return []
        return await hall.run(lambda tx: rules.check(tx, s, seen))

    @contextlib.asynccontextmanager
    async def lifetime(self, hall: Hall) -> AsyncIterator[None]:
        ws = self.webhook
        if ws is None:
            yield
            return
        poster = webhook.Poster(ws.url, webhook.alert_payload(hall.config.hall.id, ws.events),
                                timeout=ws.timeout_seconds, retries=ws.retries, name="alert-webhook")
        async with webhook.posting(hall, poster):
            yield

    # -- commands ------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        return [
            command("alert_ack", "Acknowledge a supervision alert (once)", MANAGERS, self._acknowledge,
                    args=obj(["alert"], alert=_ALERT, note=_NOTE), http=Http("POST", "/alerts/{alert}/ack", tag="alerts")),
            command("alert_close", "Close a supervision alert with a note", MANAGERS, self._close,
                    args=obj(["alert", "note"], alert=_ALERT, note=_NOTE),
                    http=Http("POST", "/alerts/{alert}/close", tag="alerts")),
            command("alerts", "Supervision alerts on the board now, worst first", MANAGERS, self._board,
                    http=Http("GET", "/alerts", tag="alerts")),
            command("alert_deadlines", "Follow-up cases, 办不成事 cases and 容缺受理 records near or past their deadline",
                    MANAGERS, self._deadlines, http=Http("GET", "/alerts/deadlines", tag="alerts")),
            command("alert_history", "Every alert raised in a period, with counts by type and level", MANAGERS,
                    self._history, args=obj(period=PERIOD, **{"from": DAY, "to": DAY}),
                    http=Http("GET", "/alerts/history", tag="alerts")),
        ]

    async def _acknowledge(self, c: Call) -> dict[str, Any]:
        return await self._manage(c, lambda tx, who: rules.acknowledge(tx, c["alert"], who, c.get("note")))

    async def _close(self, c: Call) -> dict[str, Any]:
        return await self._manage(c, lambda tx, who: rules.close(tx, c["alert"], who, c.get("note") or ""))

    async def _manage(self, c: Call, act: Any) -> dict[str, Any]:
        who = c.principal.name or c.principal.id
        try:
            return await c.decide(lambda tx: rules.view(act(tx, who), self.config))
        except NotFound:
            if await c.hall.store.doc(rules.KIND, c["alert"]) is not None:
                raise Conflict(f"alert {c['alert']} is closed already", code="already_closed") from None
            raise

    async def _board(self, c: Call) -> dict[str, Any]:
        alerts = live_alerts(c.hall)
        return {"alerts": alerts, "counts": level_counts(alerts), "departments": by_department(self.config, alerts)}

    async def _deadlines(self, c: Call) -> dict[str, Any]:
        items = deadline_items(c.hall)
        return {"items": items, "overdue": sum(1 for i in items if i["overdue"])}

    async def _history(self, c: Call) -> dict[str, Any]:
        period = periods.parse(c.get("period"), first=c.get("from"), last=c.get("to"), today=c.hall.state.day)
        return await history(self.config, c.hall.store, period)


def live_alerts(hall: Hall) -> list[dict[str, Any]]:
    """Alerts on the board now: active ones, and cleared ones nobody has closed; worst first."""
    docs = hall.state.docs.get(rules.KIND, {}).values()
    views = [rules.view(d, hall.config) for d in docs]
    return sorted(views, key=lambda a: (a["status"] != "active", -RANK[a["level"]], a["raised_at"]))


def level_counts(alerts: list[dict[str, Any]]) -> dict[str, int]:
    """Active alerts per level."""
    return {lvl: sum(1 for a in alerts if a["level"] == lvl and a["status"] == "active") for lvl in LEVELS}


def by_department(cfg: HallConfig, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The board grouped by 窗口单位: each department with alerts, in the file's order, then those of no one
    department (a service served by windows of several)."""
    order = {d: i for i, d in enumerate(cfg.departments)}
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for a in alerts:
        groups.setdefault(a["department"], []).append(a)
    return [{"department": d, "name": cfg.departments[d].name if d else None,
             "name_en": cfg.departments[d].name_en if d else None, "alerts": len(group), "counts": level_counts(group)}
            for d, group in sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order)) if kv[0] else len(order))]


def deadline_items(hall: Hall) -> list[dict[str, Any]]:
    """Escalated and overdue records, overdue first, then by due date. No citizen's details."""
    items = []
    for kind in DEADLINE_KINDS:
        for doc in hall.state.docs.get(kind, {}).values():
            d = doc.data
            if not (d.get("overdue") or d.get("escalated")):
                continue
            items.append({
                "kind": kind, "id": doc.id, "number": d.get("number"), "service_name": d.get("service_name"),
                "window": d.get("window"), "due": d.get("due"), "state": d.get("state"), "overdue": bool(d.get("overdue")),
                "matter": d.get("matter") if kind == "ledger" else None,
                "materials": d.get("materials") if kind == "pending" else None,
            })
    return sorted(items, key=lambda i: (not i["overdue"], i["due"] or "", i["id"]))


async def history(cfg: HallConfig, store: Any, period: periods.Period) -> dict[str, Any]:
    docs = await store.docs(rules.KIND, day_from=period.first, day_to=period.last)
    alerts = [rules.view(d, cfg) for d in docs]
    counts: dict[str, dict[str, int]] = {t: dict.fromkeys(LEVELS, 0) for t in TYPES}
    for a in alerts:
        counts[a["type"]][a["level"]] += 1
    return {"period": period.to_dict(), "alerts": alerts, "counts": counts}
