"""ETA accuracy: the wait promised on issue is kept with the ticket and judged against the wait it had."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from queue_server.core import periods
from queue_server.core.model import Ticket
from queue_server.reports import build as reports
from queue_server.store import facts

from ...conftest import HALL_FILE, Harness, book, run_cli  # type: ignore[import-not-found]
from ..replay_kit import DAY, Replayed, read_store, replayed_day


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


def judged(pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """The accuracy figures worked out from scratch: errors in seconds, figures in minutes."""
    errors = [waited - promised for promised, waited in pairs]
    ranked = sorted(abs(e) for e in errors)
    n = len(ranked)
    return {
        "tickets": n,
        "median_abs_error_minutes": round(ranked[math.ceil(0.5 * n) - 1] / 60, 1),
        "p90_abs_error_minutes": round(ranked[math.ceil(0.9 * n) - 1] / 60, 1),
        "within_5_minutes": round(sum(1 for e in ranked if e <= 300) / n, 4),
        "bias_minutes": round(sum(errors) / n / 60, 1),
    }


def pair(t: Ticket) -> tuple[int, int]:
    assert t.promised_wait_minutes is not None and t.first_called_at is not None
    return t.promised_wait_minutes * 60, int((t.first_called_at - t.issued_at).total_seconds())


async def test_accuracy_matches_an_independent_computation(day: Replayed) -> None:
    tickets: list[Ticket] = await read_store(day.url, lambda s: s.tickets(DAY, DAY))
    assert len(tickets) == len(day.trace) and all(t.promised_wait_minutes is not None for t in tickets)
    called = [t for t in tickets if t.first_called_at is not None]
    by_service: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for t in called:
        by_service[t.origin_service].append(pair(t))

    report = await read_store(day.url, lambda s: reports.eta_report(book(day.cfg, s), periods.parse(DAY), "service"))
    rows = {r["key"]: r for r in report["rows"]}
    assert set(rows) == set(by_service)
    for service, pairs in by_service.items():
        want = judged(pairs)
        assert {k: rows[service][k] for k in want} == want, service
    every = [pair(t) for t in called]
    assert {k: report["hall"][k] for k in judged(every)} == judged(every)
    assert report["hall"]["under_an_hour"] == {**judged([p for p in every if p[1] < 3600])}
    # Citizens were told something and then waited: some promises fall short, some are generous.
    assert report["hall"]["tickets"] == len(called) and 0 < report["hall"]["within_5_minutes"] < 1

    # By hour of issue the rows hold every judged ticket once.
    by_hour = await read_store(day.url, lambda s: reports.eta_report(book(day.cfg, s), periods.parse(DAY), "hour"))
    assert sum(r["tickets"] for r in by_hour["rows"]) == len(called)
    assert [r["key"] for r in by_hour["rows"]] == sorted(r["key"] for r in by_hour["rows"])


async def test_the_store_groups_as_the_records_do(day: Replayed) -> None:
    """The embedded store's SQL and the plain records (the Redis store's path) give the same pairs."""
    for split in (None, "hour"):
        from_sql = await read_store(day.url, lambda s: s.eta_facts(DAY, DAY, split))
        from_records = facts.eta_groups(await read_store(day.url, lambda s: s.tickets(DAY, DAY)), split)

        def pairs(groups: list[facts.EtaGroup]) -> dict[tuple[str, str], list[tuple[int, int]]]:
            return {(g.time, g.service): sorted(zip(g.promised_s, g.waited_s)) for g in groups}

        assert pairs(from_sql) == pairs(from_records) and from_sql


async def test_the_promise_kept_is_the_one_shown(server: Harness) -> None:
    kiosk = await server.kiosk()
    shown = []
    for _ in range(4):
        status, ticket = await kiosk.post("/api/v1/tickets", {"service": "pension"})
        assert status == 201, ticket
        shown.append(ticket["eta_minutes"])
    kept = [t.promised_wait_minutes for t in await server.hall.store.tickets(server.hall.state.day, server.hall.state.day)]
    assert kept == shown and shown[-1] > shown[0]  # three people ahead of the last: a longer promise

    manager = server.client()
    await server.person("boss", "manager")
    await manager.login("boss")
    status, report = await manager.get(f"/api/v1/reports/eta?period={server.hall.state.day}")
    assert status == 200 and report["hall"]["tickets"] == 0  # nobody called yet: nothing to judge
    status, err = await manager.get(f"/api/v1/reports/eta?period={server.hall.state.day}&by=window")
    assert status == 422 and err["error"]["code"] == "bad_value", err


def test_the_command_line_prints_it(day: Replayed, tmp_path: Path) -> None:
    done = run_cli("report", "--config", str(HALL_FILE), "--store", day.url, "--period", DAY, "--by", "eta",
                   "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, *lines = list(csv.reader(io.StringIO(done.stdout.lstrip("\ufeff"))))
    assert header[:3] == ["服务事项", "已呼叫票数", "误差中位数(分)"]
    assert lines[-1][0] == "合计" and int(lines[-1][1]) == sum(int(line[1]) for line in lines[:-1])
