"""The 帮办代办 feature: requests for an escort, the guides who take them, and the help they record.

A citizen asks at the kiosk (需要帮办, right after taking a ticket) or on the phone page,
or staff at the guide desk flag a ticket by its number; green-channel tickets are listed
first. Guides (role "guide") see open requests live on the "guides" topic, accept one,
then mark it done with the help given or release it. The citizen's phone page shows the
guide who took the request (the ticket's own topic), the clerk's console the guide of
the ticket at its window, the live monitor every request (the managers' topic).
"""

from __future__ import annotations

from typing import Any

from queue_server.core.config import HallConfig
from queue_server.core.errors import Forbidden, NotFound
from queue_server.core.model import Doc
from queue_server.core.periods import parse
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, NUMBER, PERIOD, WINDOW, obj
from queue_server.core.state import HallState
from queue_server.reports import files
from queue_server.service import auth
from queue_server.service.actions import TOKEN, today_by_number, today_by_token
from queue_server.service.auth import GUIDE, MANAGERS, STAFF_ROLES, Principal, rule
from queue_server.service.commands import TABLES, Call, Command, Download, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker, listed, on_open_record

from . import report, requests
from .requests import HELP, KIND

# What the citizen's page sees of their request: its state and who helps them, not the staff's notes.
CITIZEN_FIELDS = ("number", "state", "guide_name", "staff_no", "requested_at", "accepted_at", "done_at")
_NOTE = {"type": "string", "maxLength": 500}
_ID = {"type": "string", "maxLength": 80}
# Who may flag a ticket by its number at the guide desk; anyone else names it by its tracking token.
DESK = (GUIDE, *STAFF_ROLES)


def _by_number_or_token(p: Principal, st: HallState, args: Any) -> None:
    if "ticket" in args:
        auth.require(p, *DESK)
    elif "token" not in args:
        raise NotFound("name the ticket: 'ticket' (its number) or 'token'", code="ticket_unknown")


def _holder(p: Principal, st: HallState, args: Any) -> None:
    """A guide acts only on the requests they hold (a manager may release any)."""
    if p.role != GUIDE:
        return
    doc = st.docs.get(KIND, {}).get(args.get("id", ""))
    if doc is not None and doc.data["state"] == "accepted" and doc.data["guide"] != p.id:
        raise Forbidden(f"{doc.data['number']} is in {doc.data['guide_name']}'s hands", code="assist_not_yours")


def _source(p: Principal) -> str:
    if p.role == "kiosk":
        return "kiosk"
    return "desk" if p.role in DESK else "phone"


def _order(d: Doc) -> tuple[Any, ...]:
    """Open requests first, green channel first among them, then oldest first."""
    return (d.data["state"] != "open", not d.data["green"], d.data["requested_at"], d.id)


