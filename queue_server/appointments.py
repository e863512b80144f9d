"""Appointments (预约): bookings, check-in at the kiosk, no-show voiding."""

from __future__ import annotations

from .features import Feature, register

register(Feature("appointments"))
