"""The phrase cache: synthesized phrases kept as WAV files so none is spoken twice.

Files live under ``<dir>/<first two hex digits>/<sha256>.wav`` and are written to a
temporary name then renamed, so a crash never leaves half a phrase to be played.
A small in-memory LRU in front serves recalls, which repeat the phrase just said.
The folder is kept under a size budget by deleting the least recently used files
(a hit touches its file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

from voice.audio import Audio, read_wav, write_wav

log = logging.getLogger(__name__)

# Bump when the audio pipeline changes in a way that makes old files wrong.
FORMAT = "v1"


class PhraseCache:
    """Phrase audio by key, in memory and on disk; ``directory=None`` keeps memory only."""

    def __init__(self, directory: Path | str | None, *, max_bytes: int = 200 * 2**20, memory_items: int = 32) -> None:
        self.directory = Path(directory) / FORMAT if directory is not None else None
        self.max_bytes = max_bytes
        self.memory_items = memory_items
        self._memory: OrderedDict[str, Audio] = OrderedDict()
        self._disk_bytes: int | None = None  # counted on the first write

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.wav"

    def _remember(self, key: str, audio: Audio) -> None:
        self._memory[key] = audio
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    async def get(self, key: str) -> Audio | None:
        """Return the cached audio for ``key``, or None."""
        audio = self._memory.get(key)
        if audio is not None:
            self._memory.move_to_end(key)
            return audio
        if self.directory is None:
            return None
        audio = await asyncio.to_thread(self._read, self._path(key))
        if audio is not None:
            self._remember(key, audio)
        return audio

    async def put(self, key: str, audio: Audio) -> None:
        """Store ``audio`` under ``key``."""
        self._remember(key, audio)
        if self.directory is not None:
            await asyncio.to_thread(self._write, self._path(key), audio)

    def __len__(self) -> int:
        if self.directory is None or not self.directory.exists():
            return 0
        return sum(1 for _ in self.directory.glob("*/*.wav"))

    @staticmethod
    def _read(path: Path) -> Audio | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            audio = read_wav(data)
        except ValueError:
            log.warning("dropping unreadable cached phrase %s", path)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently *used* goes first when pruning
        return audio

    def _write(self, path: Path, audio: Audio) -> None:
        data = write_wav(audio)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        if self._disk_bytes is None:
            self._disk_bytes = self._usage()
        else:
            self._disk_bytes += len(data)
        if self._disk_bytes > self.max_bytes:
            self._prune()

    def _usage(self) -> int:
        assert self.directory is not None
        return sum(p.stat().st_size for p in self.directory.glob("*/*.wav"))

    def _prune(self) -> None:
        assert self.directory is not None
        files = []
        for p in self.directory.glob("*/*.wav"):
            with contextlib.suppress(FileNotFoundError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        files.sort()
        total = sum(size for _, size, _ in files)
        target = self.max_bytes * 0.8  # prune in batches, not on every write
        removed = 0
        for _, size, p in files:
            if total <= target:
                break
            p.unlink(missing_ok=True)
            total -= size
            removed += 1
        self._disk_bytes = total
        log.info("phrase cache over %d bytes: removed %d least recently used files", self.max_bytes, removed)
