"""Clip packs: announcements spliced from recorded words, for halls that want a human voice.

A pack is a folder with one WAV per word and language: ``zh/请.wav``, ``zh/A.wav``,
``zh/十.wav``, ``en/window.wav``… (``pack_units`` lists them). A default pack is
generated once from the TTS engine; a hall replaces any file with its own
recording (any rate, width or channel count: clips are converted on load) and
may add whole words such as ``zh/企业开办专区.wav``. A phrase that needs a word
the pack lacks is spoken by the fallback engine instead, with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import string
from collections.abc import Collection, Iterable
from pathlib import Path

from voice.audio import RATE, Audio, concat, read_wav, resample, silence, trim, write_wav
from voice.engines import Engine, EngineError
from voice.normalize import EN, ZH

log = logging.getLogger(__name__)

LETTERS = tuple(string.ascii_uppercase)
UNITS = {
    ZH: ("请", "到", "号", "窗口", "办理", *"零一二三四五六七八九十百千幺", *LETTERS),
    EN: (
        "number", "please", "go", "to", "window", "thousand", "hundred",
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
        "seventeen", "eighteen", "nineteen",
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
        *LETTERS,
    ),
}  # fmt: skip
_PAUSES = frozenset("，,。.；;：:！!？?、")
_EN_TOKEN = re.compile(r"[A-Za-z0-9']+|[,.;:!?]")


class MissingClip(LookupError):
    """A phrase needs a word the clip pack has no recording of."""

    def __init__(self, unit: str, language: str) -> None:
        super().__init__(f"clip pack has no {language}/{unit}.wav")
        self.unit = unit
        self.language = language


def pack_units(languages: Iterable[str]) -> list[str]:
    """Return the relative file names a complete pack holds for ``languages``."""
    return [f"{language}/{unit}.wav" for language in languages for unit in UNITS[language]]


def split_units(text: str, language: str, names: Collection[str]) -> list[str | None]:
    """Split a phrase into clip names (None for a pause); raise MissingClip for a gap."""
    out: list[str | None] = []
    if language == EN:
        for token in _EN_TOKEN.findall(text):
            if token in _PAUSES:
                out.append(None)
                continue
            name = token if len(token) == 1 and token.isupper() else token.lower()
            if name not in names:
                raise MissingClip(name, language)
            out.append(name)
        return out
    longest = max((len(n) for n in names), default=1)
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _PAUSES:
            out.append(None)
            i += 1
            continue
        # Longest match first, so a recorded "窗口" beats "窗" and a dropped-in zone name wins.
        for size in range(min(longest, len(text) - i), 0, -1):
            piece = text[i : i + size]
            name = piece.upper() if piece.isascii() else piece
            if name in names:
                out.append(name)
                i += size
                break
        else:
            raise MissingClip(ch, language)
    return out


def splice(units: list[str | None], clips: dict[str, Audio], *, gap: float = 0.04, pause: float = 0.25) -> Audio:
    """Join clips with a short gap between words and a longer one at punctuation."""
    parts: list[Audio] = []
    for unit in units:
        if unit is None:
            parts.append(silence(pause))
        else:
            if parts:
                parts.append(silence(gap))
            parts.append(clips[unit])
    return concat(parts, RATE)


def load_pack(directory: Path) -> dict[str, dict[str, Audio]]:
    """Read every clip in a pack, converted to the pipeline format and trimmed."""
    pack: dict[str, dict[str, Audio]] = {}
    for language in UNITS:
        clips: dict[str, Audio] = {}
        folder = directory / language
        for path in sorted(folder.glob("*.wav")) if folder.is_dir() else ():
            try:
                audio = read_wav(path.read_bytes())
            except ValueError as exc:
                raise EngineError(f"clip {path} cannot be used: {exc}") from None
            clips[path.stem] = trim(resample(audio, RATE))
        pack[language] = clips
    return pack


async def make_default_pack(engine: Engine, directory: Path, languages: Iterable[str]) -> list[Path]:
    """Synthesize the pack's missing clips with ``engine``; never overwrite a recording."""
    written: list[Path] = []
    for language in languages:
        folder = directory / language
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        for unit in UNITS[language]:
            path = folder / f"{unit}.wav"
            if path.exists():
                continue
            audio = trim(await engine.synthesize(unit, language))
            tmp = path.with_suffix(".tmp")
            await asyncio.to_thread(tmp.write_bytes, write_wav(audio))
            os.replace(tmp, path)
            written.append(path)
    if written:
        log.info("generated %d clips into %s", len(written), directory)
    return written


class ClipPackEngine(Engine):
    """Speak by splicing a pack's clips; fall back to another engine for unknown words."""

    def __init__(self, directory: Path | str, *, languages: Iterable[str] = (ZH,), fallback: Engine | None = None) -> None:
        self.directory = Path(directory)
        self.languages = tuple(languages)
        self.fallback = fallback
        self.clips: dict[str, dict[str, Audio]] = {}

    def identity(self, language: str) -> str:
        return f"clips:{self.directory}"

    async def start(self) -> None:
        if self.fallback is not None:
            await self.fallback.start()
            await make_default_pack(self.fallback, self.directory, self.languages)
        self.clips = await asyncio.to_thread(load_pack, self.directory)
        missing = [name for name in pack_units(self.languages) if Path(name).stem not in self.clips.get(name.split("/")[0], {})]
        if missing and self.fallback is None:
            raise EngineError(f"clip pack {self.directory} lacks {len(missing)} clips, e.g. {', '.join(missing[:5])}")

    async def synthesize(self, text: str, language: str) -> Audio:
        clips = self.clips.get(language, {})
        try:
            units = split_units(text, language, clips)
        except MissingClip as exc:
            if self.fallback is None:
                raise EngineError(str(exc)) from None
            log.warning("%s; speaking %r with the fallback engine", exc, text)
            return await self.fallback.synthesize(text, language)
        if not units:
            raise EngineError("nothing to say")
        return splice(units, clips)

    async def close(self) -> None:
        if self.fallback is not None:
            await self.fallback.close()
