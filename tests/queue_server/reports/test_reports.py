"""Reports: counts match the replayed trace, waits match an independent computation, files match the JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from queue_server.core import periods
from queue_server.core.model import Channel, Event, Priority, Status, Ticket, Visit, VisitEnd
from queue_server.reports import attendance, svg
from queue_server.reports import build as reports
from queue_server.reports import files

from ...conftest import HALL_FILE, Harness, TZ, book, run_cli  # type: ignore[import-not-found]
from ..replay_kit import DAY, Replayed, read_store, replayed_day, serve_copy

pytestmark = pytest.mark.every_store  # the store is this module's subject

BANDS = [("0-5", 0, 300), ("5-10", 300, 600), ("10-15", 600, 900), ("15-20", 900, 1200), ("20-30", 1200, 1800),
         (">30", 1800, math.inf)]


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


def expected(values: list[float], standard: float | None = None) -> dict[str, Any]:
    """Mean, nearest-rank p90, max, (lower, upper] bands and over-standard count, worked out from scratch."""
    v = sorted(values)
    out = {"count": len(v), "mean": round(sum(v) / len(v), 1), "p90": v[math.ceil(0.9 * len(v)) - 1], "max": v[-1],
           "bands": {name: sum(1 for x in v if lo < x <= hi or (lo == 0 and x == 0)) for name, lo, hi in BANDS}}
    if standard is not None:
        out["over_standard"] = sum(1 for x in v if x > standard)
    return out


def same(summary: dict[str, Any], want: dict[str, Any]) -> None:
    for key, value in want.items():
        assert summary[key] == value, (key, summary[key], value)


async def figures(day: Replayed, by: str, period: str = DAY) -> dict[str, Any]:
    return await read_store(day.url, lambda s: reports.figures_report(book(day.cfg, s), periods.parse(period), by))


async def test_counts_match_the_trace(day: Replayed) -> None:
    report = await figures(day, "service")
    rows = {r["key"]: r for r in report["rows"]}
    # A bundle's parts add rows of their own (a part is no ticket): every ticket is in its bundle's row.
    assert {k: r["issued"] for k, r in rows.items() if r["issued"]} == dict(day.count("service"))
    no_shows = day.count("service", no_show="1")
    assert {k: r["no_show"] for k, r in rows.items() if r["no_show"]} == dict(no_shows)
    for service, row in rows.items():
        ratings = day.count("rating", service=service)
        want = {str(n): ratings.get(str(n), 0) for n in range(5, 0, -1)}
        assert row["satisfaction"]["levels"] == want
        assert row["satisfaction"]["not_rated"] == row["served"] - sum(want.values())
    hall = report["hall"]
    levels = day.count("rating")
    assert hall["issued"] == len(day.trace) and hall["no_show"] == sum(no_shows.values()) and hall["cancelled"] == 0
    assert hall["satisfaction"]["levels"] == {str(n): levels[str(n)] for n in range(5, 0, -1)}
    assert hall["satisfaction"]["bad"] == levels["1"] + levels["2"]
    good = levels["5"] + levels["4"] + levels["3"]
    assert hall["satisfaction"]["rate"] == round(good / (good + levels["2"] + levels["1"]), 4)
    by_hour = await figures(day, "hour")
    # By hour, a citizen counts in the hour of issue; handling counts in the hour of the call.
    assert {r["key"]: r["issued"] for r in by_hour["rows"] if r["issued"]} == _arrival_hours(day)
    # Every citizen served is handled once, but a route bundle's citizen once per part instead.
    r = day.result
    assert sum(row["handling"]["count"] for row in by_hour["rows"]) == r.served - r.bundles + r.parts


async def test_a_department_counts_what_its_windows_counted(day: Replayed) -> None:
    by_window, by_department = await figures(day, "window"), await figures(day, "department")
    cfg = day.cfg
    for row in by_department["rows"]:
        mine = [w for w in by_window["rows"] if cfg.department_of(w["key"]) == row["key"]]
        assert row["name"] == cfg.departments[row["key"]].name
        for column in ("called", "served", "no_show", "transferred"):
            assert row[column] == sum(w[column] for w in mine), (row["key"], column)
        assert row["satisfaction"]["rated"] == sum(w["satisfaction"]["rated"] for w in mine)
    assert by_department["hall"]["served"] == by_window["hall"]["served"]


def _arrival_hours(day: Replayed) -> dict[str, int]:
    hours: dict[str, int] = defaultdict(int)
    for row in day.trace:
        hours[row["arrive_at"][11:13]] += 1
    return dict(hours)


async def test_waits_and_handling_match_an_independent_computation(day: Replayed) -> None:
    tickets, visits = await read_store(day.url, lambda s: _records(s))
    targets = {sid: svc.target_wait_minutes * 60 for sid, svc in day.cfg.services.items()}
    waits: dict[str, list[float]] = defaultdict(list)
    for t in tickets:
        assert t.first_called_at is not None
        waits[t.origin_service].append((t.first_called_at - t.issued_at).total_seconds())
    report = await figures(day, "service")
    for row in report["rows"]:
        if row["key"] not in waits:  # a part's row: the citizens' waits are their bundle's
            assert row["wait"]["count"] == 0 and row["parts"] > 0
            continue
        same(row["wait"], expected(waits[row["key"]], targets[row["key"]]))
    every = [w for ws in waits.values() for w in ws]
    hall = report["hall"]["wait"]
    same(hall, expected(every))
    assert hall["over_standard"] == sum(1 for t in tickets if (t.first_called_at - t.issued_at).total_seconds() > targets[t.origin_service])

    by_clerk: dict[str, list[float]] = defaultdict(list)
    handled: dict[str, list[float]] = defaultdict(list)
    served: dict[str, int] = defaultdict(int)
    for v in visits:
        served[v.clerk] += v.end == VisitEnd.FINISHED
        if v.end == VisitEnd.FINISHED and day.cfg.services[v.service].routed:
            continue  # a route bundle served: a mark at its last window, no call and no time
        by_clerk[v.clerk].append((v.called_at - v.queued_at).total_seconds())
        if v.end in (VisitEnd.FINISHED, VisitEnd.ROUTED):
            handled[v.clerk].append((v.ended_at - (v.started_at or v.called_at)).total_seconds())
    clerks = await figures(day, "clerk")
    assert len(clerks["rows"]) == 40
    for row in clerks["rows"]:
        same(row["wait"], expected(by_clerk[row["key"]]))
        same(row["handling"], {k: v for k, v in expected(handled[row["key"]]).items() if k != "bands"})
        assert row["served"] == served[row["key"]]


async def _records(store: Any) -> tuple[list[Ticket], list[Visit]]:
    return await store.tickets(DAY, DAY), await store.visits(DAY, DAY)


def _ticket(number: str, issued: datetime, called: datetime, ended: datetime, day: str = "2026-12-01") -> Ticket:
    return Ticket(
        id=f"{day.replace('-', '')}-{number}", day=day, number=number, seq_no=int(number[1:]), service="pension",
        zone="social", origin_service="pension", channel=Channel.KIOSK, priority=Priority.NORMAL, status=Status.DONE,
        token=f"tok-{number}-{day}", issued_at=issued, queued_at=issued, rank=issued.timestamp(), window=15, clerk="c15",
        called_at=called, first_called_at=called, ended_at=ended, visits=1,
    )


async def test_waits_across_an_hour_and_across_midnight_are_exact(store: Any) -> None:
    """Stored times are what reports read: a wait is elapsed seconds, whatever hours or dates it spans."""
    d = lambda *a: datetime(2026, 12, *a, tzinfo=TZ)  # noqa: E731
    cases = [
        ("K001", d(1, 9, 59, 50), d(1, 10, 0, 10), d(1, 10, 5, 0)),  # 20 s across the hour, not "−59 minutes"
        ("K002", d(1, 8, 45, 0), d(1, 10, 15, 30), d(1, 10, 20, 0)),  # 1 h 30 min 30 s
        ("K003", d(1, 23, 50, 0), d(2, 0, 5, 30), d(2, 0, 20, 0)),  # across midnight: 15 min 30 s
    ]
    events = []
    for i, (number, issued, called, ended) in enumerate(cases, 1):
        t = _ticket(number, issued, called, ended)
        v = Visit(t.id, 1, t.day, number, "pension", "social", Priority.NORMAL, 15, "c15", issued, called, None, ended,
                  VisitEnd.FINISHED)
        events.append(Event(i, "ticket.finished", ended, ticket=t, visit=v))
    await store.commit(0, events)
    report = await reports.figures_report(book(_cfg(store.url), store), periods.parse("2026-12-01"), "hour")
    waits = {r["key"]: r["wait"]["max"] for r in report["rows"] if r["issued"]}
    assert waits == {"09": 20.0, "08": 5430.0, "23": 930.0}  # each counted in its hour of issue
    handled = {r["key"]: r["handling"]["max"] for r in report["rows"] if r["handling"]["count"]}
    assert handled == {"10": 290.0, "00": 870.0}  # and each handling time in the hour of its call
    hall = report["hall"]
    assert hall["wait"]["max"] == 5430.0 and hall["wait"]["mean"] == round((20 + 5430 + 930) / 3, 1)
    assert hall["wait"]["bands"] == {"0-5": 1, "5-10": 0, "10-15": 0, "15-20": 1, "20-30": 0, ">30": 1}
    assert hall["handling"]["max"] == 870.0 and hall["handling"]["count"] == 3
    clerk = await reports.figures_report(book(_cfg(store.url), store), periods.parse("2026-12"), "clerk")
    assert clerk["rows"][0]["wait"]["p90"] == 5430.0


def _cfg(url: str) -> Any:
    from queue_server.core import config

    return config.load(HALL_FILE, store_url=url)


@pytest.fixture
async def replay_server(day: Replayed, tmp_path: Path) -> AsyncIterator[Harness]:
    async with serve_copy(day, tmp_path) as h:
        yield h


MINUTES, RATE = "minutes", "rate"
COLUMNS = {  # XLSX/CSV title -> where the figure is in a JSON row, and its unit on the page
    "取号数": (("issued",), None), "办结数": (("served",), None),
    "平均等候(分)": (("wait", "mean"), MINUTES), "等候P90(分)": (("wait", "p90"), MINUTES),
    "最长等候(分)": (("wait", "max"), MINUTES), "等候0–5分钟": (("wait", "bands", "0-5"), None),
    "等候>30分钟": (("wait", "bands", ">30"), None), "等候超时数": (("wait", "over_standard"), None),
    "等候超时率": (("wait", "over_standard_rate"), RATE), "平均办理(分)": (("handling", "mean"), MINUTES),
    "办理P90(分)": (("handling", "p90"), MINUTES), "非常满意": (("satisfaction", "levels", "5"), None),
    "非常不满意": (("satisfaction", "levels", "1"), None), "未评价": (("satisfaction", "not_rated"), None),
    "满意率": (("satisfaction", "rate"), RATE), "差评数": (("satisfaction", "bad"), None),
}
PER_TICKET = {"呼叫数(号)": ("called",), "过号数(号)": ("no_show",)}
PER_VISIT = {"呼叫数(人次)": ("called",), "过号数(人次)": ("no_show",)}


def _dig(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        row = row[part]
    return row


def _compare(header: list[Any], lines: list[list[Any]], report: dict[str, Any], *, as_text: bool = False) -> None:
    by_name = {r["name"]: r for r in report["rows"]}
    by_name["合计"] = report["hall"]
    assert len(lines) == len(by_name)
    counted = PER_VISIT if report["by"] in ("window", "clerk") else PER_TICKET
    columns = {**COLUMNS, **{title: (path, None) for title, path in counted.items()}}
    for line in lines:
        row = by_name[line[0]]
        for title, (path, unit) in columns.items():
            want = _dig(row, path)
            if want is not None and unit == MINUTES:
                want = round(want / 60, 1)  # as the page shows it
            elif want is not None and unit == RATE and as_text:
                want = f"{want * 100:.1f}%"
            got = line[header.index(title)]
            if as_text:
                assert got == ("" if want is None else str(want)), (line[0], title, got, want)
            else:
                assert got == want, (line[0], title, got, want)


async def test_xlsx_and_csv_hold_the_same_figures_as_the_json(replay_server: Harness) -> None:
    await replay_server.person("boss", "manager")
    boss = replay_server.client()
    await boss.login("boss")
    for by in ("service", "clerk", "window", "hour"):
        status, report = await boss.get(f"/api/v1/reports/figures?period=2026-12-01&by={by}")
        assert status == 200, report
        async with boss.session.get(replay_server.base + f"/api/v1/reports/figures?period=2026-12-01&by={by}&format=xlsx") as resp:
            assert resp.status == 200 and resp.content_type.endswith("spreadsheetml.sheet")
            assert f"hallcall-figures-{by}-2026-12-01.xlsx" in resp.headers["Content-Disposition"]
            sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
        title, header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert title[0] == f"太康县行政服务中心 {reports.REPORT_TITLES['figures']} 按{files.KEY_TITLES[by]} 2026-12-01"
        _compare(header, lines, report)
        async with boss.session.get(replay_server.base + f"/api/v1/reports/figures?period=2026-12-01&by={by}&format=csv") as resp:
            text = (await resp.read()).decode("utf-8-sig")
        lines = list(csv.reader(io.StringIO(text)))
        _compare(lines[0], lines[1:], report, as_text=True)
    status, _ = await replay_server.client().get("/api/v1/reports/figures?period=2026-12-01")
    assert status == 401
    assert (await boss.get("/api/v1/reports/figures?period=2026-13"))[1]["error"]["code"] == "bad_period"
    assert (await boss.get("/api/v1/reports/figures?period=2026-12&by=planet"))[0] == 422


async def test_an_xlsx_opens_as_a_manager_expects(replay_server: Harness) -> None:
    """A title row, a frozen header, widths, rates as percentages and durations in minutes (0.1), as on the page."""
    await replay_server.person("boss", "manager")
    boss = replay_server.client()
    await boss.login("boss")
    for kind, query in (("figures", "by=window"), ("attendance", "by=clerk&days=1"), ("red-flags", ""), ("eta", "by=hour")):
        async with boss.session.get(replay_server.base + f"/api/v1/reports/{kind}?period=2026-12-01&{query}&format=xlsx") as resp:
            assert resp.status == 200
            book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
        for sheet in book.worksheets:
            assert str(sheet["A1"].value).startswith("太康县行政服务中心 ") and "2026-12-01" in sheet["A1"].value
            assert sheet["A1"].font.bold and sheet["A2"].font.bold and sheet.freeze_panes == "B3"
            header = [c.value for c in sheet[2]]
            for j, name in enumerate(header, start=1):
                assert sheet.column_dimensions[get_column_letter(j)].width >= len(str(name)), (kind, name)
            for j, name in enumerate(header, start=1):
                cells = [sheet.cell(row=i, column=j) for i in range(3, sheet.max_row + 1)]
                numbers = [c for c in cells if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)]
                if "率" in name or "占比" in name:
                    assert numbers and all(c.number_format.endswith("%") for c in numbers), (kind, name)
                elif "(分)" in name:
                    assert all(round(c.value, 1) == c.value for c in numbers), (kind, name)
                    assert kind != "figures" or all(c.number_format == "0.0" for c in numbers), (kind, name)
                assert "(秒)" not in name, (kind, name)  # the page shows minutes; so do files
    async with boss.session.get(replay_server.base + "/api/v1/reports/figures?period=2026-12-01&by=clerk&format=xlsx") as resp:
        sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
    header = [c.value for c in sheet[2]]
    total = [c.value for c in sheet[sheet.max_row]]
    assert total[0] == "合计" and total[header.index("出勤天数")] == 40  # the attendance of the total is filled in


async def test_charts_are_svg(replay_server: Harness) -> None:
    await replay_server.person("boss", "manager")
    boss = replay_server.client()
    await boss.login("boss")
    for path in ("waits-by-hour.svg?period=2026-12-01", "satisfaction-trend.svg?period=2026-12",
                 "windows.svg?period=2026-12-01&measure=wait"):
        async with boss.session.get(replay_server.base + "/api/v1/reports/charts/" + path) as resp:
            assert resp.status == 200 and resp.content_type == "image/svg+xml"
            svg = await resp.text()
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "<title>" in svg


def test_chart_axes_are_round_and_legends_do_not_run_into_the_title() -> None:
    zones = ["企业开办专区", "工程建设专区", "人社服务区", "医保服务区", "综合服务区"]
    chart = svg.line_chart("按建议开窗的等候P90 · 2026-12-22", ["8时", "9时"], [(z, [24.0, 12.0]) for z in zones], unit="分钟")
    axis = [t for t in re.findall(r'text-anchor="end" fill="#555">([^<]+)<', chart)]
    assert axis == ["0", "10", "20", "30", "40", "50"]
    # Five zone names do not fit beside the title: they go under the axis, one after another.
    spots = [(float(x), float(y)) for x, y in re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="12"', chart)]
    assert len(spots) == 5 and {y for _, y in spots} == {svg.HEIGHT - 18}
    assert all(b[0] - a[0] >= 14 + 12 * len(z) for (a, b, z) in zip(spots, spots[1:], zones))
    short = svg.bar_chart("窗口数", ["8时"], [("甲", [3.0]), ("乙", [2.0])])
    assert {float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="12"', short)} == {14.0}
    # Small values (a quiet morning's waits, in minutes) keep every grid line's label distinct.
    small = svg.bar_chart("窗口对比：平均等候", ["2", "4"], [("平均等候", [0.07, 0.1])], unit="分钟")
    assert re.findall(r'text-anchor="end" fill="#555">([^<]+)<', small) == ["0.00", "0.02", "0.04", "0.06", "0.08", "0.10"]
    fifths = svg.bar_chart("等候", ["8时"], [("平均", [0.15])])
    assert re.findall(r'text-anchor="end" fill="#555">([^<]+)<', fifths) == ["0.00", "0.05", "0.10", "0.15", "0.20"]


def test_report_command_writes_an_xlsx(day: Replayed, tmp_path: Path) -> None:
    out = tmp_path / "out.xlsx"
    done = run_cli("report", "--config", str(HALL_FILE), "--store", day.url, "--period", "2026-12", "--by", "clerk",
                   "--format", "xlsx", "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(out).active
    title, header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert title[0].startswith("太康县行政服务中心") and header[0] == "工作人员" and "迟到次数" in header and len(lines) == 41  # 40 clerks and the total
    assert lines[-1][0] == "合计" and lines[-1][header.index("办结数")] == day.result.served
    assert run_cli("report", "--config", str(HALL_FILE), "--store", day.url, "--format", "xlsx", cwd=tmp_path).returncode == 2
    # 一件事 from the command line: every bundle ticket of the trace is counted once.
    done = run_cli("report", "--config", str(HALL_FILE), "--store", day.url, "--report", "bundles", "--period", DAY, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bundles = json.loads(done.stdout)
    issued = sum(n for service, n in day.count("service").items() if day.cfg.services[service].is_bundle)
    assert bundles["hall"]["issued"] == sum(r["issued"] for r in bundles["rows"]) == issued > 0


async def test_the_replayed_day_judges_every_enterprise_registration_against_its_half_day(day: Replayed, tmp_path: Path) -> None:
    """企业设立登记 is promised in 0.5 working day: each ticket issued for it and finished is judged once."""
    done = run_cli("report", "--config", str(HALL_FILE), "--store", day.url, "--report", "time-limits", "--period", DAY,
                   "--by", "department", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    tickets = await read_store(day.url, lambda s: s.tickets(DAY, DAY))
    finished = [t for t in tickets if t.origin_service == "company-registration" and t.status is Status.DONE and t.outcome]
    assert report["hall"]["judged"] == len(finished) > 0
    assert report["hall"]["on_time"] + report["hall"]["late"] == report["hall"]["judged"]
    assert sum(r["judged"] for r in report["rows"]) == report["hall"]["judged"]
    # Counted where the citizen was finished: a registration sent on to tax or seals counts for that department.
    names = {r["name"]: r["judged"] for r in report["rows"]}
    assert set(names) <= {d.name for d in day.cfg.departments.values()} and max(names, key=names.get) == "市场监管局"


async def test_reports_on_every_store(server: Harness) -> None:
    """The same figures from the embedded store's SQL and from the records (the Redis store's path)."""
    clock = server.hall.clock
    kiosk = await server.kiosk()
    pad = server.client(await server.token("pad", windows=(29,)))
    for _ in range(4):
        await kiosk.post("/api/v1/tickets", {"service": "referral"})
    clerk = await server.clerk_at(29)
    for handling, level in ((100, 5), (200, 2), (600, None)):
        clock.advance(60)  # type: ignore[attr-defined]
        _, t = await clerk.post("/api/v1/windows/29/call-next")
        clock.advance(handling)  # type: ignore[attr-defined]
        await clerk.post("/api/v1/windows/29/finish")
        if level:
            await pad.post("/api/v1/evaluations", {"ticket": t["id"], "level": level, **({"reasons": ["efficiency"]} if level < 3 else {})})
    await clerk.post("/api/v1/windows/29/call-next")
    await clerk.post("/api/v1/windows/29/no-show")
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    status, report = await boss.get("/api/v1/reports/figures?period=2026-12-01&by=service")
    assert status == 200
    [referral] = report["rows"]
    assert (referral["issued"], referral["served"], referral["no_show"]) == (4, 3, 1)
    assert referral["handling"] == {"count": 3, "mean": 300.0, "p90": 600.0, "max": 600.0, "over_standard": 0,
                                    "over_standard_rate": 0.0}
    assert referral["wait"]["max"] == 60 + 100 + 60 + 200 + 60 + 600  # the no-show, called right after
    assert referral["satisfaction"]["levels"] == {"5": 1, "4": 0, "3": 0, "2": 1, "1": 0}
    _, by_clerk = await boss.get("/api/v1/reports/figures?period=2026-12-01&by=clerk")
    [row] = by_clerk["rows"]
    assert row["name"] == "clerk29" and row["called"] == 4 and row["attendance"]["days_present"] == 1
    assert row["attendance"]["busy_hours"] == round((100 + 200 + 600) / 3600, 2)  # the no-show was marked at once
    _, att = await boss.get("/api/v1/reports/attendance?period=2026-12-01&by=window&days=1")
    [w29] = att["days"]
    assert w29["key"] == 29 and w29["late"] == 1 and w29["late_minutes"] == 30.0  # signed in at 09:00
    assert (w29["early"], w29["absent_spans"]) == (0, 0)  # still signed in; the afternoon has not begun
    status, _ = await boss.get("/api/v1/reports/assessment?period=2026-12")
    assert status == 200
    status, flags = await boss.get("/api/v1/reports/red-flags?period=2026-12")
    assert status == 200 and flags["windows"][0]["window"] == 29
    assert (await clerk.get("/api/v1/reports/figures?period=2026-12-01"))[0] == 403


def _norm(groups: list[Any]) -> list[tuple[Any, ...]]:
    """Facts as sorted tuples, value lists sorted: stores may list a group's values in any order."""
    out = []
    for g in groups:
        out.append(tuple(sorted(v) if isinstance(v, list) else v for v in (getattr(g, f) for f in g.__slots__)))
    return sorted(out, key=repr)


