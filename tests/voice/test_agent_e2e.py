"""End to end: a real hallcall server, the voice agent and the file sink.

A clerk calls and a WAV for that call appears; the server restarts and no old call
is announced again; calls made while the agent was away are announced only if
they are still fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from queue_server.web.app import make_app
from voice.agent import AgentFatal, VoiceAgent
from voice.announcer import Announcer
from voice.audio import read_wav
from voice.cache import PhraseCache
from voice.engines import CachedEngine, Pyttsx3Engine
from voice.players import FileSink
from voice.settings import VoiceSettings

from ..conftest import Harness  # type: ignore[import-not-found]
from .conftest import VOICES, free_port, voiced_share

TIMEOUT = 20


@dataclass
class Voice:
    """The voice agent's parts, running: tests start and stop the agent itself."""

    agent: VoiceAgent
    announcer: Announcer
    sink: FileSink
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.agent.run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def names(self) -> list[str]:
        return [p.name.split("-", 3)[3] for p in self.sink.written]


@pytest.fixture
async def voice_for(tmp_path: Path, clock: Any) -> AsyncIterator[Callable[..., Awaitable[Voice]]]:
    engine = CachedEngine(Pyttsx3Engine(VOICES), PhraseCache(None))
    await engine.start()
    sink = FileSink(tmp_path / "announcements")
    voices: list[Voice] = []
    speaking: list[asyncio.Task[None]] = []

    async def make(base: str, token: str, settings: VoiceSettings | None = None) -> Voice:
        announcer = Announcer(engine, sink, settings or VoiceSettings(cache_dir=None, repeat=1))
        speaking.append(asyncio.create_task(announcer.run()))
        # The agent reads the hall's clock, as a voice PC synced to the server's NTP would.
        agent = VoiceAgent(base, token, announcer, now=clock.now, reconnect=(0.05, 0.5))
        voice = Voice(agent, announcer, sink)
        voices.append(voice)
        voice.start()
        await agent.wait_synced(1, timeout=TIMEOUT)
        return voice

    yield make
    for voice in voices:
        if voice.task is not None and not voice.task.done():
            await voice.stop()
    for task in speaking:
        task.cancel()
    await asyncio.gather(*speaking, return_exceptions=True)
    await engine.close()


async def test_a_clerk_calls_and_the_hall_hears_it(server: Harness, voice_for: Any) -> None:
    voice = await voice_for(server.base, await server.token("display"))
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clerk = await server.clerk_at(15)
    status, ticket = await clerk.post("/api/v1/windows/15/call-next")
    assert status == 200 and ticket["number"] == "K001"
    (first,) = await voice.sink.wait_for(1, timeout=TIMEOUT)
    await asyncio.wait_for(voice.announcer.join(), TIMEOUT)
    assert first.name.endswith("-K001-w15.wav")
    audio = read_wav(first.read_bytes())
    assert 4 < audio.duration < 12 and voiced_share(audio) > 0.4
    assert voice.announcer.history[-1].phrases == (("zh", "请K零零一号到十五号窗口办理"),)
    await clerk.post("/api/v1/windows/15/recall")
    await voice.sink.wait_for(2, timeout=TIMEOUT)
    assert voice.names() == ["K001-w15.wav", "K001-w15-recall.wav"]


async def test_zone_and_window_names_come_from_the_server(server: Harness, voice_for: Any) -> None:
    settings = VoiceSettings(cache_dir=None, repeat=1, languages=("zh", "en"), speak_zone=True, speak_window_name=True)
    voice = await voice_for(server.base, await server.token("display"), settings)
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clerk = await server.clerk_at(15)
    await clerk.post("/api/v1/windows/15/call-next")
    await voice.sink.wait_for(1, timeout=TIMEOUT)
    await asyncio.wait_for(voice.announcer.join(), TIMEOUT)
    zh, en = voice.announcer.history[-1].phrases
    assert zh == ("zh", "请K零零一号到人社服务区十五号窗口养老保险办理")
    assert en[1].startswith("Number K zero zero one, please go to window fifteen, ")
    assert en[1].endswith(", Human resources and social security")


async def test_after_a_server_restart_no_old_call_is_announced_again(hall_config: Any, clock: Any, voice_for: Any) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def start_server() -> tuple[Harness, web.AppRunner]:
        app = make_app(hall_config, clock=clock)
        # The hub closes sockets in its cleanup, after aiohttp's graceful wait for open
        # handlers; a short wait makes the stop abrupt, as a crash or kill would be.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return Harness(base, app), runner

    first, runner = await start_server()
    try:
        voice = await voice_for(base, await first.token("display"))
        kiosk = await first.kiosk()
        for _ in range(2):
            await kiosk.post("/api/v1/tickets", {"service": "pension"})
        clerk = await first.clerk_at(15)
        await clerk.post("/api/v1/windows/15/call-next")
        await voice.sink.wait_for(1, timeout=TIMEOUT)
    finally:
        await first.close()
        await runner.cleanup()

    second, runner = await start_server()  # same port, same store, same clock
    try:
        await voice.agent.wait_synced(2, timeout=TIMEOUT)  # reconnected and resumed after its last seq
        clerk = second.client()
        await clerk.login("clerk15")
        await clerk.post("/api/v1/windows/15/finish", {"outcome": "done"})
        status, ticket = await clerk.post("/api/v1/windows/15/call-next")
        assert (status, ticket["number"]) == (200, "K002")
        await voice.sink.wait_for(2, timeout=TIMEOUT)
        await asyncio.wait_for(voice.announcer.join(), TIMEOUT)
        # K001 was not said again between the restart and K002.
        assert voice.names() == ["K001-w15.wav", "K002-w15.wav"]
    finally:
        await second.close()
        await runner.cleanup()


async def test_calls_missed_while_away_are_announced_only_while_fresh(
    server: Harness, clock: Any, voice_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "voice.agent")
    voice = await voice_for(server.base, await server.token("display"))
    kiosk = await server.kiosk()
    for _ in range(3):
        await kiosk.post("/api/v1/tickets", {"service": "pension"})
    clerk = await server.clerk_at(15)
    await clerk.post("/api/v1/windows/15/call-next")
    await voice.sink.wait_for(1, timeout=TIMEOUT)
    await voice.stop()  # the voice PC loses the network

    await clerk.post("/api/v1/windows/15/finish", {"outcome": "done"})
    await clerk.post("/api/v1/windows/15/call-next")  # K002, a minute before the agent is back
    clock.advance(60)
    await clerk.post("/api/v1/windows/15/finish", {"outcome": "done"})
    await clerk.post("/api/v1/windows/15/call-next")  # K003, just now

    voice.start()
    await voice.agent.wait_synced(2, timeout=TIMEOUT)
    await voice.sink.wait_for(2, timeout=TIMEOUT)
    await asyncio.wait_for(voice.announcer.join(), TIMEOUT)
    assert voice.names() == ["K001-w15.wav", "K003-w15.wav"]
    assert "not announcing K002-w15: replayed call from 60 s ago" in caplog.text


async def test_a_refused_token_is_fatal(server: Harness, tmp_path: Path) -> None:
    engine = CachedEngine(Pyttsx3Engine(VOICES), PhraseCache(None))
    announcer = Announcer(engine, FileSink(tmp_path), VoiceSettings(cache_dir=None))
    agent = VoiceAgent(server.base, "not-a-token", announcer, reconnect=(0.05, 0.5))
    with pytest.raises(AgentFatal, match="refused the token"):
        await asyncio.wait_for(agent.run(), TIMEOUT)
