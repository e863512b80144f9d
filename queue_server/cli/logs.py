"""Log output: plain lines for a terminal, or one JSON object per line for a log collector.

Each JSON line has ``time``, ``level``, ``logger``, ``event`` (the message), ``hall``,
and, inside a request or a WebSocket command, ``request_id`` and ``principal`` (the
caller's role, never a token, name or login); a commit's line adds ``seq`` and
``seq_last``, an HTTP access line ``method``, ``path`` (without the query string,
where page tokens travel), ``status`` and ``duration_ms``.
"""

from __future__ import annotations

import json
import logging
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


