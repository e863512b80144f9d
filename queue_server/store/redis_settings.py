"""Redis settings from a DSN, checked before anything connects, and the durability check.

The DSN is read with redis-py's ``from_url`` rules (``redis://[[user]:password@]host[:port][/db]``,
``rediss://`` for TLS, ``unix:///path/redis.sock?db=N``, query options such as
``socket_timeout`` or ``ssl_cert_reqs``), plus hallcall's own ``stream_days`` (how many
days of the event stream to keep), ``replicas`` and ``replica_timeout_ms`` (how many
replicas must confirm a commit before it is acknowledged, and how long to wait).
``redis+sentinel://host:26379,host:26379/master-name[/db]`` finds the primary through
Redis Sentinel and follows it when Sentinel fails over. What redis-py would silently
accept but is surely a mistake (a database path that is not a number, a port out of
range, an unknown scheme) stops the server at start with a message that names the problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, TypedDict
from urllib.parse import parse_qs, unquote, urlencode, urlparse

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .base import StoreError

log = logging.getLogger("hallcall.store.redis")

SENTINEL = "redis+sentinel"
SCHEMES = ("redis", "rediss", "unix", SENTINEL)
# A request that needs Redis while it is down must fail (503) within seconds, not hang:
# connecting is given 2 s, every reply 5 s; one immediate retry covers a pooled
# connection that Redis closed while it restarted.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
STREAM_DAYS = 3  # days of events kept in the stream (fan-out, resync, audit); history lives on in the projections
SENTINEL_PORT = 26379
# A commit is acknowledged once this many replicas confirm it (WAIT), within this time;
# through Sentinel there is a replica to fail over to, so one must confirm by default.
REPLICA_TIMEOUT_MS = 1_000
OWN_OPTIONS = ("stream_days", "replicas", "replica_timeout_ms")
SENTINEL_OPTIONS = (*OWN_OPTIONS, "sentinel_password", "socket_timeout", "socket_connect_timeout")
USAGE = ("use redis://[:password@]host:6379/0, rediss://… for TLS, unix:///path/redis.sock?db=0, "
         "or redis+sentinel://[:password@]host:26379,host:26379/master-name/0")


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
    sentinels: tuple[tuple[str, int], ...] = ()  # redis+sentinel: where the sentinels listen
    master: str = ""  # redis+sentinel: the name the sentinels know the primary by
    sentinel_password: str = field(default="", repr=False)
    replicas: int = 0  # replicas that must confirm a commit before it is acknowledged
    replica_timeout_ms: int = REPLICA_TIMEOUT_MS

    @property
    def where(self) -> str:
        """The address for messages and logs, never the password."""
        if self.scheme == "unix":
            return f"unix://{self.path} db {self.db}"
        if self.scheme == SENTINEL:
            hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"{SENTINEL}://{hosts}/{self.master}/{self.db}"
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
        if parsed.scheme == SENTINEL:
            return _sentinel_settings(dsn, parsed.netloc, parsed.path, query)
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
        return cls(
            url=clean, scheme=parsed.scheme, host=parsed.hostname or "", port=port or 6379, db=db,
            path=unquote(parsed.path) if parsed.scheme == "unix" else "", tls=parsed.scheme == "rediss",
            username=kwargs.get("username", ""), password=kwargs.get("password", ""),
            socket_timeout=float(kwargs.get("socket_timeout", SOCKET_TIMEOUT)),
            connect_timeout=float(kwargs.get("socket_connect_timeout", CONNECT_TIMEOUT)),
            **_own_options(own, replicas=0),
        )

    def client(self, *, blocking_ms: int = 0, decode: bool = True) -> aioredis.Redis:
        """A client of the primary; through Sentinel, one that follows the primary when it fails over."""
        options = {**self.client_options(blocking_ms=blocking_ms), "decode_responses": decode}
        if self.scheme != SENTINEL:
            return aioredis.Redis.from_url(self.url, **options)
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs={
            "socket_timeout": self.socket_timeout, "socket_connect_timeout": self.connect_timeout,
            "password": self.sentinel_password or None, "protocol": 2, "decode_responses": True,
        })
        client: aioredis.Redis = sentinel.master_for(self.master, db=self.db, username=self.username or None,
                                                     password=self.password or None, **options)
        return client

    def client_options(self, *, blocking_ms: int = 0) -> dict[str, Any]:
        """Keyword arguments for a ``redis.asyncio.Redis`` client of these settings; the URL's own win."""
        return {
            "decode_responses": True,
            "protocol": 2,  # reply shapes this store parses; redis-py 8 would pick RESP3
            "socket_connect_timeout": self.connect_timeout,
            # A blocking read (the event tail) legitimately waits blocking_ms for a reply.
            "socket_timeout": self.socket_timeout + blocking_ms / 1000,
            "retry": Retry(NoBackoff(), 1),
            "health_check_interval": 30,
        }


