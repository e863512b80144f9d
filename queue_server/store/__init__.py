"""Stores behind one interface: the embedded SQLite file, or Redis for several processes."""

from __future__ import annotations

from .base import History, Loaded, LogRewound, SeqConflict, Store, StoreError

__all__ = ["History", "Loaded", "LogRewound", "SeqConflict", "Store", "StoreError", "open_store"]


def open_store(url: str, *, hall_id: str = "hall", admin: bool = False) -> Store:
    """Build the store a URL names (not yet opened). ``admin``: for CLI commands beside a running server."""
    if url.startswith("sqlite://"):
        from .sqlite import SqliteStore

        return SqliteStore(url, exclusive=not admin)
    if url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://")):
        from .redis import RedisStore

        return RedisStore(url, hall_id=hall_id, admin=admin)
    raise StoreError(f"unknown store URL {url!r}: use sqlite:///path/to/hall.db, redis://host:6379/0 "
                     "or redis+sentinel://host:26379,host:26379/master-name/0")
