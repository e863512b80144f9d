"""The embedded store: one SQLite file in WAL mode, fsynced on every commit.

All writes run on one thread with one connection, so a commit is one transaction
that either lands whole or not at all; reads run on another thread with their own
connection (WAL lets them proceed while a write is in progress). A lock file keeps a
second server process off the same database: the embedded store is for one process,
Redis is for several.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TypeVar
from urllib.parse import parse_qs

from queue_server import protocol
from queue_server.core.model import DeviceToken, Doc, Evaluation, Event, Notice, Person, Session, Ticket, Visit, Window, token_key

from . import sqlite_outbox
from .base import History, Loaded, SeqConflict, StoreError
from .facts import (
    SERVED_ENDS,
    BusyRow,
    EtaGroup,
    Gap,
    LateVisit,
    RatingGroup,
    UNSTARTED,
    TicketGroup,
    VisitGroup,
    WindowMark,
    check_split,
    regroup_ratings,
    regroup_tickets,
    regroup_visits,
)

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, name TEXT NOT NULL, at TEXT NOT NULL, day TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_day ON events(day);
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, day TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL, zone TEXT NOT NULL,
    origin_service TEXT NOT NULL, channel TEXT NOT NULL, priority TEXT NOT NULL, status TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE, issued_at TEXT NOT NULL, first_called_at TEXT, ended_at TEXT,
    window INTEGER, clerk TEXT, outcome TEXT, rating INTEGER, wait_s REAL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_day ON tickets(day);
CREATE TABLE IF NOT EXISTS visits (
    ticket TEXT NOT NULL, leg INTEGER NOT NULL, day TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL,
    zone TEXT NOT NULL, priority TEXT NOT NULL, window INTEGER NOT NULL, clerk TEXT, queued_at TEXT NOT NULL,
    called_at TEXT NOT NULL, started_at TEXT, ended_at TEXT NOT NULL, end TEXT NOT NULL, outcome TEXT,
    recalls INTEGER NOT NULL, wait_s REAL NOT NULL, handling_s REAL NOT NULL, closed TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (ticket, leg));
CREATE INDEX IF NOT EXISTS visits_day ON visits(day);
CREATE TABLE IF NOT EXISTS evaluations (
    ticket TEXT PRIMARY KEY, day TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL, zone TEXT NOT NULL,
    window INTEGER, clerk TEXT, level INTEGER NOT NULL, reasons TEXT NOT NULL, comment TEXT, source TEXT NOT NULL,
    at TEXT NOT NULL, excluded INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS evaluations_day ON evaluations(day);
CREATE TABLE IF NOT EXISTS windows (number INTEGER PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS window_log (
    seq INTEGER PRIMARY KEY, day TEXT NOT NULL, name TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS window_log_day ON window_log(day);
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, id TEXT NOT NULL, day TEXT NOT NULL, live INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (kind, id));
CREATE INDEX IF NOT EXISTS docs_day ON docs(kind, day);
CREATE TABLE IF NOT EXISTS doc_keys (kind TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (kind, key, id));
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY, login TEXT NOT NULL UNIQUE, staff_no TEXT, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (hash TEXT PRIMARY KEY, expires_at TEXT NOT NULL, row TEXT NOT NULL);
-- Covering indexes for reports: a year's facts are read from these alone, in the order
-- reports group them, never from the rows (see visit_facts for which serves what).
CREATE INDEX IF NOT EXISTS visits_by_day ON visits(day, service, window, clerk, end, closed, wait_s, handling_s);
CREATE INDEX IF NOT EXISTS visits_by_service ON visits(service, window, clerk, end, closed, day, wait_s, handling_s);
CREATE INDEX IF NOT EXISTS visits_busy ON visits(day, clerk, window, handling_s);
CREATE INDEX IF NOT EXISTS tickets_by_day ON tickets(day, origin_service, status, outcome, wait_s);
CREATE INDEX IF NOT EXISTS visits_missed ON visits(end, day, ticket);
CREATE INDEX IF NOT EXISTS evaluations_report ON evaluations(day, service, window, clerk, level, excluded);
CREATE INDEX IF NOT EXISTS evaluations_grouped ON evaluations(service, window, clerk, level, day, excluded);
-- 延时服务: visits ending, or starting, at a time of day in a gap after a business span, and
-- the few long enough to span a whole gap (see late_visits).
CREATE INDEX IF NOT EXISTS visits_end_time ON visits(substr(ended_at, 12, 8));
CREATE INDEX IF NOT EXISTS visits_start_time ON visits(substr(coalesce(started_at, called_at), 12, 8));
CREATE INDEX IF NOT EXISTS visits_long ON visits(handling_s);
"""


