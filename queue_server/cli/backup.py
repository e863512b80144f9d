"""``hallcall backup``, ``hallcall restore`` and ``hallcall migrate``: a hall's store copied whole.

- A SQLite store is backed up with SQLite's online backup API, page by page from a
  consistent snapshot, so the server keeps running; the privacy salt beside the
  database is copied beside the backup.
- A Redis store is backed up as a logical dump of the hall's keys (``DUMP`` of each,
  with its time to live), read in one ``MULTI`` so the dump is one consistent moment;
  ``restore`` puts them back with ``RESTORE``. Other halls on the same Redis are untouched.
- ``migrate`` moves a hall between kinds of store: it replays the event log into the
  empty target through the store's own ``commit`` (which rebuilds tickets, visits,
  ratings, the window log and every feature record from the events exactly as the
  server did), then copies people, device tokens and the privacy salt. Signed-in
  sessions are not moved: people sign in again. When the source's oldest events were
  pruned (a Redis stream keeps ``stream_days``), the rows they left — tickets, visits,
  ratings, the window log, feature records, windows — are copied first as they are
  (``Store.put_history``), and the events still kept are replayed after them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any, AsyncIterator

from queue_server.core import config
from queue_server.features import catalog
from queue_server.service import privacy
from queue_server.store import History, Loaded, Store, StoreError, open_store
from queue_server.store.sqlite import path_from_url

REDIS_MAGIC = "hallcall-redis-backup"
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH = 1_000  # events per commit while migrating
DUMP_BATCH = 500  # keys per MULTI while restoring


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"hallcall {command}")
    p.add_argument("--config", default="hall.toml", help="hall TOML file (default: hall.toml)")
    if command == "backup":
        p.add_argument("--store", help="store URL, overriding the file's [store] url")
        p.add_argument("--out", required=True, help="the backup file to write")
    elif command == "restore":
        p.add_argument("--store", help="store URL to restore into, overriding the file's [store] url")
        p.add_argument("--from", dest="source", required=True, help="a file written by hallcall backup")
        p.add_argument("--force", action="store_true", help="replace a hall that is already there")
    else:
        p.add_argument("--from", dest="source", required=True, help="store URL to move the hall from")
        p.add_argument("--to", dest="target", required=True, help="store URL to move it to (must hold no hall)")
    return p


def main(command: str, argv: list[str]) -> int:
    args = _parser(command).parse_args(argv)
    try:
        cfg = config.load(args.config, store_url=getattr(args, "store", None))
        catalog.build(cfg)
        if command == "backup":
            print(asyncio.run(backup(cfg.store_url, cfg.hall.id, Path(args.out))))
        elif command == "restore":
            print(asyncio.run(restore(Path(args.source), cfg.store_url, cfg.hall.id, force=args.force)))
        else:
            print(asyncio.run(migrate(args.source, args.target, cfg.hall.id)))
    except config.ConfigError as exc:
        print(f"{len(exc.issues)} problem(s) in the configuration:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    except (StoreError, OSError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# -- the privacy salt (kept beside a SQLite file, or in Redis) --------------------------------------


def _salt_file(url: str) -> Path:
    return Path(str(path_from_url(url)) + ".salt")


async def _read_salt(store: Any) -> bytes | None:
    if store.kind == "sqlite":
        path = _salt_file(store.url)
        return path.read_bytes().strip() if path.exists() else None
    raw = await store.r.get(store.keys.k("secret:" + privacy.SALT_NAME))
    return None if raw is None else str(raw).encode()


async def _write_salt(store: Any, salt: bytes) -> None:
    if store.kind == "sqlite":
        path = _salt_file(store.url)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, salt)
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        await store.r.set(store.keys.k("secret:" + privacy.SALT_NAME), salt.decode())


# -- backup and restore ------------------------------------------------------------------------------


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database with the online backup API (a consistent snapshot while others write)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _refuse_if_served(path: Path) -> int:
    """Hold the server's lock on a SQLite file while restoring into it; fail if a server holds it."""
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"{path} is in use by a running hallcall server: stop it before restoring") from None
    return fd


