"""Logging for every hallcall command: one format, and no secret in any line.

Kiosks, screens and pads are opened once with ``?token=hc_…`` and a citizen's phone with
``/t/<tracking token>``; both are bearer secrets, and an access log or an error line that
names the request would write them to disk. One filter on the root handlers rewrites
every record that passes, whichever logger wrote it (aiohttp's access log included).
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
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


def setup(level: int | str) -> None:
    """Log to stderr at ``level``, every handler of the root logger redacting secrets."""
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, Redact) for f in handler.filters):
            handler.addFilter(Redact())
