"""The phrase cache: a repeated phrase is read back, not synthesized again."""

from __future__ import annotations

import os
from array import array
from pathlib import Path

from voice.audio import RATE, Audio
from voice.cache import PhraseCache
from voice.engines import CachedEngine, Pyttsx3Engine


def tone(n: int, value: int = 1000) -> Audio:
    return Audio(RATE, array("h", [value] * n))


async def test_put_then_get_from_memory_and_disk(tmp_path: Path) -> None:
    cache = PhraseCache(tmp_path)
    assert await cache.get("ab" * 32) is None
    await cache.put("ab" * 32, tone(100))
    assert await cache.get("ab" * 32) == tone(100)
    files = list(tmp_path.rglob("*.wav"))
    assert [f.name for f in files] == ["ab" * 32 + ".wav"]
    assert not list(tmp_path.rglob("*.tmp"))
    fresh = PhraseCache(tmp_path)  # a new process: memory is empty, disk is not
    assert await fresh.get("ab" * 32) == tone(100)
    assert len(fresh) == 1


async def test_memory_only_cache(tmp_path: Path) -> None:
    cache = PhraseCache(None, memory_items=2)
    for key in ("a", "b", "c"):
        await cache.put(key, tone(10))
    assert await cache.get("a") is None  # evicted: least recently used
    assert await cache.get("c") == tone(10)
    assert len(cache) == 0


async def test_a_damaged_file_is_dropped(tmp_path: Path) -> None:
    cache = PhraseCache(tmp_path)
    await cache.put("cd" * 32, tone(10))
    path = next(tmp_path.rglob("*.wav"))
    path.write_bytes(b"garbage")
    assert await PhraseCache(tmp_path).get("cd" * 32) is None
    assert not path.exists()


async def test_the_least_recently_used_files_go_when_over_budget(tmp_path: Path) -> None:
    one = len(b"x" * 44) + 2 * 1000  # a 1000-sample file with its header
    cache = PhraseCache(tmp_path, max_bytes=5 * one, memory_items=1)
    for i in range(5):
        key = f"{i:02d}" * 32
        await cache.put(key, tone(1000))
        os.utime(next(tmp_path.rglob(f"{key}.wav")), (1000 + i, 1000 + i))
    await cache.get("00" * 32)  # a hit makes the oldest file the newest
    await cache.put("05" * 32, tone(1000))  # over budget: prune down to 80 %
    left = sorted(p.stem[:2] for p in tmp_path.rglob("*.wav"))
    assert left == ["00", "03", "04", "05"]


async def test_cached_engine_synthesizes_a_phrase_once(tmp_path: Path) -> None:
    engine = CachedEngine(Pyttsx3Engine({"zh": "cmn-latn-pinyin"}), PhraseCache(tmp_path))
    async with engine:
        first = await engine.synthesize("请A零零一号到三号窗口办理", "zh")
        again = await engine.synthesize("请A零零一号到三号窗口办理", "zh")
        other = await engine.synthesize("请A零零二号到三号窗口办理", "zh")
    assert again == first and other != first
    assert (engine.hits, engine.misses) == (1, 2)
    # The key covers voice and rate, so a hall that changes either hears the change.
    slower = CachedEngine(Pyttsx3Engine({"zh": "cmn-latn-pinyin"}, rate=120), PhraseCache(tmp_path))
    assert slower.key("请A零零一号到三号窗口办理", "zh") != engine.key("请A零零一号到三号窗口办理", "zh")
    # A restarted agent reads the phrase from disk without starting espeak-ng at all.
    restarted = CachedEngine(Pyttsx3Engine({"zh": "cmn-latn-pinyin"}), PhraseCache(tmp_path))
    assert await restarted.synthesize("请A零零一号到三号窗口办理", "zh") == first
    assert restarted.inner.pid is None and restarted.hits == 1