def _sentinel_settings(dsn: str, netloc: str, path: str, query: dict[str, str]) -> RedisSettings:
    """``redis+sentinel://[[user]:password@]host:port[,host:port…]/master-name[/db][?options]``."""
    credentials, _, hosts = netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
        if not host or (colon and not (port.isdigit() and 1 <= int(port) <= 65535)):
            raise StoreError(f"bad sentinel address {item!r} in the Redis URL: give host:port, e.g. 10.0.0.5:26379")
        sentinels.append((host, int(port) if colon else SENTINEL_PORT))
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if not parts or len(parts) > 2:
        raise StoreError(f"the Redis URL {dsn.split('@')[-1]!r} must name the primary as the sentinels know it "
                         f"and may add a database: {SENTINEL}://host:26379,host:26379/mymaster/0")
    unknown = sorted(set(query) - set(SENTINEL_OPTIONS))
    if unknown:
        raise StoreError(f"unknown option {unknown[0]!r} in a {SENTINEL} URL; known: {', '.join(SENTINEL_OPTIONS)}")
    where = f"{SENTINEL}://{hosts}{path}"
    timeouts = {}
    for name, default in (("socket_timeout", SOCKET_TIMEOUT), ("socket_connect_timeout", CONNECT_TIMEOUT)):
        try:
            timeouts[name] = float(query.get(name, default))
        except ValueError:
            raise StoreError(f"{name} in the Redis URL {where!r} must be a number of seconds") from None
    return RedisSettings(
        url="", scheme=SENTINEL, host="", port=0, db=_db(parts[1] if len(parts) > 1 else "", None, where),
        username=unquote(username), password=unquote(password), sentinels=tuple(sentinels), master=parts[0],
        sentinel_password=query.get("sentinel_password", ""), socket_timeout=timeouts["socket_timeout"],
        connect_timeout=timeouts["socket_connect_timeout"],
        **_own_options(query, replicas=1),
    )


class OwnOptions(TypedDict):
    stream_days: int
    replicas: int
    replica_timeout_ms: int


def _own_options(own: dict[str, str], *, replicas: int) -> OwnOptions:
    """hallcall's own DSN options, checked: stream_days, replicas, replica_timeout_ms."""
    found = {"stream_days": own.get("stream_days", str(STREAM_DAYS)), "replicas": own.get("replicas", str(replicas)),
             "replica_timeout_ms": own.get("replica_timeout_ms", str(REPLICA_TIMEOUT_MS))}
    least = {"stream_days": 1, "replicas": 0, "replica_timeout_ms": 1}
    for name, value in found.items():
        if not value.isdigit() or int(value) < least[name]:
            raise StoreError(f"{name} in the Redis URL must be a whole number ≥ {least[name]}, not {value!r}")
    return OwnOptions(stream_days=int(found["stream_days"]), replicas=int(found["replicas"]),
                      replica_timeout_ms=int(found["replica_timeout_ms"]))


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
