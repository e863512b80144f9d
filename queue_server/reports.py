"""Reports for any period by hall, zone, service, window and clerk, as JSON, CSV and XLSX."""

from __future__ import annotations

from .features import Feature, register

register(Feature("reports"))
