"""The [voice] table of a hall file: defaults, overrides and errors that name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from voice.settings import DEFAULT_PLAYER, VoiceSettings


def test_defaults() -> None:
    s = VoiceSettings.from_mapping({})
    assert s.languages == ("zh",)
    assert s.repeat == 2 and s.chime and not s.yao
    assert s.template("zh") == "请{ticket}到{window}办理"
    assert s.template("en") == "Number {ticket}, please go to window {window}"
    assert s.voices["zh"] == "cmn-latn-pinyin"
    assert s.player_command == DEFAULT_PLAYER
    assert s.clip_dir() == s.cache_dir / "clips"


def test_a_hall_file_voice_table() -> None:
    table = tomllib.loads(
        """
        [voice]
        languages = ["zh", "en"]
        repeat = 3
        yao = true
        chime = false
        speak_zone = true
        max_backlog_seconds = 90
        engine = "clips"
        clip_pack_dir = "/srv/hall/clips"
        cache_dir = ""
        player_command = "paplay {file}"
        voices = { en = "en-gb" }
        [voice.templates]
        zh = "{ticket}请到{window}"
        """
    )["voice"]
    s = VoiceSettings.from_mapping(table)
    assert s.languages == ("zh", "en")
    assert (s.repeat, s.yao, s.chime, s.speak_zone) == (3, True, False, True)
    assert s.max_backlog_seconds == 90.0
    assert s.engine == "clips" and s.clip_dir() == Path("/srv/hall/clips")
    assert s.cache_dir is None
    assert s.player_command == ("paplay", "{file}")
    assert s.voices == {"zh": "cmn-latn-pinyin", "en": "en-gb"}  # the other language keeps its default
    assert s.template("zh") == "{ticket}请到{window}"
    assert s.template("en") == "Number {ticket}, please go to window {window}"


@pytest.mark.parametrize(
    ("table", "field", "message"),
    [
        ({"repeat": 0}, "voice.repeat", "integer from 1 to 5"),
        ({"repeat": "2"}, "voice.repeat", "integer from 1 to 5"),
        ({"repeat": True}, "voice.repeat", "integer"),
        ({"yao": "yes"}, "voice.yao", "true or false"),
        ({"languages": ["zh", "fr"]}, "voice.languages", "unknown language 'fr'"),
        ({"languages": []}, "voice.languages", "non-empty"),
        ({"languages": ["zh", "zh"]}, "voice.languages", "twice"),
        ({"templates": {"zh": "请{ticket}到{room}"}}, "voice.templates", "unknown placeholder"),
        ({"templates": {"jp": "x{ticket}"}}, "voice.templates", "unknown language"),
        ({"max_backlog_seconds": -1}, "voice.max_backlog_seconds", "seconds"),
        ({"engine": "festival"}, "voice.engine", "one of"),
        ({"player_command": []}, "voice.player_command", "command"),
        ({"voices": {"zh": ""}}, "voice.voices", "non-empty"),
        ({"volume": 3}, "voice.volume", "unknown setting"),
    ],
)
def test_errors_name_the_field(table: dict, field: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        VoiceSettings.from_mapping(table)
    assert str(info.value).startswith(field + ":")


def test_prefix_names_the_file() -> None:
    with pytest.raises(ValueError, match=r"^hall.toml: voice.repeat: "):
        VoiceSettings.from_mapping({"repeat": 9}, prefix="hall.toml: voice")
