"""``hallcall backup``, ``restore`` and ``migrate`` round-trip the replayed day: every report the
same before and after, on each store, and back again."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from queue_server.core import periods
from queue_server.core.clock import ManualClock
from queue_server.reports import build as reports
from queue_server.reports.figures import DIMENSIONS
from queue_server.service.engine import Engine
from queue_server.store import open_store

from ...conftest import HALL_FILE, TZ, book, run_cli  # type: ignore[import-not-found]
from ..replay_kit import DAY, Replayed, replayed_day  # type: ignore[import-not-found]

EVENING = datetime(2026, 12, 1, 23, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


async def every_report(url: str, cfg: Any) -> dict[str, Any]:
    """Every report of the replayed day (and its month), as JSON text, with what else a hall keeps."""

    async def read(store: Any) -> dict[str, Any]:
        b = book(cfg, store)
        day_p, month_p = periods.parse(DAY), periods.parse(DAY[:7])
        out: dict[str, Any] = {f"figures/{by}": await reports.figures_report(b, day_p, by, now=EVENING) for by in DIMENSIONS}
        out["attendance"] = await reports.attendance_report(b, day_p, "clerk", days=True, now=EVENING)
        out["assessment"] = await reports.assessment_report(b, month_p, now=EVENING)
        out["red_flags"] = await reports.red_flag_report(b, month_p, now=EVENING)
        tickets = await store.tickets(DAY, DAY)
        out["tickets"] = sorted((t.number, t.status.value, t.token) for t in tickets)  # the tokens' keys
        out["events"] = [(e.seq, e.name) for e in await store.events_since(0, 1_000_000)]
        out["people"] = sorted((p.login, p.password_hash) for p in await store.people())
        out["tokens"] = sorted((t.id, t.hash) for t in await store.tokens())
        return json.loads(json.dumps(out, default=str))

    store = open_store(url, hall_id=cfg.hall.id, admin=True)
    await store.open()
    try:
        return await read(store)
    finally:
        await store.close()


def cli(*args: str) -> str:
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    return out.stdout


async def test_a_sqlite_backup_restores_the_same_hall(day: Replayed, tmp_path: Path) -> None:
    source = day.copy_of(tmp_path / "live.db")
    cli("token", "add", "--config", str(HALL_FILE), "--store", source, "--role", "kiosk", "--kiosk", "k1")
    before = await every_report(source, day.cfg)
    assert before["figures/hall"]["rows"] and len(before["events"]) > 10_000

    cli("backup", "--config", str(HALL_FILE), "--store", source, "--out", str(tmp_path / "b" / "hall.backup"))
    restored = f"sqlite://{tmp_path}/restored/hall.db"
    cli("restore", "--config", str(HALL_FILE), "--store", restored, "--from", str(tmp_path / "b" / "hall.backup"))
    assert await every_report(restored, day.cfg) == before

    again = run_cli("restore", "--config", str(HALL_FILE), "--store", restored, "--from", str(tmp_path / "b" / "hall.backup"))
    assert again.returncode == 1 and "--force" in again.stderr  # never over a hall by accident
    bogus = tmp_path / "bogus"
    bogus.write_text("hello\n")
    bad = run_cli("restore", "--config", str(HALL_FILE), "--store", restored, "--from", str(bogus), "--force")
    assert bad.returncode == 1 and "not a hallcall backup" in bad.stderr


async def test_migrate_moves_the_day_to_redis_and_back(day: Replayed, tmp_path: Path, redis_store_url: str,
                                                      redis_server: Any) -> None:
    source = day.copy_of(tmp_path / "live.db")
    cli("token", "add", "--config", str(HALL_FILE), "--store", source, "--role", "pad", "--window", "15")
    (tmp_path / "live.db.salt").write_text("ab" * 32)
    before = await every_report(source, day.cfg)

    said = cli("migrate", "--config", str(HALL_FILE), "--from", source, "--to", redis_store_url)
    assert f"{len(before['events'])} events" in said and "1 device tokens" in said and "privacy salt" in said
    assert await every_report(redis_store_url, day.cfg) == before

    # A Redis backup, restored into another database, is the same hall too.
    cli("backup", "--config", str(HALL_FILE), "--store", redis_store_url, "--out", str(tmp_path / "redis.backup"))
    db = (int(redis_store_url.rsplit("/", 1)[1]) + 500) % redis_server.DATABASES or 1
    redis_server.flush_db(db)
    other_db = f"{redis_server.url}/{db}"
    cli("restore", "--config", str(HALL_FILE), "--store", other_db, "--from", str(tmp_path / "redis.backup"), "--force")
    assert await every_report(other_db, day.cfg) == before
    wrong = run_cli("restore", "--config", str(HALL_FILE), "--store", f"sqlite://{tmp_path}/x.db", "--from",
                    str(tmp_path / "redis.backup"))
    assert wrong.returncode == 1 and "migrate" in wrong.stderr

    back = f"sqlite://{tmp_path}/back/hall.db"
    cli("migrate", "--config", str(HALL_FILE), "--from", redis_store_url, "--to", back)
    assert await every_report(back, day.cfg) == before
    assert (tmp_path / "back" / "hall.db.salt").read_text() == "ab" * 32  # ID hashes still match

    full = run_cli("migrate", "--config", str(HALL_FILE), "--from", source, "--to", back)
    assert full.returncode == 1 and "empty store" in full.stderr


async def test_migrate_moves_a_redis_hall_whose_stream_was_trimmed(day: Replayed, tmp_path: Path, redis_store_url: str) -> None:
    """sqlite → redis → sqlite, with the replayed day's events trimmed from the stream in between."""
    source = day.copy_of(tmp_path / "live.db")
    original = await every_report(source, day.cfg)
    cli("migrate", "--config", str(HALL_FILE), "--from", source, "--to", redis_store_url)

    # Days later the hall opens again; the stream keeps only the new days (stream_days),
    # and the replayed day lives on in the projections alone.
    store = open_store(redis_store_url, hall_id=day.cfg.hall.id)
    await store.open()
    try:
        engine = Engine(day.cfg, store, ManualClock(datetime(2026, 12, 4, 9, 0, tzinfo=TZ)))
        await engine.start(day_timer=False)  # starts the new business day: its events are the stream's newest
        await engine.stop()
        assert await store.prune_events("2026-12-02") > 10_000
        first = await store.first_seq()
    finally:
        await store.close()
    trimmed = await every_report(redis_store_url, day.cfg)
    assert trimmed["events"][0][0] == first > 10_000
    for key, figures in original.items():
        if key != "events":
            assert trimmed[key] == figures, f"{key} changed on Redis"  # the new day added no figures to the old

    back = f"sqlite://{tmp_path}/back/hall.db"
    said = cli("migrate", "--config", str(HALL_FILE), "--from", redis_store_url, "--to", back)
    assert f"after the history up to seq {first - 1}" in said
    assert await every_report(back, day.cfg) == trimmed

    # The moved hall goes on where the stream ended: same day, same state, next seq.
    moved = open_store(back, hall_id=day.cfg.hall.id)
    await moved.open()
    try:
        loaded = await moved.load()
        assert (loaded.day, loaded.seq) == ("2026-12-04", trimmed["events"][-1][0])
        assert await moved.first_seq() == first
    finally:
        await moved.close()
