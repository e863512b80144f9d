"""ESC/POS encoding: exact command bytes, the reference ticket, GBK fallbacks, status parsing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from devices import escpos, ticket
from devices.escpos import Align, PrinterStatus, QrEcc, StatusKind
from devices.escpos_decode import EscPosDecoder

CST = timezone(timedelta(hours=8))


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("got", "wire"),
    [
        (escpos.init(), "1B 40"),
        (escpos.chinese_on(), "1C 26"),
        (escpos.chinese_off(), "1C 2E"),
        (escpos.align(Align.CENTER), "1B 61 01"),
        (escpos.align(Align.RIGHT), "1B 61 02"),
        (escpos.bold(True), "1B 45 01"),
        (escpos.bold(False), "1B 45 00"),
        (escpos.size(1, 1), "1D 21 00"),
        (escpos.size(1, 2), "1D 21 01"),
        (escpos.size(4, 4), "1D 21 33"),
        (escpos.feed(3), "1B 64 03"),
        (escpos.cut(3), "1D 56 42 03"),
        (escpos.status_query(StatusKind.PRINTER), "10 04 01"),
        (escpos.status_queries(), "10 04 01 10 04 02 10 04 04"),
        (escpos.text("请到3号窗口"), "C7EB B5BD 33 BAC5 B4B0 BFDA"),
        (escpos.text("（企业）：，"), "A3A8 C6F3 D2B5 A3A9 A3BA A3AC"),  # full-width punctuation, not "?"
        (
            escpos.qr("https://h.cn/t/x", module=5, ecc=QrEcc.M),
            "1D 28 6B 04 00 31 41 32 00"  # model 2
            "1D 28 6B 03 00 31 43 05"  # module size 5
            "1D 28 6B 03 00 31 45 31"  # error correction M
            "1D 28 6B 13 00 31 50 30" + b"https://h.cn/t/x".hex() +  # store 16 bytes
            "1D 28 6B 03 00 31 51 30",  # print
        ),
        (escpos.code128("A001"), "1D 48 02 1D 68 3C 1D 77 02 1D 6B 49 06 7B 42 41 30 30 31"),
    ],
)
def test_command_bytes(got: bytes, wire: str) -> None:
    assert got == h(wire)


def test_characters_outside_the_gbk_font_are_replaced_visibly() -> None:
    # 𠮷 (U+20BB7), 㐀 (U+3400) and 😀 need four-byte GB18030; ESC would be a command.
    assert escpos.printable("吉𠮷家") == "吉□家"
    assert escpos.printable("王㐀") == "王□"
    assert escpos.printable("好😀") == "好□"
    assert escpos.printable("A\x1bB\x00C\tD") == "A□B□C D"
    assert escpos.text("𠮷") == "□".encode("gb18030") == h("A1F5")
    # Everything GBK has prints as itself: traditional, rare-but-GBK, full-width forms.
    assert escpos.printable("麤鑫燚〇·—“”ＡＢ１２") == "麤鑫燚〇·—“”ＡＢ１２"


def test_size_and_qr_limits() -> None:
    with pytest.raises(ValueError):
        escpos.size(9, 1)
    with pytest.raises(ValueError):
        escpos.qr("x", module=0)
    with pytest.raises(ValueError):
        escpos.code128("中文")


REFERENCE = ticket.TicketContent(
    hall="太康县行政服务中心",
    number="A001",
    service="企业设立登记",
    zone="企业开办专区",
    ahead=5,
    eta_minutes=12,
    issued_at=datetime(2026, 12, 1, 9, 30, tzinfo=CST),
    url="https://hall.example.cn/t/Xr2kQ9vLmN4pT7sW1yZ3aB",
)

REFERENCE_BYTES = b"".join(
    [
        h("1B 40"),  # initialize
        h("1C 26"),  # Chinese mode
        h("1B 61 01"),  # centered
        h("1D 21 01"),  # double height
        "太康县行政服务中心\n".encode("gb18030"),
        h("1D 21 00"),
        "企业开办专区 企业设立登记\n".encode("gb18030"),
        h("1D 21 33"),  # 4x4: the number
        h("1B 45 01"),
        b"A001\n",
        h("1B 45 00"),
        h("1D 21 00"),
        "前面还有5人，约等12分钟\n".encode("gb18030"),
        b"2026-12-01 09:30\n",
        h("1D 28 6B 04 00 31 41 32 00"),
        h("1D 28 6B 03 00 31 43 05"),
        h("1D 28 6B 03 00 31 45 31"),
        h("1D 28 6B 33 00 31 50 30"),
        b"https://hall.example.cn/t/Xr2kQ9vLmN4pT7sW1yZ3aB",
        h("1D 28 6B 03 00 31 51 30"),
        b"\n",
        "请留意叫号，过号请重新排队\n".encode("gb18030"),
        h("1D 56 42 03"),  # feed 3 and partial cut
    ]
)


def test_reference_ticket_exact_bytes() -> None:
    assert ticket.render(REFERENCE) == REFERENCE_BYTES


def test_reference_ticket_prints_in_under_a_third_of_a_second_at_9600_baud() -> None:
    wire = ticket.render(REFERENCE)
    assert len(wire) < 300
    assert len(wire) * 10 / 9600 < 0.3  # 8N1: ten bits a byte


def test_ticket_with_barcode_and_without_optional_lines() -> None:
    bare = ticket.render(ticket.TicketContent(hall="大厅", number="B012", service="社保", footer=""))
    assert "前面还有".encode("gb18030") not in bare
    assert b"\x1d\x28\x6b" not in bare
    assert bare.endswith(h("1D 56 42 03"))
    coded = ticket.render(ticket.TicketContent(hall="大厅", number="B012", service="社保", barcode="20261201-B012"))
    assert escpos.code128("20261201-B012") in coded


def test_ticket_from_print_requested_event() -> None:
    data = {
        "ticket": {"id": "20261201-A001", "number": "A001", "service": "company-registration", "zone": "enterprise",
                   "issued_at": "2026-12-01T09:30:00+08:00", "token": "Xr2kQ9vLmN4pT7sW1yZ3aB"},
        "kiosk": "k1", "ahead": 5, "eta_minutes": 12,
    }
    names = {"service:company-registration": "企业设立登记", "zone:enterprise": "企业开办专区"}
    content = ticket.from_event(data, hall="太康县行政服务中心", names=names, base_url="https://hall.example.cn/")
    assert content == REFERENCE
    unnamed = ticket.from_event(data, hall="", names={}, base_url="")
    assert unnamed.service == "company-registration" and unnamed.url == ""


def test_a_bundle_ticket_names_the_bundle_and_its_parts() -> None:
    data = {"ticket": {"id": "20261201-S001", "number": "S001", "service": "company-registration", "zone": "enterprise",
                       "origin_service": "open-supermarket",
                       "parts": [{"service": "company-registration", "outcome": None},
                                 {"service": "tax-invoice", "outcome": None}]},
            "kiosk": "k1", "ahead": 0, "eta_minutes": 3}
    names = {"service:company-registration": "营业执照", "service:tax-invoice": "税务登记",
             "service:open-supermarket": "我要开超市", "zone:enterprise": "企业开办专区"}
    content = ticket.from_event(data, hall="大厅", names=names, base_url="")
    (printed,) = EscPosDecoder().feed(ticket.render(content))
    lines = printed.text_lines()
    assert "企业开办专区 我要开超市" in lines and "办理环节 1.营业执照 2.税务登记" in lines
    assert len(ticket.render(content)) < 250


def test_a_ticket_nobody_serves_yet_warns_instead_of_a_wait() -> None:
    data = {"ticket": {"id": "20261201-A001", "number": "A001", "service": "company-registration"},
            "kiosk": "k1", "ahead": 5, "eta_minutes": None, "no_window": True, "opens_at": "14:30"}
    content = ticket.from_event(data, hall="大厅", names={}, base_url="")
    (printed,) = EscPosDecoder().feed(ticket.render(content))
    lines = printed.text_lines()
    assert "前面还有5人" in lines and "暂无窗口办理，14:30 起办理" in lines
    assert not any("约等" in line for line in lines)
    unknown = ticket.render(ticket.from_event({**data, "opens_at": None}, hall="大厅", names={}, base_url=""))
    assert "暂无窗口办理\n".encode("gb18030") in unknown


def test_bilingual_ticket_carries_english_under_each_chinese_line() -> None:
    data = {
        "ticket": {"id": "20261201-A001", "number": "A001", "service": "company-registration", "zone": "enterprise",
                   "issued_at": "2026-12-01T09:30:00+08:00", "token": "Xr2kQ9vLmN4pT7sW1yZ3aB"},
        "kiosk": "k1", "ahead": 5, "eta_minutes": 12,
    }
    names = {"service:company-registration": "企业设立登记", "zone:enterprise": "企业开办专区",
             "service_en:company-registration": "Company registration"}
    content = ticket.from_event(data, hall="太康县行政服务中心", names=names, base_url="https://hall.example.cn/",
                                hall_en="Taikang County Administrative Service Center")
    (printed,) = EscPosDecoder().feed(ticket.render(content))
    assert printed.text_lines() == [
        "太康县行政服务中心",
        "Taikang County Administrative Service Center",
        "企业开办专区 企业设立登记",
        "Company registration",
        "A001",
        "前面还有5人，约等12分钟",
        "5 ahead of you, about 12 min",
        "2026-12-01 09:30",
        "",
        "请留意叫号，过号请重新排队",
        "Please listen for your number; if missed, queue again",
    ]
    assert len(ticket.render(content)) * 10 / 9600 < 0.5  # still out of a 9600-baud printer in half a second
    # Without the hall setting the same event prints Chinese only, byte for byte the reference.
    assert ticket.render(ticket.from_event(data, hall="太康县行政服务中心", names=names,
                                           base_url="https://hall.example.cn/")) == REFERENCE_BYTES
    unnamed = ticket.render(ticket.from_event(
        {**data, "eta_minutes": None, "no_window": True}, hall="大厅", names={}, base_url="", hall_en=""))
    assert b"No window serves this now\n" in unnamed and b"Taikang" not in unnamed


def test_an_uncertain_wait_prints_as_a_span_in_both_languages() -> None:
    data = {"ticket": {"id": "20261201-A031", "number": "A031", "service": "company-registration"},
            "kiosk": "k1", "ahead": 9, "eta_minutes": 20, "eta_range": [15, 25]}
    content = ticket.from_event(data, hall="大厅", names={}, base_url="", hall_en="Hall")
    (printed,) = EscPosDecoder().feed(ticket.render(content))
    lines = printed.text_lines()
    assert "前面还有9人，约等15–25分钟" in lines and "9 ahead of you, about 15–25 min" in lines
    assert not any("约等20分钟" in line for line in lines)
    # A malformed span is ignored: the single figure prints.
    odd = ticket.from_event({**data, "eta_range": ["15", 25]}, hall="大厅", names={}, base_url="")
    assert "前面还有9人，约等20分钟" in EscPosDecoder().feed(ticket.render(odd))[0].text_lines()


@pytest.mark.parametrize(
    ("replies", "health", "ready"),
    [
        ("12 12 12", "online", True),
        ("12 12 1E", "paper_near_end", True),
        ("1A 32 7E", "paper_out", False),
        ("1A 16 12", "cover_open", False),
        ("1A 52 12", "error", False),
        ("1A 12 12", "offline", False),
    ],
)
def test_status_replies(replies: str, health: str, ready: bool) -> None:
    status = escpos.parse_status(*h(replies))
    assert status.health == health
    assert status.ready is ready


def test_status_bytes_round_trip_and_pattern() -> None:
    for status in (PrinterStatus(), PrinterStatus(paper_out=True), PrinterStatus(cover_open=True),
                   PrinterStatus(paper_near_end=True), PrinterStatus(online=False), PrinterStatus(error=True)):
        wire = escpos.status_bytes(status)
        assert all(escpos.is_status_byte(b) for b in wire)
        assert escpos.parse_status(*wire).health == status.health
    assert not escpos.is_status_byte(0x11) and not escpos.is_status_byte(0x13)  # XON, XOFF
    with pytest.raises(ValueError):
        escpos.parse_status(0x00, 0x12, 0x12)
