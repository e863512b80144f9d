"""The WebSocket protocol shared by the server and every client (screens, pads, agents).

One JSON object per frame, always with a ``type``. This module holds the message
builders, the event and command names, topic names and a strict parser. It imports
nothing from the rest of the server, so displays/, devices/ and voice/ depend on it
alone. ``client`` is the one WebSocket client every agent uses, ``backoff`` its reconnect
delays. docs/protocol.md is the prose version of this package.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

# Declared once so that the two parsers below share one type: JSON text or UTF-8 bytes in.
loads: Callable[[str | bytes], Any]

try:  # orjson is several times faster on the hot paths (every event, every response)
    import orjson

    def dumps(value: Any) -> str:
        """Compact JSON text, UTF-8 kept as is."""
        return orjson.dumps(value).decode()

    loads = orjson.loads
except ImportError:  # pragma: no cover - the fallback keeps clients dependency-light
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    loads = json.loads

VERSION = 1

# Largest frame a client may send; the server answers bigger ones with an error.
MAX_CLIENT_FRAME = 64 * 1024

# client -> server
HELLO = "hello"
COMMAND = "command"
SUBSCRIBE = "subscribe"
PING = "ping"
# server -> client
WELCOME = "welcome"
SNAPSHOT = "snapshot"
EVENT = "event"
RESULT = "result"
ERROR = "error"
POSITION = "position"
PONG = "pong"
QUEUES = "queues"  # a shared screen's digest of queue counts (instead of each ticket.issued)

EVENT_NAMES = frozenset(
    {
        "ticket.issued",
        "ticket.called",
        "ticket.recalled",
        "ticket.started",
        "ticket.finished",
        "ticket.no_show",
        "ticket.requeued",
        "ticket.transferred",
        "ticket.cancelled",
        "ticket.expired",
        "ticket.held",
        "ticket.part_done",
        "ticket.routed",
        "window.opened",
        "window.paused",
        "window.resumed",
        "window.closed",
        "evaluation.requested",
        "evaluation.submitted",
        "print.requested",
        "notice.changed",
        "day.started",
        "device.status",
    }
)
# Features add event families of their own (alert., case., booking., ledger., pending.,
# export., audit., assessment.): each reaches the audiences its feature declares. Commands
# are whatever the server's command table holds; GET /api/v1/openapi.json lists them
# (each operation's x-command), and docs/protocol.md describes them.

# Pause reasons offered by consoles and keypads; free text is accepted too.
PAUSE_REASONS = ("rest", "meeting", "consulting", "other")


def topic_hall() -> str:
    return "hall"


def topic_zone(zone: str) -> str:
    return f"zone:{zone}"


def topic_window(number: int) -> str:
    return f"window:{number}"


def topic_ticket(token: str) -> str:
    return f"ticket:{token}"


def topic_kiosk(kiosk: str) -> str:
    return f"kiosk:{kiosk}"


def topic_printer(kiosk: str) -> str:
    """The health of the printers bound to a kiosk (the kiosk page says "printing" only when one is online)."""
    return f"printer:{kiosk}"


def rating_key(ticket: str, part: str | None = None) -> str:
    """What one rating is known by: the ticket's id, or ``ticket.part`` for a bundle's part rated on its own
    (ticket and service ids hold no dot)."""
    return f"{ticket}.{part}" if part else ticket


def split_rating_key(key: str) -> tuple[str, str | None]:
    """The ticket id and the part (or None) of a rating key."""
    ticket, _, part = key.partition(".")
    return ticket, part or None


TOPIC_ADMIN = "admin"
TOPIC_DEVICES = "devices"
TOPIC_GUIDES = "guides"  # 帮办 requests, for the guides' page and the clerks' consoles


class ProtocolError(ValueError):
    """A frame that is not a valid protocol message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def hello(token: str | None, topics: list[str], since: int | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": HELLO, "topics": list(topics)}
    if token:
        msg["token"] = token
    if since is not None:
        msg["since"] = since
    return msg


def command(msg_id: int, name: str, **args: Any) -> dict[str, Any]:
    return {"type": COMMAND, "id": msg_id, "name": name, **args}


def result(msg_id: Any, data: Any = None) -> dict[str, Any]:
    return {"type": RESULT, "id": msg_id, "ok": True, "data": data}


def failure(msg_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": RESULT, "id": msg_id, "ok": False, "error": {"code": code, "message": message}}


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": ERROR, "error": {"code": code, "message": message}}


def encode(message: dict[str, Any]) -> str:
    return dumps(message)


def _check_int(msg: dict[str, Any], key: str, *, optional: bool) -> None:
    value = msg.get(key)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("bad_field", f"{key!r} must be an integer")


def parse_client(frame: str | bytes) -> dict[str, Any]:
    """Parse and validate one frame sent by a client."""
    if len(frame) > MAX_CLIENT_FRAME:
        raise ProtocolError("too_large", f"frame over {MAX_CLIENT_FRAME} bytes")
    try:
        msg = loads(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"frame is not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("bad_message", "frame must be a JSON object")
    kind = msg.get("type")
    if kind == HELLO:
        topics = msg.get("topics", [])
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ProtocolError("bad_field", "'topics' must be a list of strings")
        if "token" in msg and msg["token"] is not None and not isinstance(msg["token"], str):
            raise ProtocolError("bad_field", "'token' must be a string")
        _check_int(msg, "since", optional=True)
    elif kind == SUBSCRIBE:
        topics = msg.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ProtocolError("bad_field", "'topics' must be a list of strings")
    elif kind == COMMAND:
        if "id" not in msg:
            raise ProtocolError("bad_field", "a command needs an 'id'")
        if not isinstance(msg.get("name"), str):
            raise ProtocolError("bad_field", "a command needs a 'name'")
    elif kind == PING:
        pass
    else:
        raise ProtocolError("bad_type", f"unknown message type {kind!r}")
    return msg


def parse_server(frame: str | bytes) -> dict[str, Any]:
    """Parse one frame sent by the server (used by agents and tests)."""
    try:
        msg = loads(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"frame is not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("bad_message", "frame must be a JSON object with a type")
    return msg


def event_age(msg: dict[str, Any], now: datetime) -> float | None:
    """Seconds from an event's ``at`` to ``now``, or None when ``at`` is missing or has no offset."""
    text = msg.get("at")
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return (now - at).total_seconds()
