"""The pages people use: kiosk, clerk console, hall TV, window screen, evaluation pad, tracking,
the guides' page, the live monitor, and the managers' reports, alert board and case desk.

Each page is a jinja2 shell (autoescaped) that embeds what the browser needs to start:
the hall's layout, the strings of its language table and the page's parameters, as one
JSON block. Everything live then comes over the WebSocket; the browser code lives in
static/js as ES modules, so nothing here knows about queue rules. The hall TV, window
screen and pad templates belong to the display side and live in displays/templates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import jinja2
from aiohttp import web
from markupsafe import Markup

from queue_server import __version__
from queue_server.features.assist import Assist
from queue_server.features.assist.requests import HELP
from queue_server.features.complaints import Complaints
from queue_server.features.complaints.ledger import REASONS, tier_name
from queue_server.features.followup.cases import GROUNDS, REPLY_CHANNELS
from queue_server.reports import figures
from queue_server.service import views

from . import http as api

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TEMPLATE_DIRS = (HERE / "templates", ROOT / "displays" / "templates")


def find_static() -> Path:
    """The pages' files: static/ of the checkout, else where an installed wheel put them.

    A checkout (editable install) serves its own static/ so edits show at once; a wheel
    installs them as data files under ``<prefix>/share/hallcall/static`` (pyproject.toml).
    """
    checkout = ROOT / "static"
    if (checkout / "js").is_dir():
        return checkout
    prefixes = (sys.prefix, sysconfig.get_path("data"), site.USER_BASE or "")
    for prefix in dict.fromkeys(p for p in prefixes if p):
        installed = Path(prefix) / "share" / "hallcall" / "static"
        if (installed / "js").is_dir():
            return installed
    return checkout  # missing: ``hallcall serve`` says so and stops


STATIC_DIR = find_static()
STRINGS_FILE = HERE / "i18n.json"
LANGS = ("zh", "en")
LANG_COOKIE = "hallcall_lang"

ENV_KEY = web.AppKey("pages_env", jinja2.Environment)


@dataclass(frozen=True)
class Page:
    name: str
    template: str
    script: str  # ES module under static/js
    css: str  # stylesheet under static/css, after base.css
    strings: tuple[str, ...]  # key prefixes of the language table the page needs
    title: str  # key of the page's title
    # A page a hall device shows to everyone (kiosk, screens, pad): it starts in the hall's
    # language (or its URL's ?lang=), never in the one the last visitor chose.
    shared: bool = False


PAGES = {
    p.name: p
    for p in (
        Page("index", "index.html", "index.js", "index.css", ("index.",), "index.title"),
        Page("kiosk", "kiosk.html", "kiosk.js", "kiosk.css", ("kiosk.", "err.", "prio."), "kiosk.title", shared=True),
        Page("track", "track.html", "track.js", "track.css", ("track.", "status.", "rate.", "err.", "prio.", "assist."),
             "track.title"),
        Page("console", "console.html", "console.js", "console.css",
             ("console.", "status.", "wstatus.", "pause.", "outcome.", "prio.", "err.", "login.", "pick.", "dur.",
              "assist."),
             "console.title"),
        Page("guide", "guide.html", "guide.js", "guide.css", ("gd.", "help.", "assist.", "prio.", "err.", "login.", "dur."),
             "gd.title"),
        Page("hall", "hall_tv.html", "hall-tv.js", "hall-tv.css", ("tv.",), "tv.title", shared=True),
        Page("window", "window_screen.html", "window-screen.js", "window-screen.css", ("ws.", "pause."), "ws.title",
             shared=True),
        Page("pad", "pad.html", "pad.js", "pad.css", ("pad.", "rate.", "err."), "pad.title", shared=True),
        Page("admin", "admin.html", "admin.js", "admin.css",
             ("admin.", "wstatus.", "pause.", "status.", "err.", "login.", "role.", "prio.", "dkind.", "dstatus.", "dur.",
              "assist."),
             "admin.title"),
    )
}


# -- the language table ------------------------------------------------------------------


def load_strings(path: Path = STRINGS_FILE) -> dict[str, dict[str, str]]:
    """The zh/en table: one key per string, both languages side by side."""
    table: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    for key, pair in table.items():
        missing = [lang for lang in LANGS if not pair.get(lang)]
        if missing:
            raise ValueError(f"{path}: string {key!r} lacks {missing}")
    return table


STRINGS = load_strings()


def strings_for(page: Page) -> dict[str, dict[str, str]]:
    prefixes = ("common.",) + page.strings
    return {k: v for k, v in STRINGS.items() if k.startswith(prefixes)}


# -- static files with content versions ---------------------------------------------------------

_versions: dict[Path, tuple[float, str]] = {}


def static_version(rel: str) -> str:
    """A short hash of a static file, so a hall PC never runs yesterday's script from its cache."""
    path = STATIC_DIR / rel
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return "0"
    hit = _versions.get(path)
    if hit is None or hit[0] != mtime:
        hit = (mtime, hashlib.sha256(path.read_bytes()).hexdigest()[:10])
        _versions[path] = hit
    return hit[1]


