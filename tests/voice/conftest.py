"""Fixtures for the voice tests: a real espeak-ng engine through pyttsx3, quiet settings."""

from __future__ import annotations

import ctypes.util
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voice.audio import Audio, rms
from voice.engines import Pyttsx3Engine
from voice.settings import VoiceSettings

VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us"}


@pytest.fixture(scope="session", autouse=True)
def _espeak_ng_installed() -> None:
    assert shutil.which("espeak-ng") and ctypes.util.find_library("espeak-ng"), (
        "espeak-ng is not installed; run the test command, which installs it (apt-get install espeak-ng)"
    )


@pytest.fixture
async def tts() -> AsyncIterator[Pyttsx3Engine]:
    engine = Pyttsx3Engine(VOICES, rate=160)
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
def settings(tmp_path: Path) -> VoiceSettings:
    return VoiceSettings(cache_dir=tmp_path / "cache", languages=("zh",))


def voiced_share(audio: Audio, *, frame: float = 0.05, threshold: float = 300.0) -> float:
    """Share of 50 ms frames louder than ``threshold`` RMS: speech, not silence or a click."""
    size = max(1, int(audio.rate * frame))
    frames = [Audio(audio.rate, audio.samples[i : i + size]) for i in range(0, len(audio.samples), size)]
    return sum(rms(f) > threshold for f in frames) / max(1, len(frames))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
