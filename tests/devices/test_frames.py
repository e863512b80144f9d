"""hallcall's own frame protocol: exact bytes per command, round trips, resync, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import frames
from devices.frames import Cmd, Frame, FrameParser, Key, Nak
from devices.keypress import KeyPress


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_crc16_modbus_check_value() -> None:
    # The catalogue check value of CRC-16/MODBUS.
    assert frames.crc16_modbus(b"123456789") == 0x4B37
    assert frames.crc16_modbus(b"") == 0xFFFF


# Every command's bytes, written out. The CRC is low byte first, as Modbus sends it.
EXACT = [
    (frames.ping(3, 1), "aa55 01 03 01 01 0000 15 f6"),
    (frames.info_request(3, 2), "aa55 01 03 02 02 0000 e5 b2"),
    (frames.show_text(3, 1, "请A001号到3号窗口", flash=True, seconds=5),
     "aa55 01 03 01 10 0014 00 01 05 c7eb 41303031 bac5 b5bd 33 bac5 b4b0 bfda 8e 56"),
    (frames.show_text(3, 2, "暂停服务"), "aa55 01 03 02 10 000b 00 00 00 d4dd cda3 b7fe cef1 11 1d"),
    (frames.show_text(3, 3, "AB", line=1, scroll=True), "aa55 01 03 03 10 0005 01 02 00 4142 6b a7"),
    (frames.clear(3, 4), "aa55 01 03 04 11 0001 ff be df"),
    (frames.brightness(3, 5, 8), "aa55 01 03 05 12 0001 08 c2 dd"),
    (frames.eval_start(4, 6, "20261201-A001", "A001", "王芳", "1024"),
     "aa55 01 04 06 30 001d 0d 32303236313230312d41303031 04 41303031 04 cdf5b7bc 04 31303234 1f f2"),
    (frames.eval_cancel(4, 7, "20261201-A001"), "aa55 01 04 07 32 000e 0d 32303236313230312d41303031 fe 1c"),
    (frames.eval_cancel(4, 8), "aa55 01 04 08 32 0001 00 e4 ad"),
    (frames.ack(4, 9, 0x21), "aa55 01 04 09 06 0001 21 17 45"),
    (frames.nak(4, 10, 0x21, Nak.BAD_CRC), "aa55 01 04 0a 15 0002 21 01 b1 3e"),
    (frames.ack(4, 0x21, 9, from_device=True), "aa55 01 04 21 86 0001 09 5e 9d"),
    (frames.key_event(3, 0x40, Key.CALL_NEXT), "aa55 01 03 40 a0 0001 01 e8 6c"),
    (frames.key_event(3, 0x41, Key.TRANSFER, "5"), "aa55 01 03 41 a0 0002 08 35 5b d8"),
    (frames.key_event(3, 0x42, Key.SIGN_IN, "1024"), "aa55 01 03 42 a0 0005 0b 31303234 6f 1c"),
    (frames.eval_result(4, 0x50, "20261201-A001", 2, ("attitude", "efficiency")),
     "aa55 01 04 50 b1 0010 02 03 0d 32303236313230312d41303031 0a 64"),
    (frames.info_reply(5, 0x60, "led", 16, "1.2"), "aa55 01 05 60 82 0005 03 10 312e32 be 9c"),
]


@pytest.mark.parametrize(("frame", "wire"), EXACT, ids=[f"{Cmd(f.cmd).name}-{i}" for i, (f, _) in enumerate(EXACT)])
def test_exact_bytes(frame: Frame, wire: str) -> None:
    assert frame.encode() == h(wire.replace(" ", ""))


@pytest.mark.parametrize(("frame", "wire"), EXACT)
def test_parse_round_trip(frame: Frame, wire: str) -> None:
    parser = FrameParser()
    assert parser.feed(frame.encode()) == [frame]
    assert parser.stats.frames == 1 and parser.stats.garbage_bytes == 0


def test_payload_decoders_round_trip() -> None:
    assert frames.decode_key(frames.key_event(3, 1, Key.CALL_NEXT)) == KeyPress("call_next")
    assert frames.decode_key(frames.key_event(3, 1, Key.TRANSFER, "5")) == KeyPress("transfer", "5")
    assert frames.decode_key(frames.key_event(3, 1, Key.SIGN_IN, "1024")) == KeyPress("open", "1024")
    assert frames.decode_key(frames.key_event(3, 1, Key.PAUSE)) == KeyPress("pause")
    assert frames.decode_eval_result(frames.eval_result(4, 1, "T1", 1, ("integrity", "other"))) == \
        frames.EvalResult("T1", 1, ("integrity", "other"))
    shown = frames.decode_show_text(frames.show_text(3, 1, "请A001号到3号窗口", scroll=True, seconds=4))
    assert shown == frames.ShowText(0, False, True, 4, "请A001号到3号窗口")
    assert frames.decode_eval_start(frames.eval_start(4, 1, "T1", "A001", "王芳", "1024")) == \
        frames.EvalStart("T1", "A001", "王芳", "1024")
    assert frames.decode_info(frames.info_reply(5, 1, "evaluator", 0, "2.0")) == frames.Info("evaluator", 0, "2.0")
    assert frames.acked_seq(frames.ack(4, 9, 0x21)) == 0x21


@pytest.mark.parametrize(
    "frame",
    [
        Frame(3, 1, Cmd.KEY, b"", True),
        Frame(3, 1, Cmd.KEY, b"\x7f", True),
        Frame(3, 1, Cmd.EVAL_RESULT, b"\x09\x00\x00", True),
        Frame(3, 1, Cmd.EVAL_RESULT, b"\x03\x00\x09AB", True),
        Frame(3, 1, Cmd.INFO, b"\x09\x00", True),
        Frame(3, 1, Cmd.PING),
    ],
)
def test_bad_payloads_raise_frame_error(frame: Frame) -> None:
    with pytest.raises(frames.FrameError):
        if frame.cmd == Cmd.KEY:
            frames.decode_key(frame)
        elif frame.cmd == Cmd.EVAL_RESULT:
            frames.decode_eval_result(frame)
        elif frame.cmd == Cmd.INFO:
            frames.decode_info(frame)
        else:
            frames.decode_key(frame)


def test_garbage_between_frames_is_skipped_and_counted() -> None:
    a, b = frames.ping(3, 1).encode(), frames.clear(4, 2).encode()
    parser = FrameParser()
    got = parser.feed(b"\x00\xffnoise" + a + b"\xaa\x13\xaa" + b)
    assert [f.addr for f in got] == [3, 4]
    assert parser.stats.garbage_bytes == 10


def test_partial_frames_wait_for_the_rest() -> None:
    wire = frames.show_text(3, 1, "暂停服务").encode()
    parser = FrameParser()
    got = []
    for i in range(len(wire)):
        got += parser.feed(wire[i : i + 1])
    assert got == [frames.show_text(3, 1, "暂停服务")]


def test_bad_checksum_is_counted_and_the_next_frame_found() -> None:
    good = frames.ping(3, 1).encode()
    bad = bytearray(frames.clear(3, 2).encode())
    bad[-1] ^= 0xFF
    parser = FrameParser()
    assert parser.feed(bytes(bad) + good) == [frames.ping(3, 1)]
    assert parser.stats.bad_checksum == 1


def test_oversized_length_is_skipped() -> None:
    huge = frames.SYNC + bytes([1, 3, 1, 0x10]) + (frames.MAX_PAYLOAD + 1).to_bytes(2, "big")
    parser = FrameParser()
    assert parser.feed(huge + frames.ping(3, 9).encode()) == [frames.ping(3, 9)]
    assert parser.stats.oversized == 1


def test_wrong_version_is_skipped() -> None:
    other = bytearray(frames.ping(3, 1).encode())
    other[2] = 2
    parser = FrameParser()
    assert parser.feed(bytes(other) + frames.ping(3, 2).encode()) == [frames.ping(3, 2)]
    assert parser.stats.bad_version == 1


def test_truncated_frame_is_abandoned_when_the_line_goes_quiet() -> None:
    # A frame cut short, whose length field promises more bytes than will ever come.
    cut = frames.show_text(3, 1, "请A001号到3号窗口").encode()[:12]
    parser = FrameParser()
    assert parser.feed(cut) == []
    assert parser.idle() == []
    assert parser.stats.truncated == 1
    assert parser.feed(frames.ping(3, 2).encode()) == [frames.ping(3, 2)]


def test_idle_finds_a_frame_hidden_behind_a_false_start() -> None:
    # A stray sync whose "length" swallows a real frame: only the quiet line reveals it.
    real = frames.ping(3, 2).encode()
    parser = FrameParser()
    assert parser.feed(frames.SYNC + bytes([1, 3, 1, 0x10, 0x00, 0x40]) + real) == []
    assert parser.idle() == [frames.ping(3, 2)]


def test_deduper_drops_a_resend_but_not_a_new_frame() -> None:
    d = frames.Deduper()
    first = frames.key_event(3, 7, Key.CALL_NEXT)
    assert not d.is_duplicate(first)
    assert d.is_duplicate(first)
    assert not d.is_duplicate(frames.key_event(3, 8, Key.CALL_NEXT))
    # A device that restarted and reuses a sequence number with other content is new.
    assert not d.is_duplicate(frames.key_event(3, 8, Key.RECALL))
    assert not d.is_duplicate(frames.key_event(4, 8, Key.RECALL))


def test_payload_limit() -> None:
    with pytest.raises(frames.FrameError):
        Frame(3, 1, Cmd.SHOW_TEXT, bytes(frames.MAX_PAYLOAD + 1)).encode()
    with pytest.raises(frames.FrameError):
        frames.brightness(3, 1, 16)


good_frames = st.builds(
    Frame,
    addr=st.integers(0, 255),
    seq=st.integers(0, 255),
    cmd=st.sampled_from(list(Cmd)),
    payload=st.binary(max_size=40),
    from_device=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=30), good_frames.map(lambda f: f.encode())), max_size=12),
       st.lists(st.integers(1, 20), max_size=10))
def test_fuzzed_streams_never_raise(chunks: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(chunks)
    parser = FrameParser()
    pos = 0
    for n in cuts:
        parser.feed(stream[pos : pos + n])
        pos += n
    parser.feed(stream[pos:])
    parser.idle()
    assert parser.pending == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), good_frames, st.binary(max_size=60))
def test_a_good_frame_survives_surrounding_garbage(before: bytes, frame: Frame, after: bytes) -> None:
    parser = FrameParser()
    got = parser.feed(before) + parser.idle() + parser.feed(frame.encode())
    assert frame in got
    parser.feed(after)
    parser.idle()


@settings(max_examples=200, deadline=None)
@given(good_frames)
def test_payload_decoders_only_raise_frame_error(frame: Frame) -> None:
    for decode in (frames.decode_key, frames.decode_eval_result, frames.decode_show_text, frames.decode_eval_start,
                   frames.decode_info, frames.acked_seq):
        try:
            decode(frame)
        except frames.FrameError:
            pass
