"""办结时限: parsing the limit, working time on the calendar, and the instant a limit runs out."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from queue_server.core import config, time_limits
from queue_server.core.time_limits import TimeLimit
from queue_server.core.workdays import Calendar

from ...conftest import HALL_FILE, TZ  # type: ignore[import-not-found]

HOURS = ((datetime(1, 1, 1, 8, 30).time(), datetime(1, 1, 1, 12, 0).time()),
         (datetime(1, 1, 1, 14, 30).time(), datetime(1, 1, 1, 17, 30).time()))  # 6.5 h a working day


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm, tzinfo=TZ)  # 2026-12-01 is a Tuesday; the 5th and 6th a weekend


def test_a_limit_is_working_days_business_hours_or_minutes() -> None:
    assert time_limits.parse("0.5d") == TimeLimit(0.5, "d")
    assert time_limits.parse("0.5d").seconds(HOURS) == 6.5 * 3600 / 2
    assert time_limits.parse(" 2h ").seconds(HOURS) == 7200 and time_limits.parse("90m").seconds(HOURS) == 5400
    assert time_limits.parse("0.5d").text() == "0.5个工作日" and time_limits.parse("90m").text("en") == "90 business minute(s)"
    for bad in ("", "half a day", "0d", "-1d", "3 weeks", "61d"):
        with pytest.raises(ValueError):
            time_limits.parse(bad)


def test_working_time_skips_lunch_nights_weekends_and_holidays_and_counts_make_up_days() -> None:
    cal = Calendar()
    assert time_limits.working_seconds(at(1, 11, 30), at(1, 15, 0), TZ, HOURS, cal) == 3600  # lunch is not counted
    assert time_limits.working_seconds(at(4, 17, 0), at(7, 9, 0), TZ, HOURS, cal) == 3600  # Friday 30 min + Monday 30 min
    assert time_limits.working_seconds(at(5, 9, 0), at(5, 11, 0), TZ, HOURS, cal) == 0  # a Saturday uses no time
    holiday = Calendar(holidays=frozenset({date(2026, 12, 1)}))
    assert time_limits.working_seconds(at(1, 9, 0), at(2, 9, 0), TZ, HOURS, holiday) == 1800
    make_up = Calendar(workdays=frozenset({date(2026, 12, 6)}))  # 调休: a Sunday worked
    assert time_limits.working_seconds(at(6, 9, 0), at(6, 10, 0), TZ, HOURS, make_up) == 3600


def test_the_limit_runs_out_on_the_next_working_day_after_a_weekend() -> None:
    cal = Calendar(holidays=frozenset({date(2026, 12, 7)}))
    half_day = time_limits.parse("0.5d").seconds(HOURS)  # 3 h 15 min
    assert time_limits.due_at(at(1, 9, 0), half_day, TZ, HOURS, cal) == at(1, 14, 45)  # lunch in between
    assert time_limits.due_at(at(4, 16, 0), half_day, TZ, HOURS, cal) == at(8, 10, 15)  # weekend and a holiday skipped
    assert time_limits.due_at(at(5, 10, 0), 600, TZ, HOURS, cal) == at(8, 8, 40)  # issued on a Saturday
    assert time_limits.working_seconds(at(4, 16, 0), at(8, 10, 15), TZ, HOURS, cal) == half_day


def test_time_limit_in_the_hall_file() -> None:
    text = HALL_FILE.read_text(encoding="utf-8")
    cfg = config.loads(text)
    assert cfg.services["company-registration"].time_limit == TimeLimit(0.5, "d")  # 企业开办 in half a working day
    bad = text.replace('time_limit = "0.5d"', 'time_limit = "半天"')
    with pytest.raises(config.ConfigError) as err:
        config.loads(bad, source="hall.toml")
    [issue] = err.value.issues
    assert issue.field == "services[0].time_limit" and "半天" in issue.message
    assert issue.line == bad.splitlines().index('time_limit = "半天"  # 企业开办 in half a working day, from the ticket to 办结') + 1
