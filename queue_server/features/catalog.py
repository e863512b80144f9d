"""The features a hall runs, in the order they are built.

A feature may read the settings of one built before it: alerts read the reports'
attendance settings, 容缺受理 the follow-up settings. ``build`` makes the set a Hall
runs from its configuration.
"""

from __future__ import annotations

from queue_server.core.config import HallConfig
from queue_server.reports.feature import Reports
from queue_server.service.plugin import Feature, Features
from queue_server.sim import arrivals
from queue_server.sim.advising import Advising
from queue_server.sim.planning import Planning

from .alerts import Alerts
from .appointments import Appointments
from .assist import Assist
from .complaints import Complaints
from .export import ProvincialExport
from .followup import FollowUp
from .pending_materials import PendingMaterials
from .time_limits import TimeLimits
from .webhooks import Webhooks

ALL: tuple[type[Feature], ...] = (Reports, Alerts, TimeLimits, FollowUp, PendingMaterials, Complaints, Appointments,
                                  ProvincialExport, Planning, Advising, Webhooks, Assist)
# Tables read by tools rather than the server: the voice agent and the day replayer.
TOOL_TABLES = ("voice", "simulate")


def build(cfg: HallConfig, extra: tuple[type[Feature], ...] = ()) -> Features:
    """Every feature of the hall (and ``extra`` ones a tool adds), its settings read once; one ConfigError lists every problem."""
    return Features(cfg, ALL + extra, other_sections=TOOL_TABLES, checks=(arrivals.validate,))
