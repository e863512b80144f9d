"""Bad-review follow-up cases (差评整改) and their export to a provincial platform."""

from __future__ import annotations

from .features import Feature, register

register(Feature("followup"))
