"""The pyttsx3 engine on real espeak-ng: Mandarin and English phrases, whole and audible."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from voice.audio import RATE, rms
from voice.engines import EngineError, Pyttsx3Engine, speakable
from voice.normalize import CallText, render

from .conftest import voiced_share

CALLS = [CallText(t, w) for t, w in [
    ("A001", 1), ("A010", 10), ("A100", 12), ("B999", 20), ("C015", 40),
    ("D203", 3), ("E044", 7), ("F120", 15), ("G007", 31), ("S088", 9),
]]  # fmt: skip


async def test_twenty_phrases_in_a_row_from_one_engine(tts: Pyttsx3Engine) -> None:
    pid = tts.pid
    for call in CALLS:
        for language, low, high in (("zh", 2.5, 8.0), ("en", 2.0, 7.0)):
            text = render(call, language)
            audio = await tts.synthesize(text, language)
            assert audio.rate == RATE
            assert low < audio.duration < high, (text, audio.duration)
            assert rms(audio) > 1000, (text, rms(audio))
            assert voiced_share(audio) > 0.5, text
    assert tts.pid == pid  # one worker spoke all twenty


async def test_a_long_phrase_comes_back_whole(tts: Pyttsx3Engine) -> None:
    # pyttsx3's runAndWait() returns before espeak-ng has written a text this long.
    text = "请A零零一号到十二号窗口办理。" * 8
    audio = await tts.synthesize(text, "zh")
    single = await tts.synthesize("请A零零一号到十二号窗口办理。", "zh")
    assert audio.duration == pytest.approx(8 * single.duration, rel=0.05), (audio.duration, single.duration)
    assert voiced_share(audio) > 0.5


async def test_the_same_phrase_sounds_the_same(tts: Pyttsx3Engine) -> None:
    # espeak-ng varies a phrase by a few samples from one run to the next, no more.
    first = await tts.synthesize("请B九九九号到四十号窗口办理", "zh")
    second = await tts.synthesize("请B九九九号到四十号窗口办理", "zh")
    assert second.duration == pytest.approx(first.duration, rel=0.01)


async def test_a_missing_voice_is_an_error_at_start() -> None:
    engine = Pyttsx3Engine({"zh": "zh"})  # espeak-ng would quietly use another voice for "zh"
    with pytest.raises(EngineError, match=r"voice 'zh' .*not installed.*cmn-latn-pinyin"):
        await engine.start()
    assert engine.pid is None


async def test_an_unknown_language_is_refused(tts: Pyttsx3Engine) -> None:
    with pytest.raises(EngineError, match="no voice configured"):
        await tts.synthesize("Bonjour", "fr")
    with pytest.raises(EngineError, match="nothing to say"):
        await tts.synthesize("  ", "zh")


async def test_a_dead_worker_is_replaced(tts: Pyttsx3Engine) -> None:
    old = tts.pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    audio = await tts.synthesize("请A零零一号到一号窗口办理", "zh")  # the call is not lost
    assert audio.duration > 2 and tts.pid not in (None, old)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Number A zero zero one, please go to window twelve", "en", "Number A-zero zero one, please go to window twelve"),
        ("Number G C zero one", "en", "Number G-C-zero one"),
        ("请A零零一号到十二号窗口办理", "zh", "请A零零一号到十二号窗口办理"),
    ],
)
def test_speakable_joins_a_lone_letter_to_the_next_word(text: str, language: str, expected: str) -> None:
    assert speakable(text, language) == expected


async def test_a_cancelled_phrase_does_not_answer_the_next_one(tts: Pyttsx3Engine) -> None:
    long_text = "请A零零一号到十二号窗口办理。" * 10
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(tts.synthesize(long_text, "zh"), 0.005)  # the announcer shutting down mid-phrase
    short = await tts.synthesize("请A零零一号到一号窗口办理", "zh")
    assert 2 < short.duration < 8
