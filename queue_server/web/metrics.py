"""Prometheus metrics at /metrics: the hall's queues, windows, devices and the server's own health.

Two kinds of figure. Those of the hall (waiting, today's counts, windows, devices) are
read at scrape time from the committed state and, for today's counts, from the store
through the one figures engine, so they agree with /api/v1/stats and the snapshot by
construction and are the same in every server process of a hall. Those of a process
(events it passed on, its commits, its WebSocket clients, its store failures, the wait
and handling histograms) are counted as they happen, from its start.

/metrics is never open to anyone: it answers on the main port only to the bearer token
in ``HALLCALL_METRICS_TOKEN``, and without a token on a separate address of its own
(``hallcall serve --metrics-listen 127.0.0.1:9464``), which a firewall keeps to the
Prometheus host.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter as Tally
from typing import AsyncIterator, Awaitable, Callable, Iterable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from queue_server.core.errors import Unauthorized
from queue_server.core.model import Event, Status
from queue_server.reports import figures
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store import StoreError

log = logging.getLogger("hallcall.metrics")

TOKEN_ENV = "HALLCALL_METRICS_TOKEN"
# Waits and handling times of a hall: most within minutes, a bad morning over an hour.
TIME_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TODAY_FIGURES = ("issued", "called", "served", "no_show")


class Metrics:
    """One registry per application: the counters and histograms, and a collector reading the hall."""

    def __init__(self, hall: Hall, client_roles: Callable[[], Iterable[str]] = tuple) -> None:
        self.hall = hall
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("hallcall_events", "Events passed on by this process, by name", ["name"], registry=r)
        self.waits = Histogram("hallcall_wait_seconds", "Citizens' waits, issue to first call, by service",
                               ["service"], buckets=TIME_BUCKETS, registry=r)
        self.handling = Histogram("hallcall_handling_seconds", "Handling times of visits (start, or call, to end), by service",
                                  ["service"], buckets=TIME_BUCKETS, registry=r)
        self.commit_seconds = Histogram("hallcall_commit_seconds", "Time of one store commit (a batch of decisions)",
                                        buckets=COMMIT_BUCKETS, registry=r)
        self.commit_events = Histogram("hallcall_commit_events", "Events in one commit", buckets=BATCH_BUCKETS, registry=r)
        self.commit_actions = Histogram("hallcall_commit_actions", "Decisions (actions) in one commit",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.store_errors = Counter("hallcall_store_errors", "Store operations that failed, by operation", ["operation"],
                                    registry=r)
        self.hall_figures = HallCollector(hall, client_roles)
        r.register(self.hall_figures)
        hall.probe = self
        self._unsubscribe = hall.subscribe(self.on_event)

    def close(self) -> None:
        self._unsubscribe()

    # -- the engine's probe ------------------------------------------------------------------

    def committed(self, jobs: int, events: int, seconds: float) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_events.observe(events)
        self.commit_actions.observe(jobs)

    def store_failed(self, operation: str) -> None:
        self.store_errors.labels(operation).inc()

    # -- events ---------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        self.events.labels(event.name).inc()
        t, v = event.ticket, event.visit
        if event.name == "ticket.called" and t is not None and t.called_at == t.first_called_at and t.called_at:
            self.waits.labels(t.service).observe((t.called_at - t.issued_at).total_seconds())
        if v is not None and figures.handled(self.hall.config, v.end, v.service):
            self.handling.labels(v.service).observe(v.handling_seconds)

    async def render(self) -> bytes:
        """The exposition text; today's counts are read from the store first."""
        try:
            await self.hall_figures.refresh()
        except StoreError as exc:
            self.store_failed("read")
            log.warning("today's figures left out of /metrics: %s", exc)
        return generate_latest(self.registry)


