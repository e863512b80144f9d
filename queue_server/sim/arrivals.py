"""What the day replayer plays and how its clerks behave: the trace and the [simulate] table.

A trace is a CSV with one row per citizen: ``seq, arrive_at, service, channel, priority,
service_seconds, no_show, rating`` (tests/data/taikang-day.csv). The settings come from
their defaults, the hall file's ``[simulate]`` table and the command line, in that order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from queue_server.core.config import ConfigIssue, HallConfig


@dataclass(frozen=True)
class Arrival:
    seq: int
    at: datetime
    service: str
    channel: str
    priority: str
    service_seconds: int
    no_show: bool
    rating: int | None


@dataclass(frozen=True)
class Settings:
    """How clerks behave; the hall file's ``[simulate]`` table overrides these defaults."""

    seed: int = 1
    windows: tuple[int, ...] = ()  # windows staffed; empty means every window
    walk_seconds: int = 0  # call → start; 0: the clerk never presses start (a keypad), handling runs from the call
    recall_seconds: int = 30  # between the calls of a citizen who does not come
    recalls: int = 1  # recalls before marking a no-show
    # finish → the citizen presses the pad; 0: in the same instant (one commit fewer), which no citizen
    # can do: the rating_fast alert flags a window whose ratings keep coming that fast
    rate_seconds: int = 5
    pause_probability: float = 0.02  # after each service, the clerk pauses with this probability
    pause_minutes: tuple[int, int] = (3, 12)
    late_probability: float = 0.03  # a clerk signs in late for a span with this probability
    late_minutes: tuple[int, int] = (1, 15)
    overtime: bool = True  # at a span's end, serve on until nobody the window serves is waiting
    # Zones run as 无差别综合受理 in the replay: each of their windows takes every service of the zone.
    pooled_zones: tuple[str, ...] = ()
    alerts_every_seconds: int = 120  # run the alert checker this often in simulated time; 0: never


def settings(cfg: HallConfig, **overrides: Any) -> Settings:
    """Defaults, then the hall file's [simulate] table, then explicit overrides (CLI flags)."""
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in cfg.extra.get("simulate", {}):
            raw = cfg.extra["simulate"][f.name]
            values[f.name] = tuple(raw) if isinstance(raw, list) else raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def validate(cfg: HallConfig) -> list[ConfigIssue]:
    """Check the hall file's [simulate] table."""
    section = cfg.extra.get("simulate")
    if section is None:
        return []
    if not isinstance(section, dict):
        return [cfg.issue("simulate", None, "must be a table")]
    issues: list[ConfigIssue] = []
    defaults = Settings()
    for key, value in section.items():
        if not hasattr(defaults, key):
            names = ", ".join(f.name for f in fields(Settings))
            issues.append(cfg.issue("simulate", key, f"unknown field (expected one of: {names})"))
            continue
        want = type(getattr(defaults, key))
        if key == "pooled_zones":
            ok = isinstance(value, list) and all(z in cfg.zones for z in value)
        elif want is tuple:
            ok = isinstance(value, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in value)
            if ok and key != "windows" and (len(value) != 2 or value[0] > value[1] or value[0] < 0):
                ok = False
            if ok and key == "windows" and any(n not in cfg.windows for n in value):
                issues.append(cfg.issue("simulate", key, "names a window the hall does not have"))
                continue
        elif want is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        else:
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool)) and not (want is int and value < 0)
        if not ok:
            issues.append(cfg.issue("simulate", key, f"bad value {value!r}"))
    return issues


def read_trace(path: str | Path, *, day: date | None = None) -> list[Arrival]:
    """Read a trace; with ``day``, move every arrival to that date (same time of day)."""
    out: list[Arrival] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            at = datetime.fromisoformat(row["arrive_at"])
            if at.tzinfo is None:
                raise ValueError(f"{path}: arrive_at {row['arrive_at']!r} has no UTC offset")
            if day is not None:
                at = at.replace(year=day.year, month=day.month, day=day.day)
            rating = int(row["rating"]) if row.get("rating", "").strip() else None
            out.append(Arrival(int(row["seq"]), at, row["service"], row["channel"] or "kiosk", row["priority"] or "normal",
                               int(row["service_seconds"]), row["no_show"].strip() in ("1", "true", "True"), rating))
    out.sort(key=lambda a: (a.at, a.seq))
    return out


def pooled(cfg: HallConfig, zones: tuple[str, ...]) -> HallConfig:
    """The hall as replayed: windows of pooled zones list every service of their zone after their own
    (but a route bundle, which is served part by part at its parts' windows)."""
    if not zones:
        return cfg
    windows = {}
    for n, w in cfg.windows.items():
        extra = tuple(s.id for s in cfg.services.values() if w.zone in zones and s.zone == w.zone and not s.routed)
        windows[n] = replace(w, services=tuple(dict.fromkeys(w.services + extra)))
    return replace(cfg, windows=windows)
