"""Citizens' personal data: salted ID hashes, masking, and the audit log of who saw what.

An ID number (身份证号) never reaches the store, a log line, a page or an export: it is
checked (GB 11643 check digit), hashed with HMAC-SHA256 under a per-hall secret salt, and
dropped. The hash is enough to find a person's bookings again when they put the same card
on the kiosk reader. Because ID numbers are few enough to enumerate, the salt is what
keeps the hashes from being reversed, so it is kept apart from the data it protects: in a
file next to the SQLite database (``hall.db.salt``, mode 0600), in the store itself when
the store offers ``secret(name)`` (a multi-process store such as Redis, so every process
hashes alike), or in the file ``HALLCALL_SALT_FILE`` names. Never in the hall TOML, which is
copied around freely.

Names and phone numbers are masked before they are stored (张*, 138****0000), so every
screen and export shows only the masked form. Each view or export of citizens' records is
written to the audit log as a Doc of kind "audit", committed like any event.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any

from queue_server.core.errors import Invalid, Unavailable
from queue_server.core.model import Doc
from queue_server.store import StoreError

from .auth import Principal

log = logging.getLogger("hallcall.privacy")

SALT_ENV = "HALLCALL_SALT_FILE"
SALT_NAME = "privacy-salt"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID = re.compile(r"^[0-9]{17}[0-9X]$")


# -- ID numbers ------------------------------------------------------------------------------------


def normalize_id(raw: str) -> str:
    """The canonical form of a resident ID number; Invalid (never echoing it) when it is not one."""
    value = re.sub(r"\s+", "", raw or "").upper()
    if not _ID.match(value):
        raise Invalid("id_number must be an 18-character resident ID number", code="bad_id_number")
    if _CHECK[sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS)) % 11] != value[17]:
        raise Invalid("id_number fails its check digit; read the card again", code="bad_id_number")
    return value


class Hasher:
    """Salted hashing of ID numbers; holds the hall's salt once it is loaded."""

    def __init__(self, salt: bytes | None = None) -> None:
        self.salt = salt

    def hash_id(self, raw: str) -> str:
        if self.salt is None:
            raise Unavailable(f"ID numbers cannot be taken: no privacy salt (see {SALT_ENV} in docs/citizens.md)")
        return hmac.new(self.salt, normalize_id(raw).encode(), hashlib.sha256).hexdigest()


def _file_salt(path: Path, what: str = "privacy salt") -> bytes:
    """Read a secret's file, creating it (atomically, 0600) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    salt = path.read_bytes().strip()
    if len(salt) < 32:
        raise StoreError(f"the {what} in {path} is too short")
    return salt


async def load_salt(store: Any) -> bytes:
    """The hall's salt: from HALLCALL_SALT_FILE, the store's ``secret``, or a file beside the database."""
    return await load_secret(store, SALT_NAME, SALT_ENV, ".salt", "privacy salt")


async def load_secret(store: Any, name: str, env: str, suffix: str, what: str) -> bytes:
    """A hall secret, kept apart from the data it protects: the file ``env`` names, the store's
    ``secret(name)`` (Redis, so every process has the same), or a file beside the database."""
    named = os.environ.get(env)
    if named:
        return _file_salt(Path(named), what)
    secret = getattr(store, "secret", None)
    if callable(secret):
        value = await secret(name)
        return value if isinstance(value, bytes) else str(value).encode()
    path = getattr(store, "path", None)
    if path is not None:
        return _file_salt(Path(str(path) + suffix), what)
    raise StoreError(f"no place to keep the {what} for a {store.kind} store: set {env}")


# -- masking -----------------------------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the family name's first character stays."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """13800000000 -> 138****0000; short or landline numbers keep their last four digits only."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]  # +86 country code
    if not digits:
        return ""
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    return "****" + digits[-4:] if len(digits) > 4 else "*" * len(digits)


def mask_id(raw: str) -> str:
    """11010519491231002X -> 1101**********002X (for showing back to the card holder only)."""
    value = normalize_id(raw)
    return value[:4] + "*" * 10 + value[-4:]


def check_phone(phone: str | None) -> str:
    """Mask a phone number taken from a request, refusing what is plainly not one."""
    if phone is None or phone == "":
        return ""
    if not re.fullmatch(r"\+?[0-9 ()-]{5,20}", phone):
        raise Invalid("phone must be digits, optionally with +, spaces, - or ()", code="bad_phone")
    return mask_phone(phone)


# -- the audit log -------------------------------------------------------------------------------------


async def audit(hall: Any, p: Principal, action: str, kind: str, *, ids: list[str] | None = None,
                detail: str | None = None) -> None:
    """Record that ``p`` viewed or exported citizens' records (before they get them)."""
    ids = list(ids or [])
    now = hall.clock.now().astimezone(hall.config.hall.tz)

    def decide(tx: Any) -> None:
        data = {"actor": p.actor or p.role, "role": p.role, "name": p.name, "action": action, "kind": kind,
                "count": len(ids), "ids": ids[:50], "detail": detail, "at": tx.now.isoformat()}
        doc = Doc("audit", f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}", tx.state.day or now.date().isoformat(), data,
                  keys=(f"actor:{p.actor or p.role}", f"kind:{kind}"), live=False)
        tx.emit("audit.recorded", docs=(doc,))

    await hall.run(decide, p.actor)
