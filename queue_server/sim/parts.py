"""How the replayer serves a bundle (一件事): the trace gives one service time for the whole.

The time is split over the bundle's parts in proportion to each part's own expected
handling time (``handling_minutes``), whole seconds that add up to the trace's total, so
a day replayed with parts takes the clerks as long as the day with one visit per bundle.
"""

from __future__ import annotations

from queue_server.core.config import HallConfig


def split_seconds(cfg: HallConfig, service: str, total: int) -> dict[str, int]:
    """The seconds each part of a bundle takes; a plain service is its own one part."""
    svc = cfg.services[service]
    if not svc.is_bundle:
        return {service: total}
    weights = [cfg.services[p].handling_minutes for p in svc.bundle]
    out: dict[str, int] = {}
    given, weight_left = 0, sum(weights)
    for part, weight in zip(svc.bundle, weights):
        share = round((total - given) * weight / weight_left) if weight_left else 0
        out[part] = share
        given, weight_left = given + share, weight_left - weight
    return out


def first_queues(cfg: HallConfig, service: str) -> tuple[str, ...]:
    """The queues a new ticket for a service may be in: a route bundle's first step, else the service."""
    svc = cfg.services[service]
    return svc.route[0] if svc.routed else (service,)
