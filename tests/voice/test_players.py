"""Players: the file sink, and speaker commands fed raw PCM or a WAV file."""

from __future__ import annotations

import sys
from array import array
from pathlib import Path

import pytest

from voice.audio import RATE, Audio, read_wav
from voice.players import CommandPlayer, FileSink, PlayerError, default_player

A = Audio(RATE, array("h", [1, 2, 3, -4]))
B = Audio(RATE, array("h", [5] * 10))
# A stand-in for aplay at the physical edge: it keeps what it was given.
KEEP_STDIN = [sys.executable, "-c", "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"]


async def test_file_sink_writes_each_announcement_in_order(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "out")
    async with sink.open("A001-w3", RATE) as stream:
        await stream.write(A)
        await stream.write(B)
    async with sink.open("A002/../w4", RATE) as stream:
        await stream.write(B)
    first, second = await sink.wait_for(2, timeout=5)
    assert first.name.endswith("-0001-A001-w3.wav") and second.name.endswith("-0002-A002_w4.wav")
    assert read_wav(first.read_bytes()).samples == A.samples + B.samples
    assert stream.first_write is not None and stream.seconds == pytest.approx(B.duration)
    assert not list((tmp_path / "out").glob("*.part"))


async def test_file_sink_keeps_only_the_last_files(tmp_path: Path) -> None:
    sink = FileSink(tmp_path, keep=3)
    for n in range(1, 8):
        async with sink.open(f"A{n:03d}-w3", RATE) as stream:
            await stream.write(A)
    await sink.wait_for(7, timeout=5)
    assert sorted(p.name.split("-", 3)[3] for p in tmp_path.iterdir()) == ["A005-w3.wav", "A006-w3.wav", "A007-w3.wav"]
    unbounded = FileSink(tmp_path / "all")
    for n in range(5):
        async with unbounded.open(f"B{n}", RATE) as stream:
            await stream.write(A)
    assert len(list((tmp_path / "all").iterdir())) == 5


async def test_file_sink_writes_nothing_for_a_failed_announcement(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    with pytest.raises(RuntimeError):
        async with sink.open("A001-w3", RATE) as stream:
            await stream.write(A)
            raise RuntimeError("synthesis failed")
    assert sink.written == [] and list(tmp_path.iterdir()) == []


async def test_command_player_streams_raw_pcm(tmp_path: Path) -> None:
    out = tmp_path / "pcm"
    player = CommandPlayer([*KEEP_STDIN, str(out)])
    async with player.open("A001-w3", RATE) as stream:
        await stream.write(A)
        await stream.write(B)
    # Leaving the stream waited for the player to finish: the bytes are all there.
    assert out.read_bytes() == A.to_bytes() + B.to_bytes()


async def test_command_player_with_a_file(tmp_path: Path) -> None:
    out = tmp_path / "copy.wav"
    player = CommandPlayer(["cp", "{file}", str(out)])
    async with player.open("A001-w3", RATE) as stream:
        await stream.write(A)
    assert read_wav(out.read_bytes()) == A


async def test_command_player_rate_placeholder(tmp_path: Path) -> None:
    out = tmp_path / "rate"
    player = CommandPlayer([sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2]); sys.stdin.read()", str(out), "{rate}"])
    async with player.open("x", 16000) as stream:
        await stream.write(A)
    assert out.read_text() == "16000"


async def test_player_failures_are_player_errors(tmp_path: Path) -> None:
    with pytest.raises(PlayerError, match="cannot run player"):
        async with CommandPlayer(["/nonexistent/aplay"]).open("x", RATE) as stream:
            await stream.write(A)
    failing = CommandPlayer([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit('no such device')"])
    with pytest.raises(PlayerError, match="exited with 1: no such device"):
        async with failing.open("x", RATE) as stream:
            await stream.write(A)


def test_without_a_speaker_the_default_is_the_file_sink(tmp_path: Path) -> None:
    assert not CommandPlayer(["no-such-player-command"]).available()
    player = default_player(["no-such-player-command"], tmp_path)
    assert isinstance(player, FileSink) and player.folder == tmp_path
    assert isinstance(default_player([sys.executable], tmp_path), CommandPlayer)
