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

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable

from aiohttp import web

from queue_server.core import rules, workdays
from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from queue_server.core.model import Doc, Outcome, Ticket
from queue_server.core.rules import Tx
from queue_server.core.schema import obj
from queue_server.service import auth, featurekit, privacy
from queue_server.service.auth import Principal
from queue_server.service.features import Feature, register
from queue_server.web import http as api
from queue_server.web.http import CSV, XLSX, route

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


def _read(cfg: HallConfig) -> tuple[Settings, list[ConfigIssue]]:
    sec = featurekit.Section(cfg, SECTION)
    d = Settings()
    tiers = dict(DEFAULT_TIERS)
    raw = sec.get("tiers", {})
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
    windows = sec.get("windows", [])
    if not all(isinstance(n, int) and n in cfg.windows for n in windows):
        sec.fail("windows", "must list window numbers of this hall")
        windows = []
    if not windows:
        windows = [n for n, w in cfg.windows.items() if "complaint" in w.services]
    s = Settings(tiers, {k: v for k, v in by_reason.items() if k in REASONS and v in tiers}, tuple(windows),
                 sec.get("auto_open", d.auto_open), sec.get("check_seconds", d.check_seconds, lo=1, hi=3600))
    return s, sec.finish()


def settings(cfg: HallConfig) -> Settings:
    return featurekit.cached(SECTION, cfg, lambda c: _read(c)[0])


def due_date(cfg: HallConfig, tier: str, opened: date) -> date:
    spec = settings(cfg).tiers[tier]
    cal = workdays.of(cfg)
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
    tx.emit(f"ledger.{name}", docs=(new, *more), extra={"topics": ["admin"], "case": doc.id, "state": data["state"], **extra})
    return new


def open_case(tx: Tx, *, matter: str, reason: str, department: str = "", tier: str | None = None, name: str = "",
              phone: str = "", ticket: Ticket | None = None, service: str | None = None, window: int | None = None,
              note: str | None = None) -> Doc:
    """登记 a case. ``name`` and ``phone`` must arrive masked (privacy.mask_*)."""
    s = settings(tx.config)
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
        "tier_name": tier_name(tier, s.tiers[tier]), "due": due_date(tx.config, tier, opened).isoformat(),
        "handover": None, "result": None, "reply": None, "callback_level": None, "state": "open", "overdue": False,
        "closed_at": None, "steps": [featurekit.step(tx, "opened", note=note)],
    }
    count = Doc("counter", KIND, tx.state.day, {"day": tx.state.day, "n": n})
    return _put(tx, Doc(KIND, case_id, tx.state.day, data), "opened", data, count, tier=tier, due=data["due"])


def _on_finished(tx: Tx, t: Ticket, details: dict[str, Any]) -> None:
    if t.outcome is not Outcome.NOT_DONE or not settings(tx.config).auto_open:
        return
    text = (details.get("reason") or "").strip()
    reason = text if text in REASONS else "other"
    w = tx.state.windows.get(t.window) if t.window is not None else None
    svc = tx.config.services.get(t.service)
    open_case(tx, matter=svc.name if svc else t.service, reason=reason, department=(w.department or "") if w else "",
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
    return _advance(tx, doc, "assigned", "assigned", featurekit.step(tx, "assign", department=department, note=note),
                    handover=handover, department=department)


def resolve(tx: Tx, doc: Doc, result: str) -> Doc:
    _need(doc, "open", "assigned")
    return _advance(tx, doc, "resolved", "resolved", featurekit.step(tx, "resolve", result=result), result=result)


def reply(tx: Tx, doc: Doc, text: str, channel: str) -> Doc:
    _need(doc, "resolved")
    return _advance(tx, doc, "replied", "replied", featurekit.step(tx, "reply", text=text, channel=channel),
                    reply={"text": text, "channel": channel, "at": tx.now.isoformat()})


def close(tx: Tx, doc: Doc, level: int, note: str | None = None) -> Doc:
    """回访 and 销号: the citizen's satisfaction with the answer closes the case."""
    _need(doc, "replied")
    return _advance(tx, doc, "closed", "closed", featurekit.step(tx, "close", level=level, note=note), callback_level=level)


def check(tx: Tx) -> list[Doc]:
    today = tx.now.date()
    out = []
    for doc in sorted(tx.state.docs.get(KIND, {}).values(), key=lambda d: d.id):
        if doc.data["state"] in RUNNING and not doc.data["overdue"] and today > date.fromisoformat(doc.data["due"]):
            out.append(_put(tx, doc, "overdue", {**doc.data, "overdue": True}, notify=["window_head", "assessment_manager"],
                            due=doc.data["due"], tier=doc.data["tier"]))
    return out


async def run_check(hall: Any) -> list[Doc]:
    return await hall.run(check)  # type: ignore[no-any-return]


# -- HTTP -----------------------------------------------------------------------------------------------------


def view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data, "state_name": STATES[doc.data["state"]]}


