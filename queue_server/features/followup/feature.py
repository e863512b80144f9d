"""Bad-review follow-up cases (差评整改), as 国办发〔2019〕51号 and GB/T 39734-2020 ask.

Every rating of 不满意 or 非常不满意 opens a case in the same transaction as the rating
(the "evaluated" hook), so no bad review can be committed without its case. A case runs

    review 预审 ─screen→ verify 核实 ─verify→ rectify 整改 ─rectify→ reply 回复 ─reply→ callback 回访 ─callback→ closed
       └─appeal→ appeal 申诉 ─decide(upheld)→ closed          └─(not substantiated)→ reply

and each step records who, when and what in ``steps``. The case must be rectified and
answered within ``[followup] deadline_days`` working days (see workdays.py); the checker
escalates it ``escalate_days`` before that and marks it overdue after. A callback rating of
1-2 after a rectification sends the case back for one more round.

Cases are Docs of kind "case" (id ``CP`` + the ticket id), carried on ``case.*`` events to
the admin topic, where the window's head and the assessment manager see them at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

from aiohttp import web

from queue_server.core import rules, workdays
from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.errors import Conflict, Forbidden, NotFound
from queue_server.core.model import LEVELS, REASONS, Doc, Evaluation
from queue_server.core.rules import Tx
from queue_server.core.schema import obj
from queue_server.service import auth, featurekit, webhook
from queue_server.service.auth import Principal
from queue_server.service.features import Feature, register
from queue_server.web import http as api
from queue_server.web.http import route

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


def _read(cfg: HallConfig) -> tuple[Settings, list[ConfigIssue]]:
    sec = featurekit.Section(cfg, SECTION)
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
    sec.table("export")  # [followup.export] belongs to export.py
    return s, sec.finish()


def settings(cfg: HallConfig) -> Settings:
    return featurekit.cached(SECTION, cfg, lambda c: _read(c)[0])


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
    tx.emit(f"case.{name}", docs=(new,), evaluation=evaluation,
            extra={"topics": ["admin"], "case": doc.id, "state": data["state"], **extra})
    return new


def _set_aside(data: dict[str, Any]) -> Evaluation:
    """The rating as recorded, marked excluded: reports stop counting it from this commit on."""
    return Evaluation(
        ticket=data["ticket"], day=data["day"], number=data["number"], service=data["service"], zone=data["zone"],
        window=data["window"], clerk=data["clerk"], level=data["level"], reasons=tuple(data["reasons"]),
        comment=data["comment"], source=data["source"], at=datetime.fromisoformat(data["evaluated_at"]), excluded=True,
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


def open_case(tx: Tx, ev: Evaluation) -> Doc:
    """Open the follow-up case of a bad review (the "evaluated" hook)."""
    s = settings(tx.config)
    opened = tx.now.date()
    svc = tx.config.services.get(ev.service)
    w = tx.state.windows.get(ev.window) if ev.window is not None else None
    same_clerk = w is not None and w.clerk == ev.clerk
    data = {
        "case": f"CP{ev.ticket}", "ticket": ev.ticket, "number": ev.number, "day": ev.day, "service": ev.service,
        "service_name": svc.name if svc else ev.service, "zone": ev.zone, "window": ev.window, "clerk": ev.clerk,
        "clerk_name": w.clerk_name if same_clerk else None, "staff_no": w.staff_no if same_clerk else None,
        "level": ev.level, "level_name": LEVELS[ev.level], "reasons": list(ev.reasons),
        "reason_names": [REASONS[r] for r in ev.reasons], "comment": ev.comment, "source": ev.source,
        "evaluated_at": (ev.at or tx.now).isoformat(), "opened_at": tx.now.isoformat(), "state": "review",
        "deadline_days": s.deadline_days, "due": workdays.of(tx.config).add(opened, s.deadline_days).isoformat(),
        "round": 1, "escalated": False, "overdue": False, "result": None, "appeal": None, "closed_at": None,
        "steps": [featurekit.step(tx, "opened", level=ev.level)],
    }
    doc = Doc(KIND, data["case"], ev.day, data)
    return _put(tx, doc, "opened", data, notify=NOTIFY_PEOPLE, window_no=ev.window, level=ev.level)


def _on_evaluated(tx: Tx, ev: Evaluation) -> None:
    if ev.bad:
        open_case(tx, ev)


def screen(tx: Tx, doc: Doc, note: str | None = None) -> Doc:
    """预审: the review is genuine; go on to verify it."""
    _need(doc, "review")
    return _advance(tx, doc, "screened", "verify", featurekit.step(tx, "screen", note=note))


def appeal(tx: Tx, doc: Doc, ground: str, statement: str) -> Doc:
    """申诉: the review is malicious or mistaken; a manager decides."""
    _need(doc, "review")
    filed = {"ground": ground, "ground_name": GROUNDS[ground], "statement": statement, "by": tx.by,
             "at": tx.now.isoformat(), "upheld": None}
    return _advance(tx, doc, "appealed", "appeal", featurekit.step(tx, "appeal", ground=ground, statement=statement),
                    appeal=filed)


def decide_appeal(tx: Tx, doc: Doc, upheld: bool, note: str | None = None) -> Doc:
    """Uphold an appeal (the review is set aside, the case closes) or reject it (on to 核实)."""
    _need(doc, "appeal")
    if doc.data["appeal"]["by"] == tx.by:
        raise Forbidden("whoever filed an appeal cannot decide it", code="own_appeal")
    decided = {**doc.data["appeal"], "upheld": upheld, "decided_by": tx.by, "decided_at": tx.now.isoformat(), "note": note}
    step = featurekit.step(tx, "appeal_decision", upheld=upheld, note=note)
    if upheld:
        data = {**doc.data, "appeal": decided, "result": "appeal_upheld", "excluded": True, "state": "closed",
                "steps": [*doc.data["steps"], step], "closed_at": tx.now.isoformat()}
        return _put(tx, doc, "appeal_decided", data, evaluation=_set_aside(data))
    return _advance(tx, doc, "appeal_decided", "verify", step, appeal=decided)


def verify(tx: Tx, doc: Doc, substantiated: bool, reasonable: bool, finding: str) -> Doc:
    """核实: is the complaint true, and is it reasonable? Only then is there something to rectify."""
    _need(doc, "verify")
    step = featurekit.step(tx, "verify", substantiated=substantiated, reasonable=reasonable, finding=finding)
    checked = {"substantiated": substantiated, "reasonable": reasonable, "finding": finding}
    if substantiated and reasonable:
        return _advance(tx, doc, "verified", "rectify", step, verification=checked)
    return _advance(tx, doc, "verified", "reply", step, verification=checked, result="not_substantiated")


def rectify(tx: Tx, doc: Doc, measures: str) -> Doc:
    """整改: what was changed."""
    _need(doc, "rectify")
    return _advance(tx, doc, "rectified", "reply", featurekit.step(tx, "rectify", measures=measures),
                    rectification=measures, result="rectified")


def reply(tx: Tx, doc: Doc, text: str, channel: str) -> Doc:
    """回复: the answer given to the citizen."""
    _need(doc, "reply")
    return _advance(tx, doc, "replied", "callback", featurekit.step(tx, "reply", text=text, channel=channel),
                    reply={"text": text, "channel": channel, "at": tx.now.isoformat()})


def callback(tx: Tx, doc: Doc, level: int, note: str | None = None) -> Doc:
    """回访: the citizen rates the fix; a bad rating after a rectification means one more round."""
    _need(doc, "callback")
    step = featurekit.step(tx, "callback", level=level, note=note)
    if level <= 2 and doc.data.get("result") == "rectified" and doc.data["round"] < MAX_ROUNDS:
        s = settings(tx.config)
        due = workdays.of(tx.config).add(tx.now.date(), s.deadline_days).isoformat()
        return _advance(tx, doc, "called_back", "rectify", step, callback_level=level, round=doc.data["round"] + 1,
                        due=due, escalated=False, overdue=False)
    return _advance(tx, doc, "called_back", "closed", step, callback_level=level)


def check(tx: Tx) -> list[Doc]:
    """Escalate cases near their deadline and mark overdue ones; each happens once per round."""
    s = settings(tx.config)
    cal = workdays.of(tx.config)
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


async def run_check(hall: Any) -> list[Doc]:
    """Run the checker now (the background loop calls this; so do tests, after moving the clock)."""
    return await hall.run(check)  # type: ignore[no-any-return]


# -- HTTP -----------------------------------------------------------------------------------------------


def view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data, "state_name": STATES[doc.data["state"]]}


async def _find(hall: Any, case_id: str) -> Doc:
    doc = hall.state.docs.get(KIND, {}).get(case_id) or await hall.store.doc(KIND, case_id)
    if doc is None:
        raise NotFound(f"no case {case_id}", code="case_unknown")
    return doc


def _may_see(p: Principal, doc: Doc) -> None:
    auth.require(p, "clerk", "manager", "admin")
    if p.role == "clerk" and doc.data.get("clerk") != p.id:
        raise Forbidden("a clerk sees the cases about their own services only")


@route("GET", "/cases", "Bad-review follow-up cases (open ones by default)", "manager, admin; a clerk sees their own",
       query={"state": {"type": "string", "enum": ["open", "all"]}, "from": api._DAY, "to": api._DAY,
              "window": {"type": "string", "pattern": r"\d{1,4}"}},
       tag="followup")
async def get_cases(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "clerk", "manager", "admin")
    hall = api.hall_of(request)
    docs = await featurekit.listed(hall, request, KIND)
    if "window" in request.query:
        docs = [d for d in docs if d.data.get("window") == int(request.query["window"])]
    if p.role == "clerk":
        docs = [d for d in docs if d.data.get("clerk") == p.id]
    return {"cases": [view(d) for d in sorted(docs, key=lambda d: d.id)]}


@route("GET", "/cases/{id}", "One follow-up case with every step", "manager, admin; a clerk their own", tag="followup")
async def get_case(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    doc = await _find(api.hall_of(request), request.match_info["id"])
    _may_see(p, doc)
    return view(doc)


_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000}
_NOTE = {"type": "string", "maxLength": 1000}
# action -> (summary, body schema, decision taking (tx, doc, body))
ACTIONS: dict[str, tuple[str, dict[str, Any], Callable[[Tx, Doc, dict[str, Any]], Doc]]] = {
    "screen": ("预审: the review is genuine; verify it", obj(note=_NOTE), lambda tx, d, b: screen(tx, d, b.get("note"))),
    "appeal": ("申诉: appeal a malicious or mistaken review", obj(["ground", "statement"], ground={"type": "string", "enum": list(GROUNDS)},
               statement=_TEXT), lambda tx, d, b: appeal(tx, d, b["ground"], b["statement"])),
    "appeal-decision": ("Uphold or reject an appeal", obj(["upheld"], upheld={"type": "boolean"}, note=_NOTE),
                        lambda tx, d, b: decide_appeal(tx, d, b["upheld"], b.get("note"))),
    "verify": ("核实: is the complaint true and reasonable?", obj(["substantiated", "reasonable", "finding"],
               substantiated={"type": "boolean"}, reasonable={"type": "boolean"}, finding=_TEXT),
               lambda tx, d, b: verify(tx, d, b["substantiated"], b["reasonable"], b["finding"])),
    "rectify": ("整改: record the rectification", obj(["measures"], measures=_TEXT), lambda tx, d, b: rectify(tx, d, b["measures"])),
    "reply": ("回复: record the answer given to the citizen", obj(["text"], text=_TEXT, channel={"type": "string", "enum": list(REPLY_CHANNELS)}),
              lambda tx, d, b: reply(tx, d, b["text"], b.get("channel", "phone"))),
    "callback": ("回访: the citizen rates the fix", obj(["level"], level={"type": "integer", "minimum": 1, "maximum": 5}, note=_NOTE),
                 lambda tx, d, b: callback(tx, d, b["level"], b.get("note"))),
}


def _action_route(action: str) -> None:
    summary, schema, act = ACTIONS[action]
    who = "the clerk rated, manager, admin" if action == "appeal" else "manager, admin"

    async def handler(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
        hall = api.hall_of(request)
        case_id = request.match_info["id"]
        auth.require(p, "clerk", "manager", "admin") if action == "appeal" else auth.require(p, "manager", "admin")

        def decide(tx: Tx) -> dict[str, Any]:
            doc = tx.state.docs.get(KIND, {}).get(case_id)
            if doc is None:
                raise NotFound(f"no open case {case_id}", code="case_unknown")
            if p.role == "clerk" and doc.data.get("clerk") != p.id:
                raise Forbidden("a clerk may appeal reviews of their own services only")
            return view(act(tx, doc, body))

        return await hall.run(decide, p.actor)

    route("POST", f"/cases/{{id}}/{action}", summary, who, body=schema, tag="followup")(handler)


for _action in ACTIONS:
    _action_route(_action)


# -- wiring -----------------------------------------------------------------------------------------------


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    return _read(cfg)[1] + workdays.validate(cfg)


async def _lifetime(app: web.Application) -> Any:
    hall = app[api.HALL_KEY]
    s = settings(hall.config)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(featurekit.ticking(hall, "followup", lambda cfg: settings(cfg).check_seconds, run_check))
        if s.webhook:
            poster = webhook.Poster(s.webhook, webhook.notify_payload(hall.config.hall.id), timeout=s.webhook_timeout,
                                    retries=s.webhook_retries, name="followup-webhook")
            await stack.enter_async_context(webhook.posting(hall, poster))
        yield


rules.HOOKS["evaluated"].append(_on_evaluated)
register(Feature(SECTION, validate=validate, lifetime=_lifetime))
