"""Speech engines behind one small async interface.

An ``Engine`` turns a phrase in one language into ``Audio`` at the pipeline rate.
``Pyttsx3Engine`` drives espeak-ng through pyttsx3 in a worker process of its own
(see ``voice.tts_worker`` for why); ``CachedEngine`` puts a disk cache in front of
any engine; the clip-pack engine lives in ``voice.clips``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from voice.audio import RATE, Audio, read_wav, resample
from voice.cache import PhraseCache
from voice.normalize import EN
from voice.settings import DEFAULT_VOICES

log = logging.getLogger(__name__)

_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
# espeak-ng reads a lone "A" before a word as the article ("a zero"); joining it to
# the next word makes it say the letter's name.
_EN_LETTER = re.compile(r"\b([A-Z])\s+(?=\w)")


class EngineError(RuntimeError):
    """The engine cannot speak: a missing voice, a dead or stuck worker, a missing clip."""


class Engine(abc.ABC):
    """Turn phrases into audio; start before use, close when done."""

    rate: int = RATE

    async def start(self) -> None:
        """Get ready to speak; raise EngineError if the engine never could."""

    @abc.abstractmethod
    async def synthesize(self, text: str, language: str) -> Audio:
        """Speak ``text`` in ``language`` and return the audio at ``self.rate``."""

    @abc.abstractmethod
    def identity(self, language: str) -> str:
        """Return what makes this engine's audio differ from another's (for cache keys)."""

    async def close(self) -> None:
        """Release the engine's resources."""

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


def speakable(text: str, language: str) -> str:
    """Adjust normalized text where espeak-ng would misread it."""
    if language == EN:
        return _EN_LETTER.sub(r"\1-", text)
    return text


class Pyttsx3Engine(Engine):
    """espeak-ng through pyttsx3, owned by one worker process fed one phrase at a time."""

    def __init__(self, voices: Mapping[str, str] | None = None, rate: int = 160, *, timeout: float = 30.0) -> None:
        self.voices = dict(voices or DEFAULT_VOICES)
        self.words_per_minute = rate
        self.timeout = timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._tmp: str | None = None
        self._lock = asyncio.Lock()  # the worker answers one request at a time, in order
        self._count = 0  # request ids
        self._phrases = 0  # names each phrase's file

    @property
    def pid(self) -> int | None:
        """Return the worker's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def identity(self, language: str) -> str:
        return f"pyttsx3/espeak-ng voice={self.voices.get(language)} rate={self.words_per_minute}"

    async def start(self) -> None:
        async with self._lock:
            await self._ensure_worker()

    async def synthesize(self, text: str, language: str) -> Audio:
        if language not in self.voices:
            raise EngineError(f"no voice configured for language {language!r}")
        if not text.strip():
            raise EngineError("nothing to say")
        try:
            return await self._say(text, language)
        except EngineError as exc:
            # A worker that crashed or got stuck is replaced once; a second failure is real.
            log.warning("pyttsx3 worker failed (%s); starting a new one", exc)
            async with self._lock:
                await self._stop_worker()
            return await self._say(text, language)

    async def _say(self, text: str, language: str) -> Audio:
        async with self._lock:
            await self._ensure_worker()
            assert self._tmp is not None
            self._phrases += 1
            path = os.path.join(self._tmp, f"{self._phrases}.wav")
            try:
                reply = await self._request({"op": "say", "language": language, "text": speakable(text, language), "path": path})
                if reply.get("retries"):
                    log.debug("espeak-ng said %r %d more time(s) before it produced audio", text, reply["retries"])
                data = await asyncio.to_thread(Path(path).read_bytes)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        audio = read_wav(data)
        return audio if audio.rate == self.rate else resample(audio, self.rate)

    async def close(self) -> None:
        async with self._lock:
            await self._stop_worker()

    async def _ensure_worker(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            return
        await self._stop_worker()
        self._tmp = tempfile.mkdtemp(prefix="hallcall-tts-")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (_PROJECT_ROOT, os.environ.get("PYTHONPATH")) if p))
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "voice.tts_worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        log.info("started pyttsx3 worker (pid %s) with voices %s", self._proc.pid, self.voices)
        try:
            await self._request({"op": "init", "voices": self.voices, "rate": self.words_per_minute})
        except EngineError:
            await self._stop_worker()
            raise

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        self._count += 1
        request_id = self._count
        try:
            proc.stdin.write((json.dumps({**message, "id": request_id}, ensure_ascii=False) + "\n").encode())
            await proc.stdin.drain()
            async with asyncio.timeout(self.timeout):
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        break
                    reply: dict[str, Any] = json.loads(line)
                    # A request whose caller was cancelled still gets its answer; skip it.
                    if reply.get("id") == request_id:
                        break
        except (TimeoutError, ConnectionError, BrokenPipeError) as exc:
            await self._stop_worker()
            raise EngineError(f"pyttsx3 worker failed on {message.get('op')}: {exc!r}") from exc
        if not line:
            code = await proc.wait()
            await self._stop_worker()
            raise EngineError(f"pyttsx3 worker exited with code {code} (is espeak-ng installed?)")
        if not reply.get("ok"):
            raise EngineError(reply.get("error", "pyttsx3 worker failed"))
        return reply

    async def _stop_worker(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()  # end of input: the worker leaves its loop
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class CachedEngine(Engine):
    """Any engine with a phrase cache on disk in front of it."""

    def __init__(self, inner: Engine, cache: PhraseCache) -> None:
        self.inner = inner
        self.cache = cache
        self.rate = inner.rate
        self.hits = 0
        self.misses = 0

    def identity(self, language: str) -> str:
        return self.inner.identity(language)

    def key(self, text: str, language: str) -> str:
        """Return the cache key of a phrase."""
        raw = "\x1f".join((self.inner.identity(language), language, str(self.rate), text))
        return hashlib.sha256(raw.encode()).hexdigest()

    async def start(self) -> None:
        await self.inner.start()

    async def synthesize(self, text: str, language: str) -> Audio:
        key = self.key(text, language)
        audio = await self.cache.get(key)
        if audio is not None and audio.rate == self.rate:
            self.hits += 1
            return audio
        self.misses += 1
        audio = await self.inner.synthesize(text, language)
        await self.cache.put(key, audio)
        return audio

    async def close(self) -> None:
        await self.inner.close()
