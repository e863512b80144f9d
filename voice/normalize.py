"""Spoken text for a call: ticket numbers, window numbers and phrase templates.

Pure functions, no I/O. A Chinese hall reads a ticket digit by digit ("A001" is
"A零零一号", never "A一号") and a window as a cardinal ("12" is "十二号窗口"). The
English phrase follows the same habit ("A zero zero one", "window twelve").
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

ZH = "zh"
EN = "en"
LANGUAGES = (ZH, EN)

DEFAULT_TEMPLATES = {
    ZH: "请{ticket}到{window}办理",
    EN: "Number {ticket}, please go to window {window}",
}
# Every name a template may use; a template naming anything else is a config error.
PLACEHOLDERS = frozenset({"ticket", "window", "window_number", "zone", "window_name"})

_ZH_DIGITS = "零一二三四五六七八九"
_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_TICKET = re.compile(r"^([A-Za-z]{0,4})([0-9]{1,6})$")


@dataclass(frozen=True, slots=True)
class CallText:
    """What a call says, before templates: numbers and optional names."""

    ticket: str  # "A001"
    window: int
    zone_name: str = ""
    zone_name_en: str = ""
    window_name: str = ""
    window_name_en: str = ""


def split_ticket(number: str) -> tuple[str, str]:
    """Split "A001" into its letters and digits; raise ValueError for anything else."""
    match = _TICKET.match(number.strip())
    if not match:
        raise ValueError(f"ticket number {number!r} is not letters followed by digits")
    return match.group(1).upper(), match.group(2)


def digits_zh(digits: str, *, yao: bool = False) -> str:
    """Read digits one by one in Chinese, "幺" for 1 when ``yao``."""
    table = _ZH_DIGITS.replace("一", "幺") if yao else _ZH_DIGITS
    return "".join(table[int(d)] for d in digits)


def cardinal_zh(n: int) -> str:
    """Read 1..9999 as a Chinese cardinal: 10 is "十", 12 "十二", 101 "一百零一"."""
    if not 0 < n < 10000:
        raise ValueError(f"{n} is outside 1..9999")
    units = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
    out: list[str] = []
    pending_zero = False
    for size, unit in units:
        d, n = divmod(n, size)
        if d == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(_ZH_DIGITS[d] + unit)
    text = "".join(out)
    # 10..19 drop the leading 一: "十二", not "一十二".
    return text[1:] if text.startswith("一十") else text


def cardinal_en(n: int) -> str:
    """Read 1..9999 as an English cardinal: 12 is "twelve", 101 "one hundred one"."""
    if not 0 < n < 10000:
        raise ValueError(f"{n} is outside 1..9999")
    words: list[str] = []
    thousands, rest = divmod(n, 1000)
    if thousands:
        words += [_EN_ONES[thousands], "thousand"]
    hundreds, rest = divmod(rest, 100)
    if hundreds:
        words += [_EN_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_EN_TENS[tens] + (f" {_EN_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_EN_ONES[rest])
    return " ".join(words)


def ticket_zh(number: str, *, yao: bool = False) -> str:
    """Speak a ticket in Chinese: "A001" is "A零零一号"."""
    letters, digits = split_ticket(number)
    return f"{letters}{digits_zh(digits, yao=yao)}号"


def ticket_en(number: str) -> str:
    """Speak a ticket in English: "A001" is "A zero zero one"."""
    letters, digits = split_ticket(number)
    return " ".join([*letters, *(_EN_ONES[int(d)] for d in digits)])


def window_zh(n: int, *, zone_name: str = "", window_name: str = "") -> str:
    """Speak a window in Chinese: 12 is "十二号窗口", optionally with zone and name."""
    base = f"{cardinal_zh(n)}号"
    if window_name:
        # A name that already says 窗口 replaces the generic word: "三号企业开办综合窗口".
        base += window_name if window_name.endswith("窗口") else f"窗口{window_name}"
    else:
        base += "窗口"
    return f"{zone_name}{base}"


def window_en(n: int, *, zone_name: str = "", window_name: str = "") -> str:
    """Speak a window in English for "window {window}": 12 is "twelve"."""
    parts = [cardinal_en(n)]
    parts += [name for name in (window_name, zone_name) if name]
    return ", ".join(parts)


def check_template(template: str) -> None:
    """Raise ValueError if a template names an unknown placeholder or is malformed."""
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise ValueError(f"template {template!r} is malformed: {exc}") from None
    unknown = names - PLACEHOLDERS
    if unknown:
        raise ValueError(f"template {template!r} uses unknown placeholder(s) {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}")
    if "ticket" not in names:
        raise ValueError(f"template {template!r} never says the ticket ({{ticket}})")


def render(
    call: CallText,
    language: str,
    template: str | None = None,
    *,
    yao: bool = False,
    speak_zone: bool = False,
    speak_window_name: bool = False,
) -> str:
    """Render the phrase for one call in one language."""
    if language == ZH:
        zone, name = call.zone_name, call.window_name
        ticket = ticket_zh(call.ticket, yao=yao)
        number = f"{cardinal_zh(call.window)}号"
        window_fn = window_zh
    elif language == EN:
        zone, name = call.zone_name_en, call.window_name_en
        ticket = ticket_en(call.ticket)
        number = cardinal_en(call.window)
        window_fn = window_en
    else:
        raise ValueError(f"unknown language {language!r}; known: {list(LANGUAGES)}")
    window = window_fn(
        call.window,
        zone_name=zone if speak_zone else "",
        window_name=name if speak_window_name else "",
    )
    return (template or DEFAULT_TEMPLATES[language]).format(
        ticket=ticket, window=window, window_number=number, zone=zone, window_name=name
    )
