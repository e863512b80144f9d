"""Start a real ``hallcall serve`` for benchmarks, with a fresh store and tokens. Not a test."""

from __future__ import annotations

import compileall
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HALL = ROOT / "queue_server" / "halls" / "taikang.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@cache
def compiled() -> None:
    """Bring the bytecode of this checkout and of the environment's packages up to date.

    An installed hallcall has it (pip compiles a wheel's modules). A checkout run with
    PYTHONDONTWRITEBYTECODE set, or a virtual environment copied without its files'
    times, has none that Python accepts, and each server would compile aiohttp, jinja2
    and hallcall from source as it starts: about half its start-up CPU.
    """
    for path in (ROOT / "queue_server", ROOT / "devices", ROOT / "displays", ROOT / "voice",
                 *{Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}):
        compileall.compile_dir(path, quiet=2)


class Server:
    """A ``hallcall serve`` child process on a fresh store (SQLite by default)."""

    def __init__(self, store: str | None = None, port: int | None = None, workdir: Path | None = None) -> None:
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="hallcall-bench-"))
        self.hall = self.dir / "hall.toml"
        # Benchmarks issue far more than a real day's limits allow.
        text = re.sub(r"daily_limit = \d+", "daily_limit = 9999", HALL.read_text(encoding="utf-8"))
        # Benchmarks take tickets far faster than citizens do: the issuing limits are lifted.
        text += "\n[limits]\nkiosk_burst = 1000000\naddress_burst = 1000000\nphone_burst = 1000000\n"
        self.hall.write_text(text + "\n[policy]\nissue_outside_hours = true\n", encoding="utf-8")
        self.store = store or f"sqlite://{self.dir}/hall.db"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "queue_server", *args, "--config", str(self.hall), "--store", self.store],
                             capture_output=True, text=True, check=True, cwd=self.dir)
        return out.stdout.strip().splitlines()[-1]

    def token(self, role: str, *extra: str) -> str:
        return self.cli("token", "add", "--role", role, *extra)

    def user(self, login: str, role: str = "clerk", staff_no: str = "") -> None:
        subprocess.run([sys.executable, "-m", "queue_server", "user", "add", "--config", str(self.hall), "--store", self.store,
                        "--role", role, "--login", login, "--name", login, "--staff-no", staff_no, "--password-stdin"],
                       input="bench-password\n", capture_output=True, text=True, check=True, cwd=self.dir)

    def start(self) -> None:
        compiled()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "queue_server", "--log-level", "WARNING", "serve", "--config", str(self.hall),
             "--store", self.store, "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.PIPE, cwd=self.dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)},  # this checkout's code, installed or not
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if b" ready: " in line:
                return
            if not line:
                break
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (robust to a busy machine)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop_process(self) -> None:
        """Stop the server (SIGTERM, as systemd does) and keep its store for reading."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def stop(self) -> None:
        self.stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)
