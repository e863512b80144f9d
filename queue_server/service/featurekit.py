"""Plumbing shared by the citizen-facing features: their hall-file sections, steps, checkers.

Follow-up cases, the 办不成事 ledger, appointments and 容缺受理 records all read a section
of the hall file with defaults, record each step of a case with who and when, and run a
checker that turns the passing of time into events (escalated, overdue, voided). The
checker is one decision function run through ``hall.run`` so its events commit like any
other; the background loop only calls it now and then, and tests call it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from aiohttp import web

from queue_server.core.config import ConfigIssue, HallConfig
from queue_server.core.errors import HallError
from queue_server.core.model import Doc
from queue_server.web import http as api

log = logging.getLogger("hallcall.features")
T = TypeVar("T")
_MISSING = object()


class Section:
    """Typed reads of one table of the hall file; problems collect as located ConfigIssues."""

    def __init__(self, cfg: HallConfig, name: str, raw: Any = _MISSING) -> None:
        self.cfg = cfg
        self.name = name
        self.issues: list[ConfigIssue] = []
        if raw is _MISSING:
            raw = cfg.extra.get(name, {})
        if not isinstance(raw, dict):
            self.issues.append(cfg.issue(name, None, "must be a table"))
            raw = {}
        self.raw: dict[str, Any] = raw
        self._known: set[str] = set()

    def fail(self, key: str | None, message: str) -> None:
        self.issues.append(self.cfg.issue(self.name, key, message))

    def get(self, key: str, default: T, *, lo: float | None = None, hi: float | None = None) -> T:
        """A value of the default's type, bounded; the default (and an issue) when wrong."""
        self._known.add(key)
        if key not in self.raw:
            return default
        value = self.raw[key]
        kind = type(default)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.fail(key, f"must be {kind.__name__}, not {type(value).__name__}")
            return default
        if lo is not None and value < lo or hi is not None and value > hi:  # type: ignore[operator]
            self.fail(key, f"must be between {lo:g} and {hi:g}" if hi is not None else f"must be at least {lo:g}")
            return default
        return value  # type: ignore[no-any-return]

    def table(self, key: str) -> Section:
        """A sub-table (``[followup.export]``) read the same way."""
        self._known.add(key)
        sub = Section(self.cfg, f"{self.name}.{key}", self.raw.get(key, {}))
        return sub

    def mapping(self, key: str, default: dict[str, str]) -> dict[str, str]:
        """A table of string values merged over the defaults (code tables)."""
        self._known.add(key)
        raw = self.raw.get(key, {})
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            self.fail(key, "must be a table of strings")
            return dict(default)
        return {**default, **raw}

    def finish(self, *subs: Section) -> list[ConfigIssue]:
        """Report unknown keys; return every issue of this table and its sub-tables."""
        for key in self.raw:
            if key not in self._known:
                self.fail(key, f"unknown field (expected one of: {', '.join(sorted(self._known))})")
        return [i for s in (self, *subs) for i in s.issues]


_CACHE: dict[tuple[str, int], tuple[HallConfig, Any]] = {}


def cached(name: str, cfg: HallConfig, read: Callable[[HallConfig], T]) -> T:
    """Read a feature's settings once per configuration (hooks run on every decision)."""
    hit = _CACHE.get((name, id(cfg)))
    if hit is not None and hit[0] is cfg:
        return hit[1]  # type: ignore[no-any-return]
    value = read(cfg)
    _CACHE[(name, id(cfg))] = (cfg, value)  # holds the config, so its id is not reused
    return value


async def listed(hall: Any, request: web.Request, kind: str) -> list[Doc]:
    """A feature's records for a list route: the open ones from the live state
    (``?state=open``, the default), or every one of a period from the store (``?state=all``)."""
    if request.query.get("state", "open") == "open":
        return list(hall.state.docs.get(kind, {}).values())
    d_from, d_to = api.parse_period(request, hall.state.day)
    return await hall.store.docs(kind, day_from=d_from, day_to=d_to)


def step(tx: Any, name: str, **what: Any) -> dict[str, Any]:
    """One line of a case's history: what was done, by whom, when."""
    return {"step": name, "by": tx.by, "at": tx.now.isoformat(), **{k: v for k, v in what.items() if v is not None}}


@contextlib.asynccontextmanager
async def ticking(hall: Any, name: str, every: Callable[[HallConfig], float], check: Callable[[Any], Awaitable[Any]]
                  ) -> AsyncIterator[None]:
    """Call ``check(hall)`` every few seconds while the block runs."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every(hall.config))
            try:
                await check(hall)
            except HallError as exc:  # the store is down, say: try again next round
                log.warning("%s check failed: %s", name, exc)
            except Exception:
                log.exception("%s check failed", name)

    task = asyncio.create_task(loop(), name=f"{name}-checker")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


def periodic(name: str, every: Callable[[HallConfig], float], check: Callable[[Any], Awaitable[Any]]
             ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A feature lifetime that calls ``check(hall)`` every few seconds until the app stops."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        from queue_server.web.http import HALL_KEY

        async with ticking(app[HALL_KEY], name, every, check):
            yield

    return lifetime
