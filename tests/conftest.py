"""Fixtures shared by every test: the sample hall, a manual clock, real stores, real servers.

Nothing of hallcall is mocked here. ``server`` runs the real aiohttp application on a
real socket over a real store; ``serve_process`` runs ``hallcall serve`` as a child
process for tests that kill it. Tests whose subject is the store (its contract, the
facts reports read, the records features keep, durability) are marked ``every_store``
and run on every store implementation in ``STORES``; the others (HTTP, WebSocket, roles,
pages, agents) run on the embedded SQLite store only, since the store is not what they test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.features import catalog
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store import open_store
from queue_server.web.app import make_app

PROJECT = Path(__file__).resolve().parent.parent
HALL_FILE = PROJECT / "queue_server" / "halls" / "taikang.toml"
DATA_DIR = Path(__file__).resolve().parent / "data"
TZ = ZoneInfo("Asia/Shanghai")
# A Tuesday morning inside business hours.
OPEN_TIME = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
PASSWORD = "secret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- stores ----------------------------------------------------------------------------------

STORES = ["sqlite", "redis"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "every_store: run this test on every store implementation, not on SQLite only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_spec" not in metafunc.fixturenames:
        return
    every = metafunc.definition.get_closest_marker("every_store") is not None
    metafunc.parametrize("store_spec", STORES if every else STORES[:1], indirect=True)


@dataclass
class StoreSpec:
    kind: str
    url: str


@pytest.fixture
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    kind = request.param
    if kind == "sqlite":
        return StoreSpec(kind, f"sqlite://{tmp_path}/hall.db")
    factory = request.getfixturevalue(f"{kind}_store_url")
    return StoreSpec(kind, factory)


class RedisServer:
    """A real ``redis-server`` child on its own port and directory: AOF fsynced on every write, no RDB.

    Readiness is the server's own "Ready to accept connections" line, which Redis
    prints only once it has loaded its append-only file.
    """

    DATABASES = 1000  # tests sharing one server each take a database of their own

    def __init__(self, dir: Path, port: int | None = None, *args: str) -> None:
        self.dir = dir
        self.port = port or free_port()
        self.args = args  # more redis-server options, e.g. "--requirepass", "pw"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.proc = subprocess.Popen(
            [require_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--databases", str(self.DATABASES),
             "--logfile", "", "--daemonize", "no", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        ready = threading.Event()
        log_path = self.dir / f"redis-{self.starts}.log"

        def drain(out: Any) -> None:
            with open(log_path, "wb") as log:
                for line in out:
                    log.write(line)
                    log.flush()
                    if b"Ready to accept connections" in line:
                        ready.set()
            ready.set()  # exited: start() reports it

        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError(f"redis-server did not start: see {log_path}")

    async def astart(self, timeout: float = 30) -> None:
        await asyncio.to_thread(self.start, timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def flush_db(self, db: int) -> None:
        import redis

        with redis.Redis(port=self.port, db=db) as r:
            r.flushdb()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One redis-server for the whole run; tests that kill Redis start their own (``make_redis``)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill(signal.SIGTERM)


_redis_dbs = iter(range(1, RedisServer.DATABASES * 1000))


@pytest.fixture
def redis_store_url(redis_server: RedisServer) -> str:
    """A store URL on a database of the shared redis-server that no earlier test used (flushed anyway)."""
    db = next(_redis_dbs) % RedisServer.DATABASES or 1
    redis_server.flush_db(db)
    return f"{redis_server.url}/{db}"


@pytest.fixture
def make_redis(tmp_path: Path) -> Any:
    """Start redis-servers of a test's own, which it may kill; all are killed at teardown."""
    servers: list[RedisServer] = []

    def make(*args: str) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}", None, *args)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()


# Tests drive kiosks far faster than citizens do: the sample hall's issuing limits are lifted
# here; the tests of the limits themselves (web/test_issue_limits.py) set their own.
LIFTED_LIMITS_TOML = "\n[limits]\nkiosk_burst = 1000000000\naddress_burst = 1000000000\nphone_burst = 1000000000\n"


def lifted(cfg: config.HallConfig) -> config.HallConfig:
    return replace(cfg, limits=cfg.limits.issuing_lifted())


@pytest.fixture
def hall_config(store_spec: StoreSpec) -> config.HallConfig:
    return lifted(config.load(HALL_FILE, store_url=store_spec.url))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPEN_TIME)


@pytest.fixture
async def store(hall_config: config.HallConfig) -> AsyncIterator[Any]:
    s = open_store(hall_config.store_url, hall_id=hall_config.hall.id)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def hall(hall_config: config.HallConfig, store: Any, clock: ManualClock) -> AsyncIterator[Hall]:
    """A running Hall with every feature, as a server has; tests run its checks (``hall.check``) themselves."""
    h = Hall(hall_config, store, clock, features=catalog.build(hall_config))
    await h.start(day_timer=False, tickers=False)
    yield h
    await h.stop()


# -- a running server and clients --------------------------------------------------------------


