"""A throwaway ``redis-server`` for benchmarks, on a free port in its own directory. Not a test."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from serverproc import free_port

# What docs/deployment.md requires of a production Redis: nothing acknowledged is lost.
DURABLE = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")


class RedisProc:
    def __init__(self, dir: Path, *options: str) -> None:
        self.dir = dir
        self.port = free_port()
        self.options = options or DURABLE
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisProc:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                                      "--logfile", "", *self.options], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if b"Ready to accept connections" in line:
                # Keep draining its log so it never blocks on a full pipe.
                threading.Thread(target=lambda out: [None for _ in out], args=(self.proc.stdout,), daemon=True).start()
                return self
        raise RuntimeError("redis-server did not start")

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        return out.split()[2].removeprefix("v=") if out else "?"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