def static_url(rel: str) -> str:
    return f"/static/{rel}?v={static_version(rel)}"


def import_map() -> str:
    """Map every module's plain URL to its versioned one: modules import each other by plain relative URL."""
    imports = {}
    for folder in ("js", "vendor"):
        for path in sorted((STATIC_DIR / folder).rglob("*")):
            if path.suffix in (".js", ".mjs"):
                rel = path.relative_to(STATIC_DIR).as_posix()
                imports[f"/static/{rel}"] = static_url(rel)
    return json.dumps({"imports": imports}, separators=(",", ":"))


def csp(importmap: str) -> str:
    digest = base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode()
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'sha256-{digest}'",  # the inline import map, nothing else inline
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob: http: https:",  # clerk photos may live on the hall's intranet
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ))


# -- rendering ----------------------------------------------------------------------------------


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    return env


def lang_of(request: web.Request, *, shared: bool = False) -> str:
    """The URL's ?lang=, else (on a person's own pages) their cookie, else the hall's language."""
    want = request.query.get("lang") or ("" if shared else request.cookies.get(LANG_COOKIE, ""))
    return want if want in LANGS else api.hall_of(request).config.hall.language


async def render(request: web.Request, page: Page, params: dict[str, Any] | None = None) -> web.Response:
    """The page's shell in the caller's language, with its boot data and security headers."""
    hall = api.hall_of(request)
    cfg = hall.config
    lang = lang_of(request, shared=page.shared)
    table = strings_for(page)

    def t(key: str, **values: Any) -> str:
        pair = STRINGS.get(key)
        text = pair[lang] if pair else key
        return text.format(**values) if values else text

    def tx(key: str) -> Markup:
        """The attribute that lets the browser switch this element's language."""
        if key not in table:
            raise KeyError(f"string {key!r} is not in {page.name}'s table")
        return Markup('data-i18n="%s"') % key

    def name(obj: dict[str, Any]) -> str:
        return (obj.get("name_en") or obj.get("name") or "") if lang == "en" else obj.get("name", "")

    boot: dict[str, Any] = {
        "page": page.name,
        "title": page.title,
        "lang": lang,
        "shared": page.shared,
        "version": __version__,
        "strings": table,
        "hall": views.describe(cfg),
        "public_url": cfg.hall.public_url,
        "issue_outside_hours": cfg.policy.issue_outside_hours,
        "now": hall.clock.now().astimezone(cfg.hall.tz).isoformat(),
        "params": params or {},
    }
    importmap = import_map()
    title = f"{t(page.title)} · {name(boot['hall'])}"
    html = request.app[ENV_KEY].get_template(page.template).render(
        page=page, lang=lang, boot=boot, t=t, tx=tx, name=name, hall=boot["hall"], params=params or {},
        importmap=Markup(importmap), title=title,
    )
    resp = web.Response(text=html, content_type="text/html", charset="utf-8")
    resp.headers["Content-Security-Policy"] = csp(importmap)
    resp.headers["Cache-Control"] = "no-store"  # the shell embeds live data and the language
    resp.headers["Referrer-Policy"] = "no-referrer"  # the tracking page's URL is its capability
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


async def not_found(request: web.Request, what: str) -> web.Response:
    """A plain 404 page for a window, pad or zone the hall does not have."""
    env = request.app[ENV_KEY]
    lang = lang_of(request)
    html = env.get_template("not_found.html").render(
        lang=lang, what=what, hall=views.describe(api.hall_of(request).config),
        t=lambda key: STRINGS[key][lang], static=static_url,
    )
    return web.Response(text=html, status=404, content_type="text/html", charset="utf-8")


# -- routes ----------------------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    cfg = api.hall_of(request).config
    return await render(request, PAGES["index"], {
        "windows": sorted(cfg.windows)[:3], "zones": list(cfg.zones),
    })


_SECONDS = re.compile(r"[0-9]{1,5}")  # ASCII only: "²".isdigit() is true, and int("²") fails


