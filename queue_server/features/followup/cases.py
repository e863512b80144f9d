"""Bad-review follow-up cases (差评整改) as pure decisions, as 国办发〔2019〕51号 and GB/T 39734-2020 ask.

Every rating of 不满意 or 非常不满意 opens a case in the same transaction as the rating,
so no bad review can be committed without its case. A case runs

    review 预审 ─screen→ verify 核实 ─verify→ rectify 整改 ─rectify→ reply 回复 ─reply→ callback 回访 ─callback→ closed
       └─appeal→ appeal 申诉 ─decide(upheld)→ closed          └─(not substantiated)→ reply

and each step records who, when and what in ``steps``. The case must be rectified and
answered within ``[followup] deadline_days`` working days (the hall's calendar); the checker
escalates it ``escalate_days`` before that and marks it overdue after. A callback rating of
1-2 after a rectification sends the case back for one more round.

Cases are Docs of kind "case" (id ``CP`` + the ticket id), carried on ``case.*`` events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from queue_server.core.config import Section
from queue_server.core.errors import Conflict, Forbidden
from queue_server.core.model import LEVELS, REASONS, Doc, Evaluation
from queue_server.core.rules import Tx
from queue_server.service.plugin import log_step

KIND = "case"
SECTION = "followup"
STATES = {"review": "预审", "appeal": "申诉", "verify": "核实", "rectify": "整改", "reply": "回复", "callback": "回访",
          "closed": "办结"}
# States in which the rectify-and-reply deadline runs.
RUNNING = frozenset({"review", "appeal", "verify", "rectify", "reply"})
GROUNDS = {"malicious": "恶意差评", "mistaken": "误评"}
REPLY_CHANNELS = ("phone", "sms", "in_person", "letter")
MAX_ROUNDS = 2
NOTIFY_PEOPLE = ["window_head", "assessment_manager"]


@dataclass(frozen=True)
class Settings:
    deadline_days: int = 5  # working days to rectify and answer (5, 7 or 15 in use)
    escalate_days: int = 1  # working days before the deadline to escalate
    check_seconds: float = 60.0
    webhook: str = ""
    webhook_timeout: float = 5.0
    webhook_retries: int = 3
    pending_days: int = 5  # default due of 容缺受理 materials, in working days


def read(sec: Section) -> Settings:
    """The [followup] table over the defaults; problems collect on ``sec``."""
    d = Settings()
    s = Settings(
        deadline_days=sec.get("deadline_days", d.deadline_days, lo=1, hi=60),
        escalate_days=sec.get("escalate_days", d.escalate_days, lo=0, hi=30),
        check_seconds=sec.get("check_seconds", d.check_seconds, lo=1, hi=3600),
        webhook=sec.get("webhook", d.webhook),
        webhook_timeout=sec.get("webhook_timeout", d.webhook_timeout, lo=0.1, hi=120),
        webhook_retries=sec.get("webhook_retries", d.webhook_retries, lo=0, hi=10),
        pending_days=sec.get("pending_days", d.pending_days, lo=0, hi=60),
    )
    if s.webhook and not s.webhook.startswith(("http://", "https://")):
        sec.fail("webhook", "must be an http:// or https:// URL")
    sec.known("export")  # [followup.export] belongs to the provincial export
    return s


# -- the case, as pure decisions ----------------------------------------------------------------------


def _keys(data: dict[str, Any]) -> tuple[str, ...]:
    keys = [f"ticket:{data['ticket']}", f"state:{data['state']}"]
    if data.get("window") is not None:
        keys.append(f"window:{data['window']}")
    if data.get("clerk"):
        keys.append(f"clerk:{data['clerk']}")
    return tuple(keys)


def _put(tx: Tx, doc: Doc, name: str, data: dict[str, Any], *, evaluation: Evaluation | None = None, **extra: Any) -> Doc:
    new = Doc(KIND, doc.id, doc.day, data, keys=_keys(data), live=data["state"] != "closed")
    tx.emit(f"case.{name}", docs=(new,), evaluation=evaluation, extra={"case": doc.id, "state": data["state"], **extra})
    return new


def _set_aside(data: dict[str, Any]) -> Evaluation:
    """The rating as recorded, marked excluded: reports stop counting it from this commit on."""
    return Evaluation(
        ticket=data["ticket"], day=data["day"], number=data["number"], service=data["service"], zone=data["zone"],
        window=data["window"], clerk=data["clerk"], level=data["level"], reasons=tuple(data["reasons"]),
        comment=data["comment"], source=data["source"], at=datetime.fromisoformat(data["evaluated_at"]), excluded=True,
        part=data.get("part"),
    )


def _advance(tx: Tx, doc: Doc, name: str, to: str, step: dict[str, Any], **changes: Any) -> Doc:
    data = {**doc.data, **changes, "state": to, "steps": [*doc.data["steps"], step]}
    if to == "closed":
        data["closed_at"] = tx.now.isoformat()
    return _put(tx, doc, name, data)


def _need(doc: Doc, *states: str) -> None:
    state = doc.data["state"]
    if state not in states:
        raise Conflict(f"case {doc.id} is at {state} ({STATES[state]}); this step needs "
                       + " or ".join(f"{s} ({STATES[s]})" for s in states), code="case_state")


def open_case(tx: Tx, ev: Evaluation, s: Settings) -> Doc:
    """Open the follow-up case of a bad review (the feature's ``evaluated`` hook)."""
    opened = tx.now.date()
    svc = tx.config.services.get(ev.service)
    w = tx.state.windows.get(ev.window) if ev.window is not None else None
    seat = w if w is not None and w.clerk == ev.clerk else None  # names only while the rated clerk sits there
    data: dict[str, Any] = {
        "case": f"CP{ev.key}", "ticket": ev.ticket, "part": ev.part, "number": ev.number, "day": ev.day, "service": ev.service,
        "service_name": svc.name if svc else ev.service, "zone": ev.zone, "window": ev.window, "clerk": ev.clerk,
        "clerk_name": seat.clerk_name if seat else None, "staff_no": seat.staff_no if seat else None,
        "level": ev.level, "level_name": LEVELS[ev.level], "reasons": list(ev.reasons),
        "reason_names": [REASONS[r] for r in ev.reasons], "comment": ev.comment, "source": ev.source,
        "evaluated_at": (ev.at or tx.now).isoformat(), "opened_at": tx.now.isoformat(), "state": "review",
        "deadline_days": s.deadline_days, "due": tx.config.calendar.add(opened, s.deadline_days).isoformat(),
        "round": 1, "escalated": False, "overdue": False, "result": None, "appeal": None, "closed_at": None,
        "steps": [log_step(tx, "opened", level=ev.level)],
    }
    doc = Doc(KIND, data["case"], ev.day, data)
    return _put(tx, doc, "opened", data, notify=NOTIFY_PEOPLE, window_no=ev.window, level=ev.level)


def screen(tx: Tx, doc: Doc, note: str | None = None) -> Doc:
    """预审: the review is genuine; go on to verify it."""
    _need(doc, "review")
    return _advance(tx, doc, "screened", "verify", log_step(tx, "screen", note=note))


def appeal(tx: Tx, doc: Doc, ground: str, statement: str) -> Doc:
    """申诉: the review is malicious or mistaken; a manager decides."""
    _need(doc, "review")
    filed = {"ground": ground, "ground_name": GROUNDS[ground], "statement": statement, "by": tx.by,
             "at": tx.now.isoformat(), "upheld": None}
    return _advance(tx, doc, "appealed", "appeal", log_step(tx, "appeal", ground=ground, statement=statement),
                    appeal=filed)


def decide_appeal(tx: Tx, doc: Doc, upheld: bool, note: str | None = None) -> Doc:
    """Uphold an appeal (the review is set aside, the case closes) or reject it (on to 核实)."""
    _need(doc, "appeal")
    if doc.data["appeal"]["by"] == tx.by:
        raise Forbidden("whoever filed an appeal cannot decide it", code="own_appeal")
    decided = {**doc.data["appeal"], "upheld": upheld, "decided_by": tx.by, "decided_at": tx.now.isoformat(), "note": note}
    step = log_step(tx, "appeal_decision", upheld=upheld, note=note)
    if upheld:
        data = {**doc.data, "appeal": decided, "result": "appeal_upheld", "excluded": True, "state": "closed",
                "steps": [*doc.data["steps"], step], "closed_at": tx.now.isoformat()}
        return _put(tx, doc, "appeal_decided", data, evaluation=_set_aside(data))
    return _advance(tx, doc, "appeal_decided", "verify", step, appeal=decided)


def verify(tx: Tx, doc: Doc, substantiated: bool, reasonable: bool, finding: str) -> Doc:
    """核实: is the complaint true, and is it reasonable? Only then is there something to rectify."""
    _need(doc, "verify")
    step = log_step(tx, "verify", substantiated=substantiated, reasonable=reasonable, finding=finding)
    checked = {"substantiated": substantiated, "reasonable": reasonable, "finding": finding}
    if substantiated and reasonable:
        return _advance(tx, doc, "verified", "rectify", step, verification=checked)
    return _advance(tx, doc, "verified", "reply", step, verification=checked, result="not_substantiated")


def rectify(tx: Tx, doc: Doc, measures: str) -> Doc:
    """整改: what was changed."""
    _need(doc, "rectify")
    return _advance(tx, doc, "rectified", "reply", log_step(tx, "rectify", measures=measures),
                    rectification=measures, result="rectified")


def reply(tx: Tx, doc: Doc, text: str, channel: str) -> Doc:
    """回复: the answer given to the citizen."""
    _need(doc, "reply")
    return _advance(tx, doc, "replied", "callback", log_step(tx, "reply", text=text, channel=channel),
                    reply={"text": text, "channel": channel, "at": tx.now.isoformat()})


def callback(tx: Tx, doc: Doc, level: int, note: str | None, s: Settings) -> Doc:
    """回访: the citizen rates the fix; a bad rating after a rectification means one more round."""
    _need(doc, "callback")
    step = log_step(tx, "callback", level=level, note=note)
    if level <= 2 and doc.data.get("result") == "rectified" and doc.data["round"] < MAX_ROUNDS:
        due = tx.config.calendar.add(tx.now.date(), s.deadline_days).isoformat()
        return _advance(tx, doc, "called_back", "rectify", step, callback_level=level, round=doc.data["round"] + 1,
                        due=due, escalated=False, overdue=False)
    return _advance(tx, doc, "called_back", "closed", step, callback_level=level)


def check(tx: Tx, s: Settings) -> list[Doc]:
    """Escalate cases near their deadline and mark overdue ones; each happens once per round."""
    cal = tx.config.calendar
    today = tx.now.date()
    changed = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["state"] not in RUNNING:
            continue
        due = date.fromisoformat(doc.data["due"])
        if today > due and not doc.data["overdue"]:
            data = {**doc.data, "overdue": True, "escalated": True}
            changed.append(_put(tx, doc, "overdue", data, notify=NOTIFY_PEOPLE, window_no=data["window"], due=data["due"]))
        elif today <= due and not doc.data["escalated"] and cal.left(today, due) <= s.escalate_days:
            data = {**doc.data, "escalated": True}
            changed.append(_put(tx, doc, "escalated", data, notify=NOTIFY_PEOPLE, window_no=data["window"],
                                due=data["due"], left_days=cal.left(today, due)))
    return changed
