"""``hallcall demo``: the sample county hall, with people, tokens, voice and a printer.

The demo serves queue_server/halls/taikang.toml on a fresh embedded store, creates
demo people and device tokens, starts the voice agent and the device agent (with a
virtual printer) over loopback like real agents, simulates a trickle of citizens and a
few busy windows so the screens move, and prints every URL and credential.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web

from queue_server.core import config
from queue_server.core.clock import Clock, ShiftedClock, SystemClock
from queue_server.core.errors import HallError
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store import open_store
from queue_server.web.app import LISTEN_BACKLOG, make_app

log = logging.getLogger("hallcall.demo")
HALL_FILE = Path(__file__).resolve().parents[1] / "halls" / "taikang.toml"
PASSWORD = "demo1234"

# People a newcomer can sign in as; windows 2, 4, 16, 22, 30, 36 are left to the simulator.
PEOPLE = [
    ("admin", "系统管理员", "admin", "9000", "信息中心"),
    ("manager", "周主任", "manager", "9001", "管理办公室"),
    ("zhangwei", "张伟", "clerk", "0101", "市场监督管理局"),
    ("wangfang", "王芳", "clerk", "0102", "税务局"),
    ("lina", "李娜", "clerk", "0103", "人力资源和社会保障局"),
    ("liuyang", "刘洋", "clerk", "0104", "医疗保障局"),
    ("zhaomin", "赵敏", "guide", "0301", "政务服务中心"),
]
SIMULATED = [  # (window, login, name, staff number, department)
    (2, "sim-chenjing", "陈静", "0201", "市场监督管理局"),
    (4, "sim-yangfan", "杨帆", "0202", "市场监督管理局"),
    (16, "sim-zhaolei", "赵磊", "0203", "人力资源和社会保障局"),
    (22, "sim-huangmin", "黄敏", "0204", "人力资源和社会保障局"),
    (30, "sim-zhouqiang", "周强", "0205", "医疗保障局"),
    (36, "sim-wuting", "吴婷", "0206", "住房公积金中心"),
]
NOTICE = "欢迎来到太康县行政服务中心。请保管好您的号票，过号请到服务台重新排队。"
NOTICE_EN = "Welcome. Keep your ticket; if you miss your call, ask at the service desk to rejoin the queue."


@dataclass
class DemoTokens:
    kiosk: str = ""
    display: str = ""
    pad: str = ""
    voice: str = ""
    devices: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def demo_config(store_url: str) -> config.HallConfig:
    """The sample hall, issuing around the clock so the demo works at any hour.

    Its simulated citizens all take their tickets through one kiosk, so the limits on taking
    tickets are lifted.
    """
    text = HALL_FILE.read_text(encoding="utf-8") + "\n[policy]\nissue_outside_hours = true\n"
    cfg = config.loads(text, source=str(HALL_FILE), store_url=store_url)
    return replace(cfg, limits=cfg.limits.issuing_lifted())


async def seed(cfg: config.HallConfig) -> DemoTokens:
    """Create the demo people and tokens in the store (before the server opens it)."""
    store = open_store(cfg.store_url, hall_id=cfg.hall.id, admin=True)
    await store.open()
    try:
        for login, name, role, staff_no, dept in PEOPLE:
            if await store.person(login=login) is None:
                await store.put_person(auth.new_person(login, name, role, PASSWORD, staff_no=staff_no, department=dept))
        for _, login, name, staff_no, dept in SIMULATED:
            if await store.person(login=login) is None:
                await store.put_person(auth.new_person(login, name, "clerk", PASSWORD, staff_no=staff_no, department=dept))
        authn = auth.Authenticator(store, SystemClock())
        windows = tuple(cfg.windows)
        tokens = DemoTokens()
        tokens.kiosk, _ = await authn.add_token("kiosk", "大厅取号机 1", kiosk="k1", green=True)
        tokens.display, _ = await authn.add_token("display", "大厅综合屏")
        tokens.pad, _ = await authn.add_token("pad", "评价器（全部窗口）", windows=windows)
        tokens.voice, _ = await authn.add_token("display", "语音播报")
        tokens.devices, _ = await authn.add_token("agent", "串口设备代理", windows=windows, kiosk="k1")
        return tokens
    finally:
        await store.close()


async def log_end(cfg: config.HallConfig) -> datetime | None:
    """When the store's last event happened (None for a new store)."""
    store = open_store(cfg.store_url, hall_id=cfg.hall.id, admin=True)
    await store.open()
    try:
        seq = (await store.load()).seq
        events = await store.events_since(seq - 1, 1) if seq else []
        return events[-1].at if events else None
    finally:
        await store.close()


