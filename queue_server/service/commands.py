"""The hall's commands: one table used by the HTTP API and by WebSocket commands.

Each entry names the arguments (a schema that validates them and documents them in
OpenAPI) and the Hall method that carries the command out. HTTP routes map their path
parameters and body onto these arguments; a WebSocket ``command`` message carries them
inline. Authorization happens inside the Hall, so both doors apply the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from queue_server.core.model import REASONS
from queue_server.core.schema import STR, WINDOW, obj

from .auth import Principal
from .hall import Hall

Run = Callable[[Hall, Principal, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    schema: dict[str, Any]
    run: Run
    who: str  # for the docs: who may run it


_OUTCOME = {"type": "string", "enum": ["done", "pending_materials", "not_done"]}
_NUMBER = {"type": "string", "pattern": "[A-Za-z]{1,2}[0-9]{3,4}"}
_LEVEL = {"type": "integer", "minimum": 1, "maximum": 5}
_REASONS = {"type": "array", "items": {"type": "string", "enum": sorted(REASONS)}, "maxItems": 5}


def _window_cmd(name: str, summary: str, method: str, **extra: dict[str, Any]) -> Command:
    async def run(hall: Hall, p: Principal, a: dict[str, Any]) -> Any:
        args = {k: a[k] for k in extra if k in a}
        return await getattr(hall, method)(p, a["window"], **args)

    return Command(name, summary, obj(["window"], window=WINDOW, **extra), run, "the clerk signed in at the window, or its agent")


COMMANDS: dict[str, Command] = {}


def _add(cmd: Command) -> None:
    COMMANDS[cmd.name] = cmd


_add(Command(
    "issue", "Take a ticket for a service",
    obj(["service"], service=STR, channel={"type": "string", "enum": ["kiosk", "phone", "appointment", "staff"]},
        priority={"type": "string", "enum": ["normal", "green", "appointment"]},
        request_id={"type": "string", "maxLength": 100}),
    lambda h, p, a: h.issue(p, a["service"], channel=a.get("channel"), priority=a.get("priority"),
                            request_id=a.get("request_id")),
    "kiosk token, staff",
))
_add(_window_cmd("call_next", "Call the next ticket to the window", "call_next"))
_add(_window_cmd("recall", "Call the current ticket again", "recall"))
_add(_window_cmd("start", "Start handling the current ticket", "start_service"))
_DETAILS = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "materials": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 20},
        "due": {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}"},
        "reason": {"type": "string", "maxLength": 300},
        "note": {"type": "string", "maxLength": 500},
    },
}
_add(_window_cmd("finish", "Finish the current ticket and ask for a rating", "finish", outcome=_OUTCOME, details=_DETAILS))
_add(_window_cmd("no_show", "Mark the current ticket as a no-show", "no_show"))
_add(_window_cmd("hold", "Park the current ticket at this window", "hold"))
_add(_window_cmd("call_back", "Call a held ticket back", "call_back", ticket=_NUMBER))
_add(Command(
    "transfer", "Transfer the current ticket to a service or a window",
    obj(["window"], window=WINDOW, service=STR, to_window=WINDOW, head={"type": "boolean"}),
    lambda h, p, a: h.transfer(p, a["window"], service=a.get("service"), window=a.get("to_window"), head=a.get("head")),
    "the clerk signed in at the window, or its agent",
))
_add(Command(
    "open", "Sign in at a window", obj(["window"], window=WINDOW, staff_no={"type": "string", "maxLength": 40}),
    lambda h, p, a: h.open_window(p, a["window"], staff_no=a.get("staff_no")),
    "a clerk permitted there, an admin, or its agent (with staff_no)",
))
_add(Command(
    "pause", "Pause the window", obj(["window"], window=WINDOW, reason={"type": "string", "maxLength": 100}),
    lambda h, p, a: h.pause(p, a["window"], a.get("reason")), "the clerk signed in at the window, its agent, an admin",
))
_add(Command("resume", "Resume the window", obj(["window"], window=WINDOW),
             lambda h, p, a: h.resume(p, a["window"]), "the clerk signed in at the window, its agent, an admin"))
_add(Command("close", "Sign out of the window", obj(["window"], window=WINDOW),
             lambda h, p, a: h.close_window(p, a["window"]), "the clerk signed in at the window, its agent, an admin"))
_add(Command(
    "requeue", "Put a missed (no-show) ticket back in its queue", obj(["ticket"], ticket=_NUMBER),
    lambda h, p, a: h.requeue(p, number=a["ticket"]), "kiosk, agent, staff",
))
_add(Command(
    "cancel", "Cancel a waiting ticket by number", obj(["ticket"], ticket=_NUMBER),
    lambda h, p, a: h.cancel_number(p, a["ticket"]), "staff",
))
_add(Command(
    "reprint", "Print a waiting ticket again, at its own kiosk or at the one named",
    obj(["ticket"], ticket=_NUMBER, kiosk={"type": "string", "minLength": 1, "maxLength": 80}),
    lambda h, p, a: h.reprint(p, a["ticket"], a.get("kiosk")), "staff",
))
_add(Command(
    "evaluate", "Rate a finished service",
    obj(["ticket", "level"], ticket={"type": "string", "maxLength": 40}, level=_LEVEL, reasons=_REASONS,
        comment={"type": ["string", "null"], "maxLength": 500},
        source={"type": "string", "enum": ["pad", "keypad", "phone", "web"]}),
    lambda h, p, a: h.evaluate(p, ticket=a["ticket"], level=a["level"], reasons=a.get("reasons"),
                               comment=a.get("comment"), source=a.get("source")),
    "the pad or agent of the ticket's window",
))
_add(Command(
    "set_notice", "Set the notice scrolling on hall screens",
    obj(["text"], text={"type": "string", "maxLength": 500}, text_en={"type": "string", "maxLength": 500}),
    lambda h, p, a: h.set_notice(p, a["text"], a.get("text_en", "")), "manager, admin",
))
_add(Command(
    "device_status", "Report a device's health",
    obj(["device", "kind", "status"], device={"type": "string", "maxLength": 80},
        kind={"type": "string", "enum": ["printer", "keypad", "evaluator", "led", "agent"]},
        status={"type": "string", "enum": ["online", "offline", "paper_near_end", "paper_out", "cover_open", "error"]},
        detail={"type": "string", "maxLength": 300}, window={"type": ["integer", "null"], "minimum": 1},
        kiosk={"type": ["string", "null"], "maxLength": 80}),
    lambda h, p, a: h.device_status(p, **a), "agent",
))
