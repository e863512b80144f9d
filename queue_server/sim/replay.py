"""The day replayer: play a trace of arrivals through the hall's own service on a simulated clock.

A trace (``seq, arrive_at, service, channel, priority, service_seconds, no_show,
rating``, one row per citizen) is replayed against the real ``Hall`` over a real store:
citizens take tickets, one clerk per window signs in for each business span (lunch
closed), calls when idle, serves for the trace's ``service_seconds``, recalls and marks
the trace's no-shows, pauses now and then, and the pad records the trace's rating. The
clock is a ``ManualClock`` moved from one timed action to the next, so a whole day
takes seconds and every time in the store is exact.

Actions due at the same instant are submitted together; the Hall decides them in
submission order and commits them as one batch, which is what makes a replay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import random
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Awaitable, Callable

from queue_server.core.clock import ManualClock, spans_on
from queue_server.core.config import HallConfig
from queue_server.core.errors import HallError
from queue_server.core.model import REASONS, DeviceToken, Person, Status
from queue_server.protocol import PAUSE_REASONS
from queue_server.reports import figures
from queue_server.service import auth
from queue_server.service.auth import Principal
from queue_server.service.hall import Hall
from queue_server.service.plugin import Feature
from queue_server.store import Store

from . import parts
from .arrivals import Arrival, Settings, pooled, read_trace, settings, validate  # noqa: F401  (the replayer's inputs)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平"]


async def ensure_clerks(store: Store, cfg: HallConfig, windows: list[int]) -> dict[int, Person]:
    """One clerk per window, created once per store. They have no password: nobody signs in as them."""
    people: dict[int, Person] = {}
    for i, n in enumerate(windows):
        login = f"sim-w{n:02d}"
        person = await store.person(login=login)
        if person is None:
            name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]
            person = Person(f"sim{n:04d}", login, name, "clerk", staff_no=f"S{n:04d}",
                            department=cfg.zones[cfg.windows[n].zone].name, windows=(n,))
            await store.put_person(person)
        people[n] = person
    return people


@dataclass
class _Desk:
    number: int
    clerk: Principal
    open: bool = False
    closing: bool = False  # the span is over: sign out after the current ticket (or serve on: overtime)


@dataclass
class ReplayResult:
    day: str
    arrivals: int
    issued: int = 0
    served: int = 0  # citizens served (a bundle once, after its last part)
    parts: int = 0  # bundle parts done (一件事的环节)
    bundles: int = 0  # bundle tickets done after their last part
    no_shows: int = 0
    ratings: int = 0
    pauses: int = 0
    late_sign_ins: int = 0
    failures: list[str] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0
    eta: dict[str, Any] | None = None  # figures.eta_accuracy of the day's promised waits

    def line(self) -> str:
        bundles = f"{self.bundles} bundles done ({self.parts} parts), " if self.bundles or self.parts else ""
        text = (f"{self.day}: {self.arrivals} arrivals, {self.issued} issued, {self.served} served, {bundles}"
                f"{self.no_shows} no-shows, "
                f"{self.ratings} ratings, {self.pauses} pauses, {self.late_sign_ins} late sign-ins, {self.events} events "
                f"in {self.seconds:.2f} s" + (f", {len(self.failures)} failures" if self.failures else ""))
        if self.eta and self.eta["tickets"]:
            text += "\n" + "\n".join(f"  ETA {label}: {eta_line(self.eta if key is None else self.eta[key])}"
                                      for label, key in (("all waits", None), ("waits under an hour", "under_an_hour")))
        return text


def eta_line(a: dict[str, Any]) -> str:
    """One line of ETA accuracy figures (figures.eta_accuracy)."""
    if not a["tickets"]:
        return "no tickets"
    return (f"{a['tickets']} tickets, median error {a['median_abs_error_minutes']} min, "
            f"p90 {a['p90_abs_error_minutes']} min, {a['within_5_minutes']:.0%} within ±5 min, "
            f"bias {a['bias_minutes']:+} min")


class Replayer:
    """Plays one day's arrivals through a started Hall whose clock is ``clock``."""

    def __init__(self, hall: Hall, clock: ManualClock, arrivals: list[Arrival], clerks: dict[int, Person],
                 options: Settings, check_alerts: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.hall = hall
        self.clock = clock
        self.arrivals = arrivals
        self.options = options
        self.rng = random.Random(options.seed)
        self.check_alerts = check_alerts
        cfg = hall.config
        self.kiosk = auth.from_device(DeviceToken("sim-kiosk", "kiosk", "simulated kiosk", "", green=True))
        self.desk_staff = auth.from_person(Person("sim-desk", "sim-desk", "预约服务台", "clerk"))
        self.pad = auth.from_device(DeviceToken("sim-pad", "pad", "simulated pads", "", windows=tuple(cfg.windows)))
        self.desks = {n: _Desk(n, auth.from_person(p)) for n, p in clerks.items()}
        self.idle: dict[int, None] = {}  # open desks with nothing to call, longest idle first
        self.by_ticket: dict[str, Arrival] = {}
        self.day = arrivals[0].at.astimezone(cfg.hall.tz).date() if arrivals else date.today()
        self.result = ReplayResult(self.day.isoformat(), len(arrivals))
        self._heap: list[tuple[datetime, int, int, Callable[..., Awaitable[Any]], tuple[Any, ...]]] = []
        self._order = itertools.count()

    # -- the timeline ------------------------------------------------------------------------

    def at(self, when: datetime, fn: Callable[..., Awaitable[Any]], *args: Any, first: bool = False) -> None:
        heapq.heappush(self._heap, (when, 0 if first else 1, next(self._order), fn, args))

    def later(self, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self.at(self.clock.now() + timedelta(seconds=seconds), fn, *args)

    async def run(self) -> ReplayResult:
        started, seq0 = time.perf_counter(), self.hall.state.seq
        for a in self.arrivals:
            self.at(a.at, self._arrive, a, first=True)
        spans = spans_on(self.day, self.hall.config.hall.tz, self.hall.config.hall.hours)
        for start, end in spans:
            for desk in self.desks.values():
                delay = 0.0
                if self.rng.random() < self.options.late_probability:
                    delay = 60 * self.rng.uniform(*self.options.late_minutes)
                    self.result.late_sign_ins += 1
                self.at(start + timedelta(seconds=round(delay)), self._open, desk)
                self.at(end, self._span_end, desk)
        if self.check_alerts and self.options.alerts_every_seconds > 0:
            self.at(spans[0][0], self._check_alerts)
        while self._heap:
            when = self._heap[0][0]
            due = []
            while self._heap and self._heap[0][0] == when:
                due.append(heapq.heappop(self._heap))
            self.clock.set(when)
            jobs = [fn(*args) for _, _, _, fn, args in due]
            # Citizens who just took a ticket wake the clerk idle longest among those serving them.
            for _, _, _, fn, args in due:
                if fn == self._arrive:
                    idle = self._idle_desk_for(*parts.first_queues(self.hall.config, args[0].service))
                    if idle is not None:
                        jobs.append(self._next(idle))
            await asyncio.gather(*jobs)
        self.result.events = self.hall.state.seq - seq0
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _idle_desk_for(self, *services: str) -> _Desk | None:
        for n in self.idle:
            if any(s in self.hall.config.windows[n].services for s in services):
                del self.idle[n]
                return self.desks[n]
        return None

    async def _step(self, *calls: Awaitable[Any]) -> list[Any]:
        """Submit calls together (one commit); failures are counted, not raised.

        A lone call is awaited directly rather than through ``gather``, so it reaches the
        Hall in the same loop turn as the other actions due now and joins their batch.
        """
        if len(calls) == 1:
            try:
                out = [await calls[0]]
            except HallError as exc:
                out = [exc]
        else:
            out = await asyncio.gather(*calls, return_exceptions=True)
        for value in out:
            if isinstance(value, HallError):
                self.result.failures.append(f"{self.clock.now():%H:%M:%S} {value.code}: {value.message}")
            elif isinstance(value, BaseException):
                raise value
        return out

    # -- citizens ----------------------------------------------------------------------------------

    async def _arrive(self, a: Arrival) -> None:
        if a.priority == "appointment" or a.channel in ("appointment", "staff"):
            call = self.hall.execute("issue", self.desk_staff, service=a.service, channel=a.channel, priority=a.priority)
        else:
            call = self.hall.execute("issue", self.kiosk, service=a.service, channel=a.channel, priority=a.priority)
        [ticket] = await self._step(call)
        if isinstance(ticket, dict):
            self.by_ticket[ticket["id"]] = a
            self.result.issued += 1

    async def _rate(self, ticket: str, level: int) -> dict[str, Any]:
        """The pad's rating; awaited inline, so it is submitted with whatever it is gathered with."""
        reasons = [self.rng.choice(sorted(REASONS))] if level <= 2 else []
        rated: dict[str, Any] = await self.hall.execute("evaluate", self.pad, level=level, ticket=ticket, reasons=reasons)
        self.result.ratings += 1
        return rated

    # -- clerks --------------------------------------------------------------------------------------

    async def _open(self, desk: _Desk) -> None:
        desk.closing = False
        if desk.open:
            return  # still serving overtime from the last span
        [opened] = await self._step(self.hall.execute("open", desk.clerk, window=desk.number))
        if isinstance(opened, dict):
            desk.open = True
            await self._next(desk)

    async def _span_end(self, desk: _Desk) -> None:
        desk.closing = True
        if desk.number in self.idle:
            del self.idle[desk.number]
            await self._close(desk)

    async def _close(self, desk: _Desk, *before: Awaitable[Any]) -> None:
        await self._step(*before, self.hall.execute("close", desk.clerk, window=desk.number))
        desk.open = False

    async def _next(self, desk: _Desk, *before: Awaitable[Any], served: bool = False) -> None:
        """What a clerk does when free: sign out, pause, or call the next citizen (with ``before`` in one commit)."""
        p, n = desk.clerk, desk.number
        if desk.closing and not self.options.overtime:
            await self._close(desk, *before)
            return
        if served and not desk.closing and self.rng.random() < self.options.pause_probability:
            reason = self.rng.choice(PAUSE_REASONS[:3])
            await self._step(*before, self.hall.execute("pause", p, window=n, reason=reason))
            self.result.pauses += 1
            self.later(60 * self.rng.randint(*self.options.pause_minutes), self._resume, desk)
            return
        *_, called = await self._step(*before, self.hall.execute("call_next", p, window=n))
        if not isinstance(called, dict):
            if desk.closing:
                await self._close(desk)
            else:
                self.idle[n] = None
            return
        a = self.by_ticket[called["id"]]
        # A citizen who does not come misses the first call; one guided on to a bundle's next part is there.
        if a.no_show and not any(p["outcome"] for p in called.get("parts", ())):
            for k in range(1, self.options.recalls + 1):
                self.later(k * self.options.recall_seconds, self._recall, desk)
            self.later((self.options.recalls + 1) * self.options.recall_seconds, self._miss, desk)
            return
        if self.options.walk_seconds:
            self.later(self.options.walk_seconds, self._start, desk)
        shares = parts.split_seconds(self.hall.config, a.service, a.service_seconds)
        bundle = called.get("bundle")
        if bundle is None or bundle["mode"] == "route":
            seconds = shares[called["service"]] if bundle is not None else a.service_seconds
            self.later(self.options.walk_seconds + seconds, self._finish, desk, called["id"])
            return
        at = self.options.walk_seconds
        for part in called["parts"]:  # one window, every part: ticked one after another
            at += shares[part["service"]]
            self.later(at, self._tick, desk, part["service"])
        self.later(at, self._finish, desk, called["id"])

    async def _recall(self, desk: _Desk) -> None:
        await self._step(self.hall.execute("recall", desk.clerk, window=desk.number))

    async def _miss(self, desk: _Desk) -> None:
        self.result.no_shows += 1
        await self._next(desk, self.hall.execute("no_show", desk.clerk, window=desk.number), served=True)

    async def _start(self, desk: _Desk) -> None:
        await self._step(self.hall.execute("start", desk.clerk, window=desk.number))

    async def _tick(self, desk: _Desk, part: str) -> None:
        await self._step(self.hall.execute("tick_part", desk.clerk, window=desk.number, part=part))
        self.result.parts += 1

    async def _finish(self, desk: _Desk, ticket: str) -> None:
        a = self.by_ticket[ticket]
        t = self.hall.state.ticket(ticket)
        bundle = t is not None and bool(t.parts)
        routed = t is not None and bundle and t.service != t.origin_service
        left = sum(1 for p in t.parts if p["outcome"] is None) if t is not None else 0
        last = not routed or left == 1
        self.result.served += 1 if last else 0
        self.result.parts += 1 if routed else 0
        self.result.bundles += 1 if bundle and last else 0
        steps = [self.hall.execute("finish", desk.clerk, window=desk.number)]
        if a.rating is not None and last and self.options.rate_seconds:
            self.later(self.options.rate_seconds, self._step_rate, ticket, a.rating)
        elif a.rating is not None and last:
            steps.append(self._rate(ticket, a.rating))
        await self._next(desk, *steps, served=True)
        # A routed bundle waits for its next part now: a clerk idle at that part's window calls it.
        moved = self.hall.state.ticket(ticket)
        if not last and moved is not None and moved.status is Status.WAITING:
            idle = self._idle_desk_for(moved.service)
            if idle is not None:
                await self._next(idle)

    async def _step_rate(self, ticket: str, level: int) -> None:
        await self._step(self._rate(ticket, level))

    async def _resume(self, desk: _Desk) -> None:
        await self._next(desk, self.hall.execute("resume", desk.clerk, window=desk.number))

    async def _check_alerts(self) -> None:
        assert self.check_alerts is not None
        await self.check_alerts()
        if self._heap:  # keep checking while anything is still to happen
            self.later(self.options.alerts_every_seconds, self._check_alerts)


def _day_start(cfg: HallConfig, day: date) -> datetime:
    first = cfg.hall.hours[0][0]
    return datetime.combine(day, first, cfg.hall.tz) - timedelta(minutes=30)


async def replay(cfg: HallConfig, store: Store, arrivals: list[Arrival], options: Settings | None = None,
                 *, days: list[date] | None = None, extra: tuple[type[Feature], ...] = ()) -> list[ReplayResult]:
    """Replay a trace on an opened store: once on its own date, or once on each of ``days``.

    ``extra`` features run beside the hall's own (a bench's observer of each issue, say).
    """
    from queue_server.features import catalog
    from queue_server.features.alerts import Alerts

    options = options or settings(cfg)
    if not arrivals:
        raise ValueError("the trace has no arrivals")
    trace_day = arrivals[0].at.astimezone(cfg.hall.tz).date()
    days = days or [trace_day]
    cfg = pooled(cfg, options.pooled_zones)
    cfg = replace(cfg, limits=cfg.limits.issuing_lifted())  # one simulated kiosk stands for every citizen
    windows = list(options.windows or cfg.windows)
    held = await store.load()
    if held.day > days[0].isoformat() or (held.day == days[0].isoformat() and held.tickets):
        raise ValueError(f"the store already holds {held.day}; replay a later day or into another store")
    clerks = await ensure_clerks(store, cfg, windows)
    clock = ManualClock(_day_start(cfg, days[0]))
    # Every feature runs as in a server (a bad rating opens its follow-up case, a 容缺受理
    # finish its record), but its checks run in simulated time, not on a wall-clock ticker.
    hall = Hall(cfg, store, clock, features=catalog.build(cfg, extra))
    await hall.start(day_timer=False, tickers=False)
    results = []
    try:
        alerts = hall.features.get(Alerts)
        for i, day in enumerate(days):
            clock.set(_day_start(cfg, day))
            await hall.tick()  # the new business day starts before the first arrival
            shifted = [replace(a, at=a.at.replace(year=day.year, month=day.month, day=day.day)) for a in arrivals]
            opts = replace(options, seed=options.seed + i)
            replayer = Replayer(hall, clock, shifted, clerks, opts, lambda: alerts.check(hall))
            result = await replayer.run()
            result.eta = figures.eta_table(cfg, "hall", await store.eta_facts(day.isoformat(), day.isoformat()))[1]
            results.append(result)
    finally:
        await hall.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    """``hallcall simulate --config HALL --trace day.csv --store URL``"""
    from queue_server.core import config
    from queue_server.store import StoreError, open_store

    parser = argparse.ArgumentParser(prog="hallcall simulate", description="Replay a day of arrivals into a store.")
    parser.add_argument("--config", default="hall.toml", help="hall TOML file")
    parser.add_argument("--trace", required=True, help="CSV: seq,arrive_at,service,channel,priority,service_seconds,no_show,rating")
    parser.add_argument("--store", help="store URL, overriding the file's [store] url")
    parser.add_argument("--date", help="replay on this date instead of the trace's (YYYY-MM-DD)")
    parser.add_argument("--days", type=int, default=1, help="replay on this many consecutive days from the date")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-overtime", action="store_true", help="clerks sign out at the end of each span")
    parser.add_argument("--no-alerts", action="store_true", help="do not run the alert checker")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config, store_url=args.store)
        issues = validate(cfg)
        if issues:
            raise config.ConfigError(issues)
        arrivals = read_trace(args.trace)
    except config.ConfigError as exc:
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read the trace: {exc}", file=sys.stderr)
        return 1
    unknown = sorted({a.service for a in arrivals} - set(cfg.services))
    if unknown:
        print(f"error: the trace names services the hall does not have: {', '.join(unknown)}", file=sys.stderr)
        return 1
    try:
        start = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"error: --date {args.date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    first = start or arrivals[0].at.astimezone(cfg.hall.tz).date()
    days = [first + timedelta(days=i) for i in range(max(1, args.days))]
    options = settings(cfg, seed=args.seed, overtime=False if args.no_overtime else None,
                       alerts_every_seconds=0 if args.no_alerts else None)

    url = cfg.store_url
    if url.startswith("sqlite://") and "synchronous=" not in url:
        # A replay can be run again: it need not fsync every commit as a live hall must.
        url += ("&" if "?" in url else "?") + "synchronous=normal"

    async def run() -> list[ReplayResult]:
        store = open_store(url, hall_id=cfg.hall.id)
        await store.open()
        try:
            return await replay(cfg, store, arrivals, options, days=days)
        finally:
            await store.close()

    try:
        results = asyncio.run(run())
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(r.line())
    return 0
