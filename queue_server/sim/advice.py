"""Live staffing advice: the windows each zone should open or close now and in the next hour.

Pure: from the hall's state at a moment, the day's forecast (or none) and the planner's
model (``plan.Model`` and ``plan.advise``, not a second model). The citizens waiting now
join the model at this moment, each taking their service's recent mean handling time;
after them come the arrivals expected for the rest of this hour and the next: the
forecast's, scaled by how many came today so far against how many it expected (within
a half and double), or without a forecast the last hour's rate. The zone's windows are
ordered with those signed in first (in the planner's order), so "one more window" is a
window that is closed now; the planner's search then says how many each hour needs to
keep the p90 wait within 90 % of the zone's standard.

A wait here is the wait still ahead, from now (or from arriving, for those who come later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from queue_server.core import queueing
from queue_server.core.config import HallConfig
from queue_server.core.model import WindowStatus
from queue_server.core.state import HallState

from . import plan
from .arrivals import Arrival, Settings

Counts = dict[tuple[str, int], float]  # (service, hour of the day) -> arrivals, as forecast.Counts
RATE_BOUNDS = (0.5, 2.0)  # how far today's pace may move the forecast


@dataclass(frozen=True)
class ZoneAdvice:
    """What one zone should do now and in the next hour."""

    zone: str
    signed_in: tuple[int, ...]  # windows open or paused now
    advised: int  # windows the current hour needs
    to_open: tuple[int, ...]  # closed now, to open now (in order)
    to_close: tuple[int, ...]  # signed in now, not needed this hour
    next_hour: int | None  # windows the next hour needs (None: the hall is closed then)
    next_open: tuple[int, ...]  # more to open by the next hour, beyond those advised now
    next_close: tuple[int, ...]
    p90_now: float | None  # minutes, the p90 wait still ahead with the windows signed in now (None: never called)
    p90_advised: float | None  # with the windows advised
    standard: float  # minutes the p90 is kept within
    short: bool  # not even every window of the zone keeps it
    waiting: int
    expected: float  # arrivals expected over the rest of this hour and the next

    def view(self, cfg: HallConfig) -> dict[str, Any]:
        """As the API and the monitor show it, with the instruction in Chinese and English."""
        zh, en = instruction(cfg, self)
        return {
            "zone": self.zone, "zone_name": cfg.zones[self.zone].name, "signed_in": list(self.signed_in),
            "advised": self.advised, "to_open": [_window(cfg, n) for n in self.to_open],
            "to_close": [_window(cfg, n) for n in self.to_close], "next_hour": self.next_hour,
            "next_open": [_window(cfg, n) for n in self.next_open], "next_close": [_window(cfg, n) for n in self.next_close],
            "p90_now_minutes": _round(self.p90_now), "p90_advised_minutes": _round(self.p90_advised),
            "standard_minutes": round(self.standard, 1) if self.standard < math.inf else None, "short": self.short, "waiting": self.waiting,
            "expected_arrivals": round(self.expected, 1), "instruction": zh, "instruction_en": en,
        }


def _round(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes, 1)


def _window(cfg: HallConfig, n: int) -> dict[str, Any]:
    w = cfg.windows[n]
    return {"number": n, "name": w.name, "services": list(w.services)}


def _names(cfg: HallConfig, windows: tuple[int, ...], en: bool) -> str:
    """"5、6 号窗口（企业变更注销、企业设立登记；…）" or "windows 5, 6 (…; …)"."""
    def services(n: int) -> str:
        names = [(cfg.services[s].name_en or cfg.services[s].name) if en else cfg.services[s].name for s in cfg.windows[n].services]
        return (", " if en else "、").join(names)

    if en:
        return f"window{'s' if len(windows) > 1 else ''} {', '.join(map(str, windows))} ({'; '.join(services(n) for n in windows)})"
    return f"{'、'.join(map(str, windows))} 号窗口（{'；'.join(services(n) for n in windows)}）"


def instruction(cfg: HallConfig, a: ZoneAdvice) -> tuple[str, str]:
    """What to do, as one sentence in Chinese and one in English."""
    def minutes(v: float | None, en: bool) -> str:
        return ("nobody served" if en else "无人办理") if v is None else (f"{v:.0f} min" if en else f"{v:.0f} 分")

    if a.to_open:
        zh = f"开启 {_names(cfg, a.to_open, False)}，预计 p90 等候由 {minutes(a.p90_now, False)}降至 {minutes(a.p90_advised, False)}"
        en = f"Open {_names(cfg, a.to_open, True)}: p90 wait expected to fall from {minutes(a.p90_now, True)} to {minutes(a.p90_advised, True)}"
        if a.short:
            zh += f"（全部窗口开放仍超过标准 {a.standard:.0f} 分）"
            en += f" (still over the {a.standard:.0f}-minute standard with every window)"
    elif a.to_close:
        zh = f"可关闭 {_names(cfg, a.to_close, False)}，预计 p90 等候 {minutes(a.p90_advised, False)}，不超过标准 {a.standard:.0f} 分"
        en = (f"{_names(cfg, a.to_close, True)[0].upper()}{_names(cfg, a.to_close, True)[1:]} may close: p90 wait expected "
              f"{minutes(a.p90_advised, True)}, within the {a.standard:.0f}-minute standard")
    elif not a.waiting and a.expected < 0.5:
        zh = f"暂无群众等候或预计到达，现有 {len(a.signed_in)} 个窗口"
        en = f"Nobody waiting or expected; {len(a.signed_in)} windows open"
    elif a.short:
        zh = f"全部窗口已开放，预计 p90 等候 {minutes(a.p90_now, False)}，仍超过标准 {a.standard:.0f} 分"
        en = f"Every window is open; p90 wait expected {minutes(a.p90_now, True)}, over the {a.standard:.0f}-minute standard"
    else:
        zh = f"保持现有 {len(a.signed_in)} 个窗口，预计 p90 等候 {minutes(a.p90_now, False)}"
        en = f"Keep the {len(a.signed_in)} windows open; p90 wait expected {minutes(a.p90_now, True)}"
    if a.next_open:
        zh += f"；下一小时再开启 {_names(cfg, a.next_open, False)}"
        en += f"; in the next hour also open {_names(cfg, a.next_open, True)}"
    elif a.next_close:
        zh += f"；下一小时可关闭 {_names(cfg, a.next_close, False)}"
        en += f"; in the next hour {_names(cfg, a.next_close, True)} may close"
    return zh, en


def arrived_today(state: HallState, now: datetime) -> Counts:
    """Tickets taken today per (service, hour), up to ``now``."""
    out: Counts = {}
    for t in state.tickets.values():
        if t.issued_at <= now:
            key = (t.origin_service, t.issued_at.astimezone(now.tzinfo).hour)
            out[key] = out.get(key, 0) + 1
    return out


def expected(cfg: HallConfig, state: HallState, now: datetime, forecast: Counts | None) -> Counts:
    """Arrivals expected per (service, hour) for the current hour (its rest) and the next."""
    hour, past = now.hour, (now.minute * 60 + now.second) / 3600
    seen = arrived_today(state, now)
    out: Counts = {}
    if forecast:
        for zone in cfg.zones:
            services = [s for s, svc in cfg.services.items() if svc.zone == zone]
            came = sum(n for (s, _), n in seen.items() if s in services)
            due = sum(n * (1.0 if h < hour else past) for (s, h), n in forecast.items() if s in services and h <= hour)
            rate = min(RATE_BOUNDS[1], max(RATE_BOUNDS[0], came / due)) if due > 0 else 1.0
            for s in services:
                out[(s, hour)] = forecast.get((s, hour), 0.0) * rate * (1 - past)
                out[(s, hour + 1)] = forecast.get((s, hour + 1), 0.0) * rate
        return out
    since = now - timedelta(hours=1)
    for t in state.tickets.values():
        if since < t.issued_at <= now:
            for key, share in (((t.origin_service, hour), 1 - past), ((t.origin_service, hour + 1), 1.0)):
                out[key] = out.get(key, 0.0) + share
    return out


def model_arrivals(cfg: HallConfig, state: HallState, now: datetime, counts: Counts) -> list[Arrival]:
    """The waiting citizens at ``now``, then the expected ones spread evenly over their hours."""
    def seconds(service: str) -> int:
        return round(queueing.mean_handling(state, service))

    out: list[Arrival] = []
    waiting = sorted((t for q in state.waiting.values() for t in q.values()), key=lambda t: (t.queued_at, t.id))
    for t in waiting:
        out.append(Arrival(len(out) + 1, now, t.service, t.channel, t.priority, seconds(t.service), False, None))
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    for (service, hour), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        whole = int(n + 0.5)
        start = max(now, hour_start + timedelta(hours=hour - now.hour))
        end = hour_start + timedelta(hours=hour - now.hour + 1)
        span = (end - start).total_seconds()
        for j in range(whole):
            out.append(Arrival(len(out) + 1, start + timedelta(seconds=span * (j + 0.5) / whole), service, "kiosk",
                               "normal", seconds(service), False, None))
    return out


def advise(cfg: HallConfig, state: HallState, now: datetime, options: Settings,
           forecast: Counts | None = None, zones: set[str] | None = None) -> list[ZoneAdvice]:
    """Each zone's advice at ``now`` (or only ``zones``'); none outside business hours or with nobody expected."""
    now = now.astimezone(cfg.hall.tz)
    counts = expected(cfg, state, now, forecast)
    arrivals = model_arrivals(cfg, state, now, counts)
    if not arrivals:
        return []
    model = plan.Model(cfg, arrivals, options)
    # A zone is held to the standards of the services someone waits for or is expected in, not
    # to the strictest of the zone's services whoever comes.
    busy = {a.service for a in arrivals}
    model.standard = {s: (m if s in busy else math.inf) for s, m in model.standard.items()}
    hour = now.hour
    hours = model.hours()
    if hour not in hours:
        return []
    signed = {n for n, w in state.windows.items() if w.status is not WindowStatus.CLOSED}
    # Signed-in windows first: "one more" is one closed now. Zones not asked about are left out.
    model.order = {zone: [n for n in order if n in signed] + [n for n in order if n not in signed]
                   for zone, order in model.order.items() if zones is None or zone in zones}
    out = []
    for a in plan.advise(model, [hour, hour + 1]):
        zone, order = a.zone, model.order[a.zone]
        mine = tuple(n for n in order if n in signed)
        idle = not any(cfg.services[x.service].zone == zone for x in arrivals)
        # Nobody waits or is expected: nothing to open, and the windows signed in stay (someone may come).
        now_n = len(mine) if idle else a.by_hour[hour]
        nxt = (len(mine) if idle else a.by_hour.get(hour + 1)) if hour + 1 in hours else None
        limit = plan.MARGIN * min((model.standard[s] for s, svc in cfg.services.items() if svc.zone == zone), default=math.inf)
        rest = {h: len(order) for h in hours}
        before = model.play({zone: {**rest, hour: len(mine), hour + 1: len(mine)}}, [zone])[zone][hour]
        after = model.play({zone: {**rest, hour: now_n, **({hour + 1: nxt} if nxt is not None else {})}}, [zone])[zone][hour]
        p90_now, p90_advised = (None if (v := plan._p90(zh.waits)) == math.inf else v / 60 for zh in (before, after))
        # Windows needed again next hour are not closed now; what is open once this advice is done:
        kept = now_n if now_n >= len(mine) else max(now_n, min(nxt or 0, len(mine)))
        out.append(ZoneAdvice(
            zone=zone, signed_in=mine, advised=now_n, to_open=tuple(order[len(mine):now_n]),
            to_close=tuple(reversed(order[kept:len(mine)])), next_hour=nxt,
            next_open=tuple(order[kept:nxt]) if nxt is not None else (),
            next_close=tuple(reversed(order[nxt:kept])) if nxt is not None else (),
            p90_now=p90_now, p90_advised=p90_advised, standard=limit / 60, short=hour in a.short,
            waiting=sum(len(q) for s, q in state.waiting.items() if cfg.services[s].zone == zone),
            expected=sum(n for (s, _), n in counts.items() if cfg.services[s].zone == zone)))
    return out
