"""The plug-in contract: what a feature brings to a Hall, and the set a Hall runs.

A feature (alerts, follow-up cases, appointments…) is an object built from the hall
file once, when the configuration loads. It owns one table of the file and reads it
into its settings in ``__init__``; it may add

- commands (``commands``): named actions with one schema and one authorization rule,
  served over HTTP and WebSocket alike;
- hooks (``on_issued``, ``on_finished``, ``on_evaluated``, ``on_limited``): decisions that
  run inside the transaction of a core rule, so their records commit atomically with it;
- tickers (``tickers``): checks the Hall runs every few seconds, each a decision of its own;
- a lifetime (``lifetime``): resources that live as long as the running Hall;
- an audience for its events (``audience``): which clients see each event family.

Nothing registers itself: ``queue_server.features.build`` lists the features a hall
runs and makes one ``Features`` from its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, ClassVar, Iterable, Mapping, TypeVar

from queue_server.core.config import ConfigError, ConfigIssue, HallConfig, Section
from queue_server.core.errors import HallError, NotFound
from queue_server.core.model import Evaluation, Ticket
from queue_server.core.rules import Hooks, Tx

if TYPE_CHECKING:
    from queue_server.core.model import Doc

    from .commands import Call, Command
    from .hall import Hall

log = logging.getLogger("hallcall.features")
F = TypeVar("F", bound="Feature")

# Who sees an event family. "admin" is the managers' topic; "window" is the window the
# event names (its ``window_no`` extra, or the ``window`` of its first record); "guides" the
# guides' and clerks' topic; "ticket" the citizen's own ticket (the ``ticket`` id of its first
# record), who gets only the record fields the feature names in ``citizen_fields``.
AUDIENCES = frozenset({"admin", "window", "guides", "ticket"})


@dataclass(frozen=True)
class Ticker:
    """A check the running Hall calls every ``every`` seconds (0: never)."""

    name: str
    every: float
    check: Callable[[Hall], Awaitable[Any]]


class Feature:
    """One part of hallcall beyond the queue core. Subclasses set the class attributes."""

    name: ClassVar[str]
    section: ClassVar[str | None] = None  # the hall-file table it owns
    tables: ClassVar[tuple[str, ...]] = ()  # more tables it owns ([webhook] for alerts, say)
    audience: ClassVar[Mapping[str, tuple[str, ...]]] = {}  # event family ("case.") -> audiences
    citizen_fields: ClassVar[tuple[str, ...]] = ()  # what the "ticket" audience sees of a record

    def __init__(self, cfg: HallConfig, features: Features) -> None:
        self.config = cfg
        self.issues: list[ConfigIssue] = []

    def read(self, table: str | None = None) -> Section:
        """A reader of this feature's table (or another it owns); call ``done`` on it when read."""
        return Section(self.config, table or self.section or self.name)

    def done(self, *sections: Section) -> None:
        for s in sections:
            self.issues.extend(s.finish())

    def commands(self) -> Iterable[Command]:
        return ()

    def tickers(self) -> Iterable[Ticker]:
        return ()

    @contextlib.asynccontextmanager
    async def lifetime(self, hall: Hall) -> AsyncIterator[None]:
        yield

    # Hooks: None where a feature has nothing to add.
    on_issued: Callable[[Tx, Ticket], None] | None = None
    on_finished: Callable[[Tx, Ticket, dict[str, Any]], None] | None = None
    on_evaluated: Callable[[Tx, Evaluation], None] | None = None
    on_limited: Callable[[Tx, dict[str, Any]], None] | None = None


