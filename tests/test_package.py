"""The wheel: built with ``python -m build``, installed in a fresh venv (not editable), serving every page.

Run away from the checkout, the installed ``hallcall serve`` must find its templates,
language table, sample hall, scripts, styles and web font in what the wheel installed;
each page answers 200, and so does every file it references (stylesheets, the import
map's modules, the font named by the stylesheets), and every file of static/.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import pytest

from .conftest import PROJECT, free_port  # type: ignore[import-not-found]

PAGES = ("/", "/kiosk", "/console", "/display/hall", "/display/hall?zone=enterprise", "/display/window/3", "/pad/3",
         "/admin", "/admin/reports", "/admin/alerts", "/admin/cases")
_REFS = re.compile(r"""(?:src|href)="([^"]+)\"""")
_CSS_URLS = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


def run(*args: str | Path, cwd: Path, stdin: str | None = None, timeout: float = 600) -> str:
    out = subprocess.run([str(a) for a in args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with hallcall installed from its freshly built wheel; its bin/."""
    where = tmp_path_factory.mktemp("package")
    # sdist first, then the wheel from the sdist: both must carry everything.
    run(sys.executable, "-m", "build", "--outdir", where / "dist", PROJECT, cwd=where)
    [wheel] = (where / "dist").glob("hallcall-*.whl")
    run(sys.executable, "-m", "venv", where / "venv", cwd=where)
    run(where / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=where)
    return where / "venv" / "bin"


async def references(s: aiohttp.ClientSession, url: str, html: str) -> set[str]:
    """The addresses a page loads: its scripts and styles, the import map's modules, fonts of its stylesheets."""
    found = {urljoin(url, ref) for ref in _REFS.findall(html) if ref.startswith("/static/")}
    importmap = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    assert importmap, url
    found |= {urljoin(url, u) for u in json.loads(importmap.group(1))["imports"].values()}
    for css in [u for u in found if ".css" in u]:
        async with s.get(css) as r:
            found |= {urljoin(css, ref) for ref in _CSS_URLS.findall(await r.text()) if not ref.startswith("data:")}
    return found


async def test_the_installed_wheel_serves_every_page(installed: Path, tmp_path: Path) -> None:
    hallcall = installed / "hallcall"
    where = run(installed / "python", "-c", "import queue_server; print(queue_server.__file__)", cwd=tmp_path)
    assert str(installed.parent) in where, "imported from the checkout, not the wheel"
    shared = installed.parent / "share" / "hallcall"
    assert (shared / "systemd" / "hallcall.service").is_file() and (shared / "grafana" / "hallcall.json").is_file()
    hall = tmp_path / "hall.toml"
    hall.write_text(run(hallcall, "config", "sample", cwd=tmp_path) + "\n[policy]\nissue_outside_hours = true\n",
                    encoding="utf-8")
    store = ["--config", str(hall), "--store", f"sqlite://{tmp_path}/hall.db"]
    kiosk = run(hallcall, "token", "add", *store, "--role", "kiosk", cwd=tmp_path).strip().splitlines()[-1]
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(hallcall), "serve", *store, "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=open(tmp_path / "serve.log", "wb"))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b" ready: " in line, (tmp_path / "serve.log").read_text()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as s:
            async with s.post(base + "/api/v1/tickets", json={"service": "social-card"},
                              headers={"Authorization": f"Bearer {kiosk}"}) as r:
                assert r.status == 201
                token = (await r.json())["token"]
            assets: set[str] = set()
            for page in (*PAGES, f"/t/{token}"):
                async with s.get(base + page) as r:
                    assert r.status == 200, page
                    assets |= await references(s, base + page, await r.text())
            assert any(a.endswith(".woff2") or ".woff2?" in a for a in assets), "no page loads the web font"
            shipped = {p.relative_to(PROJECT / "static").as_posix() for p in (PROJECT / "static").rglob("*")
                       if p.is_file() and p.suffix != ".py"}
            assets |= {f"{base}/static/{rel}" for rel in shipped}
            for url in sorted(assets):
                async with s.get(url) as r:
                    assert r.status == 200, url
                    assert await r.read(), url
    finally:
        proc.terminate()
        assert await proc.wait() == 0


def test_the_sample_hall_is_printed(tmp_path: Path) -> Any:
    out = subprocess.run([sys.executable, "-m", "queue_server", "config", "sample"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0 and 'id = "taikang"' in out.stdout
