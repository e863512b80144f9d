"""Export to the provincial 好差评 platform: one record per evaluation with the right codes, once, with retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from queue_server.features import catalog
from queue_server.features.export import ProvincialExport
from queue_server.features.export.platform import JsonDirectory, Record

from ...conftest import Harness  # type: ignore[import-not-found]
from ..citizens_kit import EXTRA, manager, rate, serve  # type: ignore[import-not-found]
from ..citizens_kit import hall_config as make_config

pytestmark = pytest.mark.every_store  # the store is this module's subject


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "export"


@pytest.fixture
def hall_config(store_spec: Any, export_dir: Path) -> Any:
    extra = EXTRA + f'\n[followup.export]\ndir = "{export_dir}"\nregion_code = "411627"\ntask_codes = {{ pension = "11411627MB0000001" }}\n'
    return make_config(store_spec.url, extra)


def files(root: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob(f"*/{kind}/*.json"))}


async def rated_day(server: Harness) -> dict[str, str]:
    """Three services rated through three channels, one of them badly and followed up to the end."""
    clerk = await server.clerk_at(15)
    ids = {}
    done = await serve(server, clerk, 15, "pension")
    await rate(server, 15, done["id"], 5, kind="agent")  # the window's keypad (评价器)
    ids["keypad"] = done["id"]
    done = await serve(server, clerk, 15, "pension")
    await rate(server, 15, done["id"], 2, ["attitude", "integrity"], "工作人员玩手机")  # the tablet pad
    ids["pad"] = done["id"]
    done = await serve(server, clerk, 15, "pension", outcome="pending_materials")
    citizen = server.client()
    status, _ = await citizen.post("/api/v1/evaluations", {"ticket": done["token"], "level": 4})  # the ticket's QR code
    assert status == 201
    ids["phone"] = done["id"]
    await serve(server, clerk, 15, "pension")  # served, never rated
    mgr = await manager(server)
    case = f"CP{ids['pad']}"
    for action, body in (("screen", {}), ("verify", {"substantiated": True, "reasonable": True, "finding": "属实"}),
                         ("rectify", {"measures": "通报批评"}), ("reply", {"text": "已整改"}), ("callback", {"level": 4})):
        assert (await mgr.post(f"/api/v1/cases/{case}/{action}", body))[0] == 200
    return ids


async def test_the_export_holds_one_record_per_evaluation_with_the_right_codes(server: Harness, export_dir: Path) -> None:
    ids = await rated_day(server)
    counts = await server.hall.check("export")
    assert counts == {"sent": 4 + 3 + 1, "failed": 0}  # services, evaluations, one closed case
    evaluations = files(export_dir, "evaluation")
    assert sorted(evaluations) == sorted(ids.values())  # exactly one record per evaluation
    codes = {src: (evaluations[tid]["channel"], evaluations[tid]["level"]) for src, tid in ids.items()}
    assert codes == {"keypad": ("1", 5), "pad": ("2", 2), "phone": ("3", 4)}
    bad = evaluations[ids["pad"]]
    assert bad["indicators"] == ["01", "04"] and bad["indicator_names"] == ["态度", "廉洁"] and bad["level_name"] == "不满意"
    assert bad["text"] == "工作人员玩手机" and bad["case_number"] == f"CP{ids['pad']}"
    assert (bad["window"], bad["clerk_no"], bad["task_code"], bad["region_code"]) == (15, "0015", "11411627MB0000001", "411627")
    assert bad["evaluated_at"].endswith("+08:00") and evaluations[ids["keypad"]]["case_number"] is None
    services = files(export_dir, "service")
    assert len(services) == 4 and services[ids["phone"]]["outcome_name"] == "容缺受理"
    [case] = files(export_dir, "followup").values()
    assert case["case_number"] == f"CP{ids['pad']}" and case["result"] == "rectified" and case["callback_level"] == 4
    assert case["callback_channel"] == "4" and [s["step"] for s in case["steps"]][-1] == "callback"

    assert await server.hall.check("export") == {"sent": 0, "failed": 0}  # exported once
    assert len(files(export_dir, "evaluation")) == 3
    mgr = await manager(server, "auditor")
    status, listed = await mgr.get("/api/v1/export?date=2026-12-01")
    assert status == 200 and len(listed["records"]) == 8 and {r["status"] for r in listed["records"]} == {"sent"}
    assert all(r["attempts"] == 1 for r in listed["records"])


class Flaky:
    """A provincial platform that is down for the first attempts."""

    name = "flaky"

    def __init__(self, root: Path, failures: int) -> None:
        self.inner = JsonDirectory(root)
        self.failures = failures
        self.calls = 0

    async def send(self, records: list[Record]) -> dict[str, str | None]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("platform unreachable")
        return await self.inner.send(records)


async def test_a_failed_export_is_retried_after_a_back_off(server: Harness, tmp_path: Path) -> None:
    clerk = await server.clerk_at(15)
    done = await serve(server, clerk, 15, "pension")
    await rate(server, 15, done["id"], 1, ["efficiency"])
    platform = Flaky(tmp_path / "flaky", failures=2)
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 0, "failed": 2}
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 0, "failed": 0}  # backing off
    server.hall.clock.advance(61)  # type: ignore[attr-defined]
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 0, "failed": 2}
    server.hall.clock.advance(61)  # type: ignore[attr-defined]
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 0, "failed": 0}  # 120 s now
    server.hall.clock.advance(60)  # type: ignore[attr-defined]
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 2, "failed": 0}
    status = {d.id: d.data for d in await server.hall.store.docs("export", day_from="2026-12-01", day_to="2026-12-01")}
    assert status[f"evaluation:{done['id']}"]["attempts"] == 3 and status[f"evaluation:{done['id']}"]["status"] == "sent"
    assert len(files(tmp_path / "flaky", "evaluation")) == 1


async def test_the_run_route_and_a_hall_without_an_exporter(server: Harness) -> None:
    admin = await manager(server, "root", "admin")
    status, counts = await admin.post("/api/v1/export/run")
    assert status == 200 and counts == {"sent": 0, "failed": 0}
    assert (await (await manager(server)).post("/api/v1/export/run"))[0] == 403
    assert catalog.build(make_config("sqlite://x.db")).get(ProvincialExport).platform() is None  # no [followup.export] dir: nothing runs


async def test_an_outage_longer_than_the_look_back_delays_records_but_never_drops_them(server: Harness, tmp_path: Path) -> None:
    clerk = await server.clerk_at(15)
    done = await serve(server, clerk, 15, "pension")
    await rate(server, 15, done["id"], 5)
    platform = Flaky(tmp_path / "flaky", failures=1_000)  # the provincial platform is down
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 0, "failed": 2}
    server.hall.clock.advance(20 * 86400)  # type: ignore[attr-defined]  # three weeks on: past lookback_days (7)
    await server.hall.run(lambda tx: None)  # any decision: the hall rolls to the new day
    platform.failures = 0  # the platform is back
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 2, "failed": 0}
    assert len(files(tmp_path / "flaky", "evaluation")) == 1
    assert await server.hall.features.get(ProvincialExport).run(server.hall, platform) == {"sent": 0, "failed": 0}  # once, not again
    assert server.hall.state.docs["export_from"][platform.name].data["from"] == "2026-12-14"  # caught up: the window again
