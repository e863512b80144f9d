"""A database written before visits recorded how they were closed opens, and reports read it."""

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
