"""The staffing planner: its model, its advice, and the advice checked by the real day replayer."""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from queue_server.core import config
from queue_server.sim import replay as simulate
from queue_server.sim.arrivals import Arrival, read_trace, settings
from queue_server.sim.plan import MARGIN, Model, advise, parse_windows
from queue_server.store import open_store

from ...conftest import HALL_FILE, TZ, run_cli  # type: ignore[import-not-found]
from ..replay_kit import TRACE

CFG = config.load(HALL_FILE)


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def test_one_window_serves_its_citizens_in_turn() -> None:
    """Three pension citizens at 09:00, ten minutes each, one pension window: they wait 0, 10 and 20 minutes."""
    at = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
    arrivals = [Arrival(i, at + timedelta(seconds=i), "pension", "kiosk", "normal", 600, False, None) for i in range(3)]
    model = Model(CFG, arrivals, settings(CFG, pooled_zones=()))
    zone = CFG.services["pension"].zone
    pension = [n for n in model.order[zone] if "pension" in CFG.windows[n].services]
    # Open only as many of the zone's windows as reach the first pension window in the opening order.
    first = model.order[zone].index(pension[0]) + 1
    hours = model.play({zone: {h: first for h in model.hours()}}, [zone])[zone]
    assert sorted(round(w) for w in hours[9].waits) == [0, 599, 1198]  # each arrived a second after the last
    assert hours[9].arrivals == 3 and hours[9].windows == first


def test_the_advice_replayed_meets_its_target_and_fewer_windows_do_not() -> None:
    """The planner's all-day numbers, played through the real Hall, keep every hour's p90 wait in standard;
    the biggest zone given three windows fewer than advised does not."""
    target = 90
    arrivals = read_trace(TRACE)
    model = Model(CFG, arrivals, settings(CFG), target_wait=target)
    advice = {a.zone: a for a in advise(model)}
    assert all(a.all_day is not None for a in advice.values())
    cut = max(advice, key=lambda z: advice[z].all_day or 0)
    counts = {z: (a.all_day or 0) - (3 if z == cut else 0) for z, a in advice.items()}
    windows = tuple(sorted(n for z, a in advice.items() for n in a.windows[:counts[z]]))

    async def run(path: Path) -> list[tuple[str, datetime, datetime | None]]:
        url = f"sqlite://{path}?synchronous=normal"
        cfg = config.load(HALL_FILE, store_url=url)
        store = open_store(url, hall_id=cfg.hall.id)
        await store.open()
        try:
            await simulate.replay(cfg, store, arrivals, replace(settings(cfg), windows=windows, alerts_every_seconds=0))
            day = arrivals[0].at.date().isoformat()
            return [(t.zone, t.issued_at, t.first_called_at) for t in await store.tickets(day, day)]
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        tickets = asyncio.run(run(Path(tmp) / "plan.db"))
    waits: dict[tuple[str, int], list[float]] = defaultdict(list)
    for zone, issued, called in tickets:
        assert called is not None or zone == cut, "where the advice was followed, every citizen is called"
        waits[(zone, issued.astimezone(TZ).hour)].append(math.inf if called is None else (called - issued).total_seconds())
    worst = {z: max(p90(w) for (zz, _), w in waits.items() if zz == z) for z in advice}
    for zone, p in worst.items():
        if zone == cut:
            assert p > target * 60, (zone, p)
        else:
            assert p <= target * 60, (zone, p, MARGIN)


def test_the_command_line_prints_the_table_and_the_advice(tmp_path: Path) -> None:
    done = run_cli("plan", "--config", str(HALL_FILE), "--trace", str(TRACE), "--windows", "social=10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    social = [line.split() for line in lines if line.startswith("social ")]
    assert social and all(row[3] == "10" for row in social)  # the plan given: ten windows all day
    assert sum(int(row[2]) for row in social) == sum(1 for a in read_trace(TRACE) if CFG.services[a.service].zone == "social")
    assert any(line.strip().startswith("social: all day") for line in lines)
    bad = run_cli("plan", "--config", str(HALL_FILE), "--trace", str(TRACE), "--windows", "nowhere=3", cwd=tmp_path)
    assert bad.returncode == 1 and "zone=N" in bad.stderr


def test_a_plan_names_zones_of_the_hall() -> None:
    assert parse_windows("social=10, medical=4", CFG) == {"social": 10, "medical": 4}
    for wrong in ("social", "social=x", "social=²", "moon=3"):
        try:
            parse_windows(wrong, CFG)
        except ValueError as exc:
            assert "zone=N" in str(exc)
        else:
            raise AssertionError(wrong)
