"""Voice settings: one dataclass, built from a hall file's ``[voice]`` table.

``VoiceSettings.from_mapping`` is strict: a wrong type, an out-of-range value or an
unknown key raises ValueError naming the field (``voice.repeat``), so a typo in a
hall file fails at start instead of leaving the hall silent.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from voice.normalize import DEFAULT_TEMPLATES, EN, LANGUAGES, ZH, check_template

ENGINES = ("tts", "clips")
DEFAULT_VOICES = {ZH: "cmn-latn-pinyin", EN: "en-us"}
# Raw PCM on stdin lets the announcer stream the chime while the phrase is still
# being synthesized; {rate} is filled in at play time.
DEFAULT_PLAYER = ("aplay", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", "{rate}", "-")


def default_cache_dir() -> Path:
    """Return the per-user cache folder for synthesized phrases."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hallcall" / "voice"


@dataclass(frozen=True)
class VoiceSettings:
    """How the hall's announcements sound and where their files live."""

    languages: tuple[str, ...] = (ZH,)  # spoken in this order; Chinese first
    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    repeat: int = 2  # times the first language is said
    yao: bool = False  # read the digit 1 as "幺" in ticket numbers
    chime: bool = True
    speak_zone: bool = False
    speak_window_name: bool = False
    max_backlog_seconds: float = 120.0  # calls queued longer than this are dropped
    replay_max_age_seconds: float = 10.0  # replayed calls older than this are not announced
    gap_seconds: float = 0.6  # pause between repeats
    engine: str = "tts"  # "tts" (espeak-ng via pyttsx3) or "clips" (recorded clip pack)
    voices: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VOICES))
    rate: int = 160  # words per minute; halls speak slower than espeak's 175
    cache_dir: Path | None = field(default_factory=default_cache_dir)  # None: no disk cache
    cache_max_mb: int = 200
    clip_pack_dir: Path | None = None  # default: <cache_dir>/clips
    player_command: tuple[str, ...] = DEFAULT_PLAYER
    keep_files: int = 50  # announcements kept as WAV files where no speaker plays them; 0 keeps all

    def template(self, language: str) -> str:
        """Return the template for ``language``."""
        return self.templates.get(language) or DEFAULT_TEMPLATES[language]

    def clip_dir(self) -> Path:
        """Return the clip pack folder, defaulting to one beside the phrase cache."""
        if self.clip_pack_dir is not None:
            return self.clip_pack_dir
        return (self.cache_dir or default_cache_dir()) / "clips"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, prefix: str = "voice") -> VoiceSettings:
        """Build settings from a ``[voice]`` table, raising ValueError naming a bad field."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{prefix}.{unknown[0]}: unknown setting; known: {', '.join(sorted(known))}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            try:
                kwargs[name] = _CHECKS[name](value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{prefix}.{name}: {exc}") from None
        # A hall that overrides one language keeps the defaults for the other.
        for name, defaults in (("voices", DEFAULT_VOICES), ("templates", DEFAULT_TEMPLATES)):
            if name in kwargs:
                kwargs[name] = {**defaults, **kwargs[name]}
        return cls(**kwargs)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, got {value!r}")
    return value


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}, got {value!r}")
        return value

    return check


def _seconds(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"must be a number of seconds from {low} to {high}, got {value!r}")
        return float(value)

    return check


def _languages(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise TypeError(f"must be a non-empty list of languages from {list(LANGUAGES)}, got {value!r}")
    for item in value:
        if item not in LANGUAGES:
            raise ValueError(f"unknown language {item!r}; known: {list(LANGUAGES)}")
    if len(set(value)) != len(value):
        raise ValueError(f"lists a language twice: {value!r}")
    return tuple(value)


def _language_map(check_value: Callable[[str], None]) -> Callable[[Any], dict[str, str]]:
    def check(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise TypeError(f"must be a table keyed by language, got {value!r}")
        out = {}
        for language, text in value.items():
            if language not in LANGUAGES:
                raise ValueError(f"unknown language {language!r}; known: {list(LANGUAGES)}")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{language}: must be a non-empty string, got {text!r}")
            check_value(text)
            out[language] = text
        return out

    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {list(options)}, got {value!r}")
        return cast(str, value)  # equal to one of the options, all str

    return check


def _path(value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise TypeError(f"must be a folder path, got {value!r}")
    return Path(value).expanduser()


def _optional_path(value: Any) -> Path | None:
    # TOML has no null: an empty string or false switches the disk cache off.
    if value is None or value is False or value == "":
        return None
    return _path(value)


def _command(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"must be a command as a list of strings, got {value!r}")
    return tuple(value)


_CHECKS = {
    "languages": _languages,
    "templates": _language_map(check_template),
    "repeat": _integer(1, 5),
    "yao": _boolean,
    "chime": _boolean,
    "speak_zone": _boolean,
    "speak_window_name": _boolean,
    "max_backlog_seconds": _seconds(1, 3600),
    "replay_max_age_seconds": _seconds(0, 600),
    "gap_seconds": _seconds(0, 5),
    "engine": _choice(ENGINES),
    "voices": _language_map(lambda text: None),
    "rate": _integer(80, 400),
    "cache_dir": _optional_path,
    "cache_max_mb": _integer(1, 100_000),
    "clip_pack_dir": _optional_path,
    "player_command": _command,
    "keep_files": _integer(0, 1_000_000),
}
