"""The "couldn't get it done" ledger (办不成事台账).

A case is opened at the complaint window (办不成事反映窗口), from a ticket transferred
there, or by the "finished" hook when a clerk ends a service as 办不成 (``not_done``).
It records the citizen (masked), the matter, the reason class, the responsible
department and a tier with its deadline, then runs

    open 登记 ─assign→ assigned 交办 ─resolve→ resolved 办理 ─reply→ replied 答复 ─close→ closed 销号
        └──────resolve (on the spot)──────↗

where ``close`` takes the call-back satisfaction. A case not answered by its deadline
raises ``ledger.overdue`` once. Managers take a monthly ledger as CSV or XLSX.

Tiers (``[ledger] tiers``) map an id to working days (0 = 即办, same day) or to months
("1m"); ``[ledger] default_tiers`` picks one per reason class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

from queue_server.core.config import HallConfig, Section
from queue_server.core.errors import Conflict, Invalid, NotFound
from queue_server.core.model import Doc, Outcome, Ticket
from queue_server.core.rules import Tx
from queue_server.service.plugin import log_step

KIND = "ledger"
SECTION = "ledger"
REASONS = {"materials": "材料不全", "unclear": "诉求不清", "policy": "法律政策原因", "coordination": "多部门协调", "other": "其他"}
STATES = {"open": "登记", "assigned": "交办", "resolved": "办理", "replied": "答复", "closed": "销号"}
RUNNING = frozenset({"open", "assigned", "resolved"})  # the deadline is for the answer
DEFAULT_TIERS: dict[str, int | str] = {"immediate": 0, "1d": 1, "3d": 3, "7d": 7, "1m": "1m"}
TIER_NAMES = {"immediate": "即办", "1d": "1个工作日", "3d": "3个工作日", "7d": "7个工作日", "1m": "1个月"}
# 材料不全 and 诉求不清 are settled on the spot; the rest take the time their kind needs.
DEFAULT_BY_REASON = {"materials": "immediate", "unclear": "immediate", "policy": "3d", "coordination": "7d", "other": "3d"}
_MONTHS = re.compile(r"^([1-9][0-9]?)m$")


@dataclass(frozen=True)
class Settings:
    tiers: dict[str, int | str] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    default_tiers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BY_REASON))
    windows: tuple[int, ...] = ()  # the complaint windows; their clerks keep the ledger
    auto_open: bool = True  # 办不成 at any window opens a case
    check_seconds: float = 60.0


def read(cfg: HallConfig, sec: Section) -> Settings:
    """The [ledger] table over the defaults; problems collect on ``sec``."""
    d = Settings()
    tiers = dict(DEFAULT_TIERS)
    raw: dict[str, Any] = sec.get("tiers", {})
    for tid, spec in raw.items():
        ok = (isinstance(spec, int) and not isinstance(spec, bool) and 0 <= spec <= 60) or (isinstance(spec, str) and _MONTHS.match(spec))
        if not ok:
            sec.fail("tiers", f"tier {tid!r} must be working days (0-60, 0 = 即办) or months like \"1m\"")
        else:
            tiers[tid] = spec
    by_reason = {**DEFAULT_BY_REASON, **sec.get("default_tiers", {})}
    for reason, tid in by_reason.items():
        if reason not in REASONS:
            sec.fail("default_tiers", f"unknown reason class {reason!r}; use {', '.join(REASONS)}")
        elif tid not in tiers:
            sec.fail("default_tiers", f"unknown tier {tid!r} for {reason!r}")
    windows: list[Any] = sec.get("windows", [])
    if not all(isinstance(n, int) and n in cfg.windows for n in windows):
        sec.fail("windows", "must list window numbers of this hall")
        windows = []
    if not windows:
        windows = [n for n, w in cfg.windows.items() if "complaint" in w.services]
    s = Settings(tiers, {k: v for k, v in by_reason.items() if k in REASONS and v in tiers}, tuple(windows),
                 sec.get("auto_open", d.auto_open), sec.get("check_seconds", d.check_seconds, lo=1, hi=3600))
    return s


def due_date(cfg: HallConfig, s: Settings, tier: str, opened: date) -> date:
    spec = s.tiers[tier]
    cal = cfg.calendar
    if isinstance(spec, str):
        return cal.add_months(opened, int(spec[:-1]))
    return cal.add(opened, spec)


def tier_name(tier: str, spec: int | str) -> str:
    return TIER_NAMES.get(tier) or (f"{spec[:-1]}个月" if isinstance(spec, str) else "即办" if spec == 0 else f"{spec}个工作日")


# -- decisions ------------------------------------------------------------------------------------------------


def _put(tx: Tx, doc: Doc, name: str, data: dict[str, Any], *more: Doc, **extra: Any) -> Doc:
    keys = [f"state:{data['state']}", f"reason:{data['reason']}"]
    if data.get("window") is not None:
        keys.append(f"window:{data['window']}")
    new = Doc(KIND, doc.id, doc.day, data, keys=tuple(keys), live=data["state"] != "closed")
    tx.emit(f"ledger.{name}", docs=(new, *more), extra={"case": doc.id, "state": data["state"], **extra})
    return new


def open_case(tx: Tx, s: Settings, *, matter: str, reason: str, department: str = "", tier: str | None = None,
              name: str = "", phone: str = "", ticket: Ticket | None = None, service: str | None = None,
              window: int | None = None, note: str | None = None) -> Doc:
    """登记 a case. ``name`` and ``phone`` must arrive masked (privacy.mask_*)."""
    if reason not in REASONS:
        raise Invalid(f"reason must be one of {list(REASONS)}", code="bad_reason")
    tier = tier or s.default_tiers.get(reason, "3d")
    if tier not in s.tiers:
        raise Invalid(f"tier must be one of {list(s.tiers)}", code="bad_tier")
    service = ticket.origin_service if ticket is not None and service is None else service
    if service is not None and service not in tx.config.services:
        raise NotFound(f"no service {service!r}", code="service_unknown")
    counter = tx.state.docs.get("counter", {}).get(KIND)
    n = counter.data["n"] + 1 if counter is not None and counter.data.get("day") == tx.state.day else 1
    case_id = f"BC{tx.state.day.replace('-', '')}-{n:03d}"
    opened = tx.now.date()
    data = {
        "case": case_id, "day": tx.state.day, "opened_at": tx.now.isoformat(), "citizen": {"name": name, "phone": phone},
        "matter": matter, "service": service, "service_name": tx.config.services[service].name if service else None,
        "ticket": ticket.id if ticket else None, "number": ticket.number if ticket else None,
        "window": window if window is not None else (ticket.window if ticket else None),
        "reason": reason, "reason_name": REASONS[reason], "department": department, "tier": tier,
        "tier_name": tier_name(tier, s.tiers[tier]), "due": due_date(tx.config, s, tier, opened).isoformat(),
        "handover": None, "result": None, "reply": None, "callback_level": None, "state": "open", "overdue": False,
        "closed_at": None, "steps": [log_step(tx, "opened", note=note)],
    }
    count = Doc("counter", KIND, tx.state.day, {"day": tx.state.day, "n": n})
    return _put(tx, Doc(KIND, case_id, tx.state.day, data), "opened", data, count, tier=tier, due=data["due"])


def on_not_done(tx: Tx, s: Settings, t: Ticket, details: dict[str, Any]) -> None:
    """A service ended as 办不成 at any window opens a case (unless ``auto_open`` is off)."""
    if t.outcome is not Outcome.NOT_DONE or not s.auto_open:
        return
    text = (details.get("reason") or "").strip()
    reason = text if text in REASONS else "other"
    w = tx.state.windows.get(t.window) if t.window is not None else None
    svc = tx.config.services.get(t.service)
    open_case(tx, s, matter=svc.name if svc else t.service, reason=reason, department=(w.department or "") if w else "",
              ticket=t, service=t.service, note=None if text in REASONS else text or None)


def _need(doc: Doc, *states: str) -> None:
    if doc.data["state"] not in states:
        raise Conflict(f"case {doc.id} is {doc.data['state']} ({STATES[doc.data['state']]})", code="ledger_state")


def _advance(tx: Tx, doc: Doc, name: str, to: str, step: dict[str, Any], **changes: Any) -> Doc:
    data = {**doc.data, **changes, "state": to, "steps": [*doc.data["steps"], step]}
    if to == "closed":
        data["closed_at"] = tx.now.isoformat()
    return _put(tx, doc, name, data)


def assign(tx: Tx, doc: Doc, department: str, note: str) -> Doc:
    """交办: hand the case to the responsible department with a note."""
    _need(doc, "open", "assigned")
    handover = {"department": department, "note": note, "by": tx.by, "at": tx.now.isoformat()}
    return _advance(tx, doc, "assigned", "assigned", log_step(tx, "assign", department=department, note=note),
                    handover=handover, department=department)


def resolve(tx: Tx, doc: Doc, result: str) -> Doc:
    _need(doc, "open", "assigned")
    return _advance(tx, doc, "resolved", "resolved", log_step(tx, "resolve", result=result), result=result)


def reply(tx: Tx, doc: Doc, text: str, channel: str) -> Doc:
    _need(doc, "resolved")
    return _advance(tx, doc, "replied", "replied", log_step(tx, "reply", text=text, channel=channel),
                    reply={"text": text, "channel": channel, "at": tx.now.isoformat()})


def close(tx: Tx, doc: Doc, level: int, note: str | None = None) -> Doc:
    """回访 and 销号: the citizen's satisfaction with the answer closes the case."""
    _need(doc, "replied")
    return _advance(tx, doc, "closed", "closed", log_step(tx, "close", level=level, note=note), callback_level=level)


