"""Benchmark: how long the staffing planner takes to plan the sample day for the 40-window hall.

    .venv/bin/python bench/plan.py [--runs 3] [--target-wait 20]

Each run builds the planner's model of tests/data/taikang-day.csv and searches every
zone's fewest windows per hour and all day (queue_server.sim.plan.advise), printing wall
and CPU seconds and how many days the search played.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_server.core import config  # noqa: E402
from queue_server.sim import plan  # noqa: E402
from queue_server.sim.arrivals import read_trace, settings  # noqa: E402

HALL = ROOT / "queue_server" / "halls" / "taikang.toml"
TRACE = ROOT / "tests" / "data" / "taikang-day.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--target-wait", type=float, default=None)
    args = parser.parse_args()
    cfg = config.load(HALL)
    arrivals = read_trace(TRACE)
    walls, cpus = [], []
    for _ in range(args.runs):
        played = 0
        model = plan.Model(cfg, arrivals, settings(cfg), args.target_wait)
        play = model.play

        def counted(*a, **kw):  # type: ignore[no-untyped-def]
            nonlocal played
            played += 1
            return play(*a, **kw)

        model.play = counted  # type: ignore[method-assign]
        w0, c0 = time.perf_counter(), time.process_time()
        plan.advise(model)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        print(f"wall {walls[-1]:.2f} s, CPU {cpus[-1]:.2f} s, {played} zone-days played, load {os.getloadavg()[0]:.1f}")
    print(f"median: wall {statistics.median(walls):.2f} s, CPU {statistics.median(cpus):.2f} s")


if __name__ == "__main__":
    main()