class Assist(Feature):
    name = "assist"
    section = "assist"
    audience = {"assist.": ("admin", "guides", "ticket")}
    citizen_fields = CITIZEN_FIELDS

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        sec = self.read()
        self.kiosk_button = sec.get("kiosk", True)
        self.check_seconds = sec.get("check_seconds", 60.0, lo=1, hi=3600)
        self.alert_minutes = sec.get("alert_minutes", 5.0, lo=0, hi=240)  # open this long: overdue (0: never)
        self.done(sec)

    def tickers(self) -> list[Ticker]:
        return [Ticker("assist", self.check_seconds, self.check)]

    async def check(self, hall: Hall) -> list[Doc]:
        return await hall.run(lambda tx: requests.check(tx, self.alert_minutes))

    # -- commands ------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        desk = rule("guide, staff", *DESK)
        http = lambda method, path, status=200: Http(method, path, status, tag="assist")  # noqa: E731

        def step(act: Any) -> Any:
            """A command that moves one live request, named by its ``id``, one step."""
            return on_open_record(KIND, "帮办 request", "assist_unknown", act, requests.view)

        def accept(tx: Tx, doc: Doc, c: Call) -> Doc:
            p = c.principal
            return requests.accept(tx, doc, p.id, p.name, p.person.staff_no if p.person is not None else "")

        return [
            command("assist_request", "Ask for an escort (需要帮办): by the ticket's token, or staff by its number (201)",
                    rule("anyone with the token; guides and staff by number", *auth.ANYONE.roles,
                         check=_by_number_or_token),
                    self._request, args=obj(ticket=NUMBER, token=TOKEN, need=_NOTE), http=http("POST", "/assist", 201)),
            command("assist_list", "帮办 requests: live ones (open and accepted) by default, or all of a period",
                    desk, self._list, args=obj(state={"type": "string", "enum": ["open", "all"]}, **{"from": DAY, "to": DAY}),
                    http=http("GET", "/assist")),
            command("assist_of_ticket", "The 帮办 request of one's own ticket, by its token", auth.ANYONE,
                    self._of_ticket, args=obj(["token"], token=TOKEN), http=http("GET", "/tickets/{token}/assist")),
            command("assist_of_window", "The 帮办 request of the ticket at a window now", auth.WINDOW_RECORDS,
                    self._of_window, args=obj(["window"], window=WINDOW), http=http("GET", "/windows/{window}/assist")),
            command("assist_accept", "Take a request (接单); a second guide finds it taken (409)", rule("guide", GUIDE),
                    step(accept), args=obj(["id"], id=_ID), http=http("POST", "/assist/{id}/accept")),
            command("assist_release", "Give a request back to every guide",
                    rule("the guide holding it, manager, admin", GUIDE, "manager", "admin", check=_holder),
                    step(lambda tx, d, c: requests.release(tx, d, c.get("note"))),
                    args=obj(["id"], id=_ID, note=_NOTE), http=http("POST", "/assist/{id}/release")),
            command("assist_done", "Record the help given (代填表, 代办, 引导, 翻译, other with a note) and close",
                    rule("the guide holding it", GUIDE, check=_holder),
                    step(lambda tx, d, c: requests.done(tx, d, c["help"], c.get("note"))),
                    args=obj(["id", "help"], id=_ID, note=_NOTE,
                             help={"type": "array", "items": {"type": "string", "enum": list(HELP)}, "maxItems": 5}),
                    http=http("POST", "/assist/{id}/done")),
            command("assist_cancel", "Withdraw a request (the citizen has left)",
                    rule("guide (not another's request), manager, admin", GUIDE, "manager", "admin", check=_holder),
                    step(lambda tx, d, c: requests.cancel(tx, d, "withdrawn", c.get("note"))),
                    args=obj(["id"], id=_ID, note=_NOTE), http=http("POST", "/assist/{id}/cancel")),
            command("report_assist", "帮办 figures by guide or service: requests, accepted, done, waits, help minutes",
                    MANAGERS, self._report,
                    args=obj(period=PERIOD, by={"type": "string", "enum": list(report.DIMENSIONS)},
                             format={"type": "string", "enum": ["json", "csv", "xlsx"]}, **{"from": DAY, "to": DAY}),
                    http=Http("GET", "/reports/assist", tag="reports", produces=TABLES)),
        ]

    async def _request(self, c: Call) -> dict[str, Any]:
        source = _source(c.principal)

        def decide(tx: Tx) -> dict[str, Any]:
            st = tx.state
            t = today_by_number(st, c["ticket"]) if "ticket" in c.args else today_by_token(st, c["token"])
            return requests.view(requests.request(tx, t, source, c.get("need")))

        return await c.decide(decide)

    async def _list(self, c: Call) -> dict[str, Any]:
        docs = await listed(c, KIND)
        return {"assist": [requests.view(d) for d in sorted(docs, key=_order)]}

    async def _of_ticket(self, c: Call) -> dict[str, Any]:
        st = c.hall.state
        t = today_by_token(st, c["token"])
        doc = st.docs.get(KIND, {}).get(t.id) or await c.hall.store.doc(KIND, t.id)
        return {"ticket": t.id, "assist": _citizen_view(doc) if doc is not None else None}

    async def _of_window(self, c: Call) -> dict[str, Any]:
        st = c.hall.state
        t = st.current_ticket(c["window"])
        if t is None:
            return {"window": c["window"], "assist": None}
        doc = st.docs.get(KIND, {}).get(t.id) or await c.hall.store.doc(KIND, t.id)
        return {"window": c["window"], "assist": requests.view(doc) if doc is not None else None}

    async def _report(self, c: Call) -> Any:
        hall = c.hall
        period = parse(c.get("period"), first=c.get("from"), last=c.get("to"), today=hall.state.day)
        by = c.get("by", "guide")
        docs = await hall.store.docs(KIND, day_from=period.first, day_to=period.last)
        names = ({p.id: p.name for p in await hall.store.people()} if by == "guide"
                 else {s.id: s.name for s in hall.config.services.values()})
        out = {"period": period.to_dict(), **report.rows(docs, by, names)}
        fmt = c.get("format", "json")
        if fmt == "json":
            return out
        sheet = report.table(out)
        name = f"hallcall-assist-{by}-{period.label}".replace("..", "_")
        if fmt == "csv":
            return Download(files.to_csv(sheet), files.CSV_TYPE, f"{name}.csv")
        heading = f"{hall.config.hall.name} {sheet.title} {period.label}"
        return Download(files.to_xlsx([sheet], title=heading), files.XLSX_TYPE, f"{name}.xlsx")


def _citizen_view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **{k: doc.data[k] for k in CITIZEN_FIELDS}, "state_name": requests.STATES[doc.data["state"]]}