class HallCollector(Collector):
    """Figures of the hall as it stands: queues, today's counts, windows, devices."""

    def __init__(self, hall: Hall, client_roles: Callable[[], Iterable[str]]) -> None:
        self.hall = hall
        self.client_roles = client_roles
        self.today: dict[str, dict[str, int]] = {}  # service -> figure -> count, read by ``refresh``

    async def refresh(self) -> None:
        self.today = {}
        day = self.hall.state.day
        store = self.hall.store
        rows = figures.rows(self.hall.config, "service", await store.visit_facts(day, day), [],
                            await store.ticket_facts(day, day))
        self.today = {s: {f: r[f] or 0 for f in TODAY_FIGURES} for s, r in rows.items() if s is not None}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        st = self.hall.state
        cfg = self.hall.config
        waiting = GaugeMetricFamily("hallcall_waiting", "Tickets waiting now, by service", labels=["service", "zone"])
        for service, queue in st.waiting.items():
            waiting.add_metric([service, cfg.services[service].zone], len(queue))
        yield waiting
        today = GaugeMetricFamily("hallcall_tickets_today", "Today's counts by service (as /api/v1/stats)",
                                  labels=["service", "figure"])
        for service, row in sorted(self.today.items()):
            for name, count in row.items():
                today.add_metric([service, name], count)
        yield today
        windows = GaugeMetricFamily("hallcall_windows", "Windows by status, by zone", labels=["zone", "status"])
        statuses = Tally((cfg.windows[n].zone, w.status.value) for n, w in st.windows.items())
        for zone in cfg.zones:
            for status in ("open", "paused", "closed"):
                windows.add_metric([zone, status], statuses.get((zone, status), 0))
        yield windows
        serving = GaugeMetricFamily("hallcall_serving", "Tickets called or being served now", labels=["service"])
        busy = Tally(t.service for t in st.tickets.values() if t.status in (Status.CALLED, Status.SERVING))
        for service in cfg.services:
            serving.add_metric([service], busy.get(service, 0))
        yield serving
        devices = st.docs.get("device", {})
        kinds = GaugeMetricFamily("hallcall_devices", "Devices by kind and last reported status", labels=["kind", "status"])
        for (kind, status), n in sorted(Tally((d.data["kind"], d.data["status"]) for d in devices.values()).items()):
            kinds.add_metric([kind, status], n)
        yield kinds
        each = GaugeMetricFamily("hallcall_device_status", "1 for each device's last reported status",
                                 labels=["device", "kind", "status"])
        for device_id, d in sorted(devices.items()):
            each.add_metric([device_id, d.data["kind"], d.data["status"]], 1)
        yield each
        clients = GaugeMetricFamily("hallcall_websocket_clients", "WebSocket clients of this process, by role",
                                    labels=["role"])
        roles = Tally(self.client_roles())
        for role in ("anonymous", *auth.PEOPLE_ROLES, *auth.DEVICE_ROLES):
            clients.add_metric([role], roles.get(role, 0))
        yield clients
        seq = GaugeMetricFamily("hallcall_event_seq", "The last event sequence number this process has passed on")
        seq.add_metric([], self.hall.last_dispatched)
        yield seq


METRICS_KEY = web.AppKey("metrics", Metrics)


def allowed(request: web.Request, token: str | None) -> bool:
    """Whether the caller shows the metrics token (compared in constant time)."""
    if not token:
        return False
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def handler(token: str | None) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """/metrics on the main port: only with the token; without one configured it is not served there."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        if not token:
            raise web.HTTPNotFound(text=f"/metrics is served on --metrics-listen, or here with {TOKEN_ENV} set\n")
        if not allowed(request, token):
            raise Unauthorized("/metrics needs the metrics token: Authorization: Bearer <token>", code="bad_token")
        return await respond(request.app[METRICS_KEY])

    return metrics


async def respond(m: Metrics) -> web.Response:
    body = await m.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def separate_site(host: str, port: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A lifetime that serves /metrics, and nothing else, without a token on ``host:port``."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        side = web.Application()

        async def metrics(_: web.Request) -> web.StreamResponse:
            return await respond(app[METRICS_KEY])

        side.router.add_get("/metrics", metrics)
        runner = web.AppRunner(side, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("metrics on http://%s:%d/metrics", host, port)
        try:
            yield
        finally:
            await runner.cleanup()

    return lifetime