def seconds(request: web.Request, *names: str) -> dict[str, int]:
    """Timeouts a page takes from its query (?idle=&done=, in seconds); anything but 1–5 ASCII digits is a 400."""
    out: dict[str, int] = {}
    for name in names:
        if name in request.query:
            if not _SECONDS.fullmatch(request.query[name]):
                raise web.HTTPBadRequest(text=f"{name} must be a whole number of seconds (at most 5 digits)")
            out[name] = int(request.query[name])
    return out


async def kiosk(request: web.Request) -> web.Response:
    # Tests and site staff shorten the return-to-start timeouts with ?idle=&done= (seconds).
    features = api.hall_of(request).features
    assist = features.has(Assist) and features.get(Assist).kiosk_button  # 需要帮办 on the confirmation
    return await render(request, PAGES["kiosk"], {**seconds(request, "idle", "done"), "assist": assist})


async def guide(request: web.Request) -> web.Response:
    return await render(request, PAGES["guide"], {"help": list(HELP)})


async def track(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    return await render(request, PAGES["track"], {"token": token})


async def console(request: web.Request) -> web.Response:
    return await render(request, PAGES["console"])


async def hall_tv(request: web.Request) -> web.Response:
    cfg = api.hall_of(request).config
    zone = request.query.get("zone") or None
    if zone is not None and zone not in cfg.zones:
        return await not_found(request, f"zone {zone}")
    return await render(request, PAGES["hall"], {"zone": zone})


async def window_screen(request: web.Request) -> web.Response:
    number = int(request.match_info["n"])
    if number not in api.hall_of(request).config.windows:
        return await not_found(request, f"window {number}")
    return await render(request, PAGES["window"], {"window": number})


async def pad(request: web.Request) -> web.Response:
    number = int(request.match_info["n"])
    if number not in api.hall_of(request).config.windows:
        return await not_found(request, f"window {number}")
    params: dict[str, Any] = {"window": number}
    params.update(seconds(request, "idle", "thanks"))
    return await render(request, PAGES["pad"], params)


async def admin(request: web.Request) -> web.Response:
    return await render(request, PAGES["admin"])


# -- the manager pages: reports, the alert board, the case desk -------------------------------------

# Every manager page gets every prefix: the shared top bar (report_macros.html) links them all.
_STRINGS = ("rp.", "al.", "cs.", "admin.", "login.", "role.", "err.", "dur.")
REPORTS = Page("reports", "reports.html", "reports-page.js", "reports.css", _STRINGS, "rp.title")
ALERTS = Page("alerts", "alerts.html", "alert-board.js", "reports.css", _STRINGS, "al.title")
CASES = Page("cases", "cases.html", "cases-page.js", "reports.css", _STRINGS, "cs.title")


async def reports_page(request: web.Request) -> web.Response:
    hall = api.hall_of(request)
    return await render(request, REPORTS, {"today": hall.state.day, "dimensions": list(figures.DIMENSIONS)})


async def alerts_page(request: web.Request) -> web.Response:
    return await render(request, ALERTS, {"today": api.hall_of(request).state.day})


def _case_desk_params(hall: Any) -> dict[str, Any]:
    """What the case desk's forms offer: the ledger's reasons and tiers, reply channels, appeal grounds."""
    tiers = hall.features.get(Complaints).settings.tiers
    return {
        "today": hall.state.day,
        "reasons": list(REASONS),
        "tiers": [{"id": tid, "name": tier_name(tid, spec), "spec": spec} for tid, spec in tiers.items()],
        "channels": list(REPLY_CHANNELS),
        "grounds": list(GROUNDS),
    }


async def cases_page(request: web.Request) -> web.Response:
    return await render(request, CASES, _case_desk_params(api.hall_of(request)))




ROUTES: list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]] = [
    ("/", index),
    ("/kiosk", kiosk),
    ("/t/{token:[A-Za-z0-9_-]{8,64}}", track),
    ("/console", console),
    ("/guide", guide),
    ("/display/hall", hall_tv),
    ("/display/window/{n:\\d{1,4}}", window_screen),
    ("/pad/{n:\\d{1,4}}", pad),
    ("/admin", admin),
    ("/admin/reports", reports_page),
    ("/admin/alerts", alerts_page),
    ("/admin/cases", cases_page),
]


def setup(app: web.Application) -> None:
    app[ENV_KEY] = make_env()
    for path, handler in ROUTES:
        app.router.add_get(path, handler)