def check(tx: Tx) -> list[Doc]:
    today = tx.now.date()
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["state"] in RUNNING and not doc.data["overdue"] and today > date.fromisoformat(doc.data["due"]):
            out.append(_put(tx, doc, "overdue", {**doc.data, "overdue": True}, notify=["window_head", "assessment_manager"],
                            due=doc.data["due"], tier=doc.data["tier"]))
    return out


# -- the monthly ledger file ------------------------------------------------------------------------------------

FIELDS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("编号", lambda d: d["case"]), ("登记时间", lambda d: d["opened_at"][:16].replace("T", " ")),
    ("群众", lambda d: d["citizen"]["name"]), ("联系电话", lambda d: d["citizen"]["phone"]),
    ("反映事项", lambda d: d["matter"]), ("关联号票", lambda d: d.get("number") or ""),
    ("原因分类", lambda d: d["reason_name"]), ("责任部门", lambda d: d.get("department") or ""),
    ("办理时限", lambda d: d["tier_name"]), ("截止日期", lambda d: d["due"]),
    ("交办情况", lambda d: (d["handover"] or {}).get("note", "")), ("办理结果", lambda d: d.get("result") or ""),
    ("答复情况", lambda d: (d["reply"] or {}).get("text", "")),
    ("回访满意度", lambda d: d["callback_level"] if d.get("callback_level") is not None else ""),
    ("状态", lambda d: STATES[d["state"]]), ("是否超期", lambda d: "是" if d.get("overdue") else "否"),
    ("销号时间", lambda d: (d.get("closed_at") or "")[:16].replace("T", " ")),
]
COLUMNS = [name for name, _ in FIELDS]
