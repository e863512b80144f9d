"""The voice agent: follows the hall over WebSocket and announces every call.

It says hello with its token and topics, keeps the last ``seq`` it saw and
reconnects with ``since`` after any drop, with jittered, capped backoff. Nothing
from a snapshot is announced, and a call the server replays after a reconnect is
announced only if it is younger than ``replay_max_age_seconds``: a citizen called
a few seconds ago still needs to hear it; one called before a restart does not.
A refused token (HTTP 401/403 or an ``unauthorized`` error) is fatal.

``run_agent`` is the entry point for ``hallcall voice`` and for ``hallcall demo``,
which runs it embedded as a task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import random
import signal
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI

from queue_server import protocol
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
# Errors a server answers a hello with that no amount of retrying will fix.
_FATAL_CODES = frozenset({"unauthorized", "forbidden", "bad_topic", "bad_field", "hello_first"})


class AgentFatal(RuntimeError):
    """Retrying cannot help: a refused token, a wrong address, a voice that is not installed."""


def endpoints(server_url: str) -> tuple[str, str]:
    """Return the WebSocket URL and the HTTP base for a server address."""
    parts = urlsplit(server_url if "://" in server_url else f"http://{server_url}")
    secure = parts.scheme in ("https", "wss")
    path = parts.path.rstrip("/")
    base_path = path[: -len("/ws")] if path.endswith("/ws") else path
    ws = urlunsplit(("wss" if secure else "ws", parts.netloc, f"{base_path}/ws", "", ""))
    http = urlunsplit(("https" if secure else "http", parts.netloc, base_path, "", ""))
    return ws, http


def backoff(initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0) -> Callable[[], Iterator[float]]:
    """Return a generator factory of jittered, capped reconnect delays."""

    def delays() -> Iterator[float]:
        ceiling = initial
        while True:
            # Jitter: a hall's screens, pads and agents must not all knock at once after a restart.
            yield random.uniform(ceiling / 2, ceiling)
            ceiling = min(maximum, ceiling * factor)

    return delays


def classify(exc: Exception) -> Exception | None:
    """Return None for a retryable connection error, or the error to stop with."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            return AgentFatal(f"the server refused the token (HTTP {status}); check --token")
        if 400 <= status < 500 and status not in (408, 429):
            return AgentFatal(f"the server answered HTTP {status} to the WebSocket handshake; check --server")
        return None
    if isinstance(exc, InvalidURI):
        return AgentFatal(f"not a server address: {exc}")
    return None  # network errors, restarts, 5xx, and anything unforeseen: the hall needs its voice back


