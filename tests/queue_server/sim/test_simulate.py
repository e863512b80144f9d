"""The day replayer: the sample trace played through the real Hall into a real store, faithfully."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import pytest

from queue_server.core import config, queueing
from queue_server.core.model import Ticket
from queue_server.core.rules import Tx
from queue_server.features import catalog
from queue_server.service.plugin import Feature
from queue_server.sim import replay as simulate
from queue_server.store import open_store

from ...conftest import HALL_FILE, run_cli  # type: ignore[import-not-found]
from ..replay_kit import DAY, TRACE, Replayed, read_store, replayed_day


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


def test_the_whole_trace_is_played(day: Replayed) -> None:
    r = day.result
    rated = sum(1 for row in day.trace if row["rating"])
    no_shows = sum(1 for row in day.trace if row["no_show"] == "1")
    assert (r.arrivals, r.issued, r.no_shows, r.ratings) == (len(day.trace), len(day.trace), no_shows, rated)
    assert r.served + r.no_shows == len(day.trace) and r.failures == []
    # A bundle's citizen is served once, after every part of the bundle was.
    bundles = [row for row in day.trace if day.cfg.services[row["service"]].is_bundle and row["no_show"] != "1"]
    assert (r.bundles, r.parts) == (len(bundles), sum(len(day.cfg.services[row["service"]].bundle) for row in bundles))
    assert r.pauses > 0 and r.events > len(day.trace) * 3


async def test_every_citizen_is_replayed_as_the_trace_says(day: Replayed) -> None:
    async def load(store: Any) -> tuple[list[Any], list[Any], list[Any]]:
        return (await store.tickets(DAY, DAY), await store.visits(DAY, DAY), await store.window_marks(DAY, DAY))

    tickets, visits, marks = await read_store(day.url, load)
    # The k-th arrival for a service holds that service's k-th number.
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in sorted(day.trace, key=lambda r: (r["arrive_at"], int(r["seq"]))):
        rows[row["service"]].append(row)
    finished = {v.ticket: v for v in visits if v.end == "finished"}
    handled: dict[str, float] = defaultdict(float)
    for v in visits:
        if v.end in ("finished", "routed", "part"):
            handled[v.ticket] += v.handling_seconds
    for t in tickets:
        row = rows[t.origin_service][t.seq_no - 1]
        assert t.issued_at.isoformat() == row["arrive_at"]
        assert (t.channel.value, t.priority.value) == (row["channel"], row["priority"])
        assert t.no_shows == int(row["no_show"])
        assert t.rating == (int(row["rating"]) if row["rating"] else None)
        if not t.no_shows:
            assert handled[t.id] == int(row["service_seconds"])  # a bundle's time, split over its parts
            assert t.parts or finished[t.id].service == t.origin_service
    # Every clerk signed in and out again. The day loads each zone to about 0.8 of its clerk-hours,
    # so every morning queue empties by the lunch break and every clerk signs in twice.
    opened = [m for m in marks if m.name == "window.opened"]
    closed = [m for m in marks if m.name == "window.closed"]
    assert len(opened) == len(closed) and {m.window for m in opened} == set(range(1, 41))
    assert all(sum(1 for m in opened if m.window == n) == 2 for n in range(1, 41))


async def test_bundles_are_replayed_part_by_part(day: Replayed) -> None:
    async def load(store: Any) -> tuple[list[Any], list[Any]]:
        return await store.tickets(DAY, DAY), await store.visits(DAY, DAY)

    tickets, visits = await read_store(day.url, load)
    cfg = day.cfg
    rows = [row for row in day.trace if cfg.services[row["service"]].is_bundle]
    bundle_tickets = [t for t in tickets if t.parts]
    # One ticket per bundle citizen, in its bundle's own row, and every part of each served.
    assert sorted(t.origin_service for t in bundle_tickets) == sorted(row["service"] for row in rows)
    assert all(t.number[0] == cfg.services[t.origin_service].prefix for t in bundle_tickets)
    came = [t for t in bundle_tickets if not t.no_shows]
    assert all(t.status == "done" and all(p["outcome"] == "done" for p in t.parts) for t in came)
    part_visits = [v for v in visits if v.end in ("routed", "part") and v.ticket in {t.id for t in came}]
    expected: dict[str, int] = defaultdict(int)
    for t in came:
        for part in cfg.services[t.origin_service].bundle:
            expected[part] += 1
    got: dict[str, int] = defaultdict(int)
    for v in part_visits:
        got[v.service] += 1
    assert got == expected
    # Each part in route order: the licence before everything, the enrolment after everything.
    for t in came:
        order = [p["service"] for p in sorted(t.parts, key=lambda p: p["at"])]
        assert order[0] == "company-registration" and order[-1] == "employer-enrolment"


def test_the_command_line_replays_a_trace(tmp_path: Path) -> None:
    lines = TRACE.read_text(encoding="utf-8").splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(lines[:61]) + "\n", encoding="utf-8")
    store = f"sqlite://{tmp_path}/sim.db"
    out = run_cli("simulate", "--config", str(HALL_FILE), "--trace", str(small), "--store", store, "--date", "2026-12-02",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("2026-12-02: 60 arrivals, 60 issued")
    again = run_cli("simulate", "--config", str(HALL_FILE), "--trace", str(small), "--store", store, "--date", "2026-12-02",
                    cwd=tmp_path)
    assert again.returncode == 1 and "already holds 2026-12-02" in again.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n1,2026-12-01T09:00:00+08:00,horse-licence,kiosk,normal,60,0,\n", encoding="utf-8")
    out = run_cli("simulate", "--config", str(HALL_FILE), "--trace", str(bad), "--store", store, cwd=tmp_path)
    assert out.returncode == 1 and "horse-licence" in out.stderr


class Noting(Feature):
    """A tool's observer: notes each ticket as it is issued, inside the issue's decision."""

    name = "noting"
    issued: ClassVar[list[tuple[str, int]]] = []

    def on_issued(self, tx: Tx, ticket: Ticket) -> None:  # type: ignore[override]
        Noting.issued.append((ticket.id, queueing.ahead_of(tx.state, ticket)))


async def test_a_tool_adds_its_own_feature_to_a_replay(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/sim.db"
    cfg = config.load(HALL_FILE, store_url=url)
    arrivals = simulate.read_trace(TRACE)[:40]
    store = open_store(url, hall_id=cfg.hall.id)
    await store.open()
    try:
        [result] = await simulate.replay(cfg, store, arrivals, simulate.settings(cfg, alerts_every_seconds=0),
                                         extra=(Noting,))
        tickets = await store.tickets(result.day, result.day)
    finally:
        await store.close()
    assert sorted(i for i, _ in Noting.issued) == sorted(t.id for t in tickets) and len(tickets) == 40
    # It saw the queue as the citizen joined it: the first citizen of the day had nobody ahead.
    assert Noting.issued[0][1] == 0


def test_the_simulate_section_is_checked() -> None:
    text = HALL_FILE.read_text(encoding="utf-8").replace(
        'pooled_zones = ["enterprise"]', 'pooled_zones = ["moon"]\npause_probability = 2\nwalk_seconds = -1\nspeed = 3')
    cfg = config.loads(text, source="hall.toml")
    with pytest.raises(config.ConfigError) as err:
        catalog.build(cfg)
    fields = {i.field for i in err.value.issues}
    assert {"simulate.pooled_zones", "simulate.pause_probability", "simulate.walk_seconds", "simulate.speed"} <= fields
    assert all(i.line for i in err.value.issues if i.field.startswith("simulate."))
