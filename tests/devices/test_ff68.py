"""The FF68 call keypad protocol: exact bytes per key and display frame, parsing, debounce, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import ff68
from devices.ff68 import Code, Debouncer, FF68Frame, FF68Parser, Func
from devices.keypress import KeyPress


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


KEYS = [
    # (code, typed digits, wire bytes from keypad 1, the action it means)
    (Code.CALL_NEXT, "", "FF 68 03 03 68 01 01 0C 0E 16", KeyPress("call_next")),
    (Code.RECALL, "", "FF 68 03 03 68 01 01 0D 0F 16", KeyPress("recall")),
    (Code.EVALUATE, "", "FF 68 03 03 68 01 01 0B 0D 16", KeyPress("finish")),
    (Code.PAUSE, "", "FF 68 03 03 68 01 01 12 14 16", KeyPress("pause_toggle")),
    (Code.TRANSFER, "5", "FF 68 04 04 68 01 01 13 05 1A 16", KeyPress("transfer", "5")),
    (Code.CONFIRM, "6", "FF 68 04 04 68 01 01 0F 06 17 16", KeyPress("no_show")),
    (Code.CONFIRM, "0", "FF 68 04 04 68 01 01 0F 00 11 16", KeyPress("hold")),
    (Code.CONFIRM, "3", "FF 68 04 04 68 01 01 0F 03 14 16", KeyPress("call_back")),
    (Code.CONFIRM, "1024", "FF 68 07 07 68 01 01 0F 01 00 02 04 18 16", KeyPress("open", "1024")),
]


@pytest.mark.parametrize(("code", "digits", "wire", "press"), KEYS, ids=[f"{k[0].name}{k[1]}" for k in KEYS])
def test_key_frames_exact_bytes_and_meaning(code: Code, digits: str, wire: str, press: KeyPress) -> None:
    frame = ff68.key_frame(1, code, digits)
    assert frame.encode() == h(wire)
    parser = FF68Parser()
    assert parser.feed(h(wire)) == [frame]
    assert ff68.decode_key(frame) == press


DISPLAYS = [
    (1, "001", "FF 68 08 08 68 01 02 0A 0A 0A 00 00 01 22 16"),  # the reference frame
    (1, "A001", "FF 68 08 08 68 01 02 0A 0A 0A 00 00 01 22 16"),  # the prefix cannot be shown
    (3, "B123", "FF 68 08 08 68 03 02 0A 0A 0A 01 02 03 29 16"),
    (2, "", "FF 68 08 08 68 02 02 0A 0A 0A 0A 0A 0A 40 16"),
    (4, "A1234567", "FF 68 08 08 68 04 02 02 03 04 05 06 07 21 16"),
]


@pytest.mark.parametrize(("addr", "number", "wire"), DISPLAYS)
def test_display_frames_exact_bytes(addr: int, number: str, wire: str) -> None:
    assert ff68.display_frame(addr, number).encode() == h(wire)
    assert FF68Parser().feed(h(wire)) == [FF68Frame(addr, Func.DISPLAY, h(wire)[7:13])]


def test_unused_keys_mean_nothing() -> None:
    assert ff68.decode_key(ff68.key_frame(1, Code.CONFIRM, "9")) is None
    assert ff68.decode_key(ff68.key_frame(1, Code.CONFIRM)) is None
    assert ff68.decode_key(FF68Frame(1, Func.KEY, b"\x55")) is None
    assert ff68.decode_key(FF68Frame(1, Func.KEY, b"")) is None
    assert ff68.decode_key(FF68Frame(1, Func.KEY, b"\x0f\x0c")) is None
    assert ff68.decode_key(ff68.display_frame(1, "001")) is None


def test_parser_skips_garbage_bad_checksums_and_bad_headers() -> None:
    good = ff68.key_frame(2, Code.CALL_NEXT).encode()
    bad_cs = bytearray(good)
    bad_cs[-2] ^= 1
    bad_len = bytearray(good)
    bad_len[3] = 9
    bad_end = bytearray(good)
    bad_end[-1] = 0x17
    parser = FF68Parser()
    got = parser.feed(b"\x00\x68\xff" + bytes(bad_cs) + bytes(bad_len) + bytes(bad_end) + good)
    assert got == [ff68.key_frame(2, Code.CALL_NEXT)]
    assert parser.stats.bad_checksum == 1
    assert parser.stats.bad_header == 2
    assert parser.stats.frames == 1


def test_oversized_and_truncated_frames() -> None:
    parser = FF68Parser()
    assert parser.feed(h("FF 68 40 40 68") + ff68.key_frame(1, Code.RECALL).encode()) == [ff68.key_frame(1, Code.RECALL)]
    assert parser.stats.oversized == 1
    assert parser.feed(h("FF 68 08 08 68 01 02 0A")) == []
    assert parser.idle() == []
    assert parser.stats.truncated == 1
    assert parser.feed(ff68.key_frame(1, Code.RECALL).encode()) == [ff68.key_frame(1, Code.RECALL)]


def test_frames_split_anywhere() -> None:
    wire = ff68.key_frame(1, Code.CALL_NEXT).encode() + ff68.key_frame(2, Code.RECALL).encode()
    parser = FF68Parser()
    got = []
    for b in wire:
        got += parser.feed(bytes([b]))
    assert got == [ff68.key_frame(1, Code.CALL_NEXT), ff68.key_frame(2, Code.RECALL)]


def test_debouncer_drops_a_resend_within_the_window() -> None:
    d = Debouncer(window=2.0)
    call = ff68.key_frame(1, Code.CALL_NEXT)
    assert d.accept(call, 100.0)
    assert not d.accept(call, 100.5)  # resent: the echo was lost
    assert not d.accept(call, 102.0)  # still resending: the window slides
    assert d.accept(ff68.key_frame(2, Code.CALL_NEXT), 102.1)  # another keypad
    assert d.accept(ff68.key_frame(1, Code.RECALL), 102.2)  # another key
    assert d.accept(call, 104.5)  # a new press


def test_bad_typed_digits_rejected() -> None:
    with pytest.raises(ff68.FF68Error):
        ff68.key_frame(1, Code.TRANSFER, "x")
    with pytest.raises(ff68.FF68Error):
        FF68Frame(1, Func.KEY, bytes(40)).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=24),
                          st.builds(lambda a, c, d: ff68.key_frame(a, c, d).encode(), st.integers(0, 255),
                                    st.sampled_from(list(Code)), st.text("0123456789", max_size=6)),
                          st.sampled_from([b"\xff\x68", b"\xff\x68\x05\x05\x68", b"\x16", b"\xff"])), max_size=15),
       st.lists(st.integers(1, 9), max_size=8))
def test_fuzzed_streams_never_raise(chunks: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(chunks)
    parser = FF68Parser()
    pos = 0
    for n in cuts:
        for frame in parser.feed(stream[pos : pos + n]):
            ff68.decode_key(frame)
        pos += n
    for frame in parser.feed(stream[pos:]) + parser.idle():
        ff68.decode_key(frame)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 255), st.sampled_from(list(Code)))
def test_a_good_frame_survives_leading_garbage(garbage: bytes, addr: int, code: Code) -> None:
    parser = FF68Parser()
    frame = ff68.key_frame(addr, code)
    got = parser.feed(garbage) + parser.idle() + parser.feed(frame.encode())
    assert got[-1:] == [frame]
