"""``hallcall demo`` as a newcomer runs it: the banner, a kiosk ticket printed on the
virtual printer, a call announced by the embedded voice agent, a clean stop."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

from queue_server.cli import demo
from queue_server.core import config

from ...conftest import HALL_FILE, free_port  # type: ignore[import-not-found]


class Lines:
    """A child's output, line by line, awaited for what we expect."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.seen: list[str] = []

    async def until(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line, already seen or still to come, that matches (the agents log concurrently)."""
        for line in self.seen:
            found = re.search(pattern, line)
            if found:
                return found

        async def read() -> re.Match[str]:
            while True:
                raw = await self.stream.readline()
                if not raw:
                    raise AssertionError(f"the demo ended before {pattern!r}:\n" + "\n".join(self.seen[-40:]))
                line = raw.decode("utf-8", "replace").rstrip()
                self.seen.append(line)
                found = re.search(pattern, line)
                if found:
                    return found

        return await asyncio.wait_for(read(), timeout)


async def test_the_demo_prints_a_ticket_and_announces_its_call(tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "queue_server", "--log-level", "INFO", "demo", "--port", str(port),
        "--dir", str(tmp_path / "demo"), "--no-traffic",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
    assert proc.stdout is not None
    out = Lines(proc.stdout)
    try:
        kiosk = (await out.until(r"Kiosk \(取号机\)\s+http://\S+/kiosk\?token=(hc_\S+)")).group(1)
        await out.until(r"Clerk console\s+http://\S+/console\s+sign in as zhangwei / (\S+)")
        await out.until(r"No simulated citizens or clerks")
        await out.until(r"connected to .* as display")  # the voice agent follows the hall
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:  # the session cookie on 127.0.0.1
            async with s.post(base + "/api/v1/tickets", json={"service": "company-registration"},
                              headers={"Authorization": f"Bearer {kiosk}"}) as r:
                assert r.status == 201
                ticket = await r.json()
            # The device agent prints it on the virtual printer, which decodes the ESC/POS bytes.
            await out.until(r"printed a ticket")  # the first and only one
            printed = sorted((tmp_path / "demo" / "printed").glob("*.txt"))
            # The number is printed enlarged: shown in full-width forms.
            big = "\u3000".join(chr(ord(c) + 0xFEE0) for c in ticket["number"])
            assert printed and big in printed[-1].read_text(encoding="utf-8")

            async with s.post(base + "/api/v1/login", json={"login": "zhangwei", "password": "demo1234"}) as r:
                csrf = {"X-CSRF-Token": (await r.json())["csrf_token"]}
            async with s.post(base + "/api/v1/windows/1/open", json={}, headers=csrf) as r:
                assert r.status == 200, await r.text()
            async with s.post(base + "/api/v1/windows/1/call-next", headers=csrf) as r:
                assert r.status == 200 and (await r.json())["number"] == ticket["number"]
        wav = Path((await out.until(r"announcement written: (\S+\.wav)")).group(1))
        assert wav.is_file() and wav.stat().st_size > 10_000 and ticket["number"] in wav.name
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0


def test_a_kept_demo_goes_on_from_where_its_day_stopped() -> None:
    """``--keep``: the demo's day is the next working day, often ahead of the real date; a kept
    demo goes on from its last event, never back to an earlier day (which would close every window)."""
    cfg = config.load(HALL_FILE)
    now = datetime.now(timezone.utc)
    ahead = now + timedelta(days=3)
    assert abs((demo.demo_clock(cfg, resume=ahead).now() - ahead).total_seconds()) < 60
    behind = now - timedelta(days=3)  # a kept demo last run days ago goes on in real time
    assert abs((demo.demo_clock(cfg, resume=behind).now() - now).total_seconds()) < 60
