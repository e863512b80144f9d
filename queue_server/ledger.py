"""The "couldn't get it done" ledger (办不成事)."""

from __future__ import annotations

from .features import Feature, register

register(Feature("ledger"))
