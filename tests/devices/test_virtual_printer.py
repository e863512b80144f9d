"""The ESC/POS decoder and the virtual printer: a ticket reads back as it was laid out."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from devices import escpos, ticket
from devices.agent import printer_config
from devices.escpos import PrinterStatus
from devices.escpos_decode import Barcode, EscPosDecoder, Line, Printed, Qr, StatusRequest
from devices.serial_port import SerialPort
from devices.virtual_printer import VirtualPrinter, VirtualPrinterPort, render_text

from .test_escpos import REFERENCE, REFERENCE_BYTES


def test_reference_ticket_decodes_to_its_content() -> None:
    (printed,) = EscPosDecoder().feed(REFERENCE_BYTES)
    assert isinstance(printed, Printed)
    assert printed.text_lines() == [
        "太康县行政服务中心",
        "企业开办专区 企业设立登记",
        "A001",
        "前面还有5人，约等12分钟",
        "2026-12-01 09:30",
        "",
        "请留意叫号，过号请重新排队",
    ]
    number = printed.items[2]
    assert number == Line("A001", align=1, width=4, height=4, bold=True)
    assert printed.qr == REFERENCE.url
    assert Qr(REFERENCE.url, 5, "M") in printed.items


def test_bytes_split_anywhere_decode_the_same() -> None:
    whole = EscPosDecoder().feed(REFERENCE_BYTES)
    for step in (1, 2, 3, 7):
        dec = EscPosDecoder()
        got = []
        for i in range(0, len(REFERENCE_BYTES), step):
            got += dec.feed(REFERENCE_BYTES[i : i + step])
        assert got == whole


def test_status_requests_and_barcodes() -> None:
    dec = EscPosDecoder()
    out = dec.feed(escpos.status_queries() + escpos.code128("A{1") + escpos.cut())
    assert out[:3] == [StatusRequest(1), StatusRequest(2), StatusRequest(4)]
    assert out[3] == Printed((Barcode("CODE128", "A{1"),))


def test_rendered_text_shows_the_ticket() -> None:
    text = render_text(EscPosDecoder().feed(REFERENCE_BYTES)[0], width=48)
    assert "太康县行政服务中心" in text
    assert "Ａ　０　０　１" in text  # the 4x number, enlarged
    assert "[二维码]" in text and REFERENCE.url in text
    assert all(len(row) > 0 for row in text.splitlines())


def test_virtual_printer_answers_status_and_prints() -> None:
    vp = VirtualPrinter()
    replies, printed = vp.receive(escpos.status_queries() + ticket.render(REFERENCE) + escpos.status_queries())
    assert replies == bytes.fromhex("12 12 12 12 12 12")
    assert len(printed) == 1 and vp.printed == printed


def test_virtual_printer_loses_the_ticket_when_the_roll_ends() -> None:
    vp = VirtualPrinter(paper=0)
    replies, printed = vp.receive(escpos.status_queries())
    assert escpos.parse_status(*replies).health == "online"
    replies, printed = vp.receive(ticket.render(REFERENCE) + escpos.status_queries())
    assert printed == [] and len(vp.lost) == 1
    assert escpos.parse_status(*replies).health == "paper_out"
    vp.load_paper()
    replies, printed = vp.receive(ticket.render(REFERENCE) + escpos.status_queries())
    assert len(printed) == 1 and escpos.parse_status(*replies).health == "online"


def test_virtual_printer_drops_jobs_while_not_ready() -> None:
    vp = VirtualPrinter(PrinterStatus(cover_open=True))
    replies, printed = vp.receive(ticket.render(REFERENCE) + escpos.status_queries())
    assert printed == [] and escpos.parse_status(*replies).health == "cover_open"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=30), st.just(REFERENCE_BYTES[:40]), st.just(b"\x1d\x28\x6b"),
                          st.sampled_from([b"\x1b", b"\x1d", b"\x1c", b"\x10", b"\x1d\x56", b"\x1dk\x02"])),
                max_size=12))
def test_fuzzed_bytes_never_raise(chunks: list[bytes]) -> None:
    dec = EscPosDecoder()
    for chunk in chunks:
        for item in dec.feed(chunk):
            if isinstance(item, Printed):
                render_text(item)


async def test_virtual_printer_on_a_pty_writes_readable_tickets(tmp_path: Path) -> None:

    link = tmp_path / "hallcall-printer"
    async with VirtualPrinterPort(link, out_dir=tmp_path / "out", width=48) as vp:
        cfg = printer_config(link, "k1", tmp_path / "state")
        assert cfg.ports[0].serial.port == str(link) and cfg.kiosks == ["k1"]
        port = await SerialPort.open(cfg.ports[0].serial)
        try:
            await port.write(REFERENCE_BYTES)
            await vp.wait_printed(1)
        finally:
            await port.close()
    text = (tmp_path / "out" / "ticket-0001.txt").read_text(encoding="utf-8")
    assert "太康县行政服务中心" in text and REFERENCE.url in text