async def test_the_sql_facts_equal_the_facts_from_records(day: Replayed) -> None:
    """The embedded store's SQL and the plain functions other stores use give the same facts."""
    from queue_server.store import facts

    async def check(store: Any) -> None:
        visits, tickets, ratings = await store.visits(DAY, DAY), await store.tickets(DAY, DAY), await store.evaluations(DAY, DAY)
        # A long period reads the service-first indexes; a day the day-first ones.
        for last in (DAY, "2027-03-01"):
            for time in (None, "day", "month", "hour"):
                assert _norm(await store.visit_facts(DAY, last, time)) == _norm(facts.visit_groups(visits, time))
                assert _norm(await store.ticket_facts(DAY, last, time)) == _norm(facts.ticket_groups(tickets, visits, time))
                assert _norm(await store.rating_facts(DAY, last, time)) == _norm(facts.rating_groups(ratings, time, visits))
        assert _norm(await store.busy_facts(DAY, DAY)) == _norm(facts.busy_rows(facts.visit_groups(visits, "day")))
        gaps = attendance.gaps(day.cfg)
        late = await store.late_visits(DAY, DAY, gaps)
        assert sorted(map(repr, late)) == sorted(map(repr, facts.late_visits(visits, gaps)))
        assert late, "the replayed day serves into the lunch break and past closing"
        marks = await store.window_marks(DAY, DAY)
        from_log = facts.window_marks(await store.window_log(DAY, DAY))
        assert [(m.seq, m.name, m.at, m.window, m.reason) for m in marks] == \
            [(m.seq, m.name, m.at, m.window, m.reason) for m in from_log]
        assert all((m.clerk, m.clerk_name) == (f.clerk, f.clerk_name) for m, f in zip(marks, from_log) if m.name == "window.opened")

    await read_store(day.url, check)
