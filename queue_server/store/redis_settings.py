"""Redis settings from a DSN, checked before anything connects, and the durability check.

The DSN is read with redis-py's ``from_url`` rules (``redis://[[user]:password@]host[:port][/db]``,
``rediss://`` for TLS, ``unix:///path/redis.sock?db=N``, query options such as
``socket_timeout`` or ``ssl_cert_reqs``), plus hallcall's own ``stream_days`` (how many
days of the event stream to keep). What redis-py would silently accept but is surely
a mistake (a database path that is not a number, a port out of range, an unknown
scheme) stops the server at start with a message that names the problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qs, unquote, urlencode, urlparse

from redis import exceptions as rx
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .base import StoreError

log = logging.getLogger("hallcall.store.redis")

SCHEMES = ("redis", "rediss", "unix")
# A request that needs Redis while it is down must fail (503) within seconds, not hang:
# connecting is given 2 s, every reply 5 s; one immediate retry covers a pooled
# connection that Redis closed while it restarted.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
STREAM_DAYS = 3  # days of events kept in the stream (fan-out, resync, audit); history lives on in the projections
OWN_OPTIONS = ("stream_days",)
USAGE = "use redis://[:password@]host:6379/0, rediss://… for TLS, or unix:///path/redis.sock?db=0"


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how to talk to it; built by :meth:`from_dsn`, which fails fast."""

    url: str = field(repr=False)  # the DSN without hallcall's own options (may hold a password)
    scheme: str
    host: str
    port: int
    db: int
    path: str = ""  # unix socket
    tls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    stream_days: int = STREAM_DAYS
    socket_timeout: float = SOCKET_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT

    @property
    def where(self) -> str:
        """The address for messages and logs, never the password."""
        if self.scheme == "unix":
            return f"unix://{self.path} db {self.db}"
        return f"{self.scheme}://{self.host}:{self.port}/{self.db}"

    @classmethod
    def from_dsn(cls, dsn: str) -> RedisSettings:
        try:
            parsed = urlparse(dsn)
        except ValueError as exc:
            raise StoreError(f"bad Redis URL: {exc}; {USAGE}") from None
        if parsed.scheme not in SCHEMES:
            raise StoreError(f"bad Redis URL scheme {parsed.scheme!r}: {USAGE}")
        query = {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        own = {k: query.pop(k) for k in OWN_OPTIONS if k in query}
        # Rebuilt from the text, not with urlunparse: that drops the "//" of "unix:///path",
        # which redis-py 8 no longer takes for a unix URL.
        clean = dsn.split("#", 1)[0].split("?", 1)[0] + (f"?{urlencode(query)}" if query else "")
        where = f"{parsed.scheme}://{parsed.hostname or ''}{parsed.path}"  # for messages: no password
        try:
            port = parsed.port if parsed.scheme != "unix" else 0
        except ValueError:
            raise StoreError(f"bad port in Redis URL {where!r}: it must be a number from 1 to 65535") from None
        if parsed.scheme != "unix" and not parsed.hostname:
            raise StoreError(f"the Redis URL {dsn.split('@')[-1]!r} names no host; {USAGE}")
        db = _db(parsed.path if parsed.scheme != "unix" else "", query.get("db"), where)
        try:
            # Typed as a TypedDict of the URL's parts only: the query's options (timeouts,
            # already converted to float) are there too.
            kwargs: Mapping[str, Any] = parse_url(clean)
        except ValueError as exc:
            raise StoreError(f"bad Redis URL {where!r}: {exc}") from None
        days = own.get("stream_days", str(STREAM_DAYS))
        if not days.isdigit() or int(days) < 1:
            raise StoreError(f"stream_days in the Redis URL must be a whole number of days ≥ 1, not {days!r}")
        return cls(
            url=clean, scheme=parsed.scheme, host=parsed.hostname or "", port=port or 6379, db=db,
            path=unquote(parsed.path) if parsed.scheme == "unix" else "", tls=parsed.scheme == "rediss",
            username=kwargs.get("username", ""), password=kwargs.get("password", ""), stream_days=int(days),
            socket_timeout=float(kwargs.get("socket_timeout", SOCKET_TIMEOUT)),
            connect_timeout=float(kwargs.get("socket_connect_timeout", CONNECT_TIMEOUT)),
        )

    def client_options(self, *, blocking_ms: int = 0) -> dict[str, Any]:
        """Keyword arguments for ``redis.asyncio.Redis.from_url(self.url, …)``; the URL's own win."""
        return {
            "decode_responses": True,
            "protocol": 2,  # reply shapes this store parses; redis-py 8 would pick RESP3
            "socket_connect_timeout": self.connect_timeout,
            # A blocking read (the event tail) legitimately waits blocking_ms for a reply.
            "socket_timeout": self.socket_timeout + blocking_ms / 1000,
            "retry": Retry(NoBackoff(), 1),
            "health_check_interval": 30,
        }


def _db(path: str, query_db: str | None, where: str) -> int:
    raw = query_db if query_db is not None else unquote(path).strip("/")
    if raw == "":
        return 0
    if not raw.isdigit():
        raise StoreError(f"bad Redis database {raw!r} in {where!r}: the path after the port is a database number, e.g. /0")
    return int(raw)


# -- durability -------------------------------------------------------------------------------


def durability_problems(conf: dict[str, str]) -> list[str]:
    """What in a Redis configuration could lose acknowledged tickets, calls or ratings."""
    problems: list[str] = []
    if conf.get("appendonly", "").lower() == "no":
        problems.append("appendonly is no: a Redis restart loses everything written since the last RDB snapshot "
                        "(set appendonly yes and appendfsync always)")
    fsync = conf.get("appendfsync", "").lower()
    if conf.get("appendonly", "").lower() == "yes" and fsync in ("everysec", "no"):
        span = "about a second" if fsync == "everysec" else "up to ~30 seconds"
        problems.append(f"appendfsync is {fsync}: a power cut or OS crash loses {span} of acknowledged writes "
                        "(set appendfsync always)")
    policy = conf.get("maxmemory-policy", "noeviction").lower()
    if policy != "noeviction":
        problems.append(f"maxmemory-policy is {policy}: Redis may evict the hall's keys when memory is full "
                        "(set maxmemory-policy noeviction)")
    return problems


def persistence_from_info(info: dict[str, Any]) -> dict[str, str]:
    """The little INFO persistence tells when CONFIG is disabled (managed Redis)."""
    conf: dict[str, str] = {}
    if "aof_enabled" in info:
        conf["appendonly"] = "yes" if str(info["aof_enabled"]) == "1" else "no"
    return conf


async def durability(client: Any) -> list[str]:
    """Ask a Redis for its persistence settings; what could lose acknowledged data."""
    conf: dict[str, str] = {}
    try:
        for name in ("appendonly", "appendfsync", "maxmemory-policy"):
            conf.update(await client.config_get(name))
    except rx.ResponseError:
        # Managed Redis often disables CONFIG; INFO still tells whether AOF is on.
        try:
            conf = persistence_from_info(await client.info("persistence"))
        except rx.RedisError:
            log.info("cannot read Redis persistence settings; make sure of appendonly yes, appendfsync always")
    except rx.RedisError as exc:
        log.info("cannot check Redis durability settings: %s", exc)
    return durability_problems(conf)
