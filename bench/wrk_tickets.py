"""Tickets per second at concurrency 32 with wrk, a load generator written in C.

Run by hand: ``.venv/bin/python bench/wrk_tickets.py [--seconds 10] [--connections 32]``
(needs ``wrk``: ``apt-get install wrk``). The same server, store and request as
``bench/http_load.py``, but the client costs a small fraction of the server's CPU, so
on a two-core machine the server gets nearly a core of its own. Every 201 counted here
is a ticket on disk (SQLite WAL, synchronous=FULL); the script checks the store holds
exactly as many tickets as wrk saw answered with 201.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from http_load import SERVICES
from serverproc import Server

LUA = """
local services = {%s}
local n = 0
request = function()
  n = n + 1
  local body = '{"service": "' .. services[(n %% #services) + 1] .. '"}'
  return wrk.format("POST", "/api/v1/tickets", {["Authorization"] = "Bearer %s", ["Content-Type"] = "application/json"}, body)
end
local created = 0
response = function(status, headers, body)
  if status == 201 then created = created + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non201=%%d\\n", summary.errors.status))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("p%%d=%%.3f\\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("requests=%%d\\n", summary.requests))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    server = Server()
    try:
        token = server.token("kiosk", "--kiosk", "bench")
        server.start()
        script = Path(tempfile.mkdtemp(prefix="hallcall-wrk-")) / "tickets.lua"
        script.write_text(LUA % (", ".join(f'"{s}"' for s in SERVICES), token), encoding="utf-8")
        cpu0 = server.cpu_seconds()
        out = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script),
                              server.base + "/api/v1/tickets"], capture_output=True, text=True, check=True).stdout
        cpu = server.cpu_seconds() - cpu0
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        fields = dict(line.split("=", 1) for line in out.splitlines() if re.match(r"^(non201|p\d+|requests)=", line))
        requests, non201 = int(fields["requests"]), int(fields["non201"])
        server.stop_process()
        with sqlite3.connect(server.dir / "hall.db") as db:
            stored = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
        print(f"connections {args.connections}: {rate:,.0f} tickets/s  p50 {fields['p50']} ms  p90 {fields['p90']} ms  "
              f"p99 {fields['p99']} ms  server CPU {cpu / max(1, requests) * 1000:.2f} ms/ticket")
        # wrk may cut the last in-flight requests at the deadline: those were still issued.
        print(f"answered 201: {requests - non201:,}  non-201: {non201}  tickets in the store: {stored:,}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
