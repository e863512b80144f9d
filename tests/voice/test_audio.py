"""WAV bytes in and out, splicing, resampling and the chime, tested on literal bytes and samples."""

from __future__ import annotations

import struct
from array import array

import pytest

from voice.audio import RATE, Audio, chime, concat, read_wav, resample, rms, silence, trim, wav_header, write_wav


def wav(rate: int, channels: int, bits: int, frames: bytes, *, tag: int = 1, extra_chunks: bytes = b"") -> bytes:
    block = channels * bits // 8
    if tag == 0xFFFE:
        fmt = struct.pack("<HHIIHHHHIH14s", tag, channels, rate, rate * block, block, bits, 22, bits, 0, 1, b"\x00" * 14)
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks + b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_write_wav_header_bytes() -> None:
    data = write_wav(Audio(22050, array("h", [0, 1, -1, 32767])))
    assert data[:44] == (
        b"RIFF" + struct.pack("<I", 36 + 8) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
        + b"data" + struct.pack("<I", 8)
    )
    assert data[44:] == b"\x00\x00\x01\x00\xff\xff\xff\x7f"
    assert wav_header(8000, 0)[24:28] == struct.pack("<I", 8000)


def test_round_trip() -> None:
    audio = Audio(RATE, array("h", [0, 100, -100, 32767, -32768]))
    assert read_wav(write_wav(audio)) == audio


def test_read_skips_unknown_chunks_and_odd_padding() -> None:
    chunk = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd size, padded to even
    audio = read_wav(wav(16000, 1, 16, struct.pack("<3h", 1, 2, 3), extra_chunks=chunk))
    assert audio == Audio(16000, array("h", [1, 2, 3]))


@pytest.mark.parametrize(
    ("channels", "bits", "frames", "expected"),
    [
        (1, 8, bytes([128, 255, 0]), [0, 127 << 8, -128 << 8]),
        (2, 16, struct.pack("<4h", 100, 300, -100, -300), [200, -200]),
        (1, 24, b"\x00\x00\x40" + b"\x00\x00\xc0", [0x4000, -0x4000]),
        (1, 32, struct.pack("<2i", 0x10000000, -0x10000000), [0x1000, -0x1000]),
    ],
)
def test_read_converts_to_16_bit_mono(channels: int, bits: int, frames: bytes, expected: list[int]) -> None:
    assert read_wav(wav(44100, channels, bits, frames)).samples == array("h", expected)


def test_read_wave_format_extensible() -> None:
    audio = read_wav(wav(48000, 1, 16, struct.pack("<2h", 5, -5), tag=0xFFFE))
    assert audio == Audio(48000, array("h", [5, -5]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFX0000WAVE", "not a RIFF"),
        (b"hello", "not a RIFF"),
        (wav(8000, 1, 16, b"", tag=3), "not integer PCM"),
        (wav(8000, 1, 12, b""), "unsupported"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no data chunk"),
    ],
)
def test_read_refuses_what_it_cannot_play(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_wav(data)


def test_resample_linear() -> None:
    up = resample(Audio(2, array("h", [0, 100, 200])), 4)
    assert up == Audio(4, array("h", [0, 50, 100, 150, 200, 200]))
    down = resample(Audio(44100, array("h", range(0, 4410))), 22050)
    assert down.rate == 22050 and len(down.samples) == 2205
    assert down.samples[:3] == array("h", [0, 2, 4])
    assert resample(Audio(8000, array("h")), 16000).samples == array("h")


def test_concat_splices_and_matches_rates() -> None:
    a = Audio(RATE, array("h", [1] * 100))
    b = Audio(RATE * 2, array("h", [2] * 200))  # same length in time, twice the rate
    joined = concat([a, silence(0.01), b])
    assert joined.rate == RATE
    assert len(joined.samples) == 100 + round(0.01 * RATE) + 100
    assert joined.samples[0] == 1 and joined.samples[-1] == 2
    assert joined.duration == pytest.approx((200 + 220.5) / RATE, abs=1 / RATE)


def test_trim_keeps_a_margin() -> None:
    loud = [0] * 1000 + [5000] * 10 + [0] * 1000
    trimmed = trim(Audio(1000, array("h", loud)), pad=0.005)
    assert trimmed.samples == array("h", [0] * 5 + [5000] * 10 + [0] * 5)
    assert trim(Audio(1000, array("h", [0, 10, -10]))).samples == array("h")


def test_chime_is_ding_dong() -> None:
    c = chime()
    assert c.rate == RATE
    assert 1.2 < c.duration < 2.0
    assert max(abs(v) for v in c.samples) == pytest.approx(0.45 * 32767, rel=0.01)
    assert rms(c) > 2000
    # Two strikes: the second one (dong) lifts the level again after the first decays.
    def level(t0: float, t1: float) -> float:
        return rms(Audio(RATE, c.samples[int(t0 * RATE) : int(t1 * RATE)]))
    assert level(0.42, 0.5) > level(0.3, 0.4)
    assert level(1.5, 1.6) < level(0.0, 0.1) / 10  # fades out, no click at the end
