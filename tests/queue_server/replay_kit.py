"""The sample day, replayed once per test session into a real SQLite file that report tests read.

``replayed_day`` runs ``hallcall simulate``'s replayer on tests/data/taikang-day.csv the
first time it is asked for and hands every later caller the same store; tests that
write (a server signing people in, a manager's correction) work on ``copy_of`` it.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.sim import replay as simulate
from queue_server.store import open_store
from queue_server.web.app import make_app

from ..conftest import DATA_DIR, HALL_FILE, TZ, Harness, free_port  # type: ignore[import-not-found]

TRACE = DATA_DIR / "taikang-day.csv"
DAY = "2026-12-01"


@dataclass(frozen=True)
class Replayed:
    path: Path  # the SQLite file
    cfg: config.HallConfig
    result: simulate.ReplayResult
    trace: list[dict[str, str]]

    @property
    def url(self) -> str:
        return f"sqlite://{self.path}"

    def copy_of(self, dest: Path) -> str:
        """A private copy of the replayed store, for tests that write."""
        shutil.copy(self.path, dest)
        return f"sqlite://{dest}"

    def count(self, column: str, **where: str) -> Counter[str]:
        """Counts of a trace column's values over the rows matching ``where``."""
        return Counter(r[column] for r in self.trace if all(r[k] == v for k, v in where.items()))


_CACHE: dict[str, Replayed] = {}


def replayed_day(factory: pytest.TempPathFactory) -> Replayed:
    if "day" not in _CACHE:
        path = factory.mktemp("replay") / "day.db"
        # Replays may relax fsync: a crash mid-replay is a replay to run again.
        url = f"sqlite://{path}?synchronous=normal"
        cfg = config.load(HALL_FILE, store_url=url)

        async def run() -> simulate.ReplayResult:
            store = open_store(url, hall_id=cfg.hall.id)
            await store.open()
            try:
                [result] = await simulate.replay(cfg, store, simulate.read_trace(TRACE), simulate.settings(cfg))
                return result
            finally:
                await store.close()

        result = asyncio.run(run())
        with open(TRACE, newline="", encoding="utf-8") as fh:
            trace = list(csv.DictReader(fh))
        _CACHE["day"] = Replayed(path, config.load(HALL_FILE, store_url=f"sqlite://{path}"), result, trace)
    return _CACHE["day"]


async def read_store(url: str, fn: Any) -> Any:
    """Open a store beside nothing else, run ``await fn(store)``, close it."""
    store = open_store(url, admin=True)
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


@asynccontextmanager
async def serve_copy(day: Replayed, tmp_path: Path) -> AsyncIterator[Harness]:
    """A real server over a private copy of the replayed day, its clock at that evening."""
    cfg = config.load(HALL_FILE, store_url=day.copy_of(tmp_path / "day.db"))
    async with serve_at(cfg, datetime(2026, 12, 1, 23, 0, tzinfo=TZ)) as h:
        yield h


@asynccontextmanager
async def serve_at(cfg: config.HallConfig, now: datetime) -> AsyncIterator[Harness]:
    """A real server of ``cfg`` over its store, its clock at ``now``."""
    app = make_app(cfg, clock=ManualClock(now))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    h = Harness(f"http://127.0.0.1:{port}", app)
    try:
        yield h
    finally:
        await h.close()
        await runner.cleanup()
