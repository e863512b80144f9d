"""Live supervision alerts with yellow, orange and red thresholds: the checker, the routes, the webhook.

The rules are pure (``alert_rules``); this module runs them. A checker task looks at the
hall's state every ``check_seconds``; only when a dry run on a copy of the state finds
something to record does it run the check as a Hall decision, which compares with the
alerts inside the transaction (evaluating again if the state moved meanwhile), so two
server processes never raise the same alert twice.

Bad reviews are raised by a hook on the rating itself (``rules.HOOKS["evaluated"]``):
the alert commits atomically with the rating, at once, exactly once per rating and in
whichever process took it — a checker would have to remember which ratings it had seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator

from aiohttp import web

from queue_server.core import periods, rules
from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.errors import Conflict, HallError, NotFound
from queue_server.core.model import Doc, Evaluation
from queue_server.core.rules import Tx
from queue_server.core.schema import obj
from queue_server.service import auth, webhook
from queue_server.service.auth import Principal
from queue_server.service.commands import COMMANDS, Command
from queue_server.service.features import Feature, register
from queue_server.service.hall import Hall
from queue_server.web.http import HALL_KEY, command_route, route

from . import rules as alert_rules
from . import settings as alert_settings

log = logging.getLogger("hallcall.alerts")


class Checker:
    """Runs the alert rules against a Hall; ``check`` is also what tests and the replayer call."""

    def __init__(self, hall: Hall) -> None:
        self.hall = hall

    async def check(self) -> list[Doc]:
        """Record what changed since the last check (nothing at all when nothing did)."""
        s = alert_settings.settings(self.hall.config)
        seen = alert_rules.dry_run(self.hall.state, self.hall.clock.now(), s)
        if not seen.changes:
            return []
        return await self.hall.run(lambda tx: alert_rules.check(tx, s, seen))

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(alert_settings.settings(self.hall.config).check_seconds)
            try:
                await self.check()
            except HallError as exc:
                log.warning("alert check failed: %s", exc)
            except Exception:
                log.exception("alert check failed")


def _on_evaluated(tx: Tx, ev: Evaluation) -> None:
    alert_rules.bad_review(tx, ev, alert_settings.settings(tx.config))


rules.HOOKS["evaluated"].append(_on_evaluated)


# -- acknowledging and closing ----------------------------------------------------------------


async def _manage(hall: Hall, p: Principal, alert_id: str, act: str, note: str | None) -> dict[str, Any]:
    auth.require(p, "manager", "admin")
    who = p.name or p.id

    def decide(tx: Tx) -> dict[str, Any]:
        if act == "ack":
            doc = alert_rules.acknowledge(tx, alert_id, who, note)
        else:
            doc = alert_rules.close(tx, alert_id, who, note or "")
        return alert_rules.view(doc, hall.config)

    try:
        return await hall.run(decide, p.actor)
    except NotFound:
        stored = await hall.store.doc(alert_rules.KIND, alert_id)
        if stored is not None:
            raise Conflict(f"alert {alert_id} is closed already", code="already_closed") from None
        raise


_NOTE = {"type": "string", "maxLength": 500}
_ALERT = {"type": "string", "pattern": r"[A-Za-z0-9_.:-]{1,160}"}
COMMANDS["alert_ack"] = Command(
    "alert_ack", "Acknowledge a supervision alert (once)", obj(["alert"], alert=_ALERT, note=_NOTE),
    lambda h, p, a: _manage(h, p, a["alert"], "ack", a.get("note")), "manager, admin")
COMMANDS["alert_close"] = Command(
    "alert_close", "Close a supervision alert with a note", obj(["alert", "note"], alert=_ALERT, note=_NOTE),
    lambda h, p, a: _manage(h, p, a["alert"], "close", a.get("note")), "manager, admin")
command_route("POST", "/alerts/{alert}/ack", "alert_ack", path_args=("alert",), tag="alerts")
command_route("POST", "/alerts/{alert}/close", "alert_close", path_args=("alert",), tag="alerts")


def live_alerts(hall: Hall) -> list[dict[str, Any]]:
    """Alerts on the board now: active ones, and cleared ones nobody has closed; worst first."""
    docs = hall.state.docs.get(alert_rules.KIND, {}).values()
    views = [alert_rules.view(d, hall.config) for d in docs]
    return sorted(views, key=lambda a: (a["status"] != "active", -alert_settings.RANK[a["level"]], a["raised_at"]))


@route("GET", "/alerts", "Supervision alerts on the board now, worst first", "manager, admin", tag="alerts")
async def get_alerts(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = request.app[HALL_KEY]
    alerts = live_alerts(hall)
    return {"alerts": alerts, "counts": {lvl: sum(1 for a in alerts if a["level"] == lvl and a["status"] == "active")
                                         for lvl in alert_settings.LEVELS}}


# Records of the citizens' loops that run against a deadline: bad-review follow-up cases,
# 办不成事 cases and 容缺受理 records. Those near (escalated) or past (overdue) their
# deadline belong on the board beside the alerts.
DEADLINE_KINDS = ("case", "ledger", "pending")


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


@route("GET", "/alerts/deadlines", "Follow-up cases, 办不成事 cases and 容缺受理 records near or past their deadline",
       "manager, admin", tag="alerts")
async def get_deadlines(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    items = deadline_items(request.app[HALL_KEY])
    return {"items": items, "overdue": sum(1 for i in items if i["overdue"])}


_PERIOD = {"type": "string", "maxLength": 40, "description": "2026-12-01, 2026-12, 2026-Q4 or 2026"}
_DAY = {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"}


@route("GET", "/alerts/history", "Every alert raised in a period, with counts by type and level", "manager, admin",
       query={"period": _PERIOD, "from": _DAY, "to": _DAY}, tag="alerts")
async def get_alert_history(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = request.app[HALL_KEY]
    q = request.query
    period = periods.parse(q.get("period"), first=q.get("from"), last=q.get("to"), today=hall.state.day)
    return await history(hall.config, hall.store, period)


async def history(cfg: HallConfig, store: Any, period: periods.Period) -> dict[str, Any]:
    docs = await store.docs(alert_rules.KIND, day_from=period.first, day_to=period.last)
    alerts = [alert_rules.view(d, cfg) for d in docs]
    counts: dict[str, dict[str, int]] = {t: dict.fromkeys(alert_settings.LEVELS, 0) for t in alert_settings.TYPES}
    for a in alerts:
        counts[a["type"]][a["level"]] += 1
    return {"period": period.to_dict(), "alerts": alerts, "counts": counts}


# -- the feature --------------------------------------------------------------------------------

CHECKER_KEY = web.AppKey("alert_checker", Checker)
WEBHOOK_KEY = web.AppKey("alert_webhook", webhook.Poster)


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    return alert_settings.validate(cfg) + webhook.validate(cfg)


async def lifetime(app: web.Application) -> AsyncIterator[None]:
    hall = app[HALL_KEY]
    checker = Checker(hall)
    app[CHECKER_KEY] = checker
    every = alert_settings.settings(hall.config).check_seconds
    task = asyncio.create_task(checker.run_forever(), name="alert-checker") if every > 0 else None
    ws = webhook.webhook_settings(hall.config)
    async with contextlib.AsyncExitStack() as stack:
        if ws is not None:
            poster = webhook.Poster(ws.url, webhook.alert_payload(hall.config.hall.id, ws.events),
                                    timeout=ws.timeout_seconds, retries=ws.retries, name="alert-webhook")
            app[WEBHOOK_KEY] = await stack.enter_async_context(webhook.posting(hall, poster))
        yield
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


register(Feature("alerts", validate=validate, lifetime=lifetime))
