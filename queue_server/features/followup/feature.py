"""The follow-up feature: a case for every bad review, its steps as commands, its checker and webhook."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Callable

from queue_server.core.config import HallConfig
from queue_server.core.errors import Forbidden, NotFound
from queue_server.core.model import Doc, Evaluation
from queue_server.core.rules import Tx
from queue_server.core.schema import DAY, obj
from queue_server.core.state import HallState
from queue_server.service import webhook
from queue_server.service.auth import MANAGERS, STAFF, Principal, rule
from queue_server.service.commands import Call, Command, Http, command
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature, Features, Ticker, listed, on_open_record

from . import cases
from .cases import GROUNDS, KIND, REPLY_CHANNELS, STATES

_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000}
_NOTE = {"type": "string", "maxLength": 1000}
_CASE = {"type": "string", "maxLength": 80}
LIST_ARGS: dict[str, dict[str, Any]] = {"state": {"type": "string", "enum": ["open", "all"]}, "from": DAY, "to": DAY}


def view(doc: Doc) -> dict[str, Any]:
    return {"id": doc.id, **doc.data, "state_name": STATES[doc.data["state"]]}


def _own_case(p: Principal, st: HallState, args: Any) -> None:
    """A clerk appeals (and sees) only the cases about their own services."""
    if p.role != "clerk":
        return
    doc = st.docs.get(KIND, {}).get(args.get("id", ""))
    if doc is not None and doc.data.get("clerk") != p.id:
        raise Forbidden("a clerk may appeal reviews of their own services only")


class FollowUp(Feature):
    name = "followup"
    section = "followup"
    audience = {"case.": ("admin",)}

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        super().__init__(cfg, features)
        sec = self.read()
        self.settings = cases.read(sec)
        self.done(sec)

    def on_evaluated(self, tx: Tx, ev: Evaluation) -> None:
        if ev.bad:
            cases.open_case(tx, ev, self.settings)

    def tickers(self) -> list[Ticker]:
        return [Ticker("followup", self.settings.check_seconds, self.check)]

    async def check(self, hall: Hall) -> list[Doc]:
        return await hall.run(lambda tx: cases.check(tx, self.settings))

    @contextlib.asynccontextmanager
    async def lifetime(self, hall: Hall) -> AsyncIterator[None]:
        s = self.settings
        if not s.webhook:
            yield
            return
        poster = webhook.Poster(s.webhook, webhook.notify_payload(hall.config.hall.id), timeout=s.webhook_timeout,
                                retries=s.webhook_retries, name="followup-webhook")
        async with webhook.posting(hall, poster):
            yield

    # -- commands ------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        s = self.settings
        steps: dict[str, tuple[str, dict[str, Any], Callable[[Tx, Doc, Call], Doc]]] = {
            "screen": ("预审: the review is genuine; verify it", obj(note=_NOTE),
                       lambda tx, d, c: cases.screen(tx, d, c.get("note"))),
            "appeal": ("申诉: appeal a malicious or mistaken review",
                       obj(["ground", "statement"], ground={"type": "string", "enum": list(GROUNDS)}, statement=_TEXT),
                       lambda tx, d, c: cases.appeal(tx, d, c["ground"], c["statement"])),
            "appeal-decision": ("Uphold or reject an appeal", obj(["upheld"], upheld={"type": "boolean"}, note=_NOTE),
                                lambda tx, d, c: cases.decide_appeal(tx, d, c["upheld"], c.get("note"))),
            "verify": ("核实: is the complaint true and reasonable?",
                       obj(["substantiated", "reasonable", "finding"], substantiated={"type": "boolean"},
                           reasonable={"type": "boolean"}, finding=_TEXT),
                       lambda tx, d, c: cases.verify(tx, d, c["substantiated"], c["reasonable"], c["finding"])),
            "rectify": ("整改: record the rectification", obj(["measures"], measures=_TEXT),
                        lambda tx, d, c: cases.rectify(tx, d, c["measures"])),
            "reply": ("回复: record the answer given to the citizen",
                      obj(["text"], text=_TEXT, channel={"type": "string", "enum": list(REPLY_CHANNELS)}),
                      lambda tx, d, c: cases.reply(tx, d, c["text"], c.get("channel", "phone"))),
            "callback": ("回访: the citizen rates the fix",
                         obj(["level"], level={"type": "integer", "minimum": 1, "maximum": 5}, note=_NOTE),
                         lambda tx, d, c: cases.callback(tx, d, c["level"], c.get("note"), s)),
        }
        appealer = rule("the clerk rated, manager, admin", *STAFF.roles, check=_own_case)
        out = [
            command("cases", "Bad-review follow-up cases (open ones by default)",
                    rule("manager, admin; a clerk sees their own", *STAFF.roles), self._list,
                    args=obj(**LIST_ARGS, window={"type": "integer", "minimum": 1, "maximum": 9999}),
                    http=Http("GET", "/cases", tag="followup")),
            command("case", "One follow-up case with every step", rule("manager, admin; a clerk their own", *STAFF.roles),
                    self._one, args=obj(["id"], id=_CASE), http=Http("GET", "/cases/{id}", tag="followup")),
        ]
        for action, (summary, schema, act) in steps.items():
            args = obj(["id", *schema.get("required", [])], id=_CASE, **schema["properties"])
            out.append(command(f"case_{action.replace('-', '_')}", summary, appealer if action == "appeal" else MANAGERS,
                               on_open_record(KIND, "case", "case_unknown", act, view), args=args, http=Http("POST", f"/cases/{{id}}/{action}", tag="followup")))
        return out

    async def _list(self, c: Call) -> dict[str, Any]:
        docs = await listed(c, KIND)
        if "window" in c.args:
            docs = [d for d in docs if d.data.get("window") == c["window"]]
        if c.principal.role == "clerk":
            docs = [d for d in docs if d.data.get("clerk") == c.principal.id]
        return {"cases": [view(d) for d in sorted(docs, key=lambda d: d.id)]}

    async def _one(self, c: Call) -> dict[str, Any]:
        doc = c.hall.state.docs.get(KIND, {}).get(c["id"]) or await c.hall.store.doc(KIND, c["id"])
        if doc is None:
            raise NotFound(f"no case {c['id']}", code="case_unknown")
        if c.principal.role == "clerk" and doc.data.get("clerk") != c.principal.id:
            raise Forbidden("a clerk sees the cases about their own services only")
        return view(doc)

