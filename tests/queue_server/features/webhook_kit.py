"""A real webhook receiver for tests: checks signatures as docs/webhooks.md tells receivers to,
refuses the first attempts of each event, can hold a delivery unanswered, and dedupes by seq."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any, Callable

from aiohttp import web

from ...conftest import free_port  # type: ignore[import-not-found]

SECRET = "whsec-test-0123456789abcdef"


def verify(secret: bytes, header: str, body: bytes, now: float) -> bool:
    """The verification recipe of docs/webhooks.md, written out independently of the sender."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now - timestamp) <= 300 and hmac.compare_digest(expected, parts["v1"])


class Receiver:
    def __init__(self, secret: str = SECRET, *, fail_first: int = 0) -> None:
        self.secret = secret.encode()
        self.fail_first = fail_first  # attempts of each event answered 503
        self.port = free_port()
        self.attempts: Counter[int] = Counter()
        self.got: dict[int, dict[str, Any]] = {}  # seq -> body, each event once
        self.duplicates: list[int] = []
        self.mismatched: list[int] = []  # duplicates whose body differed: must stay empty
        self.bad_signatures = 0
        self.hold: asyncio.Event | None = None  # set: requests wait for it before answering
        self.held = asyncio.Event()  # a request is being held
        self.changed = asyncio.Condition()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(self.secret, request.headers.get("X-Hallcall-Signature", "t=0,v1="), raw, time.time()):
            self.bad_signatures += 1
            return web.Response(status=401)
        body = json.loads(raw)
        seq = int(request.headers["X-Hallcall-Event-Seq"])
        assert body["seq"] == seq and request.headers["X-Hallcall-Event"] == body["type"]
        async with self.changed:
            self.attempts[seq] += 1
            self.changed.notify_all()
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        if self.attempts[seq] <= self.fail_first:
            return web.Response(status=503, text="not yet")
        async with self.changed:
            if seq in self.got:
                self.duplicates.append(seq)
                if self.got[seq] != body:
                    self.mismatched.append(seq)
            self.got[seq] = body
            self.changed.notify_all()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)  # a held request must not hold teardown
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def wait_until(self, done: Callable[[], bool], timeout: float = 30) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(done), timeout)


def endpoint_table(name: str, url: str, secret_file: str, events: str = '["*"]', **more: Any) -> str:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in more.items())
    return f'\n[webhooks.{name}]\nurl = "{url}"\nsecret_file = "{secret_file}"\nevents = {events}\n{extra}'
