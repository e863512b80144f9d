"""The webhook outbox on SQLite (see outbox.py): two tables written on the writer thread."""

from __future__ import annotations

import sqlite3
from typing import Any, Awaitable, Callable, TypeVar

from .outbox import DELIVERED, FAILED, KEEP, PENDING, Delivery

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_cursor (endpoint TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    endpoint TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_at REAL NOT NULL, last_status INTEGER, last_error TEXT NOT NULL,
    updated_at REAL NOT NULL, PRIMARY KEY (endpoint, seq));
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_outbox(status, next_at);
"""
_COLUMNS = "endpoint, seq, event, body, status, attempts, next_at, last_status, last_error, updated_at"


def _row(d: Delivery) -> tuple[Any, ...]:
    return (d.endpoint, d.seq, d.event, d.body, d.status, d.attempts, d.next_at, d.last_status, d.last_error, d.updated_at)


def _transaction(conn: sqlite3.Connection, body: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = body()
        conn.execute("COMMIT")
        return out
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class OutboxOnSqlite:
    _write: Callable[..., Awaitable[Any]]
    _read: Callable[..., Awaitable[Any]]

    async def outbox_cursor(self, endpoint: str) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT seq FROM webhook_cursor WHERE endpoint=?", (endpoint,)).fetchone()
            return None if row is None else int(row[0])

        result: int | None = await self._read(run)
        return result

    async def outbox_fill(self, endpoint: str, expect: int | None, through: int, items: list[Delivery]) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            def fill() -> bool:
                row = conn.execute("SELECT seq FROM webhook_cursor WHERE endpoint=?", (endpoint,)).fetchone()
                if (None if row is None else int(row[0])) != expect:
                    return False
                conn.executemany(f"INSERT OR IGNORE INTO webhook_outbox ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 [_row(d) for d in items])
                conn.execute("INSERT OR REPLACE INTO webhook_cursor VALUES (?, ?)", (endpoint, through))
                if items:
                    conn.execute(
                        "DELETE FROM webhook_outbox WHERE endpoint=? AND status!=? AND seq < (SELECT seq FROM webhook_outbox"
                        " WHERE endpoint=? ORDER BY seq DESC LIMIT 1 OFFSET ?)", (endpoint, PENDING, endpoint, KEEP))
                return True

            return _transaction(conn, fill)

        done: bool = await self._write(run)
        return done

    async def outbox_claim(self, now: float, lease: float, limit: int) -> list[Delivery]:
        def run(conn: sqlite3.Connection) -> list[Delivery]:
            def claim() -> list[Delivery]:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM webhook_outbox WHERE status=? AND next_at<=? "
                                    "ORDER BY next_at, seq LIMIT ?", (PENDING, now, limit)).fetchall()
                found = [Delivery(*r) for r in rows]
                for d in found:
                    d.next_at = now + lease
                conn.executemany("UPDATE webhook_outbox SET next_at=? WHERE endpoint=? AND seq=?",
                                 [(d.next_at, d.endpoint, d.seq) for d in found])
                return found

            return _transaction(conn, claim)

        found: list[Delivery] = await self._write(run)
        return found

    async def outbox_settle(self, delivery: Delivery) -> None:
        d = delivery
        await self._write(lambda conn: conn.execute(
            "UPDATE webhook_outbox SET status=?, attempts=?, next_at=?, last_status=?, last_error=?, updated_at=? "
            "WHERE endpoint=? AND seq=?", (d.status, d.attempts, d.next_at, d.last_status, d.last_error, d.updated_at,
                                            d.endpoint, d.seq)))

    async def outbox_log(self, endpoint: str, limit: int) -> list[Delivery]:
        def run(conn: sqlite3.Connection) -> list[Delivery]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM webhook_outbox WHERE endpoint=? ORDER BY seq DESC LIMIT ?",
                                (endpoint, limit))
            return [Delivery(*r) for r in rows]

        found: list[Delivery] = await self._read(run)
        return found

    async def outbox_replay(self, endpoint: str, seq: int | None, now: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            if seq is None:
                cur = conn.execute("UPDATE webhook_outbox SET status=?, attempts=0, next_at=? WHERE endpoint=? AND status=?",
                                   (PENDING, now, endpoint, FAILED))
            else:
                cur = conn.execute("UPDATE webhook_outbox SET status=?, attempts=0, next_at=? WHERE endpoint=? AND seq=? "
                                   "AND status IN (?, ?)", (PENDING, now, endpoint, seq, FAILED, DELIVERED))
            return cur.rowcount

        count: int = await self._write(run)
        return count