def replay_boundary(since: int | None, welcome_seq: Any) -> float | None:
    """Return the last seq the server replays on a connection, or None when it replays nothing."""
    if since is None:
        return None  # a new session starts from a snapshot
    # Events up to the welcome's seq were missed, not live; a server that does not
    # say where that ends gets every event on the connection checked by age.
    return welcome_seq if isinstance(welcome_seq, int) and not isinstance(welcome_seq, bool) else math.inf


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
        reconnect: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.ws_url, self.http_base = endpoints(server_url)
        self.token = token
        self.announcer = announcer
        self.zones = tuple(zones or ())
        self.settings = settings or announcer.settings
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.reconnect = reconnect
        self.last_seq: int | None = None
        self.syncs = 0  # snapshots or resumes completed; tests and supervisors wait on it
        self._synced = asyncio.Condition()
        self._replay_upto: float | None = None
        self._names: dict[int, dict[str, str]] = {}
        self._zone_names: dict[str, dict[str, str]] = {}

    @property
    def topics(self) -> list[str]:
        return [protocol.topic_zone(z) for z in self.zones] if self.zones else [protocol.topic_hall()]

    async def wait_synced(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the agent has synced ``count`` times (first connect, then each reconnect)."""
        async with asyncio.timeout(timeout), self._synced:
            await self._synced.wait_for(lambda: self.syncs >= count)

    async def run(self) -> None:
        """Follow the hall until cancelled; raise AgentFatal when retrying cannot help."""
        # Our own loop rather than ``async for ws in connect(...)``: its reconnect_delays
        # needs websockets 17, and a drop should back off too, not only a failed connect.
        delays: Iterator[float] | None = None
        while True:
            syncs = self.syncs
            try:
                async with connect(self.ws_url, open_timeout=10, max_size=8 * 2**20, user_agent_header="hallcall-voice") as ws:
                    await self._session(ws)
                reason, level = "closed by the server", logging.INFO
            except AgentFatal:
                raise
            except Exception as exc:
                fatal = classify(exc)
                if fatal is not None:
                    raise fatal from exc
                expected = isinstance(exc, (OSError, TimeoutError)) or type(exc).__module__.startswith("websockets")
                reason, level = repr(exc), logging.INFO if expected else logging.ERROR
            if self.syncs > syncs:
                delays = None  # that session worked: start the backoff afresh
            delays = delays or backoff(*self.reconnect)()
            delay = next(delays)
            log.log(level, "connection to %s failed or ended (%s); retrying in %.1f s", self.ws_url, reason, delay,
                    exc_info=level > logging.INFO)
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> None:
        since = self.last_seq
        await ws.send(protocol.encode(protocol.hello(self.token, self.topics, since=since)))
        if self.settings.speak_zone or self.settings.speak_window_name:
            await self._load_names()
        welcomed = False
        async for frame in ws:
            try:
                msg = protocol.parse_server(frame)
            except protocol.ProtocolError as exc:
                log.warning("ignoring a malformed frame: %s", exc)
                continue
            kind = msg["type"]
            if kind == protocol.WELCOME:
                welcomed = True
                self._replay_upto = replay_boundary(since, msg.get("seq"))
                log.info("connected to %s as %s, %s", self.ws_url, msg.get("role"), f"resuming after seq {since}" if since is not None else "new session")
                if since is not None:
                    await self._mark_synced()
            elif kind == protocol.SNAPSHOT:
                # Calls in a snapshot are history: they were announced, or they are too old to be.
                self._replay_upto = None
                if isinstance(msg.get("seq"), int):
                    self.last_seq = msg["seq"]
                self._learn_windows(msg.get("state", {}).get("windows", []))
                await self._mark_synced()
            elif kind == protocol.EVENT:
                self._on_event(msg)
            elif kind == protocol.ERROR:
                error = msg.get("error") or {}
                code, text = error.get("code", "?"), error.get("message", "")
                if code == "unauthorized":
                    raise AgentFatal(f"the server refused the token: {text}; check --token")
                if not welcomed and code in _FATAL_CODES:
                    raise AgentFatal(f"the server refused the hello ({code}): {text}")
                log.warning("server error %s: %s", code, text)

    async def _mark_synced(self) -> None:
        async with self._synced:
            self.syncs += 1
            self._synced.notify_all()

    def _on_event(self, msg: dict[str, Any]) -> None:
        seq = msg.get("seq")
        if isinstance(seq, int):
            if self.last_seq is not None and seq <= self.last_seq:
                return  # already seen on an earlier connection
            self.last_seq = seq
        if msg.get("name") not in CALL_EVENTS:
            return
        call = self._call(msg)
        if call is None:
            return
        if self._replay_upto is not None and (not isinstance(seq, int) or seq <= self._replay_upto):
            age = self._age(msg.get("at"))
            if age is None or age > self.settings.replay_max_age_seconds:
                log.info("not announcing %s: replayed call from %s", call.label, "an unknown time" if age is None else f"{age:.0f} s ago")
                return
        self.announcer.submit(call)

    def _age(self, at: Any) -> float | None:
        try:
            when = datetime.fromisoformat(at)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return (self.now() - when).total_seconds()

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
                async with session.get(f"{self.http_base}/api/v1/hall") as resp:
                    resp.raise_for_status()
                    hall = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("could not load window names from %s: %s", self.http_base, exc)
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
    player = player or default_player(settings.player_command, out_dir)
    engine = build_engine(settings)
    try:
        await engine.start()
    except EngineError as exc:
        await engine.close()
        raise AgentFatal(f"the voice engine cannot start: {exc}") from None
    announcer = Announcer(engine, player, settings)
    agent = VoiceAgent(server_url, token, announcer, zones=zones, settings=settings)
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
    return CommandPlayer(settings.player_command) if speaker else default_player(settings.player_command, args.out)


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
