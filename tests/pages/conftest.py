"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, real servers.

Playwright cannot download its own browsers here, so we launch /usr/bin/chromium (the
test command installs it, and a CJK font, with apt when missing). One browser serves
the whole session; each test gets a fresh context (its own cookies and localStorage).
Everything in this folder runs on one session-wide event loop, so the browser and the
servers the tests start live on the same loop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.web.app import make_app

from ..conftest import HALL_FILE, Harness, ServeProcess, StoreSpec, free_port, lifted, write_hall_file  # type: ignore[import-not-found]

CHROMIUM = "/usr/bin/chromium"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--force-color-profile=srgb",
                 "--autoplay-policy=no-user-gesture-required", "--enable-precise-memory-info",
                 "--hide-scrollbars", "--font-render-hinting=none"]
HERE = Path(__file__).resolve().parent
# Screenshots go to a scratch folder so a test run never changes the checkout; to refresh
# the committed set: HALLCALL_SCREENS_DIR=docs/screens ./run test tests/pages/test_screens.py
SCREENS = Path(os.environ.get("HALLCALL_SCREENS_DIR") or Path(tempfile.gettempdir()) / "hallcall-screens")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    marker = pytest.mark.asyncio(loop_scope="session")
    # Under pytest-xdist every page test runs on one worker, sharing its one Chromium.
    one_worker = pytest.mark.xdist_group("browser")
    for item in items:
        if Path(str(item.fspath)).parent != HERE:
            continue
        item.add_marker(one_worker)
        if item.get_closest_marker("asyncio") is not None:
            item.add_marker(marker, append=False)


def ensure_browser() -> None:
    """Install Debian's Chromium and a small CJK font when they are missing (root with apt only)."""
    missing = [pkg for pkg, path in (("chromium", CHROMIUM), ("fonts-wqy-microhei", CJK_FONT)) if not Path(path).exists()]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(f"missing {missing}: run `apt-get install {' '.join(missing)}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    ensure_browser()
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    await b.close()
    await pw.stop()


class Browsing:
    """Pages of one test, in one browser context, with JS errors collected."""

    def __init__(self, context: Any, base: str = "") -> None:
        self.context = context
        self.base = base
        self.errors: list[str] = []

    async def open(self, path: str, *, width: int = 1280, height: int = 800, base: str | None = None) -> Any:
        page = await self.context.new_page()
        await page.set_viewport_size({"width": width, "height": height})
        page.on("pageerror", lambda exc: self.errors.append(f"{path}: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and not _expected_console(msg.text)
                and self.errors.append(f"{path}: console: {msg.text}"))
        await page.goto((base if base is not None else self.base) + path)
        return page


def _expected_console(text: str) -> bool:
    # A page whose server was just killed logs failed fetches and socket errors: that is the point.
    return any(s in text for s in ("WebSocket connection", "net::ERR_", "Failed to load resource"))


@pytest_asyncio.fixture(loop_scope="session")
async def pages(browser: Any) -> AsyncIterator[Browsing]:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=1)
    b = Browsing(context)
    yield b
    await context.close()
    assert not b.errors, "JavaScript errors:\n" + "\n".join(b.errors)


# -- servers on the session loop ------------------------------------------------------------------


@pytest.fixture
def store_spec(tmp_path: Path) -> StoreSpec:
    """Pages do not depend on the store: they run on the embedded one only."""
    return StoreSpec("sqlite", f"sqlite://{tmp_path}/hall.db")


@pytest_asyncio.fixture(loop_scope="session")
async def make_server(hall_config: config.HallConfig, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Any]:
    """Like the root ``make_server``, on the session loop; ``hall_text`` replaces the hall file."""
    started: list[tuple[Harness, web.AppRunner]] = []

    async def make(*, hall_text: str | None = None, **app_kwargs: Any) -> Harness:
        cfg = hall_config
        if hall_text is not None:
            path = tmp_path / f"hall-{len(started)}.toml"
            path.write_text(hall_text, encoding="utf-8")
            cfg = lifted(config.load(path, store_url=f"sqlite://{tmp_path}/hall-{len(started)}.db"))
        app = make_app(cfg, clock=clock, **app_kwargs)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        h = Harness(f"http://127.0.0.1:{port}", app)
        h.runner = runner  # type: ignore[attr-defined]
        started.append((h, runner))
        return h

    yield make
    for h, runner in reversed(started):
        await h.close()
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def server(make_server: Any) -> Harness:
    return await make_server()


@pytest_asyncio.fixture(loop_scope="session")
async def serve_process(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    hall_file = write_hall_file(tmp_path / "hall.toml")
    proc = ServeProcess(hall_file, f"sqlite://{tmp_path}/hall.db", free_port(), tmp_path)
    yield proc
    await proc.stop()


def hall_text(replace: dict[str, str]) -> str:
    """The sample hall file with some text replaced (old → new, first occurrence)."""
    text = HALL_FILE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text
