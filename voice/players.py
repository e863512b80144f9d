"""Players: where an announcement's audio goes.

A player opens one stream per announcement and the announcer writes audio into
it as it becomes ready (the chime first, while the phrase is still being
synthesized). Closing the stream waits until the audio has been played, so the
next announcement can never cut this one off.

- ``CommandPlayer`` pipes raw PCM into a command (``aplay`` by default), or, when
  the command names ``{file}``, writes a WAV and hands over its path (``paplay {file}``).
- ``FileSink`` writes each announcement as a WAV into a folder: for tests, and for
  machines without a sound card.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from voice.audio import Audio, concat, wav_header, write_wav

log = logging.getLogger(__name__)


class PlayerError(RuntimeError):
    """The audio could not be played."""


class Stream(abc.ABC):
    """One announcement's audio on its way out."""

    def __init__(self) -> None:
        self.first_write: float | None = None  # perf_counter() when the first sample was handed over
        self.seconds = 0.0

    async def write(self, audio: Audio) -> None:
        """Hand ``audio`` to the player."""
        if self.first_write is None:
            self.first_write = time.perf_counter()
        self.seconds += audio.duration
        await self._write(audio)

    @abc.abstractmethod
    async def _write(self, audio: Audio) -> None: ...


class Player(abc.ABC):
    """Somewhere announcements are played, one at a time."""

    @abc.abstractmethod
    def open(self, label: str, rate: int) -> contextlib.AbstractAsyncContextManager[Stream]:
        """Open a stream for one announcement; leaving it waits until it has played."""


class _Buffer(Stream):
    def __init__(self, rate: int) -> None:
        super().__init__()
        self.rate = rate
        self.parts: list[Audio] = []

    async def _write(self, audio: Audio) -> None:
        self.parts.append(audio)

    def audio(self) -> Audio:
        return concat(self.parts, self.rate)


class _Pipe(Stream):
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        super().__init__()
        self.proc = proc

    async def _write(self, audio: Audio) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(audio.to_bytes())
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise PlayerError(f"player exited while playing: {exc}") from None


class CommandPlayer(Player):
    """Play through an external command such as ``aplay`` or ``paplay``."""

    def __init__(self, command: Sequence[str]) -> None:
        if not command:
            raise ValueError("player command is empty")
        self.command = tuple(command)

    def available(self) -> bool:
        """Tell whether the command exists and, for ALSA's aplay, a sound card does."""
        if shutil.which(self.command[0]) is None:
            return False
        if Path(self.command[0]).name == "aplay":
            try:
                cards = Path("/proc/asound/cards").read_text()
            except OSError:
                return False
            return "no soundcards" not in cards and bool(cards.strip())
        return True

    @contextlib.asynccontextmanager
    async def open(self, label: str, rate: int) -> AsyncIterator[Stream]:
        if any("{file}" in arg for arg in self.command):
            buffer = _Buffer(rate)
            yield buffer
            await self._play_file(buffer.audio())
            return
        argv = [arg.format(rate=rate) for arg in self.command]
        proc = await self._spawn(argv)
        stream = _Pipe(proc)
        try:
            yield stream
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        assert proc.stdin is not None
        proc.stdin.close()
        await self._finish(proc, argv, stream.seconds)

    async def _play_file(self, audio: Audio) -> None:
        fd, path = tempfile.mkstemp(prefix="hallcall-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(write_wav(audio))
            argv = [arg.format(rate=audio.rate, file=path) for arg in self.command]
            await self._finish(await self._spawn(argv, stdin=False), argv, audio.duration)
        finally:
            os.unlink(path)

    @staticmethod
    async def _spawn(argv: list[str], *, stdin: bool = True) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise PlayerError(f"cannot run player {argv[0]!r}: {exc.strerror or exc}") from None

    @staticmethod
    async def _finish(proc: asyncio.subprocess.Process, argv: list[str], seconds: float) -> None:
        assert proc.stderr is not None
        try:
            # Enough for the audio itself plus a stalled device's slack; then give up.
            stderr = await asyncio.wait_for(proc.stderr.read(), seconds + 15.0)
            code = await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PlayerError(f"{argv[0]} did not finish playing {seconds:.1f} s of audio") from None
        if code != 0:
            raise PlayerError(f"{argv[0]} exited with {code}: {stderr.decode(errors='replace').strip()[:300]}")


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class FileSink(Player):
    """Write each announcement as a WAV file into a folder, in order, keeping the last ``keep`` (0: all).

    A hall without a speaker (the demo, a test bench) announces every few seconds all day:
    unpruned, the folder grows by hundreds of megabytes an hour.
    """

    def __init__(self, folder: Path | str, keep: int = 0) -> None:
        self.folder = Path(folder)
        self.keep = keep
        self.written: list[Path] = []  # every file written, in order (the oldest may be pruned)
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def open(self, label: str, rate: int) -> AsyncIterator[Stream]:
        buffer = _Buffer(rate)
        yield buffer
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{len(self.written) + 1:04d}-{_UNSAFE.sub('_', label)[:60]}.wav"
        path = self.folder / name
        await asyncio.to_thread(_write_atomic, path, buffer.audio())
        log.info("announcement written: %s", path)
        async with self._changed:
            self.written.append(path)
            self._changed.notify_all()
        if self.keep and len(self.written) > self.keep:
            await asyncio.to_thread(_unlink, self.written[-self.keep - 1])

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Path]:
        """Wait until ``count`` files have been written; return them in order."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.written) >= count)
                return list(self.written)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _write_atomic(path: Path, audio: Audio) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    pcm = audio.to_bytes()
    with open(tmp, "wb") as f:
        f.write(wav_header(audio.rate, len(pcm)))
        f.write(pcm)
    os.replace(tmp, path)  # a watcher never sees half a file


def default_player(command: Sequence[str], folder: Path | str, keep: int = 0) -> Player:
    """Return the speaker when one is present, otherwise a file sink into ``folder`` keeping ``keep`` files."""
    speaker = CommandPlayer(command)
    if speaker.available():
        return speaker
    log.info("no speaker for %r; writing announcements into %s", command[0], folder)
    return FileSink(folder, keep)
