"""The 办不成事 feature: the ledger's commands, its checker and the monthly file."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from queue_server.core.config import HallConfig
from queue_server.core.errors import Forbidden, Invalid, NotFound
from queue_server.core.model import Doc, Ticket
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, NUMBER, obj
from queue_server.core.state import HallState
from queue_server.reports import files
from queue_server.service import privacy
from queue_server.service.auth import MANAGERS, STAFF, Principal, rule, signed_in_at
from queue_server.service.commands import CSV, XLSX, Call, Command, Download, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker, listed, on_open_record

from . import ledger
from .ledger import FIELDS, KIND, REASONS, STATES

_STR = lambda n: {"type": "string", "minLength": 1, "maxLength": n}  # noqa: E731
_CHANNEL = {"type": "string", "enum": ["phone", "sms", "in_person", "letter"]}
_CASE = {"type": "string", "maxLength": 80}


def view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data, "state_name": STATES[doc.data["state"]]}


class Complaints(Feature):
    name = "complaints"
    section = "ledger"
    audience = {"ledger.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        sec = self.read()
        self.settings = ledger.read(cfg, sec)
        self.done(sec)

    def on_finished(self, tx: Tx, t: Ticket, details: dict[str, Any]) -> None:
        ledger.on_not_done(tx, self.settings, t, details)

    def tickers(self) -> list[Ticker]:
        return [Ticker("ledger", self.settings.check_seconds, self.check)]

    async def check(self, hall: Hall) -> list[Doc]:
        return await hall.run(ledger.check)

    def _keeper(self, p: Principal, st: HallState, args: Any) -> None:
        """Managers, and clerks signed in at a complaint window, keep the ledger."""
        if p.role == "clerk" and signed_in_at(p, st) not in self.settings.windows:
            raise Forbidden("sign in at the 办不成事反映窗口 to keep the ledger")

    # -- commands ------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        keeper = rule("clerk at a complaint window, manager, admin", *STAFF.roles, check=self._keeper)
        steps: dict[str, tuple[str, dict[str, Any], Callable[[Tx, Doc, Call], Doc]]] = {
            "assign": ("交办: hand over to the responsible department", obj(["department", "note"], department=_STR(60), note=_STR(1000)),
                       lambda tx, d, c: ledger.assign(tx, d, c["department"], c["note"])),
            "resolve": ("办理: record the result", obj(["result"], result=_STR(1000)),
                        lambda tx, d, c: ledger.resolve(tx, d, c["result"])),
            "reply": ("答复: record the answer given", obj(["text"], text=_STR(1000), channel=_CHANNEL),
                      lambda tx, d, c: ledger.reply(tx, d, c["text"], c.get("channel", "phone"))),
            "close": ("回访 and 销号: the citizen's satisfaction closes the case",
                      obj(["level"], level={"type": "integer", "minimum": 1, "maximum": 5},
                          note={"type": "string", "maxLength": 1000}),
                      lambda tx, d, c: ledger.close(tx, d, c["level"], c.get("note"))),
        }
        out = [
            command("ledger_open", "登记 a 办不成事 case (201)", keeper, self._open,
                    args=obj(["matter", "reason"], matter=_STR(500), reason={"type": "string", "enum": list(REASONS)},
                             department={"type": "string", "maxLength": 60}, tier={"type": "string", "maxLength": 20},
                             name={"type": "string", "maxLength": 40}, phone={"type": "string", "maxLength": 20},
                             ticket=NUMBER, service={"type": "string", "maxLength": 64}, note={"type": "string", "maxLength": 500}),
                    http=Http("POST", "/ledger", 201, "ledger")),
            command("ledger", "办不成事 cases: open ones, or all of a period", keeper, self._list,
                    args=obj(state={"type": "string", "enum": ["open", "all"]}, **{"from": DAY, "to": DAY}),
                    http=Http("GET", "/ledger", tag="ledger")),
            command("ledger_export", "The monthly 办不成事 ledger as CSV or XLSX", MANAGERS, self._export,
                    args=obj(month={"type": "string", "pattern": r"\d{4}-\d{2}"},
                             format={"type": "string", "enum": ["csv", "xlsx"]}),
                    http=Http("GET", "/ledger/export", tag="ledger", produces=(CSV, XLSX))),
            command("ledger_case", "One 办不成事 case with every step", keeper, self._one, args=obj(["id"], id=_CASE),
                    http=Http("GET", "/ledger/{id}", tag="ledger")),
        ]
        for name, (summary, schema, act) in steps.items():
            args = obj(["id", *schema.get("required", [])], id=_CASE, **schema["properties"])
            out.append(command(f"ledger_{name}", summary, keeper, on_open_record(KIND, "case", "case_unknown", act, view), args=args,
                               http=Http("POST", f"/ledger/{{id}}/{name}", tag="ledger")))
        return out

    async def _open(self, c: Call) -> dict[str, Any]:
        name, phone = privacy.mask_name(c.get("name")), privacy.check_phone(c.get("phone"))
        p = c.principal

        def decide(tx: Tx) -> dict[str, Any]:
            t = None
            if c.get("ticket"):
                t = tx.state.ticket_by_number(c["ticket"])
                if t is None:
                    raise NotFound(f"no ticket {c['ticket']} today", code="ticket_unknown")
            here = signed_in_at(p, tx.state)
            return view(ledger.open_case(
                tx, self.settings, matter=c["matter"], reason=c["reason"], department=c.get("department", ""),
                tier=c.get("tier"), name=name, phone=phone, ticket=t, service=c.get("service"),
                window=here if t is None else None, note=c.get("note")))

        return await c.decide(decide)

    async def _list(self, c: Call) -> dict[str, Any]:
        docs = sorted(await listed(c, KIND), key=lambda d: d.id)
        await privacy.audit(c.hall, c.principal, "view", KIND, ids=[d.id for d in docs])
        return {"cases": [view(d) for d in docs]}

    async def _one(self, c: Call) -> dict[str, Any]:
        hall = c.hall
        doc = hall.state.docs.get(KIND, {}).get(c["id"]) or await hall.store.doc(KIND, c["id"])
        if doc is None:
            raise NotFound(f"no case {c['id']}", code="case_unknown")
        await privacy.audit(hall, c.principal, "view", KIND, ids=[doc.id])
        return view(doc)

    async def _export(self, c: Call) -> Download:
        hall = c.hall
        month = c.get("month", hall.state.day[:7])
        try:
            first = date.fromisoformat(month + "-01")
        except ValueError:
            raise Invalid("month must be YYYY-MM", code="bad_date") from None
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        docs = await hall.store.docs(KIND, day_from=first.isoformat(), day_to=last.isoformat())
        kind = c.get("format", "csv")
        await privacy.audit(hall, c.principal, "export", KIND, ids=[d.id for d in docs], detail=f"monthly ledger {month} {kind}")
        table = files.Table(f"办不成事台账 {month}", [(get, title) for title, get in FIELDS], [d.data for d in docs])
        name = f"ledger-{hall.config.hall.id}-{month}.{kind}"
        if kind == "xlsx":
            return Download(files.to_xlsx([table], title=f"办不成事台账 {month}"), XLSX, name)
        return Download(files.to_csv(table), CSV, name)
