"""The alert thresholds of a hall: the [alerts] table over the defaults, and its checks.

Each alert type has [yellow, orange, red] thresholds, set for the hall and, for the
queue-related types, per service (``[alerts.services.<id>]``); docs/reports.md lists
them. ``validate`` reports every problem with the file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from queue_server.core.config import ConfigIssue, HallConfig

LEVELS = ("yellow", "orange", "red")
RANK = {name: i for i, name in enumerate(LEVELS)}

# Threshold sets [yellow, orange, red] and what each measures; "wait" defaults to each
# service's target_wait_minutes ×1, ×1.5, ×2.
DEFAULTS: dict[str, tuple[float, float, float]] = {
    "handling": (30, 45, 60),  # minutes a ticket has been at a window (from start, or from the call)
    "saturation": (8, 12, 16),  # waiting tickets per open window serving the service
    "queue": (30, 50, 80),  # waiting tickets of a service
    "pause": (15, 30, 45),  # business-hours minutes a window is paused, or closed after signing in that day
    "no_show_rate": (0.15, 0.20, 0.30),  # share of the slot's called tickets that did not come
    "over_wait_rate": (0.20, 0.30, 0.40),  # share of the slot's called tickets that waited over the standard
    "rating_fast": (3, 5, 8),  # ratings in a row at a window given within fast_rating_seconds of the request
    "unrated_gap": (0.30, 0.40, 0.50),  # a window's share of unrated services today, away from the hall's (either way)
    "time_limit": (0.80, 0.90, 1.00),  # share of a service's 办结时限 a ticket has used; red at 1 is the breach
}
THRESHOLDS = ("wait", *DEFAULTS)
PER_SERVICE = ("wait", "handling", "saturation", "queue", "no_show_rate", "over_wait_rate", "time_limit")
TYPES = ("wait", "handling", "saturation", "pause", "no_show_rate", "over_wait_rate", "bad_review", "rating_fast",
         "unrated_gap", "time_limit", "rate_limit")
# The checker raises and clears these; bad reviews and too-fast ratings come from the rating itself,
# a source over its limit ([limits]) from the refused request.
CHECKED = frozenset(TYPES) - {"bad_review", "rating_fast", "rate_limit"}
RATE_LIMIT_LEVEL = "orange"
RATES = frozenset({"no_show_rate", "over_wait_rate", "unrated_gap"})
# A rate over fewer calls swings with every citizen: 1 no-show in 10 calls is 10 %. Likewise a
# window's unrated share is judged only once it has served min_served citizens today.
OPTIONS = {"check_seconds": 30, "slot_minutes": 60, "min_calls": 20, "auto_close_days": 7, "fast_rating_seconds": 1,
           "min_served": 20, "rate_limit_minutes": 60}


@dataclass(frozen=True)
class Settings:
    thresholds: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    services: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    bad_review: tuple[str, str] = ("orange", "red")  # alert level for 不满意 (2) and 非常不满意 (1)
    check_seconds: float = 30  # 0: this process runs no background checker
    slot_minutes: int = 60  # the time slot of the rate alerts: the last this-many minutes
    min_calls: int = 20  # a rate alert needs this many calls in the slot
    auto_close_days: int = 7  # cleared alerts nobody closed are closed by the system after this
    fast_rating_seconds: int = 1  # a rating this soon after the request is faster than a citizen can press
    min_served: int = 20  # a window's unrated share is compared with the hall's from this many served today
    rate_limit_minutes: int = 60  # one rate_limit alert per source in this many minutes, however often it is refused
    expected_windows: tuple[int, ...] = ()  # [attendance]: windows absent from the first span if closed

    def levels(self, cfg: HallConfig, kind: str, service: str | None = None) -> tuple[float, float, float]:
        if service is not None and kind in self.services.get(service, {}):
            return self.services[service][kind]
        if kind in self.thresholds:
            return self.thresholds[kind]
        if kind == "wait":
            target = float(cfg.services[service].target_wait_minutes if service in cfg.services else 20)
            return (target, target * 1.5, target * 2)
        return DEFAULTS[kind]


def parse(cfg: HallConfig, expected_windows: tuple[int, ...] = ()) -> Settings:
    """The hall file's [alerts] table over the defaults (checked by ``validate``)."""
    raw = cfg.extra.get("alerts", {})
    return Settings(
        thresholds={k: _levels(raw[k]) for k in THRESHOLDS if k in raw},
        services={s: {k: _levels(v) for k, v in t.items()} for s, t in raw.get("services", {}).items()},
        bad_review=tuple(raw.get("bad_review", ("orange", "red"))),
        expected_windows=expected_windows,
        **{k: raw.get(k, v) for k, v in OPTIONS.items()},
    )


def _levels(value: Any) -> tuple[float, float, float]:
    # Three numbers: ``validate`` has checked the file before the hall starts.
    return cast(tuple[float, float, float], tuple(map(float, value)))


def _check_levels(cfg: HallConfig, table: str, key: str, value: Any, out: list[ConfigIssue]) -> None:
    numbers = isinstance(value, list) and len(value) == 3 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in value)
    if not numbers:
        out.append(cfg.issue(table, key, "must be [yellow, orange, red]: three positive numbers"))
    elif not value[0] <= value[1] <= value[2]:
        out.append(cfg.issue(table, key, "yellow ≤ orange ≤ red"))
    elif key in RATES and value[2] > 1:
        out.append(cfg.issue(table, key, "rates are shares between 0 and 1"))


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    """Check the hall file's [alerts] table; each problem names the file, line and field."""
    raw = cfg.extra.get("alerts")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [cfg.issue("alerts", None, "must be a table")]
    out: list[ConfigIssue] = []
    allowed = {*THRESHOLDS, "bad_review", "services", *OPTIONS}
    for key, value in raw.items():
        if key not in allowed:
            out.append(cfg.issue("alerts", key, f"unknown field (expected one of: {', '.join(sorted(allowed))})"))
        elif key in THRESHOLDS:
            _check_levels(cfg, "alerts", key, value, out)
        elif key == "bad_review":
            if not (isinstance(value, list) and len(value) == 2 and all(v in LEVELS for v in value)):
                out.append(cfg.issue("alerts", key, f"must be two levels (for 不满意, 非常不满意) from {list(LEVELS)}"))
        elif key == "services":
            if not isinstance(value, dict):
                out.append(cfg.issue("alerts", key, "must be a table of services"))
                continue
            for sid, table in value.items():
                where = f"alerts.services.{sid}"
                if sid not in cfg.services:
                    out.append(cfg.issue(where, None, f"unknown service {sid!r}"))
                elif not isinstance(table, dict):
                    out.append(cfg.issue(where, None, "must be a table"))
                else:
                    for k, v in table.items():
                        if k not in PER_SERVICE:
                            out.append(cfg.issue(where, k, f"unknown field (expected one of: {', '.join(PER_SERVICE)})"))
                        else:
                            _check_levels(cfg, where, k, v, out)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and (value >= 0 if key in ("auto_close_days", "check_seconds") else value >= 1)
            if ok and key != "check_seconds" and not isinstance(value, int):
                ok = False
            if not ok:
                out.append(cfg.issue("alerts", key, "must be seconds ≥ 0 (0: no background checker)" if key == "check_seconds"
                                     else "must be a whole number ≥ 0" if key == "auto_close_days" else "must be a whole number ≥ 1"))
    return out
