"""The voice agent's edges, against a tiny in-test server that speaks the hall protocol.

The real server is used in test_agent_e2e.py; this one can refuse a handshake with
HTTP 401, start late, send garbage, or omit fields, which the real one never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from queue_server import protocol
from voice.agent import AgentFatal, VoiceAgent, main, run_agent
from voice.announcer import Announcer
from voice.cache import PhraseCache
from voice.clips import pack_units
from voice.engines import CachedEngine, Pyttsx3Engine
from voice.players import FileSink
from voice.settings import VoiceSettings

from .conftest import VOICES, free_port

TIMEOUT = 20


class TinyHall:
    """hello → welcome → snapshot or replay → live events; restartable on one port."""

    def __init__(self, port: int, *, token: str = "good", welcome_seq: bool = True) -> None:
        self.port = port
        self.token = token
        self.welcome_seq = welcome_seq
        self.events: list[dict[str, Any]] = []
        self.hellos: list[dict[str, Any]] = []
        self.clients: set[ServerConnection] = set()
        self.refuse_http: int | None = None
        self.server: Server | None = None
        self.garbage: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def seq(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    async def start(self) -> None:
        def process_request(connection: ServerConnection, request: Any) -> Response | None:
            if self.refuse_http is not None:
                return Response(self.refuse_http, HTTPStatus(self.refuse_http).phrase, Headers(), b"no\n")
            return None

        self.server = await serve(self.handle, "127.0.0.1", self.port, process_request=process_request)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, ws: ServerConnection) -> None:
        hello = protocol.parse_client(await ws.recv())
        self.hellos.append(hello)
        if hello.get("token") != self.token:
            await ws.send(protocol.encode(protocol.error("unauthorized", "unknown or revoked token")))
            return
        welcome: dict[str, Any] = {"type": "welcome", "role": "display"}
        if self.welcome_seq:
            welcome["seq"] = self.seq
        await ws.send(protocol.encode(welcome))
        for frame in self.garbage:
            await ws.send(frame)
        since = hello.get("since")
        self.clients.add(ws)  # listening before the snapshot goes out, so no live event falls between
        if since is None:
            windows = [{"number": 3, "name": "企业开办综合窗口", "zone": "enterprise"}]
            calls = [e["data"] for e in self.events if e["name"] == "ticket.called"]
            await ws.send(protocol.encode({"type": "snapshot", "seq": self.seq, "state": {"windows": windows, "recent_calls": calls}}))
        else:
            for event in self.events:
                if event["seq"] > since:
                    await ws.send(protocol.encode(event))
        try:
            await ws.wait_closed()
        finally:
            self.clients.discard(ws)

    async def emit(self, name: str, number: str, window: int, *, zone: str = "enterprise", age: float = 0.0) -> None:
        at = (datetime.now(timezone(timedelta(hours=8))) - timedelta(seconds=age)).isoformat()
        ticket = {"id": f"20261201-{number}", "number": number, "zone": zone, "window": window, "status": "called"}
        event = {"type": "event", "seq": self.seq + 1, "name": name, "at": at, "data": {"ticket": ticket, "window": {"number": window}}}
        self.events.append(event)
        for ws in list(self.clients):
            await ws.send(protocol.encode(event))


@pytest.fixture
async def hall() -> AsyncIterator[TinyHall]:
    h = TinyHall(free_port())
    await h.start()
    yield h
    with contextlib.suppress(Exception):
        await h.stop()


@pytest.fixture
async def voice(tmp_path: Path) -> AsyncIterator[tuple[Announcer, FileSink]]:
    engine = CachedEngine(Pyttsx3Engine(VOICES), PhraseCache(None))
    await engine.start()
    sink = FileSink(tmp_path / "out")
    announcer = Announcer(engine, sink, VoiceSettings(cache_dir=None, repeat=1, chime=False))
    task = asyncio.create_task(announcer.run())
    yield announcer, sink
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await engine.close()


@contextlib.asynccontextmanager
async def following(agent: VoiceAgent) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(agent.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AgentFatal):
            await task


def names(sink: FileSink) -> list[str]:
    return [p.name.split("-", 3)[3] for p in sink.written]


async def test_snapshot_is_not_announced_live_calls_are(hall: TinyHall, voice: Any) -> None:
    announcer, sink = voice
    await hall.emit("ticket.called", "A001", 3)  # history by the time the agent connects
    hall.garbage = ["not json", json.dumps([1, 2]), json.dumps({"type": "event", "seq": 0, "name": "ticket.called", "data": {}})]
    agent = VoiceAgent(hall.url, "good", announcer, reconnect=(0.05, 0.2))
    async with following(agent):
        await agent.wait_synced(1, timeout=TIMEOUT)
        assert hall.hellos[0] == {"type": "hello", "token": "good", "topics": ["hall"]}
        await hall.emit("window.paused", "A001", 3)
        await hall.emit("ticket.called", "A002", 3)
        await sink.wait_for(1, timeout=TIMEOUT)
        await hall.emit("ticket.recalled", "A002", 3)
        await sink.wait_for(2, timeout=TIMEOUT)
    assert names(sink) == ["A002-w3.wav", "A002-w3-recall.wav"]
    assert agent.last_seq == 4


async def test_zones_subscribe_and_filter(hall: TinyHall, voice: Any) -> None:
    announcer, sink = voice
    agent = VoiceAgent(hall.url, "good", announcer, zones=["enterprise", "social"], reconnect=(0.05, 0.2))
    async with following(agent):
        await agent.wait_synced(1, timeout=TIMEOUT)
        assert hall.hellos[0]["topics"] == ["zone:enterprise", "zone:social"]
        await hall.emit("ticket.called", "M001", 30, zone="medical")  # a server that sends too much
        await hall.emit("ticket.called", "H001", 21, zone="social")
        await sink.wait_for(1, timeout=TIMEOUT)
        await asyncio.wait_for(announcer.join(), TIMEOUT)
    assert names(sink) == ["H001-w21.wav"]


async def test_restart_with_replay_and_an_agent_that_starts_first(voice: Any) -> None:
    announcer, sink = voice
    hall = TinyHall(free_port())
    agent = VoiceAgent(hall.url, "good", announcer, reconnect=(0.05, 0.2))
    async with following(agent):
        await hall.start()  # the agent was already knocking: it keeps retrying until the server is up
        await agent.wait_synced(1, timeout=TIMEOUT)
        await hall.emit("ticket.called", "A001", 3)
        await sink.wait_for(1, timeout=TIMEOUT)
        await hall.stop()
        await hall.emit("ticket.called", "A002", 4, age=120)  # while the agent was cut off
        await hall.emit("ticket.called", "A003", 5, age=1)
        await hall.start()
        await agent.wait_synced(2, timeout=TIMEOUT)
        await sink.wait_for(2, timeout=TIMEOUT)
        await hall.emit("ticket.called", "A004", 6)
        await sink.wait_for(3, timeout=TIMEOUT)
        await hall.stop()
    assert hall.hellos[-1]["since"] == 1
    assert names(sink) == ["A001-w3.wav", "A003-w5.wav", "A004-w6.wav"]


async def test_without_a_welcome_seq_replays_are_still_checked_by_age(voice: Any) -> None:
    announcer, sink = voice
    hall = TinyHall(free_port(), welcome_seq=False)
    await hall.start()
    agent = VoiceAgent(hall.url, "good", announcer, reconnect=(0.05, 0.2))
    async with following(agent):
        await agent.wait_synced(1, timeout=TIMEOUT)
        for client in list(hall.clients):
            await client.close()  # a dropped connection, not a restart
        await hall.emit("ticket.called", "A001", 3, age=300)
        await agent.wait_synced(2, timeout=TIMEOUT)
        await hall.emit("ticket.called", "A002", 3)
        await sink.wait_for(1, timeout=TIMEOUT)
    await hall.stop()
    assert names(sink) == ["A002-w3.wav"]


async def test_refusals_are_fatal(hall: TinyHall, voice: Any) -> None:
    announcer, _ = voice
    with pytest.raises(AgentFatal, match="refused the token: unknown or revoked"):
        await asyncio.wait_for(VoiceAgent(hall.url, "bad", announcer).run(), TIMEOUT)
    hall.refuse_http = 401
    with pytest.raises(AgentFatal, match=r"refused the token \(HTTP 401\)"):
        await asyncio.wait_for(VoiceAgent(hall.url, "good", announcer).run(), TIMEOUT)
    hall.refuse_http = 404
    with pytest.raises(AgentFatal, match="HTTP 404"):
        await asyncio.wait_for(VoiceAgent(hall.url, "good", announcer).run(), TIMEOUT)


async def test_run_agent_refuses_to_start_without_its_voice(hall: TinyHall, tmp_path: Path) -> None:
    settings = VoiceSettings(cache_dir=None, voices={"zh": "zh"})
    with pytest.raises(AgentFatal, match="voice engine cannot start.*'zh'"):
        await run_agent(hall.url, "good", settings=settings, player=FileSink(tmp_path))


async def test_the_command_exits_with_a_clear_message(hall: TinyHall, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voice.agent", "--server", hall.url, "--token", "bad", "--player", "file",
        "--out", str(tmp_path), "--log-level", "WARNING", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 2
    assert err.decode().strip().endswith(
        "hallcall voice: the server refused the token: unknown or revoked token (unauthorized); check --token")


async def test_main_refuses_bad_settings(hall: TinyHall, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "hall.toml"
    bad.write_text('[hall]\nid = "x"\n[voice]\nrepeat = 9\n', encoding="utf-8")
    assert await asyncio.to_thread(main, ["--server", hall.url, "--token", "good", "--config", str(bad)]) == 2
    assert f"{bad}: voice.repeat: must be an integer from 1 to 5" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["--token", "good"]) == 2
    assert "--server is required" in capsys.readouterr().err


async def test_main_makes_a_clip_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await asyncio.to_thread(main, ["--make-clips", str(tmp_path / "pack"), "--english"]) == 0
    assert f"wrote {len(pack_units(['zh', 'en']))} clips" in capsys.readouterr().out
    assert (tmp_path / "pack" / "zh" / "窗口.wav").exists() and (tmp_path / "pack" / "en" / "twelve.wav").exists()