def traffic(hall_key: Any, seed_value: int = 1) -> Any:
    """A lifetime that plays citizens and six busy windows, so screens show real movement."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        hall: Hall = app[hall_key]
        rnd = random.Random(seed_value)
        async with _running(_simulate(hall, rnd)):
            yield

    return lifetime


Sleep = Callable[[float], Awaitable[None]]


async def _simulate(hall: Hall, rnd: random.Random, sleep: Sleep = asyncio.sleep) -> None:
    """Citizens arrive every few seconds; each simulated clerk calls, starts, serves and finishes."""
    kiosk = auth.Principal("kiosk", "demo-kiosk", "demo kiosk", kiosk="")
    clerks = await _sign_in(hall)
    with contextlib.suppress(Exception):
        await hall.execute("set_notice", auth.Principal("manager", "demo", "demo"), text=NOTICE, text_en=NOTICE_EN)
    services = [s for w in clerks for s in hall.config.windows[w].services]
    for _ in range(12):  # a morning's queue to start with
        await hall.execute("issue", kiosk, service=rnd.choice(services))

    async def arrivals() -> None:
        # About six citizens a minute against six windows serving about seven: busy, never swamped.
        while True:
            await sleep(rnd.uniform(6.0, 14.0))
            with contextlib.suppress(HallError):
                await hall.execute("issue", kiosk, service=rnd.choice(services),
                                   priority="green" if rnd.random() < 0.08 else "normal")

    await asyncio.gather(arrivals(), *(_clerk(hall, number, p, rnd, sleep) for number, p in clerks.items()))


async def _sign_in(hall: Hall) -> dict[int, auth.Principal]:
    clerks: dict[int, auth.Principal] = {}
    for number, login, *_ in SIMULATED:
        person = await hall.store.person(login=login)
        if person is None:
            continue
        p = auth.from_person(person)
        try:
            await hall.execute("open", p, window=number)
        except HallError as exc:  # already open after a restart with --keep
            log.debug("window %s: %s", number, exc)
        clerks[number] = p
    return clerks


async def _clerk(hall: Hall, number: int, clerk: auth.Principal, rnd: random.Random, sleep: Sleep) -> None:
    """One window's day: call, wait for the citizen to walk up, 开始办理, serve, 办结, and the rating."""
    pad = auth.Principal("pad", "demo-pad", "demo pad", frozenset(hall.config.windows))
    while True:
        await sleep(rnd.uniform(3.0, 8.0))
        try:
            called = await hall.execute("call_next", clerk, window=number)
            if called is None:
                continue
            await sleep(rnd.uniform(2.0, 6.0))  # the citizen walks to the window
            if rnd.random() < 0.05:
                await hall.execute("no_show", clerk, window=number)
                continue
            await hall.execute("start", clerk, window=number)
            bundle = called.get("bundle")
            if bundle is not None and bundle["mode"] == "one-window":  # 一窗受理: each part ticked in turn
                for part in called["parts"]:
                    await sleep(rnd.uniform(10.0, 30.0))
                    await hall.execute("tick_part", clerk, window=number, part=part["service"])
            else:
                await sleep(rnd.uniform(20.0, 60.0))  # a short visit, so screens keep moving
            done = await hall.execute("finish", clerk, window=number)
            if done is not None and done["status"] == "done" and rnd.random() < 0.7:
                await sleep(rnd.uniform(1.5, 4.0))  # the citizen reads the pad, then presses
                level = rnd.choices([5, 4, 3, 2, 1], weights=[70, 20, 6, 3, 1])[0]
                await hall.execute("evaluate", pad, ticket=done["id"], level=level,
                                   reasons=["efficiency"] if level <= 2 else [])
        except HallError as exc:  # the demo keeps going whatever a visitor does to its windows
            log.debug("demo window %s: %s", number, exc)


def demo_clock(cfg: config.HallConfig, real: bool = False, resume: datetime | None = None) -> Clock:
    """The demo's clock: its day starts just before the hall opens, whatever the hour it is started.

    Started at 15:00 on the real clock, simulated clerks signing in would be late for the
    afternoon and absent all morning in the attendance report; on this clock they sign in
    on time, and the day runs on from the opening at the real pace. Started on a weekend
    or a holiday, the day is the next working day: the hall is closed on the others.
    A kept demo (``resume``: when its log ends) goes on from there at the real pace, or
    in real time if that is later: its clock never runs back to an earlier day.
    """
    if real:
        return SystemClock()
    if resume is not None:
        return ShiftedClock(resume) if resume > SystemClock().now() else SystemClock()
    tz = cfg.hall.tz
    today = cfg.calendar.next_workday(SystemClock().now().astimezone(tz).date())
    opening = datetime.combine(today, cfg.hall.hours[0][0], tz)
    return ShiftedClock(opening - timedelta(minutes=2))


