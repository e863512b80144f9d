"""The request an action belongs to: its id and the kind of caller, carried with the work it causes.

An HTTP request (its ``X-Request-Id``, or a new id) or a WebSocket command begins a
trace; the Hall's engine keeps it with the decision it queues, so the commit that
carries the decision out is logged under the same id with its events' sequence
numbers. A trace holds no token and nothing about a person but the role they act in.
"""

from __future__ import annotations

import re
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CURRENT: ContextVar[Trace | None] = ContextVar("hallcall_trace", default=None)


@dataclass
class Trace:
    request_id: str
    principal: str = ""  # the caller's role once known: kiosk, clerk, agent, anonymous…


def new_id() -> str:
    return secrets.token_hex(8)


def request_id_from(sent: str | None) -> str:
    """The caller's id when it is a plain short token (it is logged as is), else a new one."""
    return sent if sent and _VALID.fullmatch(sent) else new_id()


@contextmanager
def traced(request_id: str, principal: str = "") -> Iterator[Trace]:
    """Trace the work done inside the block (and by the tasks it starts)."""
    t = Trace(request_id, principal)
    token = _CURRENT.set(t)
    try:
        yield t
    finally:
        _CURRENT.reset(token)


def current() -> Trace | None:
    return _CURRENT.get()


def act_as(role: str) -> None:
    """Note the caller's role on the current trace, if there is one."""
    t = _CURRENT.get()
    if t is not None:
        t.principal = role
