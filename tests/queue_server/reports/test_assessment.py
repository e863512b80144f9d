"""Staff assessment: weights decide the rank; a manager's corrected score moves the rank, never the computed value."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from queue_server.core import config
from queue_server.reports import assessment
from queue_server.features import catalog
from queue_server.reports.feature import Reports
from queue_server.store.facts import RatingGroup, VisitGroup

from ...conftest import HALL_FILE  # type: ignore[import-not-found]
from ..replay_kit import Replayed, replayed_day, serve_copy

MONTH = "2026-12"
PEOPLE = {"a": {"name": "甲", "staff_no": "01"}, "b": {"name": "乙", "staff_no": "02"}}


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replayed_day(tmp_path_factory)


def month_of(weights: dict[str, float], corrections: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Clerk a served 100 (rated 基本满意), clerk b served 50 (rated 非常满意); both as fast as the hall."""
    minute, five = 60_000_000, 300_000_000  # microseconds
    visits = [VisitGroup(MONTH, "pension", 15, "a", "finished", [minute] * 100, [five] * 100),
              VisitGroup(MONTH, "pension", 16, "b", "finished", [minute] * 50, [five] * 50)]
    ratings = [RatingGroup(MONTH, "pension", 15, "a", 3, 50), RatingGroup(MONTH, "pension", 16, "b", 5, 50)]
    s = assessment.Settings(weights={"volume": 0.0, "efficiency": 0.0, "satisfaction": 0.0, "attendance": 0.0, **weights})
    rows = assessment.monthly(MONTH, visits, ratings, [], corrections or {}, PEOPLE, s)
    return {r["clerk"]: r for r in rows}


def test_the_weights_decide_the_rank() -> None:
    volume = month_of({"volume": 80, "efficiency": 10, "satisfaction": 10})
    assert volume["a"]["components"] == {"volume": 100.0, "efficiency": 100.0, "satisfaction": 50.0, "attendance": None}
    assert (volume["a"]["computed"], volume["b"]["computed"]) == (95.0, 60.0)
    assert (volume["a"]["rank"], volume["b"]["rank"]) == (1, 2)
    caring = month_of({"volume": 10, "efficiency": 10, "satisfaction": 80})
    assert (caring["a"]["computed"], caring["b"]["computed"]) == (60.0, 95.0)
    assert (caring["a"]["rank"], caring["b"]["rank"]) == (2, 1)


def test_a_corrected_score_changes_the_rank_not_the_computed_value() -> None:
    weights = {"volume": 80, "efficiency": 10, "satisfaction": 10}
    fixed = month_of(weights, {"b": {"corrected": 99.0, "note": "支援了 3 号窗口"},
                               "a": {"deductions": [{"points": 5, "reason": "工作时间玩手机"}]}})
    assert fixed["b"]["computed"] == 60.0 and fixed["b"]["corrected"] == 99.0 and fixed["b"]["final"] == 99.0
    assert fixed["a"]["computed"] == 90.0 and fixed["a"]["deduction_points"] == 5  # 95 less the deduction
    assert (fixed["b"]["rank"], fixed["a"]["rank"]) == (1, 2)


def test_quarter_and_year_are_the_mean_of_the_months() -> None:
    def row(clerk: str, final: float) -> dict[str, Any]:
        return {"clerk": clerk, "name": PEOPLE[clerk]["name"], "staff_no": "", "served": 10, "final": final}

    table = assessment.period_scores({"2026-10": [row("a", 80), row("b", 90)], "2026-11": [row("a", 100)],
                                      "2026-12": [row("a", 90), row("b", 70)]})
    got = {r["clerk"]: r for r in table}
    assert (got["a"]["final"], got["a"]["months_assessed"], got["a"]["rank"]) == (90.0, 3, 1)
    assert (got["b"]["final"], got["b"]["months_assessed"], got["b"]["rank"]) == (80.0, 2, 2)
    assert assessment.rank([{"clerk": c, "name": c, "final": f} for c, f in (("x", 90), ("y", 95), ("z", 90))]) == [
        {"clerk": "y", "name": "y", "final": 95, "rank": 1}, {"clerk": "x", "name": "x", "final": 90, "rank": 2},
        {"clerk": "z", "name": "z", "final": 90, "rank": 2}]


def test_red_flag_windows_meet_every_criterion() -> None:
    def w(served: int, rate: float | None, bad: int = 0, over: float = 0.0) -> dict[str, Any]:
        return {"served": served, "satisfaction": {"rate": rate, "bad": bad}, "handling": {"over_standard_rate": over}}

    windows = {1: w(100, 1.0), 2: w(120, 0.99), 3: w(130, 1.0, bad=1), 4: w(20, 1.0), 5: w(90, 0.995, over=0.2),
               6: w(110, 0.985), 7: w(100, None)}
    flags = {r["window"]: r for r in assessment.red_flags(windows, {6: {"late": 1}}, assessment.Settings())}
    assert [n for n, r in flags.items() if r["candidate"]] == [1, 2]
    assert flags[3]["misses"] == ["差评 1 条"] and flags[6]["misses"] == ["迟到、早退或缺勤 1 次"]
    assert flags[3]["misses_en"] == ["1 bad reviews"] and flags[6]["misses_en"] == ["1 late, early or absent spans"]
    assert not flags[4]["eligible"] and not flags[5]["eligible"] and not flags[7]["eligible"]