class Features:
    """The features one hall runs, built from its configuration in order.

    A feature may read the settings of one built before it (``get``), as 容缺受理 takes
    its default due date from the follow-up settings. Every problem of every table is
    collected and raised at once as one ``ConfigError``.
    """

    def __init__(self, cfg: HallConfig, kinds: Iterable[type[Feature]], *, other_sections: Iterable[str] = (),
                 checks: Iterable[Callable[[HallConfig], list[ConfigIssue]]] = ()) -> None:
        self.config = cfg
        self._by_type: dict[type[Feature], Feature] = {}
        self.items: list[Feature] = []
        issues: list[ConfigIssue] = []
        for kind in kinds:
            feature = kind(cfg, self)
            self._by_type[kind] = feature
            self.items.append(feature)
            issues.extend(feature.issues)
        for check in checks:  # tables read by tools, checked here so a server finds their problems too
            issues.extend(check(cfg))
        owned = {t for f in self.items for t in (f.section, *f.tables) if t} | set(other_sections)
        for table in cfg.extra if self.items else ():  # a hall with no features ignores their tables
            if table.split(".")[0] not in owned:
                issues.append(cfg.issue(table, None, f"unknown table (expected one of: {', '.join(sorted(owned))})"))
        if issues:
            raise ConfigError(issues)
        self.hooks = Hooks(
            issued=tuple(f.on_issued for f in self.items if f.on_issued is not None),
            finished=tuple(f.on_finished for f in self.items if f.on_finished is not None),
            evaluated=tuple(f.on_evaluated for f in self.items if f.on_evaluated is not None),
            limited=tuple(f.on_limited for f in self.items if f.on_limited is not None),
        )

    def get(self, kind: type[F]) -> F:
        found = self._by_type.get(kind)
        if not isinstance(found, kind):  # None: each feature is keyed by its own type
            raise LookupError(f"the hall does not run {kind.__name__}")
        return found

    def has(self, kind: type[Feature]) -> bool:
        return kind in self._by_type

    def __iter__(self) -> Any:
        return iter(self.items)

    def audience(self, event_name: str) -> tuple[str, ...] | None:
        """Who sees a feature's event, or None when no feature claims it."""
        owner = self.owner(event_name)
        return None if owner is None else owner[1]

    def owner(self, event_name: str) -> tuple[Feature, tuple[str, ...]] | None:
        """The feature whose event family this is, and who sees it."""
        for f in self.items:
            for family, who in f.audience.items():
                if event_name.startswith(family):
                    return f, who
        return None


@contextlib.asynccontextmanager
async def ticking(hall: Hall, ticker: Ticker) -> AsyncIterator[None]:
    """Run one ticker while the block runs; a failed check is logged and tried again next time."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(ticker.every)
            try:
                await ticker.check(hall)
            except HallError as exc:  # the store is down, say: try again next round
                log.warning("%s check failed: %s", ticker.name, exc)
            except Exception:
                log.exception("%s check failed", ticker.name)

    task = asyncio.create_task(loop(), name=f"{ticker.name}-ticker") if ticker.every > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def log_step(tx: Tx, name: str, **what: Any) -> dict[str, Any]:
    """One line of a record's history: what was done, by whom, when."""
    return {"step": name, "by": tx.by, "at": tx.now.isoformat(), **{k: v for k, v in what.items() if v is not None}}


async def listed(c: Call, kind: str) -> list[Doc]:
    """A feature's records for a list command: the open ones from the live state
    (``state=open``, the default), or every one of a period from the store (``state=all``)."""
    if c.get("state", "open") == "open":
        return list(c.hall.state.docs.get(kind, {}).values())
    d_from, d_to = c.hall.period_of(c.args)
    return await c.hall.store.docs(kind, day_from=d_from, day_to=d_to)


def on_open_record(kind: str, what: str, code: str, act: Callable[[Tx, Doc, Call], Doc],
                   view: Callable[[Doc], dict[str, Any]]) -> Callable[[Call], Awaitable[dict[str, Any]]]:
    """A command that moves one open record (a case, a 容缺受理 record…) named by its ``id`` one step."""

    async def run(c: Call) -> dict[str, Any]:
        def decide(tx: Tx) -> dict[str, Any]:
            doc = tx.state.docs.get(kind, {}).get(c["id"])
            if doc is None:
                raise NotFound(f"no open {what} {c['id']}", code=code)
            return view(act(tx, doc, c))

        return await c.decide(decide)

    return run
