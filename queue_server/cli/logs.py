"""Log output: plain lines for a terminal, or one JSON object per line for a log collector.

Each JSON line has ``time``, ``level``, ``logger``, ``event`` (the message), ``hall``,
and, inside a request or a WebSocket command, ``request_id`` and ``principal`` (the
caller's role, never a token, name or login); a commit's line adds ``seq`` and
``seq_last``, an HTTP access line ``method``, ``path`` (without the query string,
where page tokens travel), ``status`` and ``duration_ms``.

No secret reaches a line in either format. Kiosks, screens and pads are opened once with
``?token=hc_…`` and a citizen's phone with ``/t/<tracking token>``; both are bearer
secrets, and an error line that names a request would write them to disk. One filter on
the root handler (``Redact``) rewrites every record that passes, whichever logger wrote it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from queue_server.service import trace

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a record may carry through ``extra=``; nothing else of a record is written.
EXTRA_FIELDS = ("seq", "seq_last", "method", "path", "status", "duration_ms")
HIDDEN = "[redacted]"

_SECRETS = [
    # ?token=… and &token=… in a query, "token": "…" in JSON, token=… in a message
    (re.compile(r"""(?i)(["']?token["']?\s*[=:]\s*["']?)[^\s&"',;)]+"""), rf"\1{HIDDEN}"),
    (re.compile(r"(?i)(\bbearer\s+)\S+"), rf"\1{HIDDEN}"),  # Authorization: Bearer …
    (re.compile(r"\bhc_[A-Za-z0-9_-]+"), f"hc_{HIDDEN}"),  # a device token anywhere
    # a citizen's tracking token as an address or a topic: /t/…, /api/v1/tickets/…, ticket:…
    (re.compile(r"(/t/|/api/v1/tickets/|\bticket:)[A-Za-z0-9_-]{8,}"), rf"\1{HIDDEN}"),
]


def redact(text: str) -> str:
    """The text with every bearer secret in it replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """Rewrite a record's message with its secrets replaced (always lets the record through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class Context(logging.Filter):
    """Stamp every record with the hall and the current trace (request id, principal kind)."""

    def __init__(self, hall: str = "") -> None:
        super().__init__()
        self.hall = hall

    def filter(self, record: logging.LogRecord) -> bool:
        record.hall = self.hall
        t = trace.current()
        if t is not None:
            if not hasattr(record, "request_id"):
                record.request_id = t.request_id
            if not getattr(record, "principal", ""):
                record.principal = t.principal
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "hall": getattr(record, "hall", ""),
        }
        for name in ("request_id", "principal", *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value not in (None, ""):
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup(level: str, fmt: str = "text") -> Context:
    """Log to standard error in ``fmt``; the returned filter takes the hall's id once it is known."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT))
    context = Context()
    handler.addFilter(context)
    handler.addFilter(Redact())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return context


class AccessLog(AbstractAccessLogger):
    """One line per HTTP request: method, path without its query, status, time taken, request id."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, duration: float) -> None:
        rid = response.headers.get("X-Request-Id", "")
        self.logger.info("%s %s %d", request.method, request.path, response.status,
                         extra={"method": request.method, "path": request.path, "status": response.status,
                                "duration_ms": round(duration * 1000, 1), "request_id": rid})


