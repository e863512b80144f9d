"""/healthz and /readyz, as load balancers, Kubernetes-style probes and systemd's watchdog expect.

``/healthz`` says the process is alive: its event loop answers and the Hall's actor runs.
``/readyz`` says it should be given traffic: the hall's state is loaded, the store
answers, and this process has passed on every committed event but a few (on Redis, its
stream reader has caught up with the other processes).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from aiohttp import web

from queue_server.service.hall import Hall
from queue_server.store import StoreError

from .http import HALL_KEY, json_response

STORE_TIMEOUT = 2.0  # seconds the store has to answer a readiness check
MAX_LAG = 1000  # committed events not yet passed on beyond which a process is behind, not just busy


def alive(hall: Hall) -> bool:
    return hall.running


async def readiness(hall: Hall, loaded: bool) -> dict[str, Any]:
    """Each readiness check by name, true or the reason it fails, and ``ready``."""
    checks: dict[str, Any] = {"state_loaded": loaded and hall.running}
    try:
        behind = await asyncio.wait_for(hall.store.events_since(hall.last_dispatched, MAX_LAG), STORE_TIMEOUT)
    except (StoreError, asyncio.TimeoutError, OSError) as exc:
        why = "no answer in time" if isinstance(exc, asyncio.TimeoutError) else str(exc)
        checks["store_reachable"] = f"the {hall.store.kind} store does not answer: {why}"
        checks["caught_up"] = "unknown while the store does not answer"
    else:
        checks["store_reachable"] = True
        checks["caught_up"] = True if len(behind) < MAX_LAG else f"at least {len(behind)} events behind the store"
    return {"ready": all(v is True for v in checks.values()), "seq": hall.last_dispatched, "checks": checks}


def setup(app: web.Application, loaded: Callable[[], bool]) -> None:
    """Add the two routes; ``loaded`` says whether the app's start-up (state, hub) has finished."""

    async def healthz(request: web.Request) -> web.StreamResponse:
        ok = alive(request.app[HALL_KEY])
        return json_response({"alive": ok}, 200 if ok else 503)

    async def readyz(request: web.Request) -> web.StreamResponse:
        report = await readiness(request.app[HALL_KEY], loaded())
        return json_response(report, 200 if report["ready"] else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
