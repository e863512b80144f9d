"""Databases written by earlier versions open, are upgraded in place, and reports read them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from queue_server.store import open_store

OLD_INDEXES = """
CREATE INDEX visits_report ON visits(day, service, window, clerk, end, wait_s, handling_s);
CREATE INDEX visits_grouped ON visits(service, window, clerk, end, day, wait_s, handling_s);
CREATE INDEX tickets_report ON tickets(day, origin_service, status, wait_s);
"""


async def test_an_older_database_gains_the_closed_column_and_its_visits_count_as_before(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/hall.db"
    store = open_store(url)
    await store.open()  # today's layout
    await store.close()

    # The layout of a database made before: no `closed` column, the old report indexes.
    with sqlite3.connect(tmp_path / "hall.db") as conn:
        for name in ("visits_by_day", "visits_by_service", "tickets_by_day"):
            conn.execute(f"DROP INDEX {name}")
        conn.execute("ALTER TABLE visits DROP COLUMN closed")
        conn.executescript(OLD_INDEXES)
        conn.execute(
            "INSERT INTO visits VALUES ('20261201-K900', 1, '2026-12-01', 'K900', 'pension', 'social', 'normal', 15, 'c15', "
            "'2026-12-01T08:50:00+08:00', '2026-12-01T08:55:00+08:00', NULL, '2026-12-01T08:58:00+08:00', 'finished', "
            "'done', 0, 300.0, 180.0)")

    store = open_store(url)
    await store.open()
    try:
        [group] = await store.visit_facts("2026-12-01", "2026-12-01")
        assert (group.window, group.end, group.closed, group.handlings_us) == (15, "finished", "", [180_000_000])
        [visit] = await store.visits("2026-12-01", "2026-12-01")
        assert visit.closed_by is None
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "hall.db") as conn:
        indexes = {r[1] for r in conn.execute("SELECT type, name FROM sqlite_master WHERE type = 'index'")}
    assert {"visits_by_day", "visits_by_service", "tickets_by_day"} <= indexes
    assert not {"visits_report", "visits_grouped", "tickets_report"} & indexes


OLD_EVALUATIONS = """
CREATE TABLE evaluations (
    ticket TEXT PRIMARY KEY, day TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL, zone TEXT NOT NULL,
    window INTEGER, clerk TEXT, level INTEGER NOT NULL, reasons TEXT NOT NULL, comment TEXT, source TEXT NOT NULL,
    at TEXT NOT NULL);
CREATE INDEX evaluations_day ON evaluations(day);
INSERT INTO evaluations VALUES ('20261201-S001', '2026-12-01', 'S001', 'open-supermarket', 'enterprise', 8, 'c8', 4,
    '[]', NULL, 'pad', '2026-12-01T10:00:00+08:00');
"""


async def test_an_older_database_keys_its_ratings_by_ticket_and_part_and_keeps_them(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/hall.db"
    store = open_store(url)
    await store.open()
    await store.close()
    # Made before parts were rated: one rating per ticket, the ticket its key, no `excluded` either.
    with sqlite3.connect(tmp_path / "hall.db") as conn:
        for name in ("evaluations_report", "evaluations_grouped"):
            conn.execute(f"DROP INDEX {name}")
        conn.execute("DROP TABLE evaluations")
        conn.executescript(OLD_EVALUATIONS)

    store = open_store(url)
    await store.open()
    try:
        [ev] = await store.evaluations("2026-12-01", "2026-12-01")
        assert (ev.ticket, ev.part, ev.service, ev.window, ev.level, ev.excluded) == (
            "20261201-S001", None, "open-supermarket", 8, 4, False)
        [group] = await store.rating_facts("2026-12-01", "2026-12-01")
        assert (group.service, group.window, group.level, group.count) == ("open-supermarket", 8, 4, 1)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "hall.db") as conn:
        key = [r[1] for r in sorted(conn.execute("PRAGMA table_info(evaluations)"), key=lambda r: r[5]) if r[5]]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'evaluations'")}
    assert key == ["ticket", "part"]
    assert "evaluations_by_ticket" not in tables
    assert {"evaluations_day", "evaluations_report", "evaluations_grouped"} <= indexes
