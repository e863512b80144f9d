"""Wiring: one aiohttp application with typed state and one lifetime per resource."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Callable

from aiohttp import web

from queue_server.core.clock import Clock
from queue_server.core.config import HallConfig
from queue_server.features import catalog
from queue_server.service import limits
from queue_server.service.hall import Hall
from queue_server.service.plugin import Features
from queue_server.store import Store, open_store

from . import http as api
from . import health, metrics, openapi, pages
from .hub import HEARTBEAT, MESSAGES, RING, SEND_BUFFER, Hub

log = logging.getLogger("hallcall")

STATIC_DIR = pages.STATIC_DIR

# Connections the kernel holds while the server starts or is busy. After a restart every
# screen of the hall reconnects at once; past aiohttp's default of 128 the kernel drops the
# extra SYNs and those screens try again only a whole second later (its SYN retry timer).
LISTEN_BACKLOG = 2048
HUB_KEY = web.AppKey("hub", Hub)
CONFIG_KEY = web.AppKey("config", HallConfig)
# Extra lifetimes (embedded agents, alert checkers…) that start after the hall and stop before it.
EXTRAS_KEY = web.AppKey("extras", list)

Lifetime = Callable[[web.Application], AsyncIterator[None]]


def make_app(config: HallConfig, *, store: Store | None = None, clock: Clock | None = None,
             features: Features | None = None, extras: list[Lifetime] | None = None, ws_ring: int = RING,
             ws_send_buffer: int = SEND_BUFFER, ws_heartbeat: float = HEARTBEAT, ws_messages: limits.Rate = MESSAGES,
             metrics_token: str | None = None) -> web.Application:
    """Build the server for one hall with its features. The store is opened and closed with the app.

    ``metrics_token`` opens /metrics on this app to its bearer; see ``metrics.separate_site`` for the other way.
    """
    features = features if features is not None else catalog.build(config)
    app = web.Application(client_max_size=api.MAX_BODY, middlewares=[api.request_id_middleware, api.errors_middleware, api.body_timeout_middleware])
    store = store or open_store(config.store_url, hall_id=config.hall.id)
    hall = Hall(config, store, clock, features=features)
    app[CONFIG_KEY] = config
    app[api.HALL_KEY] = hall
    app[EXTRAS_KEY] = list(extras or [])
    app[metrics.METRICS_KEY] = metrics.Metrics(
        hall, lambda: [c.principal.role for c in app[HUB_KEY].clients] if HUB_KEY in app else [])

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        try:
            await hall.start()
            hub = Hub(hall, ring=ws_ring, send_buffer=ws_send_buffer, heartbeat=ws_heartbeat, messages=ws_messages)
            app[HUB_KEY] = hub
            log.info("hall %s ready on the %s store at seq %d", config.hall.id, store.kind, hall.state.seq)
            yield
            await hub.close()  # usually done already by on_shutdown
            await hall.stop()
        finally:
            app[metrics.METRICS_KEY].close()
            await store.close()

    app.cleanup_ctx.append(lifetime)

    async def close_sockets(app: web.Application) -> None:
        # Before aiohttp waits for open handlers: screens and agents get "going away"
        # at once instead of an abnormal close after the shutdown timeout.
        if HUB_KEY in app:
            await app[HUB_KEY].close()

    app.on_shutdown.append(close_sockets)
    for extra in app[EXTRAS_KEY]:
        app.cleanup_ctx.append(extra)

    api.setup(app, hall)
    pages.setup(app)
    app.router.add_get("/api/v1/openapi.json", _openapi)
    app.router.add_get("/ws", _ws)
    app.router.add_get("/metrics", metrics.handler(metrics_token))
    health.setup(app, lambda: HUB_KEY in app)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR, append_version=True)
    return app


async def _openapi(request: web.Request) -> web.Response:
    return api.json_response(openapi.document(api.routes(request.app[api.HALL_KEY])))


async def _ws(request: web.Request) -> web.StreamResponse:
    return await request.app[HUB_KEY].handle(request)


def hall_of(app: web.Application) -> Hall:
    return app[api.HALL_KEY]


def use_uvloop() -> None:
    """Run on uvloop where it is installed: about a fifth less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
