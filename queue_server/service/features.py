"""Parts of hallcall beyond the queue core plug in here.

A feature module (pages, reports, alerts, follow-up cases, appointments…) calls
``register`` at import time. It may validate its own section of the hall file, add
routes (with ``api.route``), add WebSocket commands (``commands.COMMANDS``), and own a
lifetime (a background task that starts after the hall and stops before it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import AsyncIterator, Callable

from aiohttp import web

from queue_server.core.config import ConfigError, ConfigIssue, HallConfig

# Imported, in this order, by every server and by ``hallcall config check``.
MODULES = (
    "queue_server.web.pages",
    "queue_server.reports.build",
    "queue_server.features.alerts.feature",
    "queue_server.service.privacy",
    "queue_server.features.followup.feature",
    "queue_server.features.export.feature",
    "queue_server.features.pending_materials.feature",
    "queue_server.features.appointments.feature",
    "queue_server.features.complaints.feature",
)


@dataclass(frozen=True)
class Feature:
    name: str
    validate: Callable[[HallConfig], list[ConfigIssue]] | None = None
    setup: Callable[[web.Application], None] | None = None
    lifetime: Callable[[web.Application], AsyncIterator[None]] | None = None


FEATURES: dict[str, Feature] = {}


def register(feature: Feature) -> None:
    FEATURES[feature.name] = feature


def load_all() -> dict[str, Feature]:
    for name in MODULES:
        importlib.import_module(name)
    return FEATURES


def validate(cfg: HallConfig) -> None:
    """Run every feature's checks of its hall-file section; raise one ConfigError with all problems."""
    issues: list[ConfigIssue] = []
    for feature in load_all().values():
        if feature.validate is not None:
            issues.extend(feature.validate(cfg))
    if issues:
        raise ConfigError(issues)
