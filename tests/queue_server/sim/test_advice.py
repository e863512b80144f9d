"""Live advice: a loaded zone is told which of its windows to open, and opening them keeps the promise."""

from __future__ import annotations

import heapq
import math
from datetime import datetime, timedelta

from queue_server.core import queueing, rules
from queue_server.core.model import Priority
from queue_server.sim import advice
from queue_server.sim.arrivals import settings

from ...conftest import HALL_FILE, TZ  # type: ignore[import-not-found]
from ..core.test_rules import Hall

NINE = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)


def loaded_medical_zone() -> Hall:
    """09:20: window 29 (referral only) and 31 (reimbursement only) open; 6 reimbursement citizens came since 09:00."""
    h = Hall(HALL_FILE.read_text(encoding="utf-8"), now=NINE)
    h.open(29, 31)
    for i in range(6):
        h.now = NINE + timedelta(seconds=200 * i)
        h.do(rules.issue, "medical-reimbursement", token=f"tok{i:04d}", priority=Priority.NORMAL)
    h.now = NINE + timedelta(minutes=20)
    return h


def replay(h: Hall, opened: tuple[int, ...], arrivals: list[advice.Arrival], until: datetime) -> float:
    """Play the waiting citizens and ``arrivals`` through the real rules with ``opened`` windows signed in,
    every visit lasting its service's mean handling time now; the p90 wait (minutes) still ahead
    of those waiting now and those arriving before ``until``."""
    start = h.now
    h.open(*opened)
    handling = {s: queueing.mean_handling(h.st, s) for s in h.cfg.services}
    waiting_now = {t.id for q in h.st.waiting.values() for t in q.values()}
    signed = [n for n, w in h.st.windows.items() if w.status.value != "closed"]
    events: list[tuple[datetime, int, int, str]] = [(start, 1, n, "") for n in signed]
    later = [a for a in arrivals if a.at > start]
    events += [(a.at, 0, i, a.service) for i, a in enumerate(later)]
    heapq.heapify(events)
    idle: list[int] = []
    waits: list[float] = []
    watched = set(waiting_now)
    while events:
        at, kind, i, service = heapq.heappop(events)
        h.now = at
        if kind == 0:
            t = h.do(rules.issue, service, token=f"new{i:05d}")
            if at < until:
                watched.add(t.id)
            for n in list(idle):
                if service in h.cfg.windows[n].services:
                    idle.remove(n)
                    heapq.heappush(events, (at, 1, n, ""))
                    break
            continue
        n = i
        if h.st.current_ticket(n) is not None:
            h.do(rules.finish, n)
        called = h.do(rules.call_next, n)
        if called is None:
            idle.append(n)
            continue
        if called.id in watched:
            waits.append((at - max(start, called.issued_at)).total_seconds())
        heapq.heappush(events, (at + timedelta(seconds=handling[called.service]), 1, n, ""))
    assert len(waits) == len(watched)  # everyone watched was called
    waits.sort()
    return waits[math.ceil(0.9 * len(waits)) - 1] / 60


def test_a_loaded_zone_is_told_to_open_windows_that_serve_its_queue_and_the_promise_holds() -> None:
    h = loaded_medical_zone()
    cfg = h.cfg
    found = {a.zone: a for a in advice.advise(cfg, h.st, h.now, settings(cfg))}
    medical = found["medical"]
    assert set(medical.signed_in) == {29, 31} and medical.waiting == 6
    assert medical.to_open and not medical.short, "six waiting at the one reimbursement window open need more"
    assert all("medical-reimbursement" in cfg.windows[n].services for n in medical.to_open)
    assert medical.p90_now is not None and medical.p90_advised is not None
    assert medical.p90_advised <= medical.standard < medical.p90_now
    zh, en = advice.instruction(cfg, medical)
    first = medical.to_open[0]
    assert zh.startswith(f"开启 {'、'.join(map(str, medical.to_open))} 号窗口（") and "医保报销" in zh
    assert f"由 {medical.p90_now:.0f} 分降至 {medical.p90_advised:.0f} 分" in zh
    assert en.startswith("Open window") and str(first) in en
    # Zones nobody queues in are not told to open anything.
    assert not found["construction"].to_open

    # Replayed through the real rules with the same arrivals: opening the advised windows keeps the promise...
    counts = advice.expected(cfg, h.st, h.now, None)
    arrivals = advice.model_arrivals(cfg, h.st, h.now, counts)
    hour_end = h.now.replace(minute=0) + timedelta(hours=1)
    state = h.st.fork()
    kept = replay(h, medical.to_open, arrivals, hour_end)
    assert kept <= medical.p90_advised + 1 and kept <= medical.standard
    # ...and opening one window fewer than advised does not.
    h.st, h.now = state, NINE + timedelta(minutes=20)
    fewer = replay(h, medical.to_open[:-1], arrivals, hour_end)
    assert fewer > medical.standard


def test_a_quiet_zone_with_windows_to_spare_may_close_some() -> None:
    h = Hall(HALL_FILE.read_text(encoding="utf-8"), now=NINE)
    h.open(15, 16, 17, 18, 19, 20)  # six social security windows
    for i in range(3):
        h.now = NINE + timedelta(minutes=10 * i)
        h.do(rules.issue, "pension", token=f"p{i}")
    h.now = NINE + timedelta(minutes=30)
    social = next(a for a in advice.advise(h.cfg, h.st, h.now, settings(h.cfg)) if a.zone == "social")
    assert social.to_close and not social.to_open
    assert set(social.to_close) <= {15, 16, 17, 18, 19, 20}
    zh, _ = advice.instruction(h.cfg, social)
    assert zh.startswith("可关闭 ") and "不超过标准" in zh


def test_the_forecast_is_scaled_by_todays_pace() -> None:
    h = loaded_medical_zone()  # 6 reimbursement citizens by 09:20
    forecast = {("referral", 9): 18.0, ("referral", 10): 18.0, ("pension", 10): 12.0}
    counts = advice.expected(h.cfg, h.st, h.now, forecast)
    # A third of hour 9 was forecast to bring 6 medical citizens; 6 came: the forecast holds.
    assert math.isclose(counts[("referral", 10)], 18.0)
    assert math.isclose(counts[("referral", 9)], 18.0 * (2 / 3))
    busy = advice.expected(h.cfg, h.st, h.now, {("referral", 9): 3.0, ("referral", 10): 3.0})
    assert busy[("referral", 10)] == 6.0  # 6 came where 1 was due: the pace is capped at double
    # No one came to the social security zone, forecast only from 10:00: nothing to scale by yet.
    assert counts[("pension", 10)] == 12.0