async def test_corrections_over_http_on_the_replayed_month(day: Replayed, tmp_path: Path) -> None:
    async with serve_copy(day, tmp_path) as server:
        await server.person("boss", "manager")
        boss = server.client()
        await boss.login("boss")
        status, before = await boss.get("/api/v1/reports/assessment?period=2026-12")
        assert status == 200 and len(before["rows"]) == 40 and before["rows"][0]["rank"] == 1
        last, first = before["rows"][-1], before["rows"][0]
        status, saved = await boss.put(f"/api/v1/reports/assessment/2026-12/{last['clerk']}",
                                       {"corrected": 100, "note": "全月支援弹性窗口"})
        assert status == 200 and saved["corrected"] == 100 and saved["by"] == "boss"
        second = before["rows"][1]
        status, _ = await boss.put(f"/api/v1/reports/assessment/2026-12/{second['clerk']}",
                                   {"deductions": [{"points": 3, "reason": "迟到未报备"}]})
        assert status == 200
        _, after = await boss.get("/api/v1/reports/assessment?period=2026-12")
        got = {r["clerk"]: r for r in after["rows"]}
        assert got[last["clerk"]]["rank"] == 1 and got[last["clerk"]]["computed"] == last["computed"]
        assert got[last["clerk"]]["final"] == 100 and got[first["clerk"]]["rank"] == 2
        assert got[second["clerk"]]["computed"] == round(second["computed"] - 3, 2)
        assert all(got[r["clerk"]]["computed"] == r["computed"] for r in before["rows"] if r["clerk"] != second["clerk"])

        async with boss.session.get(server.base + "/api/v1/reports/assessment?period=2026-12&format=xlsx") as resp:
            sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
        title, header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert title[0] == "太康县行政服务中心 考核 2026-12"
        top = dict(zip(header, lines[0]))
        assert (top["名次"], top["姓名"], top["修正得分"], top["计算得分"]) == (1, last["name"], 100, last["computed"])

        # 窗口单位 are assessed too: each department's score is the mean of its clerks' final scores.
        depts = {d["department"]: d for d in after["departments"]}
        cfg = config.load(HALL_FILE, store_url="sqlite://x.db")
        assert set(depts) == {r["department"] for r in after["rows"]} <= set(cfg.departments)
        for d, row in depts.items():
            mine = [r["final"] for r in after["rows"] if r["department"] == d]
            assert row["final"] == round(sum(mine) / len(mine), 2) and row["clerks"] == len(mine)
        assert [d["rank"] for d in after["departments"]][0] == 1
        async with boss.session.get(server.base + "/api/v1/reports/assessment?period=2026-12&format=xlsx") as resp:
            book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
        assert book.worksheets[-1].cell(2, 2).value == "窗口单位"

        _, quarter = await boss.get("/api/v1/reports/assessment?period=2026-Q4")
        assert list(quarter["months"]) == ["2026-12"]
        assert {r["clerk"]: r["final"] for r in quarter["rows"]} == {r["clerk"]: r["final"] for r in after["rows"]}

        clerk = await server.clerk_at(40, "c40")
        assert (await clerk.put(f"/api/v1/reports/assessment/2026-12/{last['clerk']}", {"corrected": 1}))[0] == 403
        assert (await boss.put("/api/v1/reports/assessment/2026-12/nobody", {"corrected": 1}))[0] == 422
        assert (await boss.put(f"/api/v1/reports/assessment/2026/{last['clerk']}", {"corrected": 1}))[0] == 422
        assert (await boss.put(f"/api/v1/reports/assessment/2026-12/{last['clerk']}", {"corrected": 900}))[0] == 422


def test_assessment_section_is_checked() -> None:
    text = HALL_FILE.read_text(encoding="utf-8") + (
        "\n[assessment]\nlate_points = -1\nbonus = 2\n[assessment.weights]\nvolume = 50\nlooks = 10\n"
        "[assessment.red_flag]\nmin_satisfaction_rate = 1.5\n")
    with pytest.raises(config.ConfigError) as err:
        catalog.build(config.loads(text, source="hall.toml"))
    fields = {i.field for i in err.value.issues}
    assert {"assessment.late_points", "assessment.bonus", "assessment.weights.looks",
            "assessment.red_flag.min_satisfaction_rate"} <= fields
    good = config.loads(HALL_FILE.read_text(encoding="utf-8") + "\n[assessment]\nlate_points = 1\n[assessment.weights]\n"
                        "volume = 50\n", source="hall.toml")
    s = catalog.build(good).get(Reports).assessment
    assert s.weights["volume"] == 50 and s.weights["satisfaction"] == 30 and s.points["late_points"] == 1


def test_a_clerk_is_assessed_with_the_department_where_most_was_finished() -> None:
    cfg = config.load(HALL_FILE, store_url="sqlite://x.db")
    minute = 60_000_000
    visits = [VisitGroup(MONTH, "tax-invoice", 6, "a", "finished", [minute] * 3, [minute] * 3),  # 税务局
              VisitGroup(MONTH, "tax-invoice", 8, "a", "finished", [minute] * 5, [minute] * 5),  # 人社局
              VisitGroup(MONTH, "tax-invoice", 6, "a", "no_show", [minute] * 9, [minute] * 9),  # not served: not counted
              VisitGroup(MONTH, "pension", 15, "b", "finished", [minute], [minute])]
    assert assessment.clerk_departments(cfg, visits) == {"a": "hrss", "b": "hrss"}
    rows = [{"clerk": "a", "name": "甲", "served": 8, "final": 90.0, "department": "hrss"},
            {"clerk": "b", "name": "乙", "served": 1, "final": 70.0, "department": "hrss"},
            {"clerk": "c", "name": "丙", "served": 4, "final": 85.0, "department": "tax"},
            {"clerk": "d", "name": "丁", "served": 0, "final": 50.0, "department": None}]
    got = assessment.by_department(cfg, rows)
    assert [(d["name"], d["final"], d["clerks"], d["served"], d["rank"]) for d in got] == [
        ("税务局", 85.0, 1, 4, 1), ("人社局", 80.0, 2, 9, 2)]
