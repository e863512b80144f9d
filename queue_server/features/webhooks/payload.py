"""What a webhook says about an event: its public form, with citizens' data masked.

Tracking tokens, idempotency keys, booking codes and ID hashes never leave; names and
phone numbers in records leave only masked, even if a record were ever stored unmasked.
"""

from __future__ import annotations

import json
from typing import Any

from queue_server.core.model import Event
from queue_server.service import privacy

# Every event a webhook may carry. A subscription names events or families ("alert.*").
PUBLIC = (
    "ticket.issued", "ticket.called", "ticket.recalled", "ticket.started", "ticket.finished", "ticket.no_show",
    "ticket.requeued", "ticket.transferred", "ticket.cancelled", "ticket.expired", "ticket.part_done", "ticket.routed",
    "window.opened", "window.paused", "window.resumed", "window.closed",
    "evaluation.submitted",
    "alert.raised", "alert.escalated", "alert.cleared", "alert.acknowledged", "alert.closed",
    "case.opened", "case.verified", "case.rectified", "case.called_back", "case.closed", "case.escalated", "case.overdue",
    "ledger.opened", "ledger.assigned", "ledger.resolved", "ledger.closed", "ledger.overdue",
    "pending.opened", "pending.completed", "pending.overdue",
    "device.status", "notice.changed", "day.started",
    "advice.sent",
)
FAMILIES = ("ticket", "window", "evaluation", "alert", "case", "ledger", "pending", "device", "notice", "day", "advice")
SECRET_KEYS = frozenset({"token", "request_id", "code", "idhash", "id_hash", "id_number", "keys"})
NAME_KEYS = frozenset({"name", "citizen", "citizen_name", "contact"})
PHONE_KEYS = frozenset({"phone", "mobile", "citizen_phone", "contact_phone"})


def check_pattern(pattern: str) -> bool:
    """Whether a subscription pattern can match anything: ``*``, ``family.*`` or a public event."""
    return pattern == "*" or pattern in PUBLIC or (pattern.endswith(".*") and pattern[:-2] in FAMILIES)


def selects(patterns: tuple[str, ...], name: str) -> bool:
    if name not in PUBLIC:
        return False
    return any(p == "*" or p == name or (p.endswith(".*") and name.startswith(p[:-1])) for p in patterns)


def _scrub(value: Any, in_record: bool) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in SECRET_KEYS:
                continue
            if in_record and k in NAME_KEYS and isinstance(v, str) and "*" not in v:
                v = privacy.mask_name(v)
            elif k in PHONE_KEYS and isinstance(v, str) and "*" not in v:
                v = privacy.mask_phone(v)
            out[k] = _scrub(v, in_record or k in ("docs", "data"))
        return out
    if isinstance(value, list):
        return [_scrub(v, in_record) for v in value]
    return value


def body(hall_id: str, event: Event) -> str:
    """The JSON body posted for an event (the same bytes on every attempt)."""
    doc = {"id": f"{hall_id}:{event.seq}", "hall": hall_id, "seq": event.seq, "type": event.name,
           "at": event.at.isoformat(), "data": _scrub(event.data(), False)}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