async def backup(url: str, hall_id: str, out: Path) -> str:
    if out.exists():
        raise StoreError(f"{out} exists: name a new file")
    out.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite://"):
        source = path_from_url(url)
        if not source.exists():
            raise StoreError(f"no database at {source}")
        await asyncio.to_thread(_sqlite_copy, source, out)
        if _salt_file(url).exists():
            shutil.copyfile(_salt_file(url), str(out) + ".salt")
            os.chmod(str(out) + ".salt", 0o600)
        return f"backed up {source} to {out} ({out.stat().st_size} bytes)"
    store: Any = open_store(url, hall_id=hall_id, admin=True)
    async with _raw(store) as r:
        keys = [k.decode() async for k in r.scan_iter(match=store.keys.prefix + "*", count=1000)]
        pipe = r.pipeline(transaction=True)  # one MULTI: every key as of one moment
        for key in keys:
            pipe.dump(key)
            pipe.pttl(key)
        replies = await pipe.execute() if keys else []
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": REDIS_MAGIC, "version": 1, "hall": hall_id, "keys": len(keys)}) + "\n")
        for i, key in enumerate(keys):
            dumped, ttl = replies[2 * i], replies[2 * i + 1]
            if dumped is None:
                continue  # expired between SCAN and MULTI (a session)
            fh.write(json.dumps({"key": key[len(store.keys.prefix):], "ttl": max(0, ttl),
                                 "dump": base64.b64encode(dumped).decode()}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    return f"backed up {len(keys)} keys of hall {hall_id} to {out}"


@contextlib.asynccontextmanager
async def _raw(store: Any) -> AsyncIterator[Any]:
    """A client of the store's Redis that hands back bytes (DUMP's payloads are binary)."""
    from redis import exceptions as rx

    r = store.settings.client(decode=False)
    try:
        yield r
    except rx.RedisError as exc:
        raise StoreError(f"Redis at {store.settings.where}: {exc}") from exc
    finally:
        await r.aclose()


def _kind_of(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return "sqlite"
    with open(path, encoding="utf-8") as fh:
        try:
            header = json.loads(fh.readline())
        except ValueError:
            header = {}
    if isinstance(header, dict) and header.get("format") == REDIS_MAGIC:
        return "redis"
    raise StoreError(f"{path} is not a hallcall backup")


async def restore(source: Path, url: str, hall_id: str, *, force: bool = False) -> str:
    kind = _kind_of(source)
    target_kind = "sqlite" if url.startswith("sqlite://") else "redis"
    if kind != target_kind:
        raise StoreError(f"{source} is a {kind} backup; restore it into a {kind} store, then "
                         f"'hallcall migrate' to move the hall to {target_kind}")
    if kind == "sqlite":
        target = path_from_url(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = _refuse_if_served(target)
        try:
            if target.exists() and not force:
                raise StoreError(f"{target} exists: pass --force to replace it")
            for suffix in ("-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            await asyncio.to_thread(_sqlite_copy, source, target)
            if Path(str(source) + ".salt").exists():
                shutil.copyfile(str(source) + ".salt", _salt_file(url))
                os.chmod(_salt_file(url), 0o600)
        finally:
            os.close(lock)
        return f"restored {target} from {source}"
    store: Any = open_store(url, hall_id=hall_id, admin=True)
    async with _raw(store) as r:
        with open(source, encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            if header.get("hall") != hall_id:
                raise StoreError(f"{source} holds hall {header.get('hall')!r}, not {hall_id!r}")
            existing = [k async for k in r.scan_iter(match=store.keys.prefix + "*", count=1000)]
            if existing and not force:
                raise StoreError(f"hall {hall_id!r} already has {len(existing)} keys in Redis: pass --force to replace them")
            if existing:
                await r.delete(*existing)
            count = 0
            pipe = r.pipeline(transaction=False)
            for line in fh:
                row = json.loads(line)
                pipe.restore(store.keys.prefix + row["key"], row["ttl"], base64.b64decode(row["dump"]), replace=True)
                count += 1
                if count % DUMP_BATCH == 0:
                    await pipe.execute()
            await pipe.execute()
    return f"restored {count} keys of hall {hall_id} from {source}"


# -- migrate ---------------------------------------------------------------------------------------------


async def migrate(source_url: str, target_url: str, hall_id: str) -> str:
    source: Any = open_store(source_url, hall_id=hall_id, admin=True)
    target: Any = open_store(target_url, hall_id=hall_id)
    await source.open()
    try:
        await target.open()
        try:
            return await _move(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


async def _history(source: Store, seq: int, loaded: Loaded) -> History:
    """Every row the source keeps, as of its log's end at ``seq`` (the events after it are replayed)."""
    every = ("0000-01-01", "9999-12-31")
    docs = [doc for kind in await source.doc_kinds() for doc in await source.docs(kind)]
    return History(
        seq=seq, day=loaded.day, notice=loaded.notice, windows=loaded.windows,
        tickets=await source.tickets(*every), visits=await source.visits(*every),
        evaluations=await source.evaluations(*every),
        window_log=[e for e in await source.window_log(*every) if e.seq <= seq], docs=docs,
    )


async def _move(source: Store, target: Any) -> str:
    if (await target.load()).seq or await target.people() or await target.tokens():
        raise StoreError(f"the target {target.kind} store already holds a hall: migrate into an empty store")
    first = await source.first_seq()
    loaded = await source.load()
    last = 0
    if first > 1 or (first == 0 and loaded.seq):
        # The oldest events were pruned, but the rows they left were kept: move those,
        # then replay the events that are left, from where the log now starts.
        last = first - 1 if first else loaded.seq
        await target.put_history(await _history(source, last, loaded))
    start = last
    while True:
        events = await source.events_since(last, BATCH)
        if not events:
            break
        if [e.seq for e in events] != list(range(last + 1, last + 1 + len(events))):
            raise StoreError(f"the source's event log has a gap after seq {last}")
        await target.commit(last, events)
        last = events[-1].seq
    people, tokens = await source.people(), await source.tokens()
    for person in people:
        await target.put_person(person)
    for token in tokens:
        await target.put_token(token)
    salt = await _read_salt(source)
    if salt is not None:
        await _write_salt(target, salt)
    return (f"moved the hall from {source.kind} to {target.kind}: {last - start} events"
            + (f" after the history up to seq {start}" if start else "") + f", {len(people)} people, "
            f"{len(tokens)} device tokens" + (", the privacy salt" if salt is not None else ""))
