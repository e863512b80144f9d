"""Commands: every action and query of the hall, core or feature, by name.

A ``Command`` has one name, one argument schema (a JSON Schema object that validates
and documents it) and one authorization ``Rule``. The Hall runs it (``Hall.execute``);
the web layer makes an HTTP route of each ``Http`` binding (path parameters, the JSON
body or the query string become the arguments) and accepts every command over the
WebSocket as ``{"type": "command", "name": …, …arguments}``. So an action has the same
name, body, errors and OpenAPI description whichever door it comes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, TypeVar

from queue_server.core.rules import Tx
from queue_server.core.schema import obj

from .auth import Principal, Rule

if TYPE_CHECKING:
    from .hall import Hall

R = TypeVar("R")

JSON = "application/json"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SVG = "image/svg+xml"
TABLES = (JSON, CSV, XLSX)  # commands with a ``format`` of json, csv or xlsx


@dataclass(frozen=True)
class Http:
    """How a command is reached over HTTP, under /api/v1."""

    method: str
    path: str  # "/windows/{window}/call-next": each {name} is an argument
    status: int = 200
    tag: str = "hall"
    produces: tuple[str, ...] = (JSON,)
    headers: Mapping[str, str] = field(default_factory=dict)  # request header -> argument (Idempotency-Key)

    @property
    def query(self) -> bool:
        """GET and DELETE take their arguments from the query string, the rest from a JSON body."""
        return self.method in ("GET", "DELETE")


@dataclass(frozen=True)
class Download:
    """A file result: CSV, XLSX or SVG. HTTP sends it as is; a WebSocket result carries it as text or base64."""

    body: bytes
    content_type: str
    filename: str | None = None  # None: shown inline (a chart)
    cache_seconds: int = 0


@dataclass
class Call:
    """One run of a command: the hall, who asks, and the validated arguments."""

    hall: Hall
    principal: Principal
    args: dict[str, Any]
    rule: Rule

    async def decide(self, decide: Callable[[Tx], R]) -> R:
        """Run a decision in one transaction, the rule checked again against the state it decides on."""
        p, args, rule = self.principal, self.args, self.rule

        def checked(tx: Tx) -> R:
            rule.allows(p, tx.state, args)
            return decide(tx)

        return await self.hall.run(checked, p.actor)

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


Run = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    rule: Rule
    args: dict[str, Any]
    run: Run
    http: tuple[Http, ...] = ()
    empty_status: int | None = None  # HTTP status when the result is None (204: nobody waits)


def command(name: str, summary: str, rule: Rule, run: Run, *, args: dict[str, Any] | None = None,
            http: Http | tuple[Http, ...] = (), empty_status: int | None = None) -> Command:
    bindings = (http,) if isinstance(http, Http) else http
    return Command(name, summary, rule, args if args is not None else obj(), run, bindings, empty_status)


class CommandTable:
    """The commands of one Hall: the core's and those of the features it runs."""

    def __init__(self, commands: Any) -> None:
        self._by_name: dict[str, Command] = {}
        for cmd in commands:
            if cmd.name in self._by_name:
                raise ValueError(f"two commands are named {cmd.name!r}")
            self._by_name[cmd.name] = cmd

    def get(self, name: str) -> Command | None:
        return self._by_name.get(name)

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return sorted(self._by_name)