class Http:
    """A JSON client for one caller: anonymous, a bearer token, or a signed-in person."""

    def __init__(self, base: str, *, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.csrf: str | None = None
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.last_headers: dict[str, str] = {}  # the headers of the last answer (Retry-After…)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        h = dict(extra or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if self.csrf:
            h["X-CSRF-Token"] = self.csrf
        return h

    async def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        h = self._headers(headers)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.base + path, data=data, headers=h) as resp:
            self.last_headers = dict(resp.headers)
            text = await resp.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text
            return resp.status, payload

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.request("POST", path, body if body is not None else {}, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.request("PUT", path, body if body is not None else {}, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("DELETE", path, **kw)

    async def login(self, login: str, password: str = PASSWORD) -> dict[str, Any]:
        status, data = await self.post("/api/v1/login", {"login": login, "password": password})
        assert status == 200, data
        self.csrf = data["csrf_token"]
        return data

    async def close(self) -> None:
        await self.session.close()


class Harness:
    """A real hallcall server on a free port, with helpers to create people and tokens."""

    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app
        self._clients: list[Http] = []

    @property
    def hall(self) -> Hall:
        from queue_server.web.http import HALL_KEY

        return self.app[HALL_KEY]

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def client(self, token: str | None = None) -> Http:
        c = Http(self.base, token=token)
        self._clients.append(c)
        return c

    async def token(self, role: str, *, windows: tuple[int, ...] = (), kiosk: str = "", green: bool = False) -> str:
        secret, _ = await self.hall.auth.add_token(role, f"test {role}", windows=windows, kiosk=kiosk, green=green)
        return secret

    async def person(self, login: str, role: str = "clerk", *, staff_no: str = "", windows: tuple[int, ...] = (),
                     name: str | None = None) -> Any:
        p = auth.new_person(login, name or login, role, PASSWORD, staff_no=staff_no, windows=windows)
        await self.hall.store.put_person(p)
        return p

    async def clerk_at(self, window: int, login: str | None = None) -> Http:
        """A signed-in clerk who has opened a window."""
        login = login or f"clerk{window}"
        await self.person(login, staff_no=f"{window:04d}")
        c = self.client()
        await c.login(login)
        status, body = await c.post(f"/api/v1/windows/{window}/open")
        assert status == 200, body
        return c

    async def kiosk(self, kiosk: str = "k1", *, green: bool = False) -> Http:
        return self.client(await self.token("kiosk", kiosk=kiosk, green=green))

    async def close(self) -> None:
        for c in self._clients:
            await c.close()


@pytest.fixture
async def make_server(hall_config: config.HallConfig, clock: ManualClock) -> AsyncIterator[Any]:
    """Start real servers on free ports (``cfg`` replaces the hall); other keyword arguments go to ``make_app``."""
    from aiohttp import web

    started: list[tuple[Harness, web.AppRunner]] = []

    async def make(*, cfg: config.HallConfig | None = None, **app_kwargs: Any) -> Harness:
        app = make_app(cfg or hall_config, clock=clock, **app_kwargs)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        h = Harness(f"http://127.0.0.1:{port}", app)
        started.append((h, runner))
        return h

    yield make
    for h, runner in reversed(started):
        await h.close()
        await runner.cleanup()


@pytest.fixture
async def server(make_server: Any) -> Harness:
    return await make_server()


# -- a hallcall serve child process -------------------------------------------------------------


class ServeProcess:
    """``hallcall serve`` in a child process, on a fixed port, restartable on the same store."""

    def __init__(self, hall_file: Path, store_url: str, port: int, log_dir: Path, env: dict[str, str] | None = None,
                 options: tuple[str, ...] = (), serve_options: tuple[str, ...] = ()) -> None:
        self.env = {**os.environ, **(env or {})}
        self.options = options  # hallcall's own, before "serve"
        self.serve_options = serve_options
        self.hall_file = hall_file
        self.store_url = store_url
        self.port = port
        self.log_dir = log_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.args: list[str] = []  # more ``hallcall serve`` options, e.g. "--access-log"
        self.log_level = "WARNING"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30) -> None:
        self.starts += 1
        self.stderr = open(self.log_dir / f"serve-{self.port}-{self.starts}.log", "wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "queue_server", "--log-level", self.log_level, *self.options, "serve",
            "--config", str(self.hall_file), "--store", self.store_url, "--host", "127.0.0.1", "--port", str(self.port),
            *self.serve_options, *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=self.stderr, cwd=str(self.log_dir), env=self.env,
        )
        assert self.proc.stdout is not None

        async def ready() -> None:
            while True:
                line = await self.proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise RuntimeError(f"hallcall serve exited: see {self.stderr.name}")
                if b" ready: " in line:
                    return

        await asyncio.wait_for(ready(), timeout)

    def token(self, *args: str) -> str:
        """A new token on this server's store, made with ``hallcall token add`` (e.g. "--role", "kiosk")."""
        out = run_cli("token", "add", "--config", str(self.hall_file), "--store", self.store_url, *args, cwd=self.log_dir)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    async def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = await self.proc.wait()
        self.stderr.close()
        return code

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill(signal.SIGTERM)


def write_hall_file(path: Path, *, extra: str = "") -> Path:
    """The sample hall, open around the clock so tests do not depend on the hour they run."""
    text = HALL_FILE.read_text(encoding="utf-8") + "\n[policy]\nissue_outside_hours = true\n" + LIFTED_LIMITS_TOML + extra
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def serve_process(tmp_path: Path, store_spec: StoreSpec) -> AsyncIterator[ServeProcess]:
    hall_file = write_hall_file(tmp_path / "hall.toml")
    proc = ServeProcess(hall_file, store_spec.url, free_port(), tmp_path)
    yield proc
    await proc.stop()


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``hallcall`` command as a user would."""
    return subprocess.run([sys.executable, "-m", "queue_server", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def book(cfg: config.HallConfig, store: Any) -> Any:
    """What the hall's reports are made from (its settings and the store), as a server has it."""
    from queue_server.reports.feature import Reports

    return catalog.build(cfg).get(Reports).book(store)


def config_problems(cfg: config.HallConfig) -> list[config.ConfigIssue]:
    """Every problem building the hall's features from ``cfg`` finds (none when it builds)."""
    try:
        catalog.build(cfg)
    except config.ConfigError as exc:
        return exc.issues
    return []


def require_binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed; run the test command, which installs it"
    return path


os.environ.setdefault("PYTHONUNBUFFERED", "1")