@contextlib.asynccontextmanager
async def _running(work: Any) -> AsyncIterator[None]:
    """Run ``work`` in the background for as long as the block; then cancel it and wait for it."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def banner(base: str, tokens: DemoTokens, outputs: Path, *, traffic: bool = True) -> str:
    t = tokens
    lines = [
        "",
        "hallcall demo: 太康县行政服务中心 (Taikang County Administrative Service Center)",
        "",
        f"  Start page        {base}/",
        f"  Kiosk (取号机)     {base}/kiosk?token={t.kiosk}",
        f"  Hall TV (综合屏)   {base}/display/hall?token={t.display}",
        f"  Window screen     {base}/display/window/3?token={t.display}",
        f"  Evaluation pad    {base}/pad/3?token={t.pad}",
        f"  Clerk console     {base}/console        sign in as zhangwei / {PASSWORD} (also wangfang, lina, liuyang)",
        f"  Guides' page      {base}/guide          sign in as zhaomin / {PASSWORD} (帮办: press 需要帮办 at the kiosk)",
        f"  Live monitor      {base}/admin          sign in as manager / {PASSWORD} (or admin / {PASSWORD})",
        f"  Tracking page     {base}/t/<token>      the QR code on every ticket",
        f"  API               {base}/api/v1/openapi.json",
        "",
        f"  Kiosk token       {t.kiosk}",
        f"  Display token     {t.display}",
        f"  Pad token         {t.pad}",
        f"  Agent token       {t.devices}",
        "",
        f"  Announcements and printed tickets are written under {outputs}",
        ("  Windows 2, 4, 16, 22, 30 and 36 are worked by simulated clerks; press Ctrl+C to stop." if traffic
         else "  No simulated citizens or clerks (--no-traffic); press Ctrl+C to stop."),
        "",
    ]
    return "\n".join(lines)


def run_demo(args: argparse.Namespace) -> int:
    from queue_server.web.app import use_uvloop
    from queue_server.web.http import HALL_KEY

    workdir = Path(args.dir).resolve()
    kept = args.keep and (workdir / "demo.db").exists()
    if workdir.exists() and not args.keep:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(f"sqlite://{workdir}/demo.db")
    tokens = asyncio.run(seed(cfg))
    base = f"http://{args.host}:{args.port}"
    extras = [] if args.no_traffic else [traffic(HALL_KEY)]
    extras += agents(base, tokens, workdir, cfg, voice=not args.no_voice)
    real_clock = args.real_clock
    clock = demo_clock(cfg, real=real_clock, resume=asyncio.run(log_end(cfg)) if kept else None)
    app = make_app(cfg, clock=clock, extras=extras)

    def ready(_: str) -> None:
        print(banner(base, tokens, workdir, traffic=not args.no_traffic), flush=True)
        if not real_clock and not kept:
            print(f"  The demo's clock started at {clock.now().astimezone(cfg.hall.tz):%H:%M}, before the hall opens "
                  "(--real-clock for the real time).\n", flush=True)

    use_uvloop()
    web.run_app(app, host=args.host, port=args.port, print=ready, shutdown_timeout=3, access_log=None,
                backlog=LISTEN_BACKLOG)
    return 0


def agents(base: str, tokens: DemoTokens, workdir: Path, cfg: config.HallConfig, *, voice: bool) -> list[Any]:
    """Lifetimes that run the voice and device agents against this server, as real agents do."""
    out = [_device_agent(base, tokens.devices, workdir)]
    if voice:
        out.append(_voice_agent(base, tokens.voice, workdir, cfg))
    return out


def _voice_agent(base: str, token: str, workdir: Path, cfg: config.HallConfig) -> Any:
    """Announcements through the speaker if there is one, else as WAV files in the demo folder."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        from voice.agent import run_agent
        from voice.settings import VoiceSettings

        settings = VoiceSettings.from_mapping(cfg.extra.get("voice", {}), prefix="voice")
        async with _running(run_agent(base, token, settings=settings, out_dir=workdir / "announcements")):
            yield

    return lifetime


def _device_agent(base: str, token: str, workdir: Path) -> Any:
    """The kiosk's printer: a virtual one on a pseudo-terminal, driven by the real device agent."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        from devices.agent import printer_config, run_agent
        from devices.virtual_printer import VirtualPrinterPort, render_text

        out = workdir / "printed"
        out.mkdir(parents=True, exist_ok=True)

        def show(ticket: Any) -> None:
            log.info("printed a ticket:\n%s", render_text(ticket))

        port = VirtualPrinterPort(workdir / "printer.pty", on_ticket=show, out_dir=out)
        await port.start()
        cfg = printer_config(port.pty.link, "k1", workdir / "devices-state")
        async with _running(run_agent(base, token, cfg)):
            yield
        await port.stop()

    return lifetime
