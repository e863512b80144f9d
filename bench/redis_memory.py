"""Redis memory per ticket: issue and finish many tickets into a fresh Redis, read INFO memory.

Run by hand: ``.venv/bin/python bench/redis_memory.py [--tickets 50000] [--per-day 2000]``.

Days of the sample hall are played with the pure rules (no HTTP): all 40 windows open,
``--per-day`` tickets are issued across the services, every ticket is called, started
and finished, 60% are rated (one in ten of those badly, with reasons and a comment),
and the windows close at night. The events are committed through the real RedisStore
in batches, exactly as the hall commits them. Memory is Redis's ``used_memory`` after
minus before, with the whole stream (not trimmed here; in service only ``stream_days``
days of it stay), and again after deleting the stream: that is the projections
(tickets, visits, evaluations, window log, token index), which are kept. ``MEMORY
USAGE`` per key family gives the breakdown.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redisproc import RedisProc  # noqa: E402
from serverproc import HALL  # noqa: E402

from queue_server.core import config, rules  # noqa: E402
from queue_server.core.model import Status  # noqa: E402
from queue_server.core.rules import Tx  # noqa: E402
from queue_server.core.state import HallState  # noqa: E402
from queue_server.store.redis import RedisStore  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


async def play(store: RedisStore, cfg: config.HallConfig, tickets: int, per_day: int) -> tuple[int, int]:
    """Play whole days until ``tickets`` are done; returns (tickets, events) committed."""
    st = HallState(cfg)
    rnd = random.Random(1)
    services = list(cfg.services)
    pending: list = []
    committed = done = 0
    day = datetime(2026, 3, 2, 8, 30, tzinfo=TZ)

    async def flush(force: bool = False) -> None:
        nonlocal committed, pending
        if pending and (force or len(pending) >= 500):
            await store.commit(committed, pending)
            committed += len(pending)
            pending = []

    def run(now: datetime, fn, *args, **kw):  # type: ignore[no-untyped-def]
        tx = Tx(st, now, "person:bench")
        result = fn(tx, *args, **kw)
        pending.extend(tx.events)
        return result

    while done < tickets:
        now = day
        run(now, rules.roll_day)
        for n in cfg.windows:
            run(now, rules.open_window, n, {"id": f"p{n}", "name": f"窗口{n}", "staff_no": f"{n:04d}"})
        for i in range(min(per_day, tickets - done)):
            now += timedelta(seconds=10)
            run(now, rules.issue, rnd.choice(services), token=f"{rnd.getrandbits(128):032x}"[:22])
            await flush()
        busy = True
        while busy:
            busy = False
            for n in cfg.windows:
                now += timedelta(seconds=3)
                before = st.current_ticket(n)
                t = run(now, rules.call_next, n, closes_current=True)  # the keypad flow: next ends the ticket served
                finished = st.ticket(before.id) if before is not None else None
                # A route bundle's part done sends the ticket on to its next part: done at its last.
                if finished is not None and finished.status is Status.DONE:
                    done += 1
                    if rnd.random() < 0.6:
                        level = 1 if rnd.random() < 0.1 else rnd.choice([4, 5])
                        reasons = ["attitude"] if level == 1 else []
                        run(now, rules.evaluate, finished, level, reasons, "等待时间太长" if level == 1 else None)
                if t is not None:
                    run(now, rules.start, n)
                    busy = True
                await flush()
        for n in cfg.windows:
            run(now, rules.close_window, n)
        await flush(force=True)
        day += timedelta(days=1)
    await flush(force=True)
    return done, committed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--per-day", type=int, default=2_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hallcall-redis-mem-"))
    redis = RedisProc(work, "--save", "", "--appendonly", "no").start()  # persistence does not change memory
    port = redis.port
    try:
        text = re.sub(r"daily_limit = \d+", "daily_limit = 9999", HALL.read_text(encoding="utf-8"))
        cfg = config.loads(text + "\n[policy]\nissue_outside_hours = true\n", store_url=f"redis://127.0.0.1:{port}/0")
        # No trimming here, so the stream's cost per ticket can be measured; in service
        # only stream_days days of it stay.
        store = RedisStore(cfg.store_url + "?stream_days=100000", hall_id=cfg.hall.id)
        await store.open()
        r = aioredis.Redis(port=port, decode_responses=True)
        base = (await r.info("memory"))["used_memory"]
        t0 = time.perf_counter()
        done, events = await play(store, cfg, args.tickets, args.per_day)
        took = time.perf_counter() - t0
        used = (await r.info("memory"))["used_memory"] - base
        days = len(await r.zrange(store.keys.k("days"), 0, -1))
        families: dict[str, int] = {}
        async for key in r.scan_iter(match=store.keys.prefix + "*", count=1000):
            family = re.sub(r":\d{4}-\d{2}-\d{2}$", ":<day>", key[len(store.keys.prefix):])
            families[family] = families.get(family, 0) + (await r.memory_usage(key, samples=0) or 0)
        await store.close()
        await r.delete(store.keys.log)  # what stays once the stream is trimmed: the projections alone
        kept = ((await r.info("memory"))["used_memory"] - base) / done
        await r.aclose()
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    per = used / done
    print(f"tickets {done} over {days} days, {events} events ({events / done:.1f} per ticket), played in {took:.0f} s")
    print(f"used_memory growth {used / 2**20:.1f} MiB = {per:.0f} B/ticket; after deleting the stream "
          f"{kept:.0f} B/ticket (the projections); MEMORY USAGE by key family:")
    for family, size in sorted(families.items(), key=lambda kv: -kv[1]):
        print(f"  {family:<22} {size / 2**20:8.1f} MiB  {size / done:7.0f} B/ticket")
    print(f"per 1,000,000 tickets: projections (kept) {kept * 1e6 / 2**30:.2f} GiB; "
          f"stream, if all of it were retained, {(per - kept) * 1e6 / 2**30:.2f} GiB")


if __name__ == "__main__":
    asyncio.run(main())
