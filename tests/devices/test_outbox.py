"""The rating outbox: kept on disk until the server has the rating."""

from __future__ import annotations

import json
from pathlib import Path

from devices.outbox import Outbox, Rating


async def test_ratings_survive_a_restart_until_delivered(tmp_path: Path) -> None:
    box = await Outbox(tmp_path).load()
    assert await box.add(Rating("20261201-A001", 5, window=3, device="ev-3"))
    assert await box.add(Rating("20261201-A002", 1, ("attitude",), window=3))
    assert not await box.add(Rating("20261201-A001", 4))  # the keypad resent it: kept once
    with (tmp_path / "ratings.jsonl").open("a") as f:
        f.write('{"op":"add","ticket":"20261201-A0')  # power cut mid-write

    again = await Outbox(tmp_path).load()  # the agent restarted
    assert [r.ticket for r in again.pending()] == ["20261201-A001", "20261201-A002"]
    assert again.pending()[1].reasons == ("attitude",)
    await again.delivered("20261201-A001")
    await again.reject("20261201-A002", "forbidden", "not this window")
    await again.wait_empty()

    third = await Outbox(tmp_path).load()
    assert third.pending() == []
    rejected = [json.loads(line) for line in (tmp_path / "ratings-rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["ticket"] == "20261201-A002" and rejected[0]["code"] == "forbidden"


def test_command_arguments() -> None:
    assert Rating("T", 5).command_args() == {"ticket": "T", "level": 5, "source": "keypad"}
    assert Rating("T", 2).command_args()["reasons"] == ["other"]  # a low rating needs a reason
    assert Rating("T", 1, ("integrity",)).command_args()["reasons"] == ["integrity"]


async def test_two_parts_of_one_bundle_rated_at_one_window_are_two_ratings(tmp_path: Path) -> None:
    box = await Outbox(tmp_path).load()
    assert await box.add(Rating("20261201-S001.tax-invoice", 5, window=8))
    assert await box.add(Rating("20261201-S001.employer-enrolment", 4, window=8))
    assert not await box.add(Rating("20261201-S001.tax-invoice", 3, window=8))
    assert [r.command_args() for r in box.pending()] == [
        {"ticket": "20261201-S001", "part": "tax-invoice", "level": 5, "source": "keypad"},
        {"ticket": "20261201-S001", "part": "employer-enrolment", "level": 4, "source": "keypad"}]
