"""Clip packs: units, splicing to the expected length and format, the generated default pack."""

from __future__ import annotations

import math
import struct
from array import array
from pathlib import Path

import pytest

from voice.audio import RATE, read_wav, write_wav
from voice.clips import UNITS, ClipPackEngine, MissingClip, load_pack, make_default_pack, pack_units, splice, split_units
from voice.engines import EngineError, Pyttsx3Engine
from voice.normalize import CallText, render

from .conftest import voiced_share

ZH_NAMES = set(UNITS["zh"])
EN_NAMES = set(UNITS["en"])


@pytest.mark.parametrize(
    ("text", "language", "names", "units"),
    [
        ("请A零零一号到十二号窗口办理", "zh", ZH_NAMES,
         ["请", "A", "零", "零", "一", "号", "到", "十", "二", "号", "窗口", "办理"]),
        ("请a幺号，到 一号窗口。", "zh", ZH_NAMES, ["请", "A", "幺", "号", None, "到", "一", "号", "窗口", None]),
        ("请A一号到企业开办专区三号窗口", "zh", ZH_NAMES | {"企业开办专区", "企业"},
         ["请", "A", "一", "号", "到", "企业开办专区", "三", "号", "窗口"]),
        ("Number A zero zero one, please go to window twelve", "en", EN_NAMES,
         ["number", "A", "zero", "zero", "one", None, "please", "go", "to", "window", "twelve"]),
    ],
)  # fmt: skip
def test_split_units(text: str, language: str, names: set[str], units: list[str | None]) -> None:
    assert split_units(text, language, names) == units


@pytest.mark.parametrize(
    ("text", "language", "unit"),
    [("请A一号到企业开办专区", "zh", "企"), ("Number A one, please go to room one", "en", "room")],
)
def test_a_word_the_pack_lacks(text: str, language: str, unit: str) -> None:
    with pytest.raises(MissingClip) as info:
        split_units(text, language, ZH_NAMES if language == "zh" else EN_NAMES)
    assert info.value.unit == unit


def recording(path: Path, seconds: float, *, rate: int = 44100, channels: int = 2) -> None:
    """A hall's own recording: a steady tone, 44.1 kHz stereo, as a studio would deliver it."""
    n = round(seconds * rate)
    frames = array("h")
    for i in range(n):
        v = round(8000 * math.sin(2 * math.pi * 440 * i / rate)) or 1  # never silent, so trim keeps it whole
        frames.extend([v] * channels)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 2 * len(frames)) + frames.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_splicing_gives_the_expected_duration_and_format(tmp_path: Path) -> None:
    lengths = {"请": 0.3, "A": 0.25, "零": 0.2, "一": 0.2, "号": 0.2, "到": 0.2, "十": 0.2, "二": 0.2, "窗口": 0.5, "办理": 0.45}
    for unit, seconds in lengths.items():
        recording(tmp_path / "zh" / f"{unit}.wav", seconds)
    clips = load_pack(tmp_path)["zh"]
    audio = splice(split_units("请A零零一号到十二号窗口办理", "zh", clips), clips)
    units = ["请", "A", "零", "零", "一", "号", "到", "十", "二", "号", "窗口", "办理"]
    expected = sum(lengths[u] for u in units) + 0.04 * (len(units) - 1)
    assert audio.rate == RATE
    assert audio.duration == pytest.approx(expected, abs=len(units) / RATE)
    data = write_wav(audio)
    assert struct.unpack_from("<HHIIHH", data, 20) == (1, 1, RATE, RATE * 2, 2, 16)
    assert read_wav(data) == audio


async def test_an_incomplete_pack_without_fallback_fails_at_start(tmp_path: Path) -> None:
    recording(tmp_path / "zh" / "请.wav", 0.3)
    with pytest.raises(EngineError, match="lacks"):
        await ClipPackEngine(tmp_path).start()


async def test_a_broken_recording_is_named(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "请.wav").write_bytes(b"ID3 not a wav")
    with pytest.raises(EngineError, match="请.wav"):
        await ClipPackEngine(tmp_path).start()


async def test_default_pack_from_tts_with_a_hall_recording(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    recording(pack / "zh" / "请.wav", 0.5)  # the hall recorded this one already
    before = (pack / "zh" / "请.wav").read_bytes()
    tts = Pyttsx3Engine({"zh": "cmn-latn-pinyin", "en": "en-us"})
    engine = ClipPackEngine(pack, languages=("zh", "en"), fallback=tts)
    async with engine:
        assert sorted(str(p.relative_to(pack)) for p in pack.rglob("*.wav")) == sorted(pack_units(("zh", "en")))
        assert (pack / "zh" / "请.wav").read_bytes() == before  # never overwritten
        assert await make_default_pack(tts, pack, ("zh", "en")) == []  # generated once
        call = CallText("B999", 40)
        zh = await engine.synthesize(render(call, "zh"), "zh")
        en = await engine.synthesize(render(call, "en"), "en")
        # A word outside the pack goes to the TTS engine instead of being skipped.
        zoned = await engine.synthesize("请B九九九号到综合服务区四十号窗口办理", "zh")
    for audio, low, high in ((zh, 2.5, 9.0), (en, 2.0, 9.0), (zoned, 2.5, 9.0)):
        assert audio.rate == RATE
        assert low < audio.duration < high
        assert voiced_share(audio) > 0.4
    assert engine.clips["zh"]["请"].duration == pytest.approx(0.5, abs=0.01)
