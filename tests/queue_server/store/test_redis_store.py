"""What only the Redis store has: its DSN, durability check, namespacing, trimming, outages.

The Store contract itself runs on Redis in test_store_contract.py; these tests cover
the rest against real redis-server processes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from queue_server.core import config
from queue_server.store import StoreError, open_store
from queue_server.store.redis import RedisStore
from queue_server.store.redis_settings import RedisSettings, durability_problems

from ...conftest import HALL_FILE, RedisServer, ServeProcess, free_port, run_cli, write_hall_file  # type: ignore[import-not-found]
from .test_store_contract import Scenario  # type: ignore[import-not-found]

pytestmark = pytest.mark.every_store  # the store is this module's subject


@pytest.fixture
def cfg() -> config.HallConfig:
    return config.load(HALL_FILE, store_url="sqlite://unused.db")


async def opened(url: str, hall_id: str = "taikang", **kw: Any) -> RedisStore:
    store = open_store(url, hall_id=hall_id, **kw)
    assert isinstance(store, RedisStore)
    await store.open()
    return store


# -- the DSN -------------------------------------------------------------------------------------


def test_settings_follow_redis_py_urls() -> None:
    s = RedisSettings.from_dsn("redis://:s3cret@10.0.0.5:6380/2?socket_timeout=3&stream_days=30")
    assert (s.host, s.port, s.db, s.password, s.tls, s.socket_timeout, s.stream_days) == ("10.0.0.5", 6380, 2, "s3cret", False, 3.0, 30)
    assert "s3cret" not in repr(s) and "s3cret" not in s.where
    assert "stream_days" not in s.url  # hallcall's own option is not passed to redis-py
    tls = RedisSettings.from_dsn("rediss://user:pw@redis.example.cn/0?ssl_cert_reqs=required")
    assert (tls.tls, tls.port, tls.username) == (True, 6379, "user")
    unix = RedisSettings.from_dsn("unix:///run/redis/redis.sock?db=3")
    assert (unix.path, unix.db) == ("/run/redis/redis.sock", 3)
    assert (s.replicas, RedisSettings.from_dsn("redis://h/0?replicas=2").replicas) == (0, 2)


def test_a_sentinel_dsn_names_the_sentinels_and_the_primary() -> None:
    s = RedisSettings.from_dsn("redis+sentinel://:s3cret@10.0.0.5:26380,10.0.0.6/hallcall/2"
                               "?sentinel_password=sp&replica_timeout_ms=500&stream_days=7")
    assert (s.sentinels, s.master, s.db, s.password, s.sentinel_password) == (
        (("10.0.0.5", 26380), ("10.0.0.6", 26379)), "hallcall", 2, "s3cret", "sp")
    assert (s.replicas, s.replica_timeout_ms, s.stream_days) == (1, 500, 7)  # a replica confirms by default
    assert s.where == "redis+sentinel://10.0.0.5:26380,10.0.0.6:26379/hallcall/2"
    assert "s3cret" not in repr(s) and "sp" not in repr(s)
    assert RedisSettings.from_dsn("redis+sentinel://h/m?replicas=0").replicas == 0


@pytest.mark.parametrize("dsn, says", [
    ("http://127.0.0.1:6379/0", "scheme"),
    ("redis://127.0.0.1:notaport/0", "bad port"),
    ("redis://127.0.0.1:70000/0", "bad port"),
    ("redis://127.0.0.1:6379/zero", "database"),
    ("redis://127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout"),
    ("redis://127.0.0.1:6379/0?stream_days=0", "stream_days"),
    ("redis:///0", "no host"),
    ("redis://h/0?replicas=one", "replicas"),
    ("redis+sentinel://10.0.0.5:26379", "must name the primary"),
    ("redis+sentinel://10.0.0.5:26379/m/0/1", "must name the primary"),
    ("redis+sentinel://10.0.0.5:port/m", "bad sentinel address"),
    ("redis+sentinel://10.0.0.5:26379,/m", "bad sentinel address"),
    ("redis+sentinel://10.0.0.5/m/x", "database"),
    ("redis+sentinel://10.0.0.5/m?ssl=true", "unknown option 'ssl'"),
    ("redis+sentinel://10.0.0.5/m?replica_timeout_ms=0", "replica_timeout_ms"),
])
def test_a_bad_dsn_fails_before_connecting(dsn: str, says: str) -> None:
    with pytest.raises(StoreError, match=says):
        RedisStore(dsn, hall_id="taikang")


def test_serve_refuses_a_bad_dsn(tmp_path: Path) -> None:
    out = run_cli("serve", "--config", str(HALL_FILE), "--store", "redis://127.0.0.1:6379/zero", cwd=tmp_path)
    assert out.returncode == 1 and "bad Redis database 'zero'" in out.stderr


async def test_a_password_from_the_dsn(make_redis: Any) -> None:
    redis: RedisServer = make_redis("--requirepass", "s3cret")
    await redis.astart()
    store = await opened(f"redis://:s3cret@127.0.0.1:{redis.port}/2")
    assert (await store.load()).seq == 0
    await store.close()
    with pytest.raises(StoreError, match="password"):
        await opened(f"redis://:wrong@127.0.0.1:{redis.port}/2")


# -- durability ------------------------------------------------------------------------------------


def test_durability_problems() -> None:
    assert durability_problems({"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}) == []
    assert "appendonly is no" in durability_problems({"appendonly": "no"})[0]
    assert "appendfsync is everysec" in durability_problems({"appendonly": "yes", "appendfsync": "everysec"})[0]
    assert "evict" in durability_problems({"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "allkeys-lru"})[0]


async def test_serve_warns_when_redis_could_lose_acknowledged_data(make_redis: Any, tmp_path: Path) -> None:
    redis: RedisServer = make_redis()
    await redis.astart()
    url = f"{redis.url}/0"
    assert (await opened(url)).durability_problems == []  # the tests' own Redis is set up right
    async with aioredis.Redis(port=redis.port) as r:
        await r.config_set("appendfsync", "everysec")
    server = ServeProcess(write_hall_file(tmp_path / "hall.toml"), url, free_port(), tmp_path)
    await server.start()
    await server.stop()
    log = server.stderr.name
    text = Path(log).read_text(encoding="utf-8")
    assert "WARNING hallcall.store.redis: Redis at redis://127.0.0.1" in text and "appendfsync is everysec" in text


# -- keys and scripts ----------------------------------------------------------------------------------


async def test_halls_share_one_redis_without_seeing_each_other(redis_store_url: str, cfg: Any) -> None:
    one, two = await opened(redis_store_url, "taikang"), await opened(redis_store_url, "xihua")
    try:
        sc = Scenario(cfg)
        await one.commit(0, sc.day() + sc.issue()[1])
        assert (await two.load()).seq == 0 and await two.events_since(0) == []
        assert (await one.load()).seq == 2
        keys = [k async for k in one.r.scan_iter()]
        assert [k for k in keys if not k.startswith("hallcall:{taikang}:")] == ["hallcall:{xihua}:meta"]
    finally:
        await one.close()
        await two.close()


async def test_every_process_of_a_hall_shares_its_secrets(redis_store_url: str) -> None:
    one, two, other = [await opened(redis_store_url, h) for h in ("taikang", "taikang", "xihua")]
    try:
        salt = await one.secret("privacy-salt")
        assert len(salt) >= 32 and await two.secret("privacy-salt") == salt
        assert await other.secret("privacy-salt") != salt
    finally:
        for store in (one, two, other):
            await store.close()


async def test_the_commit_script_is_reloaded_after_script_flush(redis_store_url: str, cfg: Any) -> None:
    store = await opened(redis_store_url)
    try:
        sc = Scenario(cfg)
        await store.commit(0, sc.day())
        await store.r.script_flush()  # what a Redis restart does to loaded scripts
        await store.commit(1, sc.issue()[1])
        assert (await store.load()).seq == 2
    finally:
        await store.close()


async def test_the_stream_is_trimmed_by_age_and_history_stays(redis_store_url: str, cfg: Any) -> None:
    store = await opened(redis_store_url + "?stream_days=1")
    try:
        sc = Scenario(cfg)
        day1 = sc.day() + sc.issue()[1] + sc.issue()[1]
        await store.commit(0, day1)
        store.tail()  # a hall that loaded day 1 follows the log from here
        sc.now += timedelta(days=2)  # two days later: day 1 is past the one day kept
        day3 = sc.day() + sc.issue()[1]
        await store.commit(len(day1), day3)
        await asyncio.gather(*store._background)  # the trim a new day starts
        assert await store.first_seq() == day3[0].seq
        assert [e.seq for e in await store.events_since(0)] == [e.seq for e in day3]
        assert len(await store.tickets("2026-12-01", "2026-12-31")) == 3  # projections keep every ticket
        assert await store.prune_events("2027-01-01") == 0  # never the whole log
    finally:
        await store.close()


async def test_the_trim_keeps_what_the_hall_has_not_read_yet(redis_store_url: str, cfg: Any) -> None:
    """A new day's trim never drops entries this process's tail has not handed to the hall:
    with a clock set days ahead in a moment, the hall would miss them for good."""
    store = await opened(redis_store_url + "?stream_days=1")
    try:
        sc = Scenario(cfg)
        day1 = sc.day() + sc.issue()[1]
        await store.commit(0, day1)
        tail = store.tail().__aiter__()  # the hall loaded day 1 and follows from here
        sc.now += timedelta(days=1)
        day2 = sc.day() + sc.issue()[1]
        await store.commit(len(day1), day2)
        sc.now += timedelta(days=2)  # day 4: days 1 and 2 are both older than the day kept
        day4 = sc.day()
        await store.commit(len(day1) + len(day2), day4)
        await asyncio.gather(*store._background)
        assert await store.first_seq() == day2[0].seq  # day 1 went; day 2 is not read yet
        got = [(await asyncio.wait_for(tail.__anext__(), 10)).seq for _ in range(len(day2) + len(day4))]
        assert got == [e.seq for e in day2 + day4]  # no gap
        # Read now: the next day's trim drops it.
        sc.now += timedelta(days=1)
        day5 = sc.day()
        await store.commit(len(day1) + len(day2) + len(day4), day5)
        await asyncio.gather(*store._background)
        assert await store.first_seq() == day4[0].seq
        await tail.aclose()
    finally:
        await store.close()


# -- outages ------------------------------------------------------------------------------------------------


async def test_redis_down_means_fast_store_errors_and_the_tail_resumes(make_redis: Any, cfg: Any) -> None:
    redis: RedisServer = make_redis()
    await redis.astart()
    store = await opened(f"{redis.url}/0")
    seen: list[int] = []
    got = asyncio.Event()

    async def follow() -> None:
        async for event in store.tail():
            seen.append(event.seq)
            got.set()

    follower = asyncio.create_task(follow())
    try:
        sc = Scenario(cfg)
        await store.commit(0, sc.day())
        await asyncio.wait_for(got.wait(), 10)
        redis.kill()
        for call in (lambda: store.events_since(0), lambda: store.commit(1, sc.issue()[1]), lambda: store.person(login="x")):
            t0 = time.monotonic()
            with pytest.raises(StoreError, match="unavailable"):
                await call()
            assert time.monotonic() - t0 < 5
        sc = Scenario(cfg)  # the refused issue never happened: decide it again on the state as stored
        sc.day()
        await redis.astart()
        got.clear()
        more = sc.issue()[1]
        await store.commit(1, more)
        await asyncio.wait_for(got.wait(), 10)  # the tail reconnected by itself
        assert seen == [1] + [e.seq for e in more] and not follower.done()
    finally:
        follower.cancel()
        await store.close()


async def test_only_the_process_that_committed_an_event_claims_it(redis_store_url: str) -> None:
    # Webhooks post from the process that made an event, so several processes never post twice.
    from queue_server.service import auth
    from queue_server.service.hall import Hall

    cfg = config.load(HALL_FILE, store_url=redis_store_url)
    a, b = await opened(redis_store_url), await opened(redis_store_url)
    hall_a, hall_b = Hall(cfg, a), Hall(cfg, b)
    await hall_a.start(day_timer=False)
    await hall_b.start(day_timer=False)
    try:
        issued = await hall_a.execute("issue", auth.Principal("clerk", "p", "p"), service="pension")  # staff issue at any hour
        seq = hall_a.state.seq
        await asyncio.wait_for(hall_b.wait_dispatched(seq), 10)  # b has the event from the stream
        assert hall_b.state.ticket_by_token(issued["token"]) is not None
        assert hall_a.made_here(seq) and not hall_b.made_here(seq)
    finally:
        await hall_a.stop()
        await hall_b.stop()
        await a.close()
        await b.close()
