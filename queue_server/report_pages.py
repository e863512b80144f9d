"""The manager pages of reports and supervision: /admin/reports and /admin/alerts.

Shells rendered by the pages framework (``pages.render``: base template, language table,
boot data, security headers); the browser code is static/js/reports-page.js and
static/js/alert-board.js, on top of static/js/hallcall.js. Both sign in like /admin and
read the JSON API; charts are the server's SVG endpoints, exports its CSV/XLSX links.
"""

from __future__ import annotations

from aiohttp import web

from . import figures, pages
from .features import Feature, register

_STRINGS = ("rp.", "al.", "admin.", "login.", "role.", "err.")
REPORTS = pages.Page("reports", "reports.html", "reports-page.js", "reports.css", _STRINGS, "rp.title")
ALERTS = pages.Page("alerts", "alerts.html", "alert-board.js", "reports.css", _STRINGS, "al.title")


async def reports_page(request: web.Request) -> web.Response:
    hall = request.app[pages.api.HALL_KEY]
    return await pages.render(request, REPORTS, {"today": hall.state.day, "dimensions": list(figures.DIMENSIONS)})


async def alerts_page(request: web.Request) -> web.Response:
    return await pages.render(request, ALERTS, {"today": request.app[pages.api.HALL_KEY].state.day})


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/reports", reports_page)
    app.router.add_get("/admin/alerts", alerts_page)


register(Feature("report_pages", setup=setup))
