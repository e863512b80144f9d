"""The voice agent: follows the hall over WebSocket and announces every call.

The connection (hello with its token and topics, ``since`` after a drop, backoff,
heartbeat) is the shared ``HallClient``. Nothing from a snapshot is announced, and a
call the client marks as a replay is announced only if it is younger than
``replay_max_age_seconds``: a citizen called a few seconds ago still needs to hear
it; one called before a restart does not. A refused token (HTTP 401/403 or an
``unauthorized`` error) is fatal.

``run_agent`` is the entry point for ``hallcall voice`` and for ``hallcall demo``,
which runs it embedded as a task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from queue_server import protocol
from queue_server.protocol.backoff import Backoff
from queue_server.protocol.client import Fatal, HallClient
from voice.announcer import Announcer, Call
from voice.cache import PhraseCache
from voice.clips import ClipPackEngine, make_default_pack
from voice.engines import CachedEngine, Engine, EngineError, Pyttsx3Engine
from voice.normalize import CallText
from voice.players import CommandPlayer, FileSink, Player, default_player
from voice.settings import VoiceSettings

log = logging.getLogger(__name__)

CALL_EVENTS = frozenset({"ticket.called", "ticket.recalled"})
DEFAULT_OUT = Path("var/announcements")
# What the operator should check when the server refuses the agent for good.
_HINTS = {"token": "check --token", "address": "check --server"}


class AgentFatal(RuntimeError):
    """Retrying cannot help: a refused token, a wrong address, a voice that is not installed."""


class VoiceAgent:
    """One hall's WebSocket stream turned into announcements."""

    def __init__(
        self,
        server_url: str,
        token: str | None,
        announcer: Announcer,
        *,
        zones: Sequence[str] | None = None,
        settings: VoiceSettings | None = None,
        now: Callable[[], datetime] | None = None,
        reconnect: tuple[float, float] = (0.2, 30.0),
    ) -> None:
        self.announcer = announcer
        self.zones = tuple(zones or ())
        self.settings = settings or announcer.settings
        self.now = now or (lambda: datetime.now(timezone.utc))
        try:
            self.client = HallClient(server_url, token, self.topics, on_message=self._on_message, on_up=self._on_up,
                                     backoff=Backoff(*reconnect), user_agent="hallcall-voice")
        except ValueError as exc:
            raise AgentFatal(f"{exc}; check --server") from None
        self._names: dict[int, dict[str, str]] = {}
        self._zone_names: dict[str, dict[str, str]] = {}

    @property
    def topics(self) -> list[str]:
        return [protocol.topic_zone(z) for z in self.zones] if self.zones else [protocol.topic_hall()]

    @property
    def last_seq(self) -> int | None:
        return self.client.last_seq

    async def wait_synced(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the agent has connected ``count`` times (first connect, then each reconnect)."""
        await self.client.wait_connected(count, timeout)

    async def run(self) -> None:
        """Follow the hall until cancelled; raise AgentFatal when retrying cannot help."""
        try:
            await self.client.run()
        except Fatal as exc:
            hint = _HINTS.get(exc.about)
            raise AgentFatal(f"{exc}; {hint}" if hint else str(exc)) from exc

    async def _on_up(self) -> None:
        # Before the connection's first call is handled, so that call is said with its names.
        if self.settings.speak_zone or self.settings.speak_window_name:
            await self._load_names()

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == protocol.SNAPSHOT:
            # Calls in a snapshot are history: they were announced, or they are too old to be.
            self._learn_windows((msg.get("state") or {}).get("windows") or [])
        elif msg["type"] == protocol.EVENT and msg.get("name") in CALL_EVENTS:
            self._on_call(msg)

    def _on_call(self, msg: dict[str, Any]) -> None:
        call = self._call(msg)
        if call is None:
            return
        if msg.get("replay"):
            age = protocol.event_age(msg, self.now())
            if age is None or age > self.settings.replay_max_age_seconds:
                log.info("not announcing %s: replayed call from %s", call.label, "an unknown time" if age is None else f"{age:.0f} s ago")
                return
        self.announcer.submit(call)

    def _call(self, msg: dict[str, Any]) -> Call | None:
        data = msg.get("data") or {}
        ticket = data.get("ticket") or {}
        window = ticket.get("window") or (data.get("window") or {}).get("number")
        number = ticket.get("number")
        if not isinstance(number, str) or not isinstance(window, int):
            log.warning("event %s has no ticket number or window; not announcing it", msg.get("seq"))
            return None
        zone = ticket.get("zone") or ""
        if self.zones and zone and zone not in self.zones:
            return None
        names = self._names.get(window, {})
        zone = names.get("zone") or zone
        zone_names = self._zone_names.get(zone, {})
        text = CallText(number, window, zone_names.get("name", ""), zone_names.get("name_en", ""),
                        names.get("name", ""), names.get("name_en", ""))
        return Call(ticket.get("id") or number, text, recall=msg["name"] == "ticket.recalled", seq=msg.get("seq"))

    def _learn_windows(self, windows: list[Any]) -> None:
        for w in windows:
            if isinstance(w, dict) and isinstance(w.get("number"), int):
                self._names[w["number"]] = {k: str(w.get(k) or "") for k in ("name", "name_en", "zone")}

    async def _load_names(self) -> None:
        """Fetch window and zone names from GET /api/v1/hall; the call goes on without them."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.get(f"{self.client.endpoints.http}/api/v1/hall") as resp:
                    resp.raise_for_status()
                    hall = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("could not load window names from %s: %s", self.client.endpoints.http, exc)
            return
        self._learn_windows(hall.get("windows", []))
        for z in hall.get("zones", []):
            if isinstance(z, dict) and "id" in z:
                self._zone_names[z["id"]] = {k: str(z.get(k) or "") for k in ("name", "name_en")}


def build_engine(settings: VoiceSettings) -> Engine:
    """Build the engine the settings ask for: cached TTS, or a clip pack falling back to it."""
    voices = {lang: settings.voices[lang] for lang in settings.languages}
    cache = PhraseCache(settings.cache_dir, max_bytes=settings.cache_max_mb * 2**20)
    tts = CachedEngine(Pyttsx3Engine(voices, settings.rate), cache)
    if settings.engine == "clips":
        return ClipPackEngine(settings.clip_dir(), languages=settings.languages, fallback=tts)
    return tts


async def run_agent(
    server_url: str,
    token: str | None,
    *,
    zones: Sequence[str] | None = None,
    player: Player | None = None,
    settings: VoiceSettings | None = None,
    out_dir: Path | str = DEFAULT_OUT,
) -> None:
    """Announce the hall's calls until cancelled; raise AgentFatal when retrying cannot help."""
    settings = settings or VoiceSettings()
    player = player or default_player(settings.player_command, out_dir, settings.keep_files)
    engine = build_engine(settings)
    announcer = Announcer(engine, player, settings)
    agent = VoiceAgent(server_url, token, announcer, zones=zones, settings=settings)  # a wrong address fails first
    try:
        await engine.start()
    except EngineError as exc:
        await engine.close()
        raise AgentFatal(f"the voice engine cannot start: {exc}") from None
    speaking = asyncio.create_task(announcer.run(), name="hallcall-voice-announcer")
    try:
        await agent.run()
    finally:
        speaking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await speaking
        await engine.close()


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``hallcall voice``."""
    p = argparse.ArgumentParser(prog="hallcall voice", description="Announce the hall's calls on its speakers (叫号语音播报).")
    p.add_argument("--server", help="server address, e.g. http://127.0.0.1:8080")
    p.add_argument("--token", default=os.environ.get("HALLCALL_TOKEN"), help="device token (default: $HALLCALL_TOKEN)")
    p.add_argument("--zones", help="comma-separated zone ids to announce (default: the whole hall)")
    p.add_argument("--config", type=Path, help="hall file whose [voice] table holds the settings")
    p.add_argument("--player", choices=("auto", "speaker", "file"), default="auto",
                   help="speaker, file sink, or the speaker when one is present (default)")
    p.add_argument("--player-command", help='speaker command, e.g. "paplay {file}" (default: aplay reading raw PCM)')
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder of the file sink (default: {DEFAULT_OUT})")
    p.add_argument("--english", action="store_true", help="say each call in English after Chinese")
    p.add_argument("--make-clips", type=Path, metavar="DIR", help="write the default clip pack into DIR and exit")
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def load_settings(args: argparse.Namespace) -> VoiceSettings:
    """Build settings from the hall file's [voice] table and the command line."""
    table: dict[str, Any] = {}
    if args.config is not None:
        with open(args.config, "rb") as f:
            table = dict(tomllib.load(f).get("voice", {}))
    if args.english:
        table["languages"] = ["zh", "en"]
    if args.player_command:
        table["player_command"] = args.player_command
    source = str(args.config) if args.config else "command line"
    return VoiceSettings.from_mapping(table, prefix=f"{source}: voice")


def _player(args: argparse.Namespace, settings: VoiceSettings) -> Player:
    if args.player == "file":
        return FileSink(args.out)
    speaker = args.player == "speaker"
    return CommandPlayer(settings.player_command) if speaker else default_player(settings.player_command, args.out, settings.keep_files)


async def _make_clips(settings: VoiceSettings, folder: Path) -> int:
    engine = Pyttsx3Engine({lang: settings.voices[lang] for lang in settings.languages}, settings.rate)
    async with engine:
        written = await make_default_pack(engine, folder, settings.languages)
    print(f"wrote {len(written)} clips into {folder}; replace any of them with a recording")
    return 0


async def _serve(args: argparse.Namespace, settings: VoiceSettings) -> None:
    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        # systemd stops the agent with SIGTERM; outside the main thread there is no handler to set.
        with contextlib.suppress(RuntimeError, ValueError):
            loop.add_signal_handler(sig, task.cancel)
    zones = [z.strip() for z in args.zones.split(",") if z.strip()] if args.zones else None
    with contextlib.suppress(asyncio.CancelledError):
        await run_agent(args.server, args.token, zones=zones, player=_player(args, settings), settings=settings, out_dir=args.out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hallcall voice``; return the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # ``hallcall`` may have configured logging already; --log-level still wins.
    logging.getLogger().setLevel(args.log_level)
    try:
        settings = load_settings(args)
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        print(f"hallcall voice: {exc}", file=sys.stderr)
        return 2
    try:
        if args.make_clips is not None:
            return asyncio.run(_make_clips(settings, args.make_clips))
        if not args.server:
            print("hallcall voice: --server is required", file=sys.stderr)
            return 2
        asyncio.run(_serve(args, settings))
    except (AgentFatal, EngineError) as exc:
        print(f"hallcall voice: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
