"""Voice benchmark: synthesis time per phrase, and call-next → first audio at the player.

Run by hand (not by the tests):

    .venv/bin/python bench/voice_latency.py [--calls 40]

It starts a real hallcall server in-process on the sample hall (temporary SQLite
store, system clock), a voice agent with a player that only notes when the first
sample reaches it, and a clerk who calls and recalls. A recall says the same
phrase again, so it measures the cached path; the first call of each ticket
measures the cold path (an empty phrase cache, espeak-ng in its worker).
Latencies are measured from the moment call-next returns to the clerk, and from
the moment the agent received the event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from queue_server.core import config
from queue_server.service import auth
from queue_server.web.app import make_app
from queue_server.web.http import HALL_KEY
from voice.agent import VoiceAgent, build_engine
from voice.announcer import Announced, Announcer
from voice.audio import Audio
from voice.cache import PhraseCache
from voice.engines import CachedEngine, Pyttsx3Engine
from voice.normalize import CallText, render
from voice.players import CommandPlayer, Player, Stream
from voice.settings import VoiceSettings

HALL_FILE = Path(__file__).resolve().parent.parent / "queue_server" / "halls" / "taikang.toml"
PASSWORD = "bench-password"


class _Noted(Stream):
    async def _write(self, audio: Audio) -> None:
        pass


class TimingPlayer(Player):
    """A speaker that plays instantly: the benchmark wants the first sample's time only."""

    @contextlib.asynccontextmanager
    async def open(self, label: str, rate: int) -> AsyncIterator[Stream]:
        yield _Noted()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"| {name} | {len(ms)} | {pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {max(ms):.1f} |"


async def synthesis(tmp: Path, count: int) -> list[str]:
    """Time one phrase's synthesis: cold (espeak-ng), cached on disk, cached in memory."""
    rows = []
    calls = [CallText(f"A{i:03d}", i % 40 + 1) for i in range(1, count + 1)]
    t = time.perf_counter()
    tts = Pyttsx3Engine({"zh": "cmn-latn-pinyin", "en": "en-us"})
    await tts.start()
    rows.append(f"| engine start (worker process, voice check) | 1 | {(time.perf_counter() - t) * 1000:.1f} | | |")
    disk = tmp / "phrases"
    for language in ("zh", "en"):
        cold, hit_disk, hit_memory = [], [], []
        writer = CachedEngine(tts, PhraseCache(disk))
        reader = CachedEngine(tts, PhraseCache(disk, memory_items=1))
        memory = CachedEngine(tts, PhraseCache(None, memory_items=count + 1))
        for call in calls:
            text = render(call, language)
            t = time.perf_counter()
            audio = await writer.synthesize(text, language)
            cold.append(time.perf_counter() - t)
            await memory.cache.put(memory.key(text, language), audio)
        for call in calls:
            text = render(call, language)
            t = time.perf_counter()
            await reader.synthesize(text, language)
            hit_disk.append(time.perf_counter() - t)
            t = time.perf_counter()
            await memory.synthesize(text, language)
            hit_memory.append(time.perf_counter() - t)
        assert reader.misses == 0 and memory.misses == 0
        rows += [
            summary(f"{language} phrase, cold (espeak-ng via pyttsx3 worker, written to cache)", cold),
            summary(f"{language} phrase, cached on disk", hit_disk),
            summary(f"{language} phrase, cached in memory", hit_memory),
        ]
    await tts.close()
    return rows


async def end_to_end(tmp: Path, calls: int, *, chime: bool, player: Player, label: str) -> list[str]:
    """Time call-next returning → first sample at the player, cold and cached."""
    run = label.replace(" ", "-").replace(",", "")
    hall_file = tmp / f"hall-{run}.toml"
    hall_file.write_text(HALL_FILE.read_text(encoding="utf-8") + "\n[policy]\nissue_outside_hours = true\n", encoding="utf-8")
    cfg = config.load(hall_file, store_url=f"sqlite://{tmp}/hall-{run}.db")
    app = make_app(cfg)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    hall = app[HALL_KEY]
    display, _ = await hall.auth.add_token("display", "bench voice")
    kiosk, _ = await hall.auth.add_token("kiosk", "bench kiosk", kiosk="k1")
    await hall.store.put_person(auth.new_person("clerk15", "Clerk", "clerk", PASSWORD, staff_no="0015"))

    settings = VoiceSettings(cache_dir=tmp / f"cache-{run}", chime=chime)
    engine = build_engine(settings)
    await engine.start()
    done: asyncio.Queue[Announced] = asyncio.Queue()
    announcer = Announcer(engine, player, settings, on_done=done.put_nowait)
    agent = VoiceAgent(base, display, announcer)
    tasks = [asyncio.create_task(announcer.run()), asyncio.create_task(agent.run())]
    await agent.wait_synced()

    cold, cached, cold_event, cached_event = [], [], [], []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies on an IP address
        for _ in range(calls):
            async with http.post(f"{base}/api/v1/tickets", json={"service": "pension"}, headers={"Authorization": f"Bearer {kiosk}"}) as r:
                assert r.status == 201, await r.text()
        async with http.post(f"{base}/api/v1/login", json={"login": "clerk15", "password": PASSWORD}) as r:
            csrf = {auth.CSRF_HEADER: (await r.json())["csrf_token"]}
        async with http.post(f"{base}/api/v1/windows/15/open", headers=csrf) as r:
            assert r.status == 200, await r.text()
        for i in range(calls):
            for action, out, out_event in (("call-next", cold, cold_event), ("recall", cached, cached_event)):
                if action == "call-next" and i:
                    async with http.post(f"{base}/api/v1/windows/15/finish", json={"outcome": "done"}, headers=csrf) as r:
                        assert r.status == 200, await r.text()
                async with http.post(f"{base}/api/v1/windows/15/{action}", headers=csrf) as r:
                    assert r.status == 200, await r.text()
                    returned = time.perf_counter()
                result = await asyncio.wait_for(done.get(), 30)
                assert result.outcome == "played" and result.first_audio is not None, result
                out.append(result.first_audio - returned)
                out_event.append(result.latency or 0.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.close()
    await runner.cleanup()
    return [
        summary(f"call-next returned → first sample, cold, {label}", cold),
        summary(f"call-next returned → first sample, cached, {label}", cached),
        summary(f"event received → first sample, cold, {label}", cold_event),
        summary(f"event received → first sample, cached, {label}", cached_event),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls (and recalls) per run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hallcall-bench-") as tmp:
        rows = await synthesis(Path(tmp), args.calls)
        rows += await end_to_end(Path(tmp), args.calls, chime=False, player=TimingPlayer(), label="chime off")
        rows += await end_to_end(Path(tmp), args.calls, chime=True, player=TimingPlayer(), label="chime on")
        # A real command player: the first sample waits for the player process to start.
        piped = CommandPlayer(["sh", "-c", "cat > /dev/null"])
        rows += await end_to_end(Path(tmp), args.calls, chime=False, player=piped, label="chime off, piped to a command")
        rows += await end_to_end(Path(tmp), args.calls, chime=True, player=piped, label="chime on, piped to a command")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print("| measure | n | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
