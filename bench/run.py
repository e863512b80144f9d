"""Run the benchmarks in one sitting and write their figures into docs/benchmarks.md.

    .venv/bin/python bench/run.py [--only call_next,startup,...] [--skip ws_fanout] [--dry-run]

Each benchmark script runs as a child process, one after another, and its output is
read as it comes: every figure is noted with the machine's load average (1 minute) at
the moment it was printed, because on a shared machine a figure means little without
it. CPU milliseconds per operation and ratios are the figures to compare across
sittings; rates and latencies move with the load. The table replaces the section
between the ``bench/run.py`` markers in docs/benchmarks.md (``--dry-run`` prints it
instead). Benchmarks whose tools are missing (redis-server) are left out and said so.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench/run.py: begin (generated; edit bench/run.py, not this section) -->"
END = "<!-- bench/run.py: end -->"


@dataclass
class Figure:
    bench: str
    what: str
    value: str
    ratio: str
    load: float


Parser = Callable[[str], Iterator[tuple[str, str, str]]]  # a line -> (what, value, ratio)


@dataclass
class Bench:
    name: str
    args: list[str]
    parse: Parser
    needs: tuple[str, ...] = ()
    figures: list[Figure] = field(default_factory=list)

    @property
    def command(self) -> str:
        return " ".join([".venv/bin/python", f"bench/{self.name}.py", *self.args])


def _result(line: str) -> dict[str, str] | None:
    """``RESULT name key=value ...`` lines, printed by the scripts for this runner."""
    if not line.startswith("RESULT "):
        return None
    return dict(part.split("=", 1) for part in line.split()[2:])


def call_next(line: str) -> Iterator[tuple[str, str, str]]:
    r = _result(line)
    if r is not None:
        yield (f"call-next, {int(r['waiting']):,} waiting: CPU ms per call", f"{float(r['cpu_ms']):.3f}",
               f"{float(r['ratio']):.2f}× the throughput at the smallest queue")


def startup(line: str) -> Iterator[tuple[str, str, str]]:
    r = _result(line)
    if r is not None:
        yield "start-up, 1,000,000 tickets of history: seconds to ready (median)", r["ready_s"], f"{float(r['ready_s']):.2f}× the 1 s target"
        yield "start-up: CPU seconds to ready", r["cpu_s"], ""
        yield "start-up: RSS MB once ready", r["rss_mb"], f"{float(r['rss_mb']) / 70:.2f}× the 70 MB target"


def reconnect_storm(line: str) -> Iterator[tuple[str, str, str]]:
    r = _result(line)
    if r is not None:
        yield (f"{int(r['screens']):,} screens resynced after a SIGKILL and a restart 0.5 s later: seconds (median of runs)",
               r["all_s"], f"{float(r['all_s']) / 2:.2f}× the 2 s target")


_HTTP_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")
_http_base: dict[str, float] = {}


def http_load(line: str) -> Iterator[tuple[str, str, str]]:
    m = _HTTP_ROW.match(line)
    if m:
        concurrency, rate, cpu = m.group(1), m.group(2), float(m.group(5))
        base = _http_base.setdefault("cpu", cpu)
        yield (f"issue a ticket over HTTP, concurrency {concurrency}: server CPU ms per ticket ({rate} tickets/s)",
               f"{cpu:.3f}", f"{cpu / base:.2f}× the CPU at concurrency 1")


_REPLAY = re.compile(r"run \d+: ([\d.]+) s wall, ([\d.]+) s CPU, (\d+) tickets, (\d+) events in (\d+) commits")


def replay(line: str) -> Iterator[tuple[str, str, str]]:
    m = _REPLAY.search(line)
    if m:
        cpu, events, commits = float(m.group(2)), int(m.group(4)), int(m.group(5))
        yield (f"replay the sample day ({events:,} events): CPU ms per commit", f"{cpu * 1000 / commits:.3f}",
               f"{events / commits:.2f} events per commit")


_FANOUT = re.compile(r"^\s*(\d+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+([\d.]+)%"
                     r"(?:\s+(-?[\d.]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+[\d.]+)?\s*$")


def ws_fanout(line: str) -> Iterator[tuple[str, str, str]]:
    m = _FANOUT.match(line)
    if m:
        load = f", {m.group(7)} tickets/s issued meanwhile" if m.group(7) else ""
        yield (f"call → event at {m.group(1)} WebSocket clients{load}: p99 ms (p50 {m.group(2)})", m.group(3),
               f"{m.group(5)}% delivered")
        if m.group(9):
            yield f"fan-out at {m.group(1)} WebSocket clients: server CPU ms per event", m.group(9), ""
    m2 = re.search(r"server RSS with (\d+) clients and (\d+) tickets: ([\d.]+) MB", line)
    if m2:
        yield f"server RSS with {m2.group(1)} clients and {m2.group(2)} tickets, MB", m2.group(3), ""


_MULTI = re.compile(r"^(SQLite, 1 process|Redis, 1 process|Redis, 2 processes)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+([\d.]+|—|-)")
_multi_base: dict[str, float] = {}


def multi_instance(line: str) -> Iterator[tuple[str, str, str]]:
    m = _MULTI.match(line)
    if m:
        name, cpu = m.group(1), float(m.group(3))
        redis = m.group(4)
        total = cpu + (float(redis) if redis[0].isdigit() else 0.0)
        base = _multi_base.setdefault("sqlite", total)
        yield (f"{name}: CPU ms per ticket, servers + redis-server ({m.group(2)} tickets/s)", f"{total:.3f}",
               f"{total / base:.2f}× SQLite's")


_TOPICS = re.compile(r"^(none|attacker|after)\s+issue p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms\s+(\d+) tickets/s")


def ws_topics(line: str) -> Iterator[tuple[str, str, str]]:
    m = _TOPICS.match(line)
    if m:
        who = {"none": "nobody following", "attacker": "one socket full of made-up topics", "after": "after it left"}
        yield f"issue a ticket, {who[m.group(1)]}: p99 ms (p50 {m.group(2)})", m.group(3), f"{m.group(4)} tickets/s"


_FLOOD = re.compile(r"^(quiet|flood): health p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms")


def login_flood(line: str) -> Iterator[tuple[str, str, str]]:
    m = _FLOOD.match(line)
    if m:
        yield f"health check, {'during a flood of wrong passwords' if m.group(1) == 'flood' else 'quiet'}: p50 ms", m.group(2), f"p99 {m.group(3)} ms"


BENCHES = [
    Bench("call_next", ["--calls", "300"], call_next),
    Bench("startup", ["--runs", "5"], startup),
    Bench("http_load", ["--requests", "4000"], http_load),
    Bench("replay", ["--runs", "2"], replay),
    Bench("ws_fanout", ["--calls", "100"], ws_fanout),
    Bench("reconnect_storm", ["--runs", "3"], reconnect_storm),
    Bench("ws_topics", ["--tickets", "200"], ws_topics),
    Bench("login_flood", [], login_flood),
    Bench("multi_instance", ["--tickets", "4000", "--calls", "100"], multi_instance, needs=("redis-server",)),
]


def run(bench: Bench) -> None:
    """Run one benchmark, echoing its output, and note each figure with the load of that moment."""
    print(f"== {bench.command}", flush=True)
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / f"{bench.name}.py"), *bench.args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"   {line}", end="", flush=True)
        for what, value, ratio in bench.parse(line.rstrip("\n")):
            bench.figures.append(Figure(bench.name, what, value, ratio, os.getloadavg()[0]))
    if proc.wait() != 0:
        bench.figures.append(Figure(bench.name, f"failed (exit {proc.returncode})", "", "", os.getloadavg()[0]))


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model or platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def section(benches: list[Bench], skipped: list[str], command: str, took: float) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        "",
        f"Measured {now} in one sitting ({took / 60:.0f} min) on {machine()}; shared with other",
        "work while measuring, so read each figure with the load average (1 minute, on 2 cores) beside it.",
        f"Command: `{command}`. Each script's own command is in the first column.",
        "",
        "| benchmark | figure | value | ratio | load avg |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for bench in benches:
        for f in bench.figures:
            lines.append(f"| `{bench.command}` | {f.what} | {f.value} | {f.ratio} | {f.load:.1f} |")
    if skipped:
        lines += ["", "Not run in this sitting: " + "; ".join(skipped) + "."]
    lines += ["", END]
    return "\n".join(lines)


def write(doc: Path, text: str) -> None:
    old = doc.read_text(encoding="utf-8")
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n## All benchmarks in one sitting\n\n" + text + "\n"
    doc.write_text(new, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names to leave out")
    parser.add_argument("--dry-run", action="store_true", help="print the section instead of writing docs/benchmarks.md")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}; there are {', '.join(b.name for b in BENCHES)}")
    chosen, skipped = [], []
    for bench in BENCHES:
        if (only and bench.name not in only) or bench.name in skip:
            continue
        missing = [tool for tool in bench.needs if shutil.which(tool) is None]
        if missing:
            skipped.append(f"{bench.name} (needs {', '.join(missing)})")
            continue
        chosen.append(bench)
    started = time.perf_counter()
    for bench in chosen:
        run(bench)
    command = " ".join([".venv/bin/python bench/run.py", *sys.argv[1:]])
    text = section(chosen, skipped, command, time.perf_counter() - started)
    if args.dry_run:
        print(text)
    else:
        write(DOC, text)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
