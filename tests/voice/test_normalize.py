"""Spoken text: ticket and window numbers read the way a Chinese hall reads them."""

from __future__ import annotations

import pytest

from voice.normalize import (
    CallText,
    cardinal_en,
    cardinal_zh,
    check_template,
    render,
    ticket_en,
    ticket_zh,
    window_en,
    window_zh,
)


@pytest.mark.parametrize(
    ("number", "zh", "zh_yao", "en"),
    [
        ("A001", "A零零一号", "A零零幺号", "A zero zero one"),
        ("A010", "A零一零号", "A零幺零号", "A zero one zero"),
        ("A100", "A一零零号", "A幺零零号", "A one zero zero"),
        ("B999", "B九九九号", "B九九九号", "B nine nine nine"),
        ("S023", "S零二三号", "S零二三号", "S zero two three"),
        ("a7", "A七号", "A七号", "A seven"),
        ("GC0012", "GC零零一二号", "GC零零幺二号", "G C zero zero one two"),
        ("123", "一二三号", "幺二三号", "one two three"),
    ],
)
def test_ticket_is_read_digit_by_digit(number: str, zh: str, zh_yao: str, en: str) -> None:
    assert ticket_zh(number) == zh
    assert ticket_zh(number, yao=True) == zh_yao
    assert ticket_en(number) == en


@pytest.mark.parametrize("number", ["", "A", "A-001", "A 001", "A001B", "号001", "ABCDE1"])
def test_ticket_that_is_not_letters_then_digits_is_refused(number: str) -> None:
    with pytest.raises(ValueError, match="ticket number"):
        ticket_zh(number)


@pytest.mark.parametrize(
    ("n", "zh", "en"),
    [
        (1, "一号窗口", "one"),
        (2, "二号窗口", "two"),
        (10, "十号窗口", "ten"),
        (12, "十二号窗口", "twelve"),
        (19, "十九号窗口", "nineteen"),
        (20, "二十号窗口", "twenty"),
        (21, "二十一号窗口", "twenty one"),
        (40, "四十号窗口", "forty"),
        (99, "九十九号窗口", "ninety nine"),
    ],
)
def test_window_is_read_as_a_cardinal(n: int, zh: str, en: str) -> None:
    assert window_zh(n) == zh
    assert window_en(n) == en


@pytest.mark.parametrize(
    ("n", "zh", "en"),
    [
        (100, "一百", "one hundred"),
        (101, "一百零一", "one hundred one"),
        (110, "一百一十", "one hundred ten"),
        (115, "一百一十五", "one hundred fifteen"),
        (1001, "一千零一", "one thousand one"),
        (1010, "一千零一十", "one thousand ten"),
        (2345, "二千三百四十五", "two thousand three hundred forty five"),
        (9999, "九千九百九十九", "nine thousand nine hundred ninety nine"),
    ],
)
def test_large_cardinals(n: int, zh: str, en: str) -> None:
    assert cardinal_zh(n) == zh
    assert cardinal_en(n) == en


@pytest.mark.parametrize("n", [0, -1, 10000])
def test_cardinal_out_of_range(n: int) -> None:
    with pytest.raises(ValueError):
        cardinal_zh(n)
    with pytest.raises(ValueError):
        cardinal_en(n)


def test_default_templates() -> None:
    call = CallText("A001", 12)
    assert render(call, "zh") == "请A零零一号到十二号窗口办理"
    assert render(call, "en") == "Number A zero zero one, please go to window twelve"
    assert render(call, "zh", yao=True) == "请A零零幺号到十二号窗口办理"


def test_zone_and_window_names_are_spoken_when_asked() -> None:
    call = CallText("A001", 3, zone_name="企业开办专区", zone_name_en="Enterprise start-up",
                    window_name="企业开办综合窗口", window_name_en="Enterprise one-stop window")
    assert render(call, "zh") == "请A零零一号到三号窗口办理"
    assert render(call, "zh", speak_zone=True) == "请A零零一号到企业开办专区三号窗口办理"
    assert render(call, "zh", speak_window_name=True) == "请A零零一号到三号企业开办综合窗口办理"
    assert render(call, "zh", speak_zone=True, speak_window_name=True) == "请A零零一号到企业开办专区三号企业开办综合窗口办理"
    assert render(call, "en", speak_zone=True) == "Number A zero zero one, please go to window three, Enterprise start-up"
    # A name without 窗口 follows the generic word instead of replacing it.
    assert window_zh(7, window_name="(医保)") == "七号窗口(医保)"


def test_hall_templates() -> None:
    call = CallText("C015", 8, zone_name="综合服务区")
    assert render(call, "zh", "{ticket}请到{window}") == "C零一五号请到八号窗口"
    assert render(call, "zh", "请{ticket}到{zone}{window_number}窗口") == "请C零一五号到综合服务区八号窗口"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("请{ticket}到{room}办理", "unknown placeholder"),
        ("请到{window}办理", "never says the ticket"),
        ("请{ticket到{window}", "malformed"),
    ],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_template(template)


def test_unknown_language() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        render(CallText("A001", 1), "fr")
