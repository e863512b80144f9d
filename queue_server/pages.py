"""The pages people use: kiosk, clerk console, hall TV, window screen, evaluation pad, tracking, live monitor."""

from __future__ import annotations

from .features import Feature, register

register(Feature("pages"))
