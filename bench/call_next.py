"""Benchmark: CPU per call-next with 100, 1,000, 10,000 and 100,000 citizens waiting.

    .venv/bin/python bench/call_next.py [--waiting 100,1000,10000,100000] [--calls 300]

For each size: a real Hall (every feature of the catalog, its hooks in every decision)
on a new SQLite file, the sample hall's services each given an even share of the
waiting tickets (a fifth of them green channel), then window 3's call keypad calls the
next ticket ``--calls`` times, each press finishing the previous citizen as a keypad's
"next" key does (the console asks for the outcome first), while one new citizen joins one
of the window's queues before each call (so the hall keeps the same number waiting). Measured: the process's CPU time in
the call-next alone (the store's thread included), which moves less than wall time on a
shared machine, and the throughput ratio to the smallest size. Prints one line per size and ``RESULT`` lines that
``bench/run.py`` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_server.core import config  # noqa: E402
from queue_server.features import catalog  # noqa: E402
from queue_server.service import auth  # noqa: E402
from queue_server.service.hall import Hall  # noqa: E402
from queue_server.store import open_store  # noqa: E402
from queue_server.core.model import DeviceToken, Person  # noqa: E402

HALL = ROOT / "queue_server" / "halls" / "taikang.toml"
WINDOW = 3
ISSUE_BATCH = 500  # tickets issued at once: one group commit each
WARM_UP = 20


def _priority(n: int) -> str:
    return "green" if n % 5 == 0 else "normal"


def hall_config(url: str) -> config.HallConfig:
    text = re.sub(r"daily_limit = \d+", "daily_limit = 9999", HALL.read_text(encoding="utf-8"))
    cfg = config.loads(text + "\n[policy]\nissue_outside_hours = true\n", store_url=url)
    return replace(cfg, limits=cfg.limits.issuing_lifted())  # one bench kiosk stands for the whole hall


async def one(dir: Path, waiting: int, calls: int) -> tuple[float, float]:
    """CPU ms and wall ms per call-next with ``waiting`` tickets in the hall's queues."""
    url = f"sqlite://{dir}/hall-{waiting}.db"
    cfg = hall_config(url)
    store = open_store(url, hall_id=cfg.hall.id)
    await store.open()
    hall = Hall(cfg, store, features=catalog.build(cfg))
    await hall.start(day_timer=False, tickers=False)
    try:
        person = Person("bench-clerk", "bench-clerk", "叫号测试", "clerk", staff_no="B001")
        await store.put_person(person)
        clerk = auth.from_person(person)
        kiosk = auth.from_device(DeviceToken("bench-kiosk", "kiosk", "bench kiosk", "", green=True))
        # The window's call keypad: its one "next" key finishes the citizen at the window and
        # calls the next (a console asks for the outcome first, a separate command).
        keypad = auth.from_device(DeviceToken("bench-keypad", "agent", "bench keypad", "", windows=(WINDOW,)))
        services = list(cfg.services)
        for start in range(0, waiting, ISSUE_BATCH):
            await asyncio.gather(*(
                hall.execute("issue", kiosk, service=services[n % len(services)], priority=_priority(n))
                for n in range(start, min(waiting, start + ISSUE_BATCH))))
        await hall.execute("open", clerk, window=WINDOW)
        mine = cfg.windows[WINDOW].services
        cpu = wall = 0.0
        for n in range(WARM_UP + calls):
            # One citizen joins for each one called, so the hall keeps ``waiting`` in its queues.
            await hall.execute("issue", kiosk, service=mine[n % len(mine)], priority=_priority(n))
            wall0, cpu0 = time.perf_counter(), time.process_time()
            await hall.execute("call_next", keypad, window=WINDOW)
            if n >= WARM_UP:
                cpu += time.process_time() - cpu0
                wall += time.perf_counter() - wall0
        return cpu * 1000 / calls, wall * 1000 / calls
    finally:
        await hall.stop()
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", default="100,1000,10000,100000")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(x) for x in args.waiting.split(",")]
    base: float | None = None
    with tempfile.TemporaryDirectory(prefix="hallcall-callnext-") as tmp:
        for size in sizes:
            load = os.getloadavg()[0]
            cpu_ms, wall_ms = asyncio.run(one(Path(tmp), size, args.calls))
            base = base or cpu_ms
            ratio = base / cpu_ms  # throughput at this size over throughput at the smallest
            print(f"{size:>7,} waiting: {cpu_ms:.3f} CPU ms per call-next, {wall_ms:.3f} wall ms, "
                  f"throughput {ratio:.2f}x of {sizes[0]:,} waiting (load {load:.1f})", flush=True)
            print(f"RESULT call_next waiting={size} cpu_ms={cpu_ms:.4f} ratio={ratio:.3f} load={load:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
