"""Hall files: the sample hall loads; every mistake names the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from queue_server.core import config

from ...conftest import HALL_FILE, run_cli  # type: ignore[import-not-found]

GOOD = HALL_FILE.read_text(encoding="utf-8")


def problems(text: str) -> list[config.ConfigIssue]:
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, source="hall.toml")
    return err.value.issues


def line_of(text: str, needle: str, nth: int = 0) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[nth]


def test_the_sample_hall_loads() -> None:
    cfg = config.load(HALL_FILE, store_url="sqlite://x.db")
    assert (len(cfg.zones), len(cfg.services), len(cfg.windows)) == (5, 21, 40)
    assert cfg.services["open-supermarket"].bundle == ("company-registration", "tax-invoice", "free-seals", "employer-enrolment")
    assert cfg.windows_serving("open-restaurant") == [1, 2]
    assert cfg.store_url == "sqlite://x.db"


def test_unknown_service_in_a_window() -> None:
    text = GOOD.replace('services = ["tax-invoice"]', 'services = ["tax-invoise"]')
    [issue] = problems(text)
    assert issue.field == "windows[5].services" and "tax-invoise" in issue.message
    assert issue.line == line_of(text, '"tax-invoise"')
    assert str(issue).startswith(f"hall.toml:{issue.line}: windows[5].services:")


def test_duplicate_prefix() -> None:
    text = GOOD.replace('prefix = "B"', 'prefix = "A"')
    [issue] = problems(text)
    assert issue.field == "services[1].prefix" and "duplicate prefix" in issue.message
    assert issue.line == line_of(text, 'prefix = "A"', 1)


@pytest.mark.parametrize("hours,words", [
    ('["08:30-12:00", "14:30-13:30"]', "ends before it starts"),
    ('["8:30-12:00"]', "HH:MM-HH:MM"),
    ('["08:30-12:00", "11:00-17:30"]', "overlaps"),
    ('["25:00-26:00"]', "not a time of day"),
])
def test_bad_hours(hours: str, words: str) -> None:
    text = GOOD.replace('hours = ["08:30-12:00", "14:30-17:30"]', f"hours = {hours}")
    [issue] = problems(text)
    assert issue.field == "hall.hours" and words in issue.message and issue.line == line_of(text, "hours =")


def test_bundle_naming_an_unknown_service() -> None:
    text = GOOD.replace('bundle = ["company-registration", "tax-invoice", "free-seals", "employer-enrolment"]',
                        'bundle = ["company-registration", "seal-carving"]', 1)
    [issue] = problems(text)
    assert issue.field == "services[5].bundle" and "seal-carving" in issue.message
    assert issue.line == line_of(text, "seal-carving")


def test_wrong_types_and_unknown_fields_are_named() -> None:
    text = GOOD.replace("daily_limit = 300", 'daily_limit = "many"', 1).replace('name_en = "Enterprise start-up"', 'colour = "red"')
    found = {i.field: i for i in problems(text)}
    assert "must be int" in found["services[0].daily_limit"].message
    assert "unknown field" in found["zones[0].colour"].message


def test_several_problems_are_reported_together() -> None:
    text = GOOD.replace('zone = "general"\nname = "跨省通办"', 'zone = "nowhere"\nname = "跨省通办"', 1).replace('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"')
    fields = {i.field for i in problems(text)}
    assert {"hall.timezone", "services[18].zone"} <= fields


def test_syntax_error_has_a_line() -> None:
    text = GOOD.replace('name = "企业设立登记"\nname_en', 'name = "企业设立登记\nname_en', 1)
    [issue] = problems(text)
    assert issue.field == "syntax" and issue.line is not None


def test_missing_file() -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load("/nonexistent/hall.toml")
    assert "hall.toml" in str(err.value)


def test_config_check_command(tmp_path: Path) -> None:
    ok = run_cli("config", "check", str(HALL_FILE))
    assert ok.returncode == 0 and "21 services, 40 windows" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('prefix = "B"', 'prefix = "A"'), encoding="utf-8")
    out = run_cli("config", "check", str(bad))
    assert out.returncode == 1 and f"{bad}:" in out.stderr and "services[1].prefix" in out.stderr


def test_the_store_comes_from_the_file_the_flag_or_the_current_directory(tmp_path: Path, monkeypatch: Any) -> None:
    bare = "\n".join(line for line in GOOD.splitlines() if not line.startswith("url = "))
    bare = bare.replace("[store]\n", "")
    monkeypatch.chdir(tmp_path)
    assert config.loads(bare).store_url == f"sqlite:///{tmp_path / config.DEFAULT_STORE_FILE}"
    in_file = bare + '\n[store]\nurl = "redis://127.0.0.1:6379/3"\n'
    assert config.loads(in_file).store_url == "redis://127.0.0.1:6379/3"
    assert config.loads(in_file, store_url="sqlite:///srv/hall.db").store_url == "sqlite:///srv/hall.db"
    # A mistake in the table is reported even when the flag overrides it.
    typo = bare + '\n[store]\nuri = "redis://127.0.0.1:6379/3"\n'
    with pytest.raises(config.ConfigError) as err:
        config.loads(typo, source="hall.toml", store_url="sqlite:///srv/hall.db")
    [issue] = err.value.issues
    assert issue.field == "store.uri" and issue.line == line_of(typo, "uri = ")


# -- 窗口单位 ---------------------------------------------------------------------------------


def test_every_sample_window_belongs_to_a_department() -> None:
    cfg = config.load(HALL_FILE, store_url="sqlite://x.db")
    assert all(w.department in cfg.departments for w in cfg.windows.values())
    assert cfg.departments[cfg.department_of(6) or ""].name == "税务局"
    assert cfg.service_department("pension") == "hrss"  # every window serving it is 人社局's
    assert cfg.service_department("tax-invoice") is None  # 税务局 at window 6, 人社局 at window 8


def test_a_window_names_its_department_by_id_or_name_and_the_hall_gives_a_default() -> None:
    text = GOOD.replace('department = "tax"', 'department = "税务局"').replace(
        'number = 7\ndepartment = "psb"\n', 'number = 7\n').replace('timezone = "Asia/Shanghai"\n', 'timezone = "Asia/Shanghai"\ndepartment = "center"\n', 1)
    cfg = config.loads(text)
    assert (cfg.department_of(6), cfg.department_of(7), cfg.department_of(None)) == ("tax", "center", None)


def test_an_unknown_department_is_named_with_its_line() -> None:
    text = GOOD.replace('department = "psb"', 'department = "公安"')
    [issue] = problems(text)
    assert issue.field == "windows[6].department" and "公安" in issue.message
    assert issue.line == line_of(text, 'department = "公安"')


def test_a_duplicate_department_and_a_bad_id_are_named() -> None:
    text = GOOD.replace('id = "tax"\nname = "税务局"', 'id = "amr"\nname = "税务局"').replace('id = "psb"', 'id = "P S B"')
    found = {(i.field, i.line) for i in problems(text)}
    assert ("departments[1].id", line_of(text, 'id = "amr"', 1)) in found
    assert ("departments[2].id", line_of(text, 'id = "P S B"')) in found


def test_without_a_departments_table_the_names_windows_give_are_the_departments() -> None:
    text = re.sub(r"\[\[departments\]\]\n(.+\n)+\n", "", GOOD)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("department ="))
    text = text.replace('name = "税务发票"', 'name = "税务发票"\ndepartment = "税务局"')
    cfg = config.loads(text)
    assert list(cfg.departments) == ["税务局"] and cfg.department_of(6) == "税务局" and cfg.department_of(7) is None
