"""The manager pages of reports and supervision: /admin/reports, /admin/alerts and /admin/cases.

Shells rendered by the pages framework (``pages.render``: base template, language table,
boot data, security headers); the browser code is static/js/reports-page.js,
static/js/alert-board.js and static/js/cases-page.js, on top of static/js/hallcall.js.
All sign in like /admin and read the JSON API; charts are the server's SVG endpoints,
exports its CSV/XLSX links. The case desk works the follow-up cases (followup.py) and
the 办不成事 ledger (ledger.py) through their step routes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from queue_server.reports import figures
from queue_server.service.features import Feature, register

from . import pages

# Every manager page gets every prefix: the shared top bar (report_macros.html) links them all.
_STRINGS = ("rp.", "al.", "cs.", "admin.", "login.", "role.", "err.")
REPORTS = pages.Page("reports", "reports.html", "reports-page.js", "reports.css", _STRINGS, "rp.title")
ALERTS = pages.Page("alerts", "alerts.html", "alert-board.js", "reports.css", _STRINGS, "al.title")
CASES = pages.Page("cases", "cases.html", "cases-page.js", "reports.css", _STRINGS, "cs.title")


async def reports_page(request: web.Request) -> web.Response:
    hall = request.app[pages.api.HALL_KEY]
    return await pages.render(request, REPORTS, {"today": hall.state.day, "dimensions": list(figures.DIMENSIONS)})


async def alerts_page(request: web.Request) -> web.Response:
    return await pages.render(request, ALERTS, {"today": request.app[pages.api.HALL_KEY].state.day})


def _case_desk_params(hall: Any) -> dict[str, Any]:
    """What the case desk's forms offer: the ledger's reasons and tiers, reply channels, appeal grounds."""
    from queue_server.features.complaints import (
        feature as ledger,  # imported here so the features keep their registration order
    )
    from queue_server.features.followup import feature as followup

    tiers = ledger.settings(hall.config).tiers
    return {
        "today": hall.state.day,
        "reasons": list(ledger.REASONS),
        "tiers": [{"id": tid, "name": ledger.tier_name(tid, spec), "spec": spec} for tid, spec in tiers.items()],
        "channels": list(followup.REPLY_CHANNELS),
        "grounds": list(followup.GROUNDS),
    }


async def cases_page(request: web.Request) -> web.Response:
    return await pages.render(request, CASES, _case_desk_params(request.app[pages.api.HALL_KEY]))


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/reports", reports_page)
    app.router.add_get("/admin/alerts", alerts_page)
    app.router.add_get("/admin/cases", cases_page)


register(Feature("report_pages", setup=setup))
