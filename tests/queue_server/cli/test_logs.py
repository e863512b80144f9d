"""Logs: ``--log-format json`` (one object per line, a request id from HTTP to the events' seqs), and no
bearer secret in any line: device tokens in page addresses, citizens' tracking tokens."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from queue_server.cli.logs import redact

from ...conftest import ServeProcess, free_port, run_cli, write_hall_file  # type: ignore[import-not-found]

FIELDS = {"time", "level", "logger", "event", "hall"}


async def test_json_logs_follow_a_request_to_its_events_and_keep_secrets_out(tmp_path: Path) -> None:
    hall_file = write_hall_file(tmp_path / "hall.toml")
    store = f"sqlite://{tmp_path}/hall.db"
    made = run_cli("token", "add", "--config", str(hall_file), "--store", store, "--role", "kiosk", "--kiosk", "k1")
    assert made.returncode == 0, made.stderr
    kiosk = made.stdout.strip().splitlines()[-1]
    display = run_cli("token", "add", "--config", str(hall_file), "--store", store, "--role", "display")
    screen = display.stdout.strip().splitlines()[-1]
    made = run_cli("token", "add", "--config", str(hall_file), "--store", store, "--role", "agent", "--kiosk", "k1")
    agent = made.stdout.strip().splitlines()[-1]
    proc = ServeProcess(hall_file, store, free_port(), tmp_path, options=("--log-format", "json", "--log-level", "INFO"),
                        serve_options=("--access-log",))
    await proc.start()
    try:
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {kiosk}", "X-Request-Id": "kiosk-7f3a"}
            async with s.post(proc.base + "/api/v1/tickets", json={"service": "social-card"}, headers=headers) as r:
                assert r.status == 201
                assert r.headers["X-Request-Id"] == "kiosk-7f3a"
                ticket = await r.json()
            async with s.get(proc.base + "/api/v1/health") as r:
                seq = (await r.json())["seq"]
                generated = r.headers["X-Request-Id"]
            bad = {"Authorization": f"Bearer {kiosk}", "X-Request-Id": "two words; and <more>"}
            async with s.post(proc.base + "/api/v1/tickets", json={"service": "nope"}, headers=bad) as r:
                assert r.status in (400, 404, 422)
                replaced = r.headers["X-Request-Id"]
            async with s.get(proc.base + f"/display/hall?token={screen}") as r:
                assert r.status == 200
            async with s.ws_connect(proc.base.replace("http", "ws") + "/ws") as ws:  # the same path over the WebSocket
                await ws.send_json({"type": "hello", "token": agent, "topics": ["hall"]})
                await ws.receive_json(timeout=10)
                await ws.send_json({"type": "command", "id": 1, "name": "device_status", "device": "printer-k1",
                                    "kind": "printer", "status": "paper_out", "kiosk": "k1"})
                while (reply := await ws.receive_json(timeout=10))["type"] != "result":
                    pass
                assert reply["ok"], reply
    finally:
        assert await proc.kill(signal.SIGTERM) == 0
    text = Path(proc.stderr.name).read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert lines and all(FIELDS <= line.keys() and line["hall"] == "taikang" for line in lines)
    [committed] = [line for line in lines if line.get("request_id") == "kiosk-7f3a" and "seq" in line]
    assert committed["logger"] == "hallcall.hall" and committed["principal"] == "kiosk"
    assert committed["seq_last"] == seq  # the last event committed before /health was asked
    assert f"{committed['seq']} ticket.issued" in committed["event"]
    access = [line for line in lines if line.get("request_id") == "kiosk-7f3a" and line.get("path")]
    assert access and access[0]["method"] == "POST" and access[0]["status"] == 201
    assert len(generated) == 16 and any(line.get("request_id") == generated for line in lines)
    assert replaced != "two words; and <more>" and len(replaced) == 16
    # The agent's report, then (as its connection ends at shutdown) its printer marked offline.
    by_ws = [line for line in lines if "device.status" in line["event"] and "seq" in line][0]
    assert by_ws["principal"] == "agent" and len(by_ws["request_id"]) == 16
    assert kiosk not in text and agent not in text and screen not in text and ticket["token"] not in text


def test_the_log_format_is_checked(tmp_path: Path) -> Any:
    out = run_cli("--log-format", "xml", "config", "check", str(write_hall_file(tmp_path / "hall.toml")))
    assert out.returncode == 2 and "--log-format" in out.stderr


DEVICE = "hc_Qm9vb0Jvb0Jvb0Jvb0Jvb0Jvb0Jv"
TRACKING = "x7Yk2pQw9Rt5Lm3Nb8Vc1Z"


@pytest.mark.parametrize("line", [
    f'127.0.0.1 [03/Dec/2026:10:00:00 +0800] "GET /kiosk?token={DEVICE} HTTP/1.1" 200 5120 "-" "Mozilla/5.0"',
    f'"GET /display/hall?zone=social&token={DEVICE}&lang=en HTTP/1.1" 200',
    f'"GET /t/{TRACKING} HTTP/1.1" 200 "http://hall/t/{TRACKING}"',
    f"unexpected error on DELETE /api/v1/tickets/{TRACKING}",
    f'hello {{"type": "hello", "token": "{DEVICE}", "topics": ["ticket:{TRACKING}"]}}',
    f"Authorization: Bearer {DEVICE}",
    f"agent connecting with {DEVICE}",
])
def test_redact_removes_every_bearer_secret(line: str) -> None:
    clean = redact(line)
    assert DEVICE not in clean and TRACKING not in clean and DEVICE[3:] not in clean
    assert "[redacted]" in clean


def test_redact_leaves_ordinary_lines_alone() -> None:
    for line in ('"GET /api/v1/hall HTTP/1.1" 200', "unknown or revoked token", "hall taikang ready at seq 12",
                 '"GET /pad/3?idle=30 HTTP/1.1" 200'):
        assert redact(line) == line


async def test_the_access_log_of_hallcall_serve_has_no_tokens(serve_process: ServeProcess) -> None:
    serve_process.args, serve_process.log_level = ["--access-log"], "INFO"
    await serve_process.start()
    async with aiohttp.ClientSession() as s:
        for path in (f"/kiosk?token={DEVICE}", f"/display/hall?token={DEVICE}&lang=en", f"/t/{TRACKING}",
                     f"/api/v1/tickets/{TRACKING}"):
            async with s.get(serve_process.base + path, headers={"Authorization": f"Bearer {DEVICE}"}) as resp:
                await resp.read()
    await serve_process.stop()  # the access log is written once each answer is out; stopping flushes it all
    log = open(serve_process.stderr.name, encoding="utf-8").read()
    assert DEVICE[3:] not in log and TRACKING not in log, log
    assert "/t/[redacted]" in log and "/api/v1/tickets/[redacted]" in log
