"""The working-day calendar: weekends, holidays, make-up working days (调休), and its hall-file section."""

from __future__ import annotations

from datetime import date

import pytest

from queue_server.core import config, workdays
from queue_server.core.workdays import Calendar

from ...conftest import HALL_FILE  # type: ignore[import-not-found]

# 2026-12-01 is a Tuesday.
TUE, WED, THU, FRI, SAT, SUN, MON = (date(2026, 12, d) for d in range(1, 8))


def test_weekends_are_skipped() -> None:
    cal = Calendar()
    assert cal.add(TUE, 1) == WED
    assert cal.add(FRI, 1) == date(2026, 12, 7)  # over the weekend to Monday
    assert cal.add(TUE, 5) == date(2026, 12, 8)
    assert cal.add(SAT, 1) == date(2026, 12, 7)  # a case opened on a Saturday counts from Monday
    assert cal.add(TUE, 15) == date(2026, 12, 22)


def test_same_day_tier_lands_on_a_working_day() -> None:
    cal = Calendar()
    assert cal.add(TUE, 0) == TUE
    assert cal.add(SUN, 0) == MON


def test_holidays_and_make_up_days() -> None:
    # National Day 2026 style: a week off, with the Saturday before worked in exchange.
    holidays = workdays.parse_dates(["2026-10-01..2026-10-07"])
    cal = Calendar(holidays=frozenset(holidays), workdays=frozenset({date(2026, 9, 26)}))
    assert not cal.is_workday(date(2026, 10, 5))  # a Monday inside the holiday
    assert cal.is_workday(date(2026, 9, 26))  # a Saturday worked (调休)
    assert cal.add(date(2026, 9, 25), 1) == date(2026, 9, 26)
    assert cal.add(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add(date(2026, 9, 30), 3) == date(2026, 10, 12)  # Thu 8, Fri 9, (weekend), Mon 12


def test_left_counts_working_days_to_the_deadline() -> None:
    cal = Calendar(holidays=frozenset({THU}))
    due = cal.add(TUE, 3)  # Wed, (Thu holiday), Fri, Mon
    assert due == MON
    assert [cal.left(d, due) for d in (TUE, WED, FRI, SAT, MON)] == [3, 2, 1, 1, 0]
    assert cal.left(date(2026, 12, 8), due) < 0


def test_months_are_clamped_and_moved_to_a_working_day() -> None:
    cal = Calendar()
    assert cal.add_months(date(2027, 1, 31), 1) == date(2027, 3, 1)  # Feb 28 2027 is a Sunday
    assert cal.add_months(TUE, 1) == date(2027, 1, 1)  # a Friday: a working day unless the file says otherwise
    assert Calendar(holidays=frozenset({date(2027, 1, 1)})).add_months(TUE, 1) == date(2027, 1, 4)


def test_dates_in_the_file_are_checked() -> None:
    with pytest.raises(ValueError, match="2026-13-01"):
        workdays.parse_dates(["2026-13-01"])
    with pytest.raises(ValueError, match="ends before"):
        workdays.parse_dates(["2026-10-07..2026-10-01"])
    assert len(workdays.parse_dates(["2026-10-01..2026-10-07", "2026-10-03"])) == 7


def _hall(extra: str) -> config.HallConfig:
    return config.loads(HALL_FILE.read_text(encoding="utf-8") + extra, source="hall.toml", store_url="sqlite://x.db")


def test_the_hall_file_section() -> None:
    cal = _hall('\n[calendar]\nholidays = ["2026-12-04"]\nworkdays = ["2026-12-05"]\n').calendar  # read with the file
    assert not cal.is_workday(FRI) and cal.is_workday(SAT)
    assert cal.add(TUE, 4) == date(2026, 12, 7)  # Wed, Thu, Sat (调休), Mon


def test_a_bad_section_names_line_and_field() -> None:
    with pytest.raises(config.ConfigError) as err:
        _hall('\n[calendar]\nholidays = ["2026-12-32"]\nweekend = [8]\ncolour = "red"\n')
    issues = [str(i) for i in err.value.issues]
    text = HALL_FILE.read_text(encoding="utf-8").count("\n") + 1
    assert any(f"hall.toml:{text + 2}: calendar.holidays:" in i and "2026-12-32" in i for i in issues), issues
    assert any("calendar.weekend" in i for i in issues) and any("calendar.colour: unknown field" in i for i in issues)