_dumps = protocol.dumps


def path_from_url(url: str) -> Path:
    """``sqlite:///var/lib/hallcall/hall.db`` is absolute; ``sqlite://hall.db`` is relative."""
    if not url.startswith("sqlite://"):
        raise StoreError(f"not a sqlite URL: {url!r}")
    raw = url[len("sqlite://"):].split("?", 1)[0]
    if not raw or raw.endswith("/"):
        raise StoreError(f"sqlite URL names no file: {url!r}")
    return Path(raw)


def _synchronous(url: str) -> str:
    query = parse_qs(url.split("?", 1)[1]) if "?" in url else {}
    value = query.get("synchronous", ["full"])[-1].upper()
    if value not in ("FULL", "NORMAL"):
        raise StoreError(f"synchronous must be full or normal, not {value.lower()!r}")
    return value


def _private(path: Path) -> None:
    """Make the database readable by the server's user only (0600), whatever the umask.

    SQLite creates ``-wal`` and ``-shm`` with the database file's mode, so the file is
    made first; files left more open by an older version are tightened.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists() and p.stat().st_mode & 0o077:
            os.chmod(p, 0o600)


class SqliteStore(sqlite_outbox.OutboxOnSqlite):
    kind = "sqlite"

    def __init__(self, url: str, *, exclusive: bool = True) -> None:
        self.url = url
        # The server holds the file exclusively; admin commands (users, tokens, reports)
        # open it shared, which is safe because they never append to the hall's log.
        self.exclusive = exclusive
        self.path = path_from_url(url)
        self._synchronous = _synchronous(url)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._tail: asyncio.Queue[list[Event]] | None = None
        self._seq = 0

    # -- plumbing ------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._wconn is not None, "store is not open"
        conn = self._wconn
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, conn)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite write failed: {exc}") from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._rconn is not None, "store is not open"
        conn = self._rconn
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, fn, conn)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite read failed: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged ticket survives
        # a power cut as well as a killed process. A replay or a benchmark, which can be
        # run again, may ask for ?synchronous=normal (survives a killed process only).
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.exclusive:
            lock_path = str(self.path) + ".lock"
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreError(f"{self.path} is in use by another hallcall server (the embedded store serves one process)") from None
            self._lock_fd = fd
        _private(self.path)
        loop = asyncio.get_running_loop()
        try:
            self._wconn = await loop.run_in_executor(self._writer, self._connect)
            self._rconn = await loop.run_in_executor(self._reader, self._connect)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

        def init(conn: sqlite3.Connection) -> int:
            # Columns added after a database was made: add them before the indexes use them.
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "evaluations" in tables and "excluded" not in {r[1] for r in conn.execute("PRAGMA table_info(evaluations)")}:
                conn.execute("ALTER TABLE evaluations ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0")
                conn.execute("DROP INDEX IF EXISTS evaluations_report")
                conn.execute("DROP INDEX IF EXISTS evaluations_grouped")
            if "visits" in tables and "closed" not in {r[1] for r in conn.execute("PRAGMA table_info(visits)")}:
                # Visits closed by a keypad's next key are told apart (Visit.closed); older ones were all the clerk's.
                conn.execute("ALTER TABLE visits ADD COLUMN closed TEXT NOT NULL DEFAULT ''")
            for old in ("visits_report", "visits_grouped", "tickets_report"):  # replaced by indexes that cover `closed`, `outcome`
                conn.execute(f"DROP INDEX IF EXISTS {old}")
            conn.executescript(SCHEMA + sqlite_outbox.SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            row = conn.execute("SELECT max(seq) FROM events").fetchone()
            stored = conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
            return max(row[0] or 0, int(stored[0]) if stored else 0)

        self._seq = await self._write(init)
        self._tail = asyncio.Queue()

    async def close(self) -> None:
        for pool, conn in ((self._writer, self._wconn), (self._reader, self._rconn)):
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(pool, conn.close)
        self._wconn = self._rconn = None
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the log ------------------------------------------------------------------------

    async def load(self) -> Loaded:
        def run(conn: sqlite3.Connection) -> Loaded:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            day = meta.get("day", "")
            tickets = [Ticket.from_dict(json.loads(r[0])) for r in conn.execute("SELECT row FROM tickets WHERE day=?", (day,))]
            windows = [Window.from_dict(json.loads(r[0])) for r in conn.execute("SELECT row FROM windows")]
            notice = Notice.from_dict(json.loads(meta["notice"])) if "notice" in meta else None
            docs = [Doc.from_dict({"kind": k, "id": i, "day": d, "data": json.loads(x), "live": True})
                    for k, i, d, x in conn.execute("SELECT kind, id, day, data FROM docs WHERE live=1")]
            seq = conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
            return Loaded(max(seq, int(meta.get("seq", 0))), day, tickets, windows, notice, docs)

        return await self._write(run)

    async def commit(self, expect_seq: int, events: list[Event]) -> None:
        if not events:
            return
        if not self.exclusive:
            raise StoreError("this store was opened for administration only")
        records = [(e, _dumps(e.data())) for e in events]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
                last_seq = int(last[0]) if last else 0
                if last_seq != expect_seq:
                    raise _Moved(last_seq)
                for event, data in records:
                    _project(conn, event, data)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(events[-1].seq),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        try:
            await self._write(run)
        except _Moved:
            raise SeqConflict(await self.events_since(expect_seq)) from None
        self._seq = events[-1].seq
        assert self._tail is not None
        self._tail.put_nowait(events)

    async def tail(self) -> AsyncIterator[Event]:
        assert self._tail is not None
        while True:
            batch = await self._tail.get()
            for event in batch:
                yield event

    async def events_since(self, seq: int, limit: int = 10_000) -> list[Event]:
        def run(conn: sqlite3.Connection) -> list[Event]:
            rows = conn.execute("SELECT seq, name, at, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
            return [Event.from_record({"seq": s, "name": n, "at": a, "data": json.loads(d)}) for s, n, a, d in rows]

        return await self._read(run)

    async def put_history(self, history: History) -> None:
        if not self.exclusive:
            raise StoreError("this store was opened for administration only")
        carriers = [(e, _dumps(e.data())) for e in history.carriers()]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("SELECT value FROM meta WHERE key='seq'").fetchone() or \
                        conn.execute("SELECT 1 FROM events LIMIT 1").fetchone():
                    raise StoreError("the store already holds a hall's log")
                for event, data in carriers:
                    _project(conn, event, data, log=False)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('day', ?)", (history.day,))
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(history.seq),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._write(run)
        self._seq = history.seq

    async def doc_kinds(self) -> list[str]:
        return await self._read(lambda c: [r[0] for r in c.execute("SELECT DISTINCT kind FROM docs ORDER BY kind")])

    async def confirm(self, seq: int) -> None:
        pass  # a commit returns once its transaction is on disk: nothing is pending

    async def first_seq(self) -> int:
        return await self._read(lambda c: c.execute("SELECT min(seq) FROM events").fetchone()[0] or 0)

    async def prune_events(self, before_day: str) -> int:
        """Drop log entries older than a day; projections stay. Returns rows removed."""
        return await self._write(lambda c: c.execute("DELETE FROM events WHERE day < ?", (before_day,)).rowcount)

    # -- history --------------------------------------------------------------------------

    async def ticket_by_token(self, token: str) -> Ticket | None:
        def run(conn: sqlite3.Connection) -> Ticket | None:
            row = conn.execute("SELECT row FROM tickets WHERE token=?", (token_key(token),)).fetchone()
            return Ticket.from_dict(json.loads(row[0])) if row else None

        return await self._read(run)

    async def tickets(self, day_from: str, day_to: str) -> list[Ticket]:
        return await self._read(lambda c: [
            Ticket.from_dict(json.loads(r[0]))
            for r in c.execute("SELECT row FROM tickets WHERE day BETWEEN ? AND ? ORDER BY issued_at", (day_from, day_to))
        ])

    async def visits(self, day_from: str, day_to: str) -> list[Visit]:
        cols = "ticket, leg, day, number, service, zone, priority, window, clerk, queued_at, called_at, started_at, ended_at, end, outcome, recalls"
        names = [c.strip() for c in cols.split(",")]

        def run(conn: sqlite3.Connection) -> list[Visit]:
            rows = conn.execute(f"SELECT {cols}, closed FROM visits WHERE day BETWEEN ? AND ? ORDER BY called_at", (day_from, day_to))
            return [Visit.from_dict({**dict(zip(names, r)), "closed_by": "next" if r[-1] else None}) for r in rows]

        return await self._read(run)

    async def evaluations(self, day_from: str, day_to: str) -> list[Evaluation]:
        cols = ["ticket", "day", "number", "service", "zone", "window", "clerk", "level", "reasons", "comment", "source", "at",
                "excluded"]

        def run(conn: sqlite3.Connection) -> list[Evaluation]:
            out = []
            for r in conn.execute(f"SELECT {', '.join(cols)} FROM evaluations WHERE day BETWEEN ? AND ? ORDER BY at", (day_from, day_to)):
                d = dict(zip(cols, r))
                d["reasons"] = json.loads(d["reasons"])
                d["excluded"] = bool(d["excluded"])
                out.append(Evaluation.from_dict(d))
            return out

        return await self._read(run)

    async def window_log(self, day_from: str, day_to: str) -> list[Event]:
        def run(conn: sqlite3.Connection) -> list[Event]:
            rows = conn.execute("SELECT seq, name, at, data FROM window_log WHERE day BETWEEN ? AND ? ORDER BY seq", (day_from, day_to))
            return [Event.from_record({"seq": s, "name": n, "at": a, "data": json.loads(d)}) for s, n, a, d in rows]

        return await self._read(run)

    async def docs(self, kind: str, *, day_from: str | None = None, day_to: str | None = None, key: str | None = None) -> list[Doc]:
        def run(conn: sqlite3.Connection) -> list[Doc]:
            sql = ("SELECT d.kind, d.id, d.day, d.live, d.data, (SELECT group_concat(key, char(31)) FROM doc_keys dk"
                   " WHERE dk.kind = d.kind AND dk.id = d.id) FROM docs d")
            args: list[Any] = []
            where = ["d.kind = ?"]
            args.append(kind)
            if key is not None:
                sql += " JOIN doc_keys k ON k.kind = d.kind AND k.id = d.id"
                where.append("k.key = ?")
                args.append(key)
            if day_from is not None:
                where.append("d.day >= ?")
                args.append(day_from)
            if day_to is not None:
                where.append("d.day <= ?")
                args.append(day_to)
            sql += " WHERE " + " AND ".join(where) + " ORDER BY d.day, d.id"
            return [Doc(k, i, d, json.loads(x), tuple(sorted(ks.split("\x1f"))) if ks else (), bool(lv))
                    for k, i, d, lv, x, ks in conn.execute(sql, args)]

        return await self._read(run)

    async def doc(self, kind: str, doc_id: str) -> Doc | None:
        def run(conn: sqlite3.Connection) -> Doc | None:
            row = conn.execute("SELECT day, live, data FROM docs WHERE kind=? AND id=?", (kind, doc_id)).fetchone()
            return Doc(kind, doc_id, row[0], json.loads(row[2]), live=bool(row[1])) if row else None

        return await self._read(run)

    # -- report facts (see facts.py) --------------------------------------------------------
    # Every query reads a covering index in the order it groups by, so SQLite streams the
    # groups without sorting: by day first for short periods and for splits in time
    # (regroup merges days into months in Python), service first for a long period as a
    # whole. Hour splits read times that are not in the indexes and take the slower path.

    async def visit_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[VisitGroup]:
        """Visits grouped by (time, service, window, clerk, end, closed), with every wait and handling time."""
        check_split(time)
        values = f"{_US.format('wait_s')}, {_US.format('handling_s')}"
        if time is None and _days(day_from, day_to) > LONG_PERIOD_DAYS:
            sql = (f"SELECT '', service, window, clerk, end, closed, {values} FROM visits INDEXED BY visits_by_service "
                   "WHERE day BETWEEN ? AND ? GROUP BY service, window, clerk, end, closed")
        else:
            split = "substr(called_at, 12, 2)" if time == "hour" else "day"
            sql = (f"SELECT {split}, service, window, clerk, end, closed, {values} FROM visits "
                   "WHERE day BETWEEN ? AND ? GROUP BY 1, 2, 3, 4, 5, 6")

        def run(conn: sqlite3.Connection) -> list[VisitGroup]:
            rows = conn.execute(sql, (day_from, day_to))
            return [VisitGroup(t, s, w, c, e, _ints(ws), _ints(hs), x) for t, s, w, c, e, x, ws, hs in rows]

        groups = await self._read(run)
        return groups if time == "hour" else regroup_visits(groups, time)

    async def busy_facts(self, day_from: str, day_to: str) -> list[BusyRow]:
        """Handling time per (day, clerk, window)."""

        def run(conn: sqlite3.Connection) -> list[BusyRow]:
            rows = conn.execute(
                "SELECT day, clerk, window, count(*), total(handling_s) "
                "FROM visits INDEXED BY visits_busy WHERE day BETWEEN ? AND ? GROUP BY 1, 2, 3", (day_from, day_to))
            return [BusyRow(d, c, w, n, round(secs, 3)) for d, c, w, n, secs in rows]

        return await self._read(run)

    async def late_visits(self, day_from: str, day_to: str, gaps: list[Gap]) -> list[LateVisit]:
        """Visits that served a citizen in a gap after a business span (times of day as stored, the hall's offset)."""
        if not gaps:
            return []
        start, end = "substr(coalesce(started_at, called_at), 12, 8)", "substr(ended_at, 12, 8)"
        # A visit overlaps a gap if it ends in it, starts in it, or spans it whole (then it lasted at
        # least the gap): three index ranges instead of a scan of every visit of the period.
        found = " UNION ".join([f"SELECT rowid FROM visits WHERE {end} > ? AND {end} <= ?",
                                f"SELECT rowid FROM visits WHERE {start} >= ? AND {start} < ?"] * len(gaps)
                               + ["SELECT rowid FROM visits WHERE handling_s >= ?"])
        during = " OR ".join([f"({start} < ? AND {end} > ?)"] * len(gaps))
        sql = (f"SELECT day, window, clerk, coalesce(started_at, called_at), ended_at FROM visits "
               f"WHERE rowid IN ({found}) AND day BETWEEN ? AND ? AND end IN ({', '.join('?' * len(SERVED_ENDS))}) "
               f"AND closed != 'unstarted' AND ({during})")
        shortest = min(_gap_seconds(a, b) for a, b in gaps)
        args = [*(t for a, b in gaps for t in (a, b, a, b)), shortest, day_from, day_to, *SERVED_ENDS,
                *(t for a, b in gaps for t in (b, a))]

        def run(conn: sqlite3.Connection) -> list[LateVisit]:
            return [LateVisit(d, w, c, datetime.fromisoformat(a), datetime.fromisoformat(b))
                    for d, w, c, a, b in conn.execute(sql, args)]

        return await self._read(run)

    async def ticket_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[TicketGroup]:
        """Tickets grouped by (time, issued service, status), with their waits and how many were missed or moved."""
        split, t_split = ("substr(issued_at, 12, 2)", "substr(t.issued_at, 12, 2)") if time == "hour" else ("day", "t.day")
        check_split(time)

        def run(conn: sqlite3.Connection) -> list[TicketGroup]:
            rows = conn.execute(
                f"SELECT {split}, origin_service, {_STATUS.format('')}, count(*), {_US.format('wait_s')} FROM tickets "
                "WHERE day BETWEEN ? AND ? GROUP BY 1, 2, 3", (day_from, day_to)).fetchall()
            # Only the few tickets with a no-show or transfer visit are looked up, not all.
            flags = {(t, s, st): (m, x) for t, s, st, m, x in conn.execute(
                f"SELECT {t_split}, t.origin_service, {_STATUS.format('t.')}, "
                "sum(v.missed), sum(v.moved) FROM (SELECT ticket, max(end = 'no_show') AS missed, "
                "max(end = 'transferred') AS moved FROM visits WHERE end IN ('no_show', 'transferred') "
                "AND day BETWEEN ? AND ? GROUP BY ticket) v JOIN tickets t ON t.id = v.ticket GROUP BY 1, 2, 3",
                (day_from, day_to))}
            return [TicketGroup(t, s, st, n, *flags.get((t, s, st), (0, 0)), _ints(ws)) for t, s, st, n, ws in rows]

        groups = await self._read(run)
        return groups if time == "hour" else regroup_tickets(groups, time)

    async def eta_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[EtaGroup]:
        """Promised and actual waits (whole seconds) of the tickets called, by (time, issued service)."""
        check_split(time)
        split = {None: "''", "day": "day", "month": "substr(day, 1, 7)", "hour": "substr(issued_at, 12, 2)"}[time]
        promised = "json_extract(row, '$.promised_wait_minutes')"

        def run(conn: sqlite3.Connection) -> list[EtaGroup]:
            # Both lists come from the same rows in the same order, so they pair up ticket by ticket.
            rows = conn.execute(
                f"SELECT {split}, origin_service, group_concat({promised} * 60), group_concat(CAST(wait_s AS INTEGER)) "
                f"FROM tickets WHERE day BETWEEN ? AND ? AND wait_s IS NOT NULL AND {promised} IS NOT NULL "
                "GROUP BY 1, 2", (day_from, day_to)).fetchall()
            return [EtaGroup(t, s, _ints(p), _ints(w)) for t, s, p, w in rows]

        return await self._read(run)

    async def rating_facts(self, day_from: str, day_to: str, time: str | None = None) -> list[RatingGroup]:
        check_split(time)
        if time is None and _days(day_from, day_to) > LONG_PERIOD_DAYS:
            sql = ("SELECT '', service, window, clerk, level, count(*) FROM evaluations INDEXED BY evaluations_grouped "
                   "WHERE day BETWEEN ? AND ? AND excluded = 0 GROUP BY service, window, clerk, level")
        else:
            # By hour a rating counts with the visit it rates, in the hour of that visit's call.
            split, rated = (("substr(coalesce(v.called_at, e.at), 12, 2)",
                             "evaluations e LEFT JOIN visits v ON v.ticket = e.ticket AND v.end = 'finished'")
                            if time == "hour" else ("e.day", "evaluations e"))
            sql = (f"SELECT {split}, e.service, e.window, e.clerk, e.level, count(*) FROM {rated} "
                   "WHERE e.day BETWEEN ? AND ? AND e.excluded = 0 GROUP BY 1, 2, 3, 4, 5")

        def run(conn: sqlite3.Connection) -> list[RatingGroup]:
            return [RatingGroup(*r) for r in conn.execute(sql, (day_from, day_to))]

        groups = await self._read(run)
        return groups if time == "hour" else regroup_ratings(groups, time)

    async def window_marks(self, day_from: str, day_to: str) -> list[WindowMark]:
        """The attendance log, only the fields attendance needs (no JSON parsing in Python)."""

        def run(conn: sqlite3.Connection) -> list[WindowMark]:
            # Each kind of line is asked only for what attendance reads of it: the clerk of a sign-in,
            # the reason of a pause or close (the JSON is parsed once per field asked for).
            rows = conn.execute(
                "SELECT seq, name, at, json_extract(data, '$.window.number'), "
                "CASE WHEN name = 'window.opened' THEN json_extract(data, '$.window.clerk') END, "
                "CASE WHEN name = 'window.opened' THEN json_extract(data, '$.window.clerk_name') END, "
                "CASE WHEN name IN ('window.paused', 'window.closed') THEN json_extract(data, '$.reason') END "
                "FROM window_log WHERE day BETWEEN ? AND ? ORDER BY seq", (day_from, day_to))
            return [WindowMark(q, n, datetime.fromisoformat(a), w, c, cn, r) for q, n, a, w, c, cn, r in rows]

        return await self._read(run)

    # -- people, tokens, sessions ---------------------------------------------------------

    async def put_person(self, person: Person) -> None:
        await self._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO people VALUES (?, ?, ?, ?)",
            (person.id, person.login, person.staff_no or None, _dumps(person.to_dict())),
        ))

    async def person(self, *, id: str | None = None, login: str | None = None, staff_no: str | None = None) -> Person | None:
        column, value = ("id", id) if id is not None else ("login", login) if login is not None else ("staff_no", staff_no)

        def run(conn: sqlite3.Connection) -> Person | None:
            row = conn.execute(f"SELECT row FROM people WHERE {column}=?", (value,)).fetchone()
            return Person.from_dict(json.loads(row[0])) if row else None

        return await self._read(run)

    async def people(self) -> list[Person]:
        return await self._read(lambda c: [Person.from_dict(json.loads(r[0])) for r in c.execute("SELECT row FROM people ORDER BY login")])

    async def put_token(self, token: DeviceToken) -> None:
        await self._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (token.id, token.hash, _dumps(token.to_dict()))
        ))

    async def token(self, *, id: str | None = None, hash: str | None = None) -> DeviceToken | None:
        column, value = ("id", id) if id is not None else ("hash", hash)

        def run(conn: sqlite3.Connection) -> DeviceToken | None:
            row = conn.execute(f"SELECT row FROM tokens WHERE {column}=?", (value,)).fetchone()
            return DeviceToken.from_dict(json.loads(row[0])) if row else None

        return await self._read(run)

    async def tokens(self) -> list[DeviceToken]:
        return await self._read(lambda c: [DeviceToken.from_dict(json.loads(r[0])) for r in c.execute("SELECT row FROM tokens ORDER BY id")])

    async def put_session(self, session: Session) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (session.created_at.isoformat(),))
            conn.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
                         (session.hash, session.expires_at.isoformat(), _dumps(session.to_dict())))

        await self._write(run)

    async def session(self, hash: str) -> Session | None:
        def run(conn: sqlite3.Connection) -> Session | None:
            row = conn.execute("SELECT row FROM sessions WHERE hash=?", (hash,)).fetchone()
            return Session.from_dict(json.loads(row[0])) if row else None

        return await self._read(run)

    async def delete_session(self, hash: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM sessions WHERE hash=?", (hash,)))


# A duration column as whole microseconds, joined: integers format and parse far faster than
# REALs, and round() recovers exactly the microseconds the seconds were computed from.
_US = "group_concat(CAST(round({} * 1000000) AS INTEGER))"
LONG_PERIOD_DAYS = 62  # longer periods read visits service first (one pass, no sort)
# A ticket's status in report facts: a ticket done without an outcome (closed unstarted by a
# keypad's next key) is told apart from the served (see facts.fact_status).
_STATUS = f"CASE WHEN {{0}}status = 'done' AND {{0}}outcome IS NULL THEN '{UNSTARTED}' ELSE {{0}}status END"


def _gap_seconds(first: str, last: str) -> float:
    """Seconds between two times of day "HH:MM:SS" ("24:00:00" is midnight after)."""
    def secs(t: str) -> int:
        h, m, x = (int(p) for p in t.split(":"))
        return h * 3600 + m * 60 + x

    return float(secs(last) - secs(first))


def _days(day_from: str, day_to: str) -> int:
    return (date.fromisoformat(day_to) - date.fromisoformat(day_from)).days + 1


def _ints(joined: str | None) -> list[int]:
    return list(map(int, joined.split(","))) if joined else []


class _Moved(Exception):
    def __init__(self, last_seq: int) -> None:
        self.last_seq = last_seq


def _project(conn: sqlite3.Connection, event: Event, data: str, *, log: bool = True) -> None:
    """Write one event and its records into the log and the query tables (``log=False``: the records only)."""
    at = event.at.isoformat()
    day = event.day
    if log:
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (event.seq, event.name, at, day, data))
    t = event.ticket
    if t is not None:
        wait = (t.first_called_at - t.issued_at).total_seconds() if t.first_called_at else None
        conn.execute(
            "INSERT OR REPLACE INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (t.id, t.day, t.number, t.service, t.zone, t.origin_service, t.channel, t.priority, t.status, t.token,
             t.issued_at.isoformat(), t.first_called_at.isoformat() if t.first_called_at else None,
             t.ended_at.isoformat() if t.ended_at else None, t.window, t.clerk, t.outcome, t.rating, wait,
             _dumps(event.data()["ticket"])),  # the event built this dict already
        )
    v = event.visit
    if v is not None:
        conn.execute(
            "INSERT OR REPLACE INTO visits VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (v.ticket, v.leg, v.day, v.number, v.service, v.zone, v.priority, v.window, v.clerk,
             v.queued_at.isoformat(), v.called_at.isoformat(), v.started_at.isoformat() if v.started_at else None,
             v.ended_at.isoformat(), v.end, v.outcome, v.recalls, v.wait_seconds, v.handling_seconds, v.closed),
        )
    ev = event.evaluation
    if ev is not None:
        # REPLACE: an upheld appeal rewrites the rating as excluded.
        conn.execute(
            "INSERT OR REPLACE INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ev.ticket, ev.day, ev.number, ev.service, ev.zone, ev.window, ev.clerk, ev.level,
             _dumps(list(ev.reasons)), ev.comment, ev.source, ev.at.isoformat() if ev.at else at, int(ev.excluded)),
        )
    w = event.window
    if w is not None:
        conn.execute("INSERT OR REPLACE INTO windows VALUES (?, ?)", (w.number, _dumps(event.data()["window"])))
        if event.name.startswith("window."):
            conn.execute("INSERT INTO window_log VALUES (?, ?, ?, ?, ?)", (event.seq, day, event.name, at, data))
    if event.notice is not None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('notice', ?)", (_dumps(event.notice.to_dict()),))
    if event.name == "day.started":
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('day', ?)", (event.extra["day"],))
    for doc in event.docs:
        conn.execute("INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)", (doc.kind, doc.id, doc.day, int(doc.live), _dumps(doc.data)))
        conn.execute("DELETE FROM doc_keys WHERE kind=? AND id=?", (doc.kind, doc.id))
        conn.executemany("INSERT OR IGNORE INTO doc_keys VALUES (?, ?, ?)", [(doc.kind, k, doc.id) for k in doc.keys])