def _keeper(hall: Any, st: Any, p: Principal) -> None:
    """Managers, and clerks signed in at a complaint window, keep the ledger."""
    auth.require(p, "clerk", "manager", "admin")
    if p.role == "clerk" and not any(st.windows[n].clerk == p.id for n in settings(hall.config).windows):
        raise Forbidden("sign in at the 办不成事反映窗口 to keep the ledger")


_STR = lambda n: {"type": "string", "minLength": 1, "maxLength": n}  # noqa: E731


@route("POST", "/ledger", "登记 a 办不成事 case (201)", "clerk at a complaint window, manager, admin",
       body=obj(["matter", "reason"], matter=_STR(500), reason={"type": "string", "enum": list(REASONS)},
                department={"type": "string", "maxLength": 60}, tier={"type": "string", "maxLength": 20},
                name={"type": "string", "maxLength": 40}, phone={"type": "string", "maxLength": 20},
                ticket={"type": "string", "pattern": "[A-Za-z]{1,2}[0-9]{3,4}"}, service={"type": "string", "maxLength": 64},
                note={"type": "string", "maxLength": 500}),
       status=201, tag="ledger")
async def post_ledger(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = api.hall_of(request)
    name, phone = privacy.mask_name(body.get("name")), privacy.check_phone(body.get("phone"))

    def decide(tx: Tx) -> dict[str, Any]:
        _keeper(hall, tx.state, p)
        t = None
        if body.get("ticket"):
            t = tx.state.ticket_by_number(body["ticket"])
            if t is None:
                raise NotFound(f"no ticket {body['ticket']} today", code="ticket_unknown")
        here = next((n for n, w in tx.state.windows.items() if p.is_person and w.clerk == p.id and w.status.value != "closed"), None)
        return view(open_case(tx, matter=body["matter"], reason=body["reason"], department=body.get("department", ""),
                              tier=body.get("tier"), name=name, phone=phone, ticket=t, service=body.get("service"),
                              window=here if t is None else None, note=body.get("note")))

    return await hall.run(decide, p.actor)


@route("GET", "/ledger", "办不成事 cases: open ones, or all of a period", "clerk at a complaint window, manager, admin",
       query={"state": {"type": "string", "enum": ["open", "all"]}, "from": api._DAY, "to": api._DAY}, tag="ledger")
async def get_ledger(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = api.hall_of(request)
    _keeper(hall, hall.state, p)
    docs = sorted(await featurekit.listed(hall, request, KIND), key=lambda d: d.id)
    await privacy.audit(hall, p, "view", KIND, ids=[d.id for d in docs])
    return {"cases": [view(d) for d in docs]}


@route("GET", "/ledger/export", "The monthly 办不成事 ledger as CSV or XLSX", "manager, admin",
       query={"month": {"type": "string", "pattern": r"\d{4}-\d{2}"}, "format": {"type": "string", "enum": ["csv", "xlsx"]}},
       tag="ledger", produces=(CSV, XLSX))
async def get_ledger_export(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    auth.require(p, "manager", "admin")
    hall = api.hall_of(request)
    month = request.query.get("month", hall.state.day[:7])
    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise Invalid("month must be YYYY-MM", code="bad_date") from None
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    docs = await hall.store.docs(KIND, day_from=first.isoformat(), day_to=last.isoformat())
    kind = request.query.get("format", "csv")
    await privacy.audit(hall, p, "export", KIND, ids=[d.id for d in docs], detail=f"monthly ledger {month} {kind}")
    rows = [COLUMNS] + [[get(d.data) for _, get in FIELDS] for d in docs]
    name = f"ledger-{hall.config.hall.id}-{month}.{kind}"
    if kind == "xlsx":
        payload, ctype = to_xlsx(rows, f"办不成事台账 {month}"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        payload, ctype = to_csv(rows), "text/csv"
    return web.Response(body=payload, content_type=ctype, charset="utf-8" if kind == "csv" else None,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@route("GET", "/ledger/{id}", "One 办不成事 case with every step", "clerk at a complaint window, manager, admin", tag="ledger")
async def get_ledger_case(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
    hall = api.hall_of(request)
    _keeper(hall, hall.state, p)
    case_id = request.match_info["id"]
    doc = hall.state.docs.get(KIND, {}).get(case_id) or await hall.store.doc(KIND, case_id)
    if doc is None:
        raise NotFound(f"no case {case_id}", code="case_unknown")
    await privacy.audit(hall, p, "view", KIND, ids=[doc.id])
    return view(doc)


_CHANNEL = {"type": "string", "enum": ["phone", "sms", "in_person", "letter"]}
STEPS: dict[str, tuple[str, dict[str, Any], Callable[[Tx, Doc, dict[str, Any]], Doc]]] = {
    "assign": ("交办: hand over to the responsible department", obj(["department", "note"], department=_STR(60), note=_STR(1000)),
               lambda tx, d, b: assign(tx, d, b["department"], b["note"])),
    "resolve": ("办理: record the result", obj(["result"], result=_STR(1000)), lambda tx, d, b: resolve(tx, d, b["result"])),
    "reply": ("答复: record the answer given", obj(["text"], text=_STR(1000), channel=_CHANNEL),
              lambda tx, d, b: reply(tx, d, b["text"], b.get("channel", "phone"))),
    "close": ("回访 and 销号: the citizen's satisfaction closes the case",
              obj(["level"], level={"type": "integer", "minimum": 1, "maximum": 5}, note={"type": "string", "maxLength": 1000}),
              lambda tx, d, b: close(tx, d, b["level"], b.get("note"))),
}


def _step_route(name: str) -> None:
    summary, schema, act = STEPS[name]

    async def handler(request: web.Request, p: Principal, body: dict[str, Any]) -> Any:
        hall = api.hall_of(request)
        case_id = request.match_info["id"]

        def decide(tx: Tx) -> dict[str, Any]:
            _keeper(hall, tx.state, p)
            doc = tx.state.docs.get(KIND, {}).get(case_id)
            if doc is None:
                raise NotFound(f"no open case {case_id}", code="case_unknown")
            return view(act(tx, doc, body))

        return await hall.run(decide, p.actor)

    route("POST", f"/ledger/{{id}}/{name}", summary, "clerk at a complaint window, manager, admin", body=schema, tag="ledger")(handler)


for _name in STEPS:
    _step_route(_name)


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


def to_csv(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(rows: list[list[Any]], title: str) -> bytes:
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
    except ImportError:  # an optional dependency: CSV always works
        raise Unavailable("XLSX export needs openpyxl (pip install openpyxl); use format=csv") from None

    wb = Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    for row in rows:
        ws.append(row)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    return _read(cfg)[1]


rules.HOOKS["finished"].append(_on_finished)
register(Feature(SECTION, validate=validate,
                 lifetime=featurekit.periodic("ledger", lambda cfg: settings(cfg).check_seconds, run_check)))
