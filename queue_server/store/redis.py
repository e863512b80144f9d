"""The Redis store: several server processes serve one hall, one Redis keeps it.

Writes to the hall go through one Lua script (``commit.lua``, see ``keys.py`` for why
one script is enough); the events land on a Redis Stream that every process tails,
so a screen connected to one process sees calls made on another, and ``since``
resyncs work on any process because sequence numbers are hall-wide and gapless.
History stays in per-day projections; the stream itself is trimmed to
``stream_days`` days (docs/deployment.md has the retention and memory figures).

Redis being down is an ordinary condition: every call fails within the socket
timeouts with ``StoreError`` (the API answers 503), and the tail reconnects with
backoff and resumes from the last entry it gave out, so it never ends or skips.

With replicas (``replicas=N`` in the DSN; through Sentinel one by default) a commit
counts only once N replicas confirm it: the script and a ``WAIT`` (``WAITAOF`` where
Redis has it) go in one round trip on one connection (redis_replicas.py). After a failover the new
primary may lack events that were on the old one but on no replica; nobody was
answered for them, but this process may have read them. Both the commit and the
tail notice the log going back and raise ``LogRewound``, so the hall reloads.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, cast

import redis.asyncio as aioredis
from redis import exceptions as rx

from queue_server.core.model import Doc, Evaluation, Event, Ticket, Visit, token_key

from . import redis_keys as K
from . import redis_project as P
from .base import History, Loaded, LogRewound, SeqConflict, StoreError
from .facts import FactsFromRecords
from .redis_keys import Keys, day_score
from .redis_outbox import OutboxOnRedis
from .redis_people import PeopleOnRedis
from .redis_replicas import Replicas
from .redis_settings import RedisSettings, durability

log = logging.getLogger("hallcall.store.redis")

COMMIT_LUA = (Path(__file__).with_name("commit.lua")).read_text(encoding="utf-8")
TAIL_BLOCK_MS = 5_000  # an idle tail wakes this often, which also proves the connection alive
TAIL_BATCH = 1_000  # entries per XREAD when catching up
TAIL_GATHER = 0.002  # seconds a busy tail lets entries gather before its next read (see _tail_from)
RECONNECT_MIN, RECONNECT_MAX = 0.05, 1.0  # the tail's backoff while Redis is away (seconds)
LOAD_ATTEMPTS = 50
HISTORY_CHUNK = 5_000  # rows per script call when a migration writes a hall's history
RECENT_OWN = 4_096  # events kept for the tail, so it need not decode what this process wrote or read already
# Fairness between processes: a process that lost this many races in a row claims
# the next turn, for this long at most (if it dies holding it, the others wait that
# long once); the others look again every few ms. Two busy processes mostly just race.
LOSSES_BEFORE_TURN = 2
TURN_MS = 50
YIELD_POLL_MS = 3
YIELD = 2

# redis-py's types allow bytes and the RESP3 reply shapes, since they cannot see that
# client_options() asks for str replies (decode_responses) in RESP2 shapes; the casts
# in this module narrow replies to that.
Entry = tuple[str, dict[str, str]]  # a stream entry: its id and its fields


def _ignore_result(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


class RedisStore(PeopleOnRedis, OutboxOnRedis, FactsFromRecords):
    """The Store on Redis; report facts are computed in Python from the day projections."""

    kind = "redis"

    def __init__(self, url: str, *, hall_id: str = "hall", admin: bool = False) -> None:
        self.url = url
        self.settings = RedisSettings.from_dsn(url)  # a bad DSN stops the server here, before it listens
        self.keys = Keys(hall_id)
        # Admin commands (users, tokens, reports) share Redis with running servers;
        # they never append to the log, and do not need the durability warning.
        self.admin = admin
        self.durability_problems: list[str] = []
        self._r: aioredis.Redis | None = None
        self._tail_r: aioredis.Redis | None = None
        self._commit: Any = None
        self._seq = 0  # highest seq this store knows committed: where a new tail starts
        self._writer = secrets.token_hex(6)  # this process, in the commit script's turn-taking
        self._losses = 0  # races lost in a row
        self._recent: dict[int, Event] = {}  # the last events this process committed or decoded, by seq
        self._tailed = 0  # the last seq this process's tail handed out and its reader came back from
        self._confirmed = 0  # highest seq known to be on the replicas the settings ask for
        self._replicas = Replicas(self.settings.replicas, self.settings.replica_timeout_ms)
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- plumbing ------------------------------------------------------------------

    @property
    def r(self) -> aioredis.Redis:
        assert self._r is not None, "store is not open"
        return self._r

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn redis-py's failures into StoreError, which the API answers with 503."""
        try:
            yield
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:  # includes LOADING after a restart
            raise StoreError(f"Redis at {self.settings.where} is unavailable ({what}): {exc}") from exc
        except rx.RedisError as exc:
            raise StoreError(f"Redis {what} failed: {exc}") from exc

    async def open(self) -> None:
        s = self.settings
        self._r = s.client()
        self._tail_r = s.client(blocking_ms=TAIL_BLOCK_MS)
        self._commit = self._r.register_script(COMMIT_LUA)  # EVALSHA, reloaded on NOSCRIPT
        try:
            with self._errors("open"):
                await self.r.ping()
                pipe = self.r.pipeline(transaction=False)
                pipe.hsetnx(self.keys.k(K.META), "schema", K.SCHEMA_VERSION)
                pipe.hget(self.keys.k(K.META), "schema")
                pipe.get(self.keys.seq)
                _, schema, seq = await pipe.execute()
            if schema != K.SCHEMA_VERSION:
                raise StoreError(f"hall {self.keys.hall_id!r} in Redis has key layout {schema}, this hallcall reads {K.SCHEMA_VERSION}")
            if s.replicas:
                with self._errors("open"):
                    await self._replicas.look(self.r, s.where)
        except BaseException:
            await self.close()
            raise
        self._seq = self._confirmed = int(seq or 0)
        if not self.admin:
            self.durability_problems = await durability(self.r)
            for problem in self.durability_problems:
                log.warning("Redis at %s may lose acknowledged data: %s; see docs/deployment.md", s.where, problem)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._background):
            task.cancel()
        for client in (self._r, self._tail_r):
            if client is not None:
                await client.aclose()
        self._r = self._tail_r = None

    # -- the log ---------------------------------------------------------------------

    async def load(self) -> Loaded:
        """Read back the current day; retried until no commit landed while reading (a seqlock)."""
        k = self.keys
        for _ in range(LOAD_ATTEMPTS):
            with self._errors("load"):
                pipe = self.r.pipeline(transaction=False)
                pipe.get(k.seq)
                pipe.hgetall(k.k(K.META))
                pipe.smembers(k.k(K.DOC_KINDS))
                seq, meta, kinds = await pipe.execute()
                day = meta.get("day", "")
                kinds = sorted(kinds)
                pipe = self.r.pipeline(transaction=False)
                pipe.hvals(k.tickets(day))
                pipe.hvals(k.k(K.WINDOWS))
                for kind in kinds:
                    pipe.smembers(k.doc_live(kind))
                tickets, windows, *live = await pipe.execute()
                pipe = self.r.pipeline(transaction=False)
                for kind, ids in zip(kinds, live):
                    if ids:
                        pipe.hmget(k.docs(kind), sorted(ids))
                pipe.get(k.seq)
                *docs, again = await pipe.execute()
            if seq == again:
                break
        else:
            raise StoreError("the hall's log kept moving while loading; try again")
        self._seq = max(self._seq, int(seq or 0))
        return Loaded(
            int(seq or 0), day, [P.ticket(t) for t in tickets], [P.window(w) for w in windows],
            P.notice(meta["notice"]) if "notice" in meta else None,
            [P.doc(d) for rows in docs for d in rows if d],
        )

    async def commit(self, expect_seq: int, events: list[Event]) -> None:
        if not events:
            return
        if self.admin:
            raise StoreError("this store was opened for administration only")
        commit_id = secrets.token_hex(8)
        retried = False
        claim = TURN_MS if self._losses >= LOSSES_BEFORE_TURN else 0
        keys, args = P.commit_args(self.keys, expect_seq, events, self._writer, commit_id, claim)
        deadline = time.monotonic() + TURN_MS / 1000 * 3
        while True:
            with self._errors("commit"):
                ok, seq, *missed = await self._run_commit(keys, args)
            if ok != YIELD or time.monotonic() > deadline:
                break
            # Another process lost the last race and commits next; it needs a few ms.
            await asyncio.sleep(min(int(missed[0]), YIELD_POLL_MS) / 1000)
        if ok == YIELD:
            raise SeqConflict([])  # the hall decides again and comes back
        if not ok:
            if int(seq) < expect_seq:
                self._rewind(int(seq))
            self._seq = max(self._seq, int(seq))
            entries = P.script_entries(missed[0])
            if len(entries) < int(seq) - expect_seq:  # more than the script hands back
                entries += await self._entries_since(expect_seq + len(entries))
            if not entries or entries[0][1].get("c") != commit_id:
                self._losses += 1
                missed = [P.event(fields) for _id, fields in entries]
                self._keep(missed)  # the tail brings them too: decoded once
                raise SeqConflict(missed)
            # Our own batch: the first attempt ran but its reply was lost, and redis-py retried
            # on a new connection, whose WAIT covers nothing: confirm the batch on its own.
            retried = True
        self._losses = 0
        if retried and self.settings.replicas:
            await self.confirm(events[-1].seq)
        self._confirmed = max(self._confirmed, events[-1].seq)
        self._seq = max(self._seq, events[-1].seq)
        # The tail gives these back as they are, instead of decoding their JSON again.
        self._keep(events)
        for event in events:
            if event.name == "day.started":
                self._spawn(self._prune_quietly(date.fromisoformat(event.day) - timedelta(days=self.settings.stream_days)))

    def _keep(self, events: list[Event]) -> None:
        """Keep events this process has decoded or made, for the tail to give back as they are."""
        self._recent.update((e.seq, e) for e in events)
        while len(self._recent) > RECENT_OWN:
            del self._recent[next(iter(self._recent))]

    async def _run_commit(self, keys: list[str], args: list[Any]) -> list[Any]:
        """Run the commit script and, with replicas to wait for, the WAIT for it in the same
        round trip (WAIT covers the writes of its own connection only)."""
        if not self.settings.replicas:
            return cast(list[Any], await self._commit(keys=keys, args=args))
        async with self.r.pipeline(transaction=False) as pipe:
            await self._commit(keys=keys, args=args, client=pipe)
            want = self._replicas.add_wait(pipe)
            reply, *replication = await pipe.execute()
        self._replicas.judge(want, *replication)
        return cast(list[Any], reply)

    async def confirm(self, seq: int) -> None:
        if not self.settings.replicas or seq <= self._confirmed:
            return
        with self._errors("confirm"):
            async with self.r.pipeline(transaction=False) as pipe:
                pipe.set(self.keys.k(K.CONFIRM), self._writer)  # a write of our own, for WAIT to wait for
                want = self._replicas.add_wait(pipe)
                _, *replication = await pipe.execute()
        self._replicas.judge(want, *replication)
        self._confirmed = max(self._confirmed, seq)

    def _rewind(self, seq: int) -> None:
        """The log ends at ``seq``, before what this process saw: forget what it kept beyond, and say so."""
        self._seq = self._confirmed = seq
        for stale in [s for s in self._recent if s > seq]:
            del self._recent[stale]
        raise LogRewound(seq)

    def tail(self) -> AsyncIterator[Event]:
        # The start is fixed now, not at the first iteration, so nothing committed in
        # between is skipped; what came before, the reader has (it loaded it).
        self._tailed = max(self._tailed, self._seq)
        return self._tail_from(self._seq)

    async def _tail_from(self, after: int) -> AsyncIterator[Event]:
        assert self._tail_r is not None, "store is not open"
        client, last_id = self._tail_r, f"{after}-0"
        delay, down_since = RECONNECT_MIN, 0.0
        last_fields: dict[str, str] | None = None  # the last entry given out, to recognise it after a failover
        while not self._closed:
            if down_since:
                try:
                    await self._check_not_rewound(client, after, last_id, last_fields)
                except (rx.ConnectionError, rx.TimeoutError, OSError, rx.ResponseError):
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, RECONNECT_MAX)
                    continue
            # redis-py may swallow a cancellation that lands in a blocking read and just
            # read again, so the follower would never stop: await the read through a
            # shield and leave it behind when cancelled (it ends within TAIL_BLOCK_MS).
            read = asyncio.ensure_future(client.xread({self.keys.log: last_id}, count=TAIL_BATCH, block=TAIL_BLOCK_MS))
            try:
                reply = await asyncio.shield(read)
            except asyncio.CancelledError:
                read.cancel()
                read.add_done_callback(_ignore_result)
                raise
            except (rx.ConnectionError, rx.TimeoutError, OSError, rx.ResponseError) as exc:
                if self._closed:
                    return
                if not down_since:
                    down_since = time.monotonic()
                    log.warning("lost the event stream on Redis at %s (%s); reconnecting", self.settings.where, exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            if down_since:
                log.warning("event stream back after %.1f s; resuming after %s", time.monotonic() - down_since, last_id)
                delay, down_since = RECONNECT_MIN, 0.0
            for _stream, entries in cast(list[tuple[str, list[Entry]]], reply or ()):
                for entry_id, fields in entries:
                    last_id, last_fields = entry_id, fields
                    seq = int(entry_id.split("-", 1)[0])
                    own = self._recent.get(seq)
                    yield own if own is not None else P.event(fields)
                    self._tailed = seq  # the hall has folded and dispatched it: the log may drop it
            if reply:
                # Busy: each read costs a round trip, a wake-up and a parse whether it brings one
                # entry or fifty, so let the next ones gather a moment (an idle tail, blocked in
                # its read, still wakes at the first entry).
                await asyncio.sleep(TAIL_GATHER)

    async def _check_not_rewound(self, client: aioredis.Redis, after: int, last_id: str,
                                 last_fields: dict[str, str] | None) -> None:
        """After the stream was lost: raise LogRewound if the log no longer holds what the tail gave out."""
        current = int(await client.get(self.keys.seq) or 0)
        if last_fields is not None:
            found = cast(list[Entry], await client.xrange(self.keys.log, min=last_id, max=last_id))
            if found and found[0][1] == last_fields:
                return
        elif current >= after:
            return  # nothing given out yet, and the log still reaches where the tail starts
        self._rewind(current)

    async def put_history(self, history: History) -> None:
        if self.admin:
            raise StoreError("this store was opened for administration only")
        carriers = history.carriers()
        chunks = [carriers[i:i + HISTORY_CHUNK] for i in range(0, len(carriers), HISTORY_CHUNK)] or [[]]
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1  # the seq is set with the last chunk: a hall half moved has none
            keys, args = P.history_args(self.keys, chunk, history.day if last else None,
                                        history.seq if last else 0, self._writer)
            with self._errors("write history"):
                ok, *_ = await self._commit(keys=keys, args=args)
            if ok != 1:
                raise StoreError("the store already holds a hall's log")
        self._seq = self._confirmed = history.seq

    async def doc_kinds(self) -> list[str]:
        with self._errors("read docs"):
            return sorted(cast(set[str], await self.r.smembers(self.keys.k(K.DOC_KINDS))))

    async def events_since(self, seq: int, limit: int = 10_000) -> list[Event]:
        return [P.event(fields) for _id, fields in await self._entries_since(seq, limit)]

    async def _entries_since(self, seq: int, limit: int = 10_000) -> list[Entry]:
        with self._errors("read the log"):
            return cast(list[Entry], await self.r.xrange(self.keys.log, min=f"{max(seq, 0) + 1}-0", max="+", count=limit))

    async def first_seq(self) -> int:
        with self._errors("read the log"):
            entries = cast(list[Entry], await self.r.xrange(self.keys.log, min="-", max="+", count=1))
        return int(entries[0][0].split("-")[0]) if entries else 0

    async def prune_events(self, before_day: str, *, read_up_to: int | None = None) -> int:
        """Drop stream entries of days before ``before_day``; projections stay. Returns entries removed.

        With ``read_up_to``, entries after that seq stay whatever their day: this process's
        tail has not given them to the hall yet (a clock set days ahead, as in a test).
        """
        k = self.keys
        with self._errors("trim the log"):
            days = cast(dict[str, str], await self.r.hgetall(k.k(K.LOG_DAYS)))
            old = [d for d in days if d < before_day]
            kept = sorted(int(s) for d, s in days.items() if d >= before_day)
            if not old or not kept:
                return 0  # nothing old, or nothing newer to keep: never trim the whole log
            first = kept[0] if read_up_to is None else min(kept[0], read_up_to + 1)
            removed = await self.r.xtrim(k.log, minid=f"{first}-0", approximate=False)
            # A day's mark goes once the whole day has: the next day starts at or before the cut.
            starts = sorted((int(s), d) for d, s in days.items())
            gone = [d for (_s, d), (after, _d) in zip(starts, starts[1:]) if d < before_day and after <= first]
            if gone:
                await self.r.hdel(k.k(K.LOG_DAYS), *gone)
        return int(removed)

    async def _prune_quietly(self, before: date) -> None:
        try:
            removed = await self.prune_events(before.isoformat(), read_up_to=self._tailed)
            if removed:
                log.info("trimmed %d events older than %s from the stream", removed, before)
        except StoreError as exc:
            log.warning("could not trim the event stream: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- history -----------------------------------------------------------------------

    async def ticket_by_token(self, token: str) -> Ticket | None:
        with self._errors("read a ticket"):
            where = cast(str | None, await self.r.hget(self.keys.k(K.TOKENS), token_key(token)))
            if where is None:
                return None
            day, ticket_id = where.split(" ", 1)
            row = cast(str | None, await self.r.hget(self.keys.tickets(day), ticket_id))
        return P.ticket(row) if row else None

    async def _by_day(self, day_from: str, day_to: str, key_of: Any, read: str = "hvals") -> list[list[str]]:
        """The rows of each day in a range that has history, oldest day first."""
        with self._errors("read history"):
            days = await self.r.zrangebyscore(self.keys.k(K.DAYS), day_score(day_from), day_score(day_to))
            if not days:
                return []
            pipe = self.r.pipeline(transaction=False)
            for day in days:
                if read == "hvals":
                    pipe.hvals(key_of(day))
                else:
                    pipe.lrange(key_of(day), 0, -1)
            return await pipe.execute()

    async def tickets(self, day_from: str, day_to: str) -> list[Ticket]:
        rows = [P.ticket(r) for day in await self._by_day(day_from, day_to, self.keys.tickets) for r in day]
        return sorted(rows, key=lambda t: (t.issued_at, t.id))

    async def visits(self, day_from: str, day_to: str) -> list[Visit]:
        rows = [P.visit(r) for day in await self._by_day(day_from, day_to, self.keys.visits) for r in day]
        return sorted(rows, key=lambda v: (v.called_at, v.ticket, v.leg))

    async def evaluations(self, day_from: str, day_to: str) -> list[Evaluation]:
        rows = [P.evaluation(r) for day in await self._by_day(day_from, day_to, self.keys.evaluations) for r in day]
        return sorted(rows, key=lambda e: (e.at, e.ticket))

    async def window_log(self, day_from: str, day_to: str) -> list[Event]:
        rows = [P.event_json(r) for day in await self._by_day(day_from, day_to, self.keys.window_log, "lrange") for r in day]
        return sorted(rows, key=lambda e: e.seq)

    async def docs(self, kind: str, *, day_from: str | None = None, day_to: str | None = None, key: str | None = None) -> list[Doc]:
        k = self.keys
        with self._errors("read docs"):
            rows: list[str | None]
            if key is not None:
                ids = sorted(cast(set[str], await self.r.smembers(k.doc_key(kind, key))))
                rows = cast(list[str | None], await self.r.hmget(k.docs(kind), ids)) if ids else []
            elif day_from is not None or day_to is not None:
                lo = day_score(day_from) if day_from is not None else "-inf"
                hi = day_score(day_to) if day_to is not None else "+inf"
                ids = cast(list[str], await self.r.zrangebyscore(k.doc_days(kind), lo, hi))  # no scores asked
                rows = cast(list[str | None], await self.r.hmget(k.docs(kind), ids)) if ids else []
            else:
                rows = cast(list[str | None], await self.r.hvals(k.docs(kind)))
        found = [P.doc(r) for r in rows if r]
        found = [d for d in found if (key is None or key in d.keys)  # the key index may hold stale ids
                 and (day_from is None or d.day >= day_from) and (day_to is None or d.day <= day_to)]
        return sorted(found, key=lambda d: (d.day, d.id))

    async def doc(self, kind: str, doc_id: str) -> Doc | None:
        with self._errors("read a doc"):
            row = cast(str | None, await self.r.hget(self.keys.docs(kind), doc_id))
        return P.doc(row) if row else None
