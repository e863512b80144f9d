"""LED strip layout: fitting, flash/scroll then steady, dedupe, idle and paused texts."""

from __future__ import annotations

import pytest

from displays.led import FLASH, SCROLL, STEADY, LedFrame, StripLayout, call_texts, columns, fit


def test_columns_count_chinese_as_two() -> None:
    assert columns("请A001号到3号窗口") == 17
    assert columns("热情为您服务") == 12
    assert columns("A001") == 4


@pytest.mark.parametrize(
    ("width", "number", "window", "steady"),
    [
        (16, "A001", 3, "请A001号到3号窗口"),
        (8, "A001", 3, "A001号到3号窗口"),
        (8, "A001", 12, "A001号到12号窗口"),
        (8, "AB1001", 12, "AB1001到12号窗口"),
        (6, "A001", 3, "A001到3号窗"),
        (4, "A001", 3, "A001 3号"),
        (3, "A001", 3, None),
    ],
)
def test_fit_picks_the_longest_wording_that_fits(width: int, number: str, window: int, steady: str | None) -> None:
    assert fit(call_texts(number, window), width) == steady


def test_new_call_flashes_then_holds_steady() -> None:
    strip = StripLayout(16, emphasis=5.0)
    assert strip.frame(0.0) == LedFrame("热情为您服务", STEADY)
    assert strip.call("A001", 3, 100.0) == LedFrame("请A001号到3号窗口", FLASH, 105.0)
    assert strip.frame(104.9).mode == FLASH
    assert strip.frame(105.0) == LedFrame("请A001号到3号窗口", STEADY)


def test_call_too_long_for_the_strip_scrolls_then_holds_a_shorter_wording() -> None:
    strip = StripLayout(8, emphasis=4.0)
    assert strip.call("A001", 3, 10.0) == LedFrame("请A001号到3号窗口", SCROLL, 14.0)
    assert strip.frame(14.0) == LedFrame("A001号到3号窗口", STEADY)


def test_strip_too_narrow_for_any_wording_scrolls_for_good() -> None:
    strip = StripLayout(3)
    assert strip.call("A001", 3, 0.0) == LedFrame("请A001号到3号窗口", SCROLL, None)
    assert strip.frame(100.0) == LedFrame("请A001号到3号窗口", SCROLL)


def test_repeated_call_inside_the_dedupe_window_is_not_flashed_again() -> None:
    strip = StripLayout(16, emphasis=2.0, dedupe=5.0)
    strip.call("A001", 3, 0.0)
    assert strip.frame(2.5).mode == STEADY
    assert strip.call("A001", 3, 3.0) == LedFrame("请A001号到3号窗口", STEADY)  # console and keypad both called
    assert strip.call("A001", 3, 6.0).mode == FLASH  # a recall later flashes again
    assert strip.call("A002", 3, 6.5) == LedFrame("请A002号到3号窗口", FLASH, 8.5)  # a new number always does


def test_pause_close_and_idle_texts() -> None:
    strip = StripLayout(8, idle_text="热情为您服务")
    strip.call("A001", 3, 0.0)
    strip.set_status("paused")
    assert strip.frame(1.0) == LedFrame("暂停服务", STEADY)
    strip.set_status("open")
    assert strip.frame(100.0).text == "A001号到3号窗口"
    strip.clear_call("A001")
    assert strip.frame(100.0) == LedFrame("热情为您服务", STEADY)
    strip.set_status("closed")
    assert strip.frame(100.0) == LedFrame("暂停服务", STEADY)
    with pytest.raises(ValueError):
        strip.set_status("gone")


def test_long_idle_text_scrolls() -> None:
    assert StripLayout(4, idle_text="热情为您服务").frame(0.0) == LedFrame("热情为您服务", SCROLL)


def test_events_drive_the_strip() -> None:
    strip = StripLayout(16, emphasis=2.0, dedupe=5.0)
    called = {"ticket": {"number": "A001", "window": 3, "status": "called"}, "window": {"number": 3, "status": "open"}}
    assert strip.apply("ticket.called", called, 0.0).mode == FLASH
    assert strip.apply("ticket.recalled", called, 1.0) == LedFrame("请A001号到3号窗口", FLASH, 2.0)  # not prolonged
    assert strip.apply("ticket.recalled", called, 3.0).mode == STEADY  # deduped: no second flash
    assert strip.apply("ticket.recalled", called, 10.0) == LedFrame("请A001号到3号窗口", FLASH, 12.0)
    assert strip.apply("window.paused", {"window": {"number": 3, "status": "paused"}}, 20.0).text == "暂停服务"
    assert strip.apply("window.resumed", {"window": {"number": 3, "status": "open"}}, 21.0).text == "请A001号到3号窗口"
    assert strip.apply("ticket.finished", {"ticket": {"number": "A001"}}, 22.0).text == "热情为您服务"
    assert strip.apply("ticket.finished", {"ticket": {"number": "A000"}}, 22.0).text == "热情为您服务"
    assert strip.apply("window.closed", {"window": {"number": 3}}, 23.0).text == "暂停服务"
    assert strip.apply("window.opened", {"window": {"number": 3}}, 24.0).text == "热情为您服务"


def test_snapshot_window_shows_the_current_call_without_flashing() -> None:
    strip = StripLayout(16)
    strip.load({"number": 3, "status": "open", "ticket": {"number": "A007", "status": "serving", "window": 3}})
    assert strip.frame(0.0) == LedFrame("请A007号到3号窗口", STEADY)
    strip.load({"number": 3, "status": "paused", "ticket": None})
    assert strip.frame(0.0).text == "暂停服务"
    strip.load({"number": 3, "status": "open", "ticket": {"number": "A007", "status": "done"}})
    assert strip.frame(0.0).text == "热情为您服务"
