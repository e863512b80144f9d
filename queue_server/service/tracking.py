"""Citizens' tracking tokens: handed out, never stored.

A ticket's tracking token is its address (``/t/<token>``) and the key to reading,
cancelling and rating it. The store keeps only its SHA-256 (``core.model.token_key``), as
it keeps device tokens, so a copy of the database reads no ticket. The token itself is an
HMAC of the ticket's id under the hall's tracking key, so any server process holding the
key can hand it out again, to the kiosk's printer or to a retried request, without
reading it from anywhere. The key lives where the privacy salt does (``privacy.load_secret``):
the file ``HALLCALL_KEY_FILE`` names, else ``hall.db.key`` beside a SQLite database (0600),
else the Redis store's own secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from queue_server.core.model import token_key

from . import privacy

KEY_ENV = "HALLCALL_KEY_FILE"
KEY_NAME = "tracking-key"


class Tracking:
    """The hall's tracking key and what is derived from it."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key

    def token(self, ticket_id: str) -> str:
        """The citizen's tracking token of a ticket (22 URL-safe characters, 128 bits)."""
        if self.key is None:
            raise RuntimeError("the tracking key is not loaded: start the hall first")
        mac = hmac.new(self.key, b"tracking-token:" + ticket_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode()

    def key_of(self, ticket_id: str) -> str:
        """What the store keeps of a ticket's token."""
        return token_key(self.token(ticket_id))


async def load_key(store: Any) -> bytes:
    return await privacy.load_secret(store, KEY_NAME, KEY_ENV, ".key", "tracking key")
