"""Live supervision alerts with yellow, orange and red thresholds."""

from __future__ import annotations

from .features import Feature, register

register(Feature("alerts"))
