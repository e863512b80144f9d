"""No bearer secret reaches a log line: device tokens in page addresses, citizens' tracking tokens."""

from __future__ import annotations

import aiohttp
import pytest

from queue_server.cli.logs import redact

from ...conftest import ServeProcess  # type: ignore[import-not-found]

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
    assert log.count("[redacted]") >= 4 and "/kiosk?token=[redacted]" in log
