"""The announcement queue: chime, phrase × repeat, in order, never cut off, never stale."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from voice.announcer import Announced, Announcer, Call
from voice.audio import Audio, chime, concat, read_wav, silence
from voice.cache import PhraseCache
from voice.engines import CachedEngine, Pyttsx3Engine
from voice.normalize import CallText
from voice.players import FileSink, Player, Stream
from voice.settings import VoiceSettings

from .conftest import VOICES, voiced_share


def call(ticket: str, window: int, **kw) -> Call:
    return Call(f"20261201-{ticket}", CallText(ticket, window), **kw)


@pytest.fixture
async def engine() -> AsyncIterator[CachedEngine]:
    # A memory cache lets a test compare an announcement with the very phrases it was built from.
    e = CachedEngine(Pyttsx3Engine(VOICES), PhraseCache(None, memory_items=64))
    async with e:
        yield e


@contextlib.asynccontextmanager
async def running(announcer: Announcer) -> AsyncIterator[Announcer]:
    task = asyncio.create_task(announcer.run())
    try:
        yield announcer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def expected(engine: CachedEngine, settings: VoiceSettings, c: Call) -> Audio:
    probe = Announcer(engine, FileSink("/nonexistent"), settings)
    parts = [chime(), silence(0.25)] if settings.chime else []
    phrases = [await engine.synthesize(text, lang) for lang, text in probe.phrases(c)]
    gap = silence(settings.gap_seconds)
    for i in range(settings.repeat):
        parts += [gap, phrases[0]] if i else [phrases[0]]
    for p in phrases[1:]:
        parts += [gap, p]
    return concat(parts)


async def test_three_calls_in_quick_succession_play_whole_and_in_order(engine: CachedEngine, tmp_path: Path) -> None:
    settings = VoiceSettings(cache_dir=None)
    sink = FileSink(tmp_path)
    announcer = Announcer(engine, sink, settings)
    calls = [call("A001", 3), call("B017", 12), call("C100", 40)]
    async with running(announcer):
        for c in calls:
            assert announcer.submit(c)
        files = await sink.wait_for(3, timeout=20)
        await asyncio.wait_for(announcer.join(), 5)
    assert [f.name.split("-", 3)[3] for f in files] == ["A001-w3.wav", "B017-w12.wav", "C100-w40.wav"]
    for f, c in zip(files, calls):
        audio = read_wav(f.read_bytes())
        assert audio == await expected(engine, settings, c)  # chime, phrase, gap, phrase: nothing cut
        assert 8 < audio.duration < 20
        assert voiced_share(audio) > 0.5
    assert [a.outcome for a in announcer.history] == ["played"] * 3
    assert all(a.latency is not None and a.latency >= 0 for a in announcer.history)


async def test_english_follows_once_and_settings_shape_the_announcement(engine: CachedEngine, tmp_path: Path) -> None:
    settings = VoiceSettings(cache_dir=None, languages=("zh", "en"), repeat=1, chime=False, yao=True)
    sink = FileSink(tmp_path)
    announcer = Announcer(engine, sink, settings)
    c = call("A011", 2)
    assert announcer.phrases(c) == [("zh", "请A零幺幺号到二号窗口办理"), ("en", "Number A zero one one, please go to window two")]
    async with running(announcer):
        announcer.submit(c)
        (f,) = await sink.wait_for(1, timeout=20)
    assert read_wav(f.read_bytes()) == await expected(engine, settings, c)


class Held(Stream):
    async def _write(self, audio: Audio) -> None:
        pass


class HeldSpeaker(Player):
    """A speaker at the physical edge that plays until the test lets the announcement end."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.playing: asyncio.Queue[tuple[str, asyncio.Event]] = asyncio.Queue()
        self.seconds: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def open(self, label: str, rate: int) -> AsyncIterator[Stream]:
        stream, finished = Held(), asyncio.Event()
        self.events.append(("start", label))
        await self.playing.put((label, finished))
        yield stream
        self.seconds[label] = stream.seconds
        await finished.wait()
        self.events.append(("end", label))


async def test_a_new_call_never_cuts_off_the_one_playing_and_a_queued_recall_is_not_doubled(
    engine: CachedEngine, caplog: pytest.LogCaptureFixture
) -> None:
    speaker = HeldSpeaker()
    announcer = Announcer(engine, speaker, VoiceSettings(cache_dir=None))
    caplog.set_level(logging.INFO, "voice.announcer")
    async with running(announcer):
        announcer.submit(call("A001", 3))
        label, first_done = await asyncio.wait_for(speaker.playing.get(), 10)
        assert label == "A001-w3"
        assert announcer.submit(call("A002", 4))
        assert not announcer.submit(call("A002", 5, recall=True))  # still queued: updated, not doubled
        assert len(announcer) == 1
        assert speaker.events == [("start", "A001-w3")]  # A002 waits for A001 to finish
        first_done.set()
        label, second_done = await asyncio.wait_for(speaker.playing.get(), 10)
        assert label == "A002-w5-recall"  # the latest window, at the queued call's place
        second_done.set()
        await asyncio.wait_for(announcer.join(), 10)
    assert speaker.events == [("start", "A001-w3"), ("end", "A001-w3"), ("start", "A002-w5-recall"), ("end", "A002-w5-recall")]
    assert speaker.seconds["A001-w3"] > 8  # the whole announcement went out
    assert "already queued" in caplog.text


async def test_a_recall_after_the_call_has_played_is_announced_again(engine: CachedEngine, tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    announcer = Announcer(engine, sink, VoiceSettings(cache_dir=None, repeat=1, chime=False))
    async with running(announcer):
        announcer.submit(call("A001", 3))
        await sink.wait_for(1, timeout=10)
        assert announcer.submit(call("A001", 3, recall=True))
        files = await sink.wait_for(2, timeout=10)
    assert files[1].name.endswith("A001-w3-recall.wav")


async def test_a_stale_backlog_is_dropped_with_a_log_line(engine: CachedEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sink = FileSink(tmp_path)
    done: list[Announced] = []
    announcer = Announcer(engine, sink, VoiceSettings(cache_dir=None, max_backlog_seconds=30, repeat=1), on_done=done.append)
    async with running(announcer):
        announcer.submit(call("A001", 3, received=time.perf_counter() - 31))
        announcer.submit(call("A002", 3))
        await asyncio.wait_for(announcer.join(), 10)
    assert [(a.call.text.ticket, a.outcome) for a in done] == [("A001", "stale"), ("A002", "played")]
    assert [f.name.split("-", 3)[3] for f in sink.written] == ["A002-w3.wav"]
    assert "dropping stale call A001-w3" in caplog.text


async def test_one_bad_call_does_not_silence_the_hall(engine: CachedEngine, tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    announcer = Announcer(engine, sink, VoiceSettings(cache_dir=None, repeat=1))
    async with running(announcer):
        announcer.submit(replace(call("A001", 3), text=CallText("A-1", 3)))
        announcer.submit(call("A002", 3))
        await asyncio.wait_for(announcer.join(), 10)
    assert [a.outcome for a in announcer.history] == ["failed", "played"]
    assert "ticket number" in announcer.history[0].error
    assert len(sink.written) == 1
