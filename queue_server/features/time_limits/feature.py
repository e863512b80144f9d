"""效能监督: the verdict on each ticket of a service with a committed time limit (办结时限).

When a ticket of a service with a ``time_limit`` is finished (办结, 容缺受理 or 办不成),
the ``finished`` hook records in the same transaction how much working time it used —
from its issue, on the working-day calendar — and whether that was within the limit:
a Doc of kind "time_limit" (id = the ticket id), kept in the store for reports
(按时办结率 by service, window, department and clerk). Warnings before the limit runs
out and at the breach are alerts (type ``time_limit``, ``features/alerts``).

A ticket finished in several visits is judged once, at the visit that leaves it 办结.
"""

from __future__ import annotations

from typing import Any

from queue_server.core import time_limits
from queue_server.core.model import Doc, Status, Ticket
from queue_server.core.rules import Tx
from queue_server.service.plugin import Feature

KIND = "time_limit"


def judge(tx: Tx, t: Ticket) -> Doc | None:
    """Record whether a finished ticket kept its service's time limit."""
    cfg = tx.config
    svc = cfg.services.get(t.origin_service)
    if svc is None or svc.time_limit is None or t.status is not Status.DONE or t.ended_at is None:
        return None
    tz, hours = cfg.hall.tz, cfg.hall.hours
    allowed = svc.time_limit.seconds(hours)
    used = time_limits.working_seconds(t.issued_at, t.ended_at, tz, hours, cfg.calendar)
    data: dict[str, Any] = {
        "ticket": t.id, "number": t.number, "service": svc.id, "window": t.window, "clerk": t.clerk,
        "department": cfg.department_of(t.window), "outcome": t.outcome.value if t.outcome else None,
        "issued_at": t.issued_at.isoformat(), "done_at": t.ended_at.isoformat(),
        "due": time_limits.due_at(t.issued_at, allowed, tz, hours, cfg.calendar).isoformat(),
        "limit": svc.time_limit.text(), "limit_seconds": allowed, "used_seconds": round(used, 3),
        "on_time": used <= allowed,
    }
    doc = Doc(KIND, t.id, t.day, data, live=False)
    tx.emit("time_limit.judged", docs=(doc,), extra={"on_time": data["on_time"]})
    return doc


class TimeLimits(Feature):
    name = "time_limits"
    audience = {"time_limit.": ("admin",)}

    def on_finished(self, tx: Tx, t: Ticket, details: dict[str, Any]) -> None:
        judge(tx, t)
