"""The page routes over plain HTTP: shells, headers, 404s, escaping, the language table
and the versioned static files. No browser needed."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import aiohttp

from queue_server.web import pages

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["/", "/kiosk", "/t/abcdefgh12345678", "/console", "/display/hall", "/display/hall?zone=social",
         "/display/window/3", "/pad/3", "/admin"]


def boot_of(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="hc-boot">(.*?)</script>', html, re.S)
    assert m, "no boot data"
    return json.loads(m.group(1))


async def test_every_page_serves_its_shell(server: Any) -> None:
    async with aiohttp.ClientSession() as s:
        for path in PATHS:
            async with s.get(server.base + path) as r:
                html = await r.text()
                assert r.status == 200, path
                assert r.content_type == "text/html" and r.charset == "utf-8"
                assert r.headers["Cache-Control"] == "no-store"
                assert r.headers["Referrer-Policy"] == "no-referrer"
                csp = r.headers["Content-Security-Policy"]
                # The only inline script allowed is the import map, by its hash.
                imap = re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1)
                digest = base64.b64encode(hashlib.sha256(imap.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
                boot = boot_of(html)
                assert boot["hall"]["name"] == "太康县行政服务中心" and boot["lang"] == "zh"
                assert boot["strings"]["common.offline"]["en"].startswith("Offline")
                assert 'lang="zh-CN"' in html
                # Screens nobody touches have no language switch; every other page has one.
                assert ("data-lang-toggle" in html) is not path.startswith("/display/"), path
                # Every page names its icon, so no browser asks for a /favicon.ico that is not there.
                icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', html)
                assert icon, path
                async with s.get(server.base + icon.group(1)) as ri:
                    assert ri.status == 200 and ri.content_type == "image/svg+xml", path


async def test_unknown_windows_and_zones_are_404_pages_with_escaping(server: Any) -> None:
    async with aiohttp.ClientSession() as s:
        for path in ("/display/window/99", "/pad/0", "/display/hall?zone=%3Cscript%3Ealert(1)%3C/script%3E"):
            async with s.get(server.base + path) as r:
                html = await r.text()
                assert r.status == 404 and r.content_type == "text/html", path
                assert "<script>alert" not in html
        async with s.get(server.base + "/display/hall?zone=%3Cb%3E") as r:
            assert "zone &lt;b&gt;" in await r.text()
        async with s.get(server.base + "/t/short") as r:
            assert r.status == 404  # not a token shape


async def test_language_from_query_or_cookie(server: Any) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.base + "/kiosk?lang=en") as r:
            html = await r.text()
            assert 'lang="en"' in html and "Please choose a service" in html and boot_of(html)["lang"] == "en"
        async with s.get(server.base + "/console", headers={"Cookie": "hallcall_lang=en"}) as r:
            assert "Staff sign-in" in await r.text()
        async with s.get(server.base + "/console", headers={"Cookie": "hallcall_lang=fr"}) as r:
            assert "工作人员登录" in await r.text()
        # The hall's shared screens ignore the cookie of whoever used this browser last.
        for path in ("/display/hall", "/kiosk"):
            async with s.get(server.base + path, headers={"Cookie": "hallcall_lang=en"}) as r:
                html = await r.text()
                assert boot_of(html)["lang"] == "zh" and boot_of(html)["shared"] is True, path
        async with s.get(server.base + "/display/hall?lang=en") as r:
            assert "Now calling" in await r.text()


async def test_static_files_are_versioned_and_served(server: Any) -> None:
    imap = json.loads(pages.import_map())["imports"]
    assert "/static/js/hallcall.js" in imap and "/static/vendor/qrcode-generator-2.0.4/qrcode.mjs" in imap
    async with aiohttp.ClientSession() as s:
        for plain, versioned in imap.items():
            assert re.fullmatch(re.escape(plain) + r"\?v=[0-9a-f]{10}", versioned)
            async with s.get(server.base + versioned) as r:
                assert r.status == 200, versioned
                assert "javascript" in r.content_type
        for rel in ("css/base.css", "fonts/hallcall-cjk.woff2"):
            async with s.get(server.base + "/static/" + rel) as r:
                assert r.status == 200
    assert (ROOT / "static" / "vendor" / "qrcode-generator-2.0.4" / "LICENSE").read_text().startswith("MIT License")
    assert "Apache License" in (ROOT / "static" / "fonts" / "LICENSE-Apache-2.0.txt").read_text()


def test_the_language_table_is_complete() -> None:
    table = pages.load_strings()
    used: set[str] = set()
    for path in [*ROOT.glob("queue_server/web/templates/*.html"), *ROOT.glob("displays/templates/*.html")]:
        used |= set(re.findall(r"""\bt\(\s*'([a-z_]+\.[a-z_0-9]+)'\s*[,)]""", path.read_text(encoding="utf-8")))
    for path in ROOT.glob("static/js/*.js"):
        used |= set(re.findall(r"""\bt\(\s*"([a-z_]+\.[a-z_0-9]+)\"""", path.read_text(encoding="utf-8")))
    # Keys built at run time from a code.
    used |= {f"rate.l{n}" for n in range(1, 6)} | {f"rate.r_{c}" for c in ("attitude", "efficiency", "compliance", "integrity", "other")}
    used |= {f"pause.{c}" for c in ("rest", "meeting", "consulting", "other")}
    used |= {f"wstatus.{s}" for s in ("open", "paused", "closed")}
    used |= {f"status.{s}" for s in ("waiting", "called", "serving", "held", "done", "no_show", "cancelled", "expired")}
    used |= {f"role.{r}" for r in ("clerk", "manager", "admin", "kiosk", "display", "pad", "agent")}
    used |= {f"outcome.{o}" for o in ("done", "pending_materials", "not_done")}
    used |= {f"admin.tab_{t}" for t in ("monitor", "people", "tokens")}
    used |= {p.title for p in pages.PAGES.values()}
    missing = sorted(k for k in used if k not in table)
    assert not missing, f"strings used but not in queue_server/web/i18n.json: {missing}"
    # Hall terms, as the hall says them.
    assert [table[f"rate.l{n}"]["zh"] for n in (5, 4, 3, 2, 1)] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert [table[f"rate.r_{c}"]["zh"] for c in ("attitude", "efficiency", "compliance", "integrity", "other")] == \
        ["态度", "效率", "规范", "廉洁", "其他"]
    assert [table[f"outcome.{o}"]["zh"] for o in ("done", "pending_materials", "not_done")] == ["办结", "容缺受理", "办不成"]
    assert [table[f"pause.{c}"]["zh"] for c in ("rest", "meeting", "consulting", "other")] == ["休息", "会议", "业务咨询", "其他"]
