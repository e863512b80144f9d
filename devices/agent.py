"""The device agent: ``hallcall devices --server URL --token T --config devices.toml``.

Builds one supervisor and driver per configured port, one ``DeviceHub`` holding the
agent's logic, and one ``HallClient`` to the server, and owns their lifetimes: started
together, stopped together, nothing left running. The same code runs on a window PC
as a systemd unit or inside the server as a task connected over loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from queue_server import protocol
from queue_server.protocol.backoff import Backoff
from queue_server.protocol.client import Fatal, HallClient, endpoints

from . import config as devices_config
from .bus import BusDevice, HallcallBus
from .config import AgentConfig, DevicesConfigError
from .hub import DeviceHub
from .keypad import FF68Keypads, KeypadBinding
from .outbox import Outbox
from .printer import JobQueue, PrinterDriver
from .supervisor import PortSupervisor

log = logging.getLogger("hallcall.devices.agent")


@dataclass
class Tuning:
    """Timings; the defaults suit real halls, tests shorten them."""

    port_backoff: tuple[float, float] = (0.5, 30.0)  # initial, cap
    link_backoff: tuple[float, float] = (0.2, 30.0)
    bus_poll: float = 0.1
    bus_reply_timeout: float = 0.25
    printer_settle: float = 0.5
    status_timeout: float = 1.0
    command_timeout: float = 10.0
    clock: Callable[[], float] = time.monotonic  # key freshness, debounce, LED timing
    wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # ages of replayed events


class Agent:
    def __init__(self, config: AgentConfig, server: str, token: str, *, tuning: Tuning | None = None) -> None:
        self.config = config
        self.server = server
        self.token = token
        self.tuning = tuning or Tuning()
        self.state_dir = Path(config.state_dir)
        self.outbox = Outbox(self.state_dir)
        try:
            base_url = endpoints(server).http
        except ValueError as exc:
            raise Fatal(str(exc), about="address") from None
        self.hub = DeviceHub(config, outbox=self.outbox, base_url=base_url, clock=self.tuning.clock, wall=self.tuning.wall)
        topics = [protocol.topic_window(w) for w in config.windows] + [protocol.topic_kiosk(k) for k in config.kiosks]
        self.link = HallClient(server, token, topics, on_message=self.hub.on_message, on_up=self._up,
                               on_down=self.hub.on_down, backoff=Backoff(*self.tuning.link_backoff),
                               command_timeout=self.tuning.command_timeout, user_agent="hallcall-devices")
        self.hub.send = self.link.command
        self.supervisors: list[PortSupervisor] = []
        self._runners: list[Any] = []  # driver coroutines' owners with a run() method
        self._tasks: list[asyncio.Task[Any]] = []
        self.hall_read = asyncio.Event()  # set once the hall's names and ticket settings were asked for

    async def _build(self) -> None:
        t = self.tuning
        hub = self.hub
        for port in self.config.ports:
            if port.protocol == "escpos":
                dev = port.devices[0]
                queue = await JobQueue(self.state_dir / f"printer-{dev.id}.jsonl").load()
                kiosk = dev.kiosk or ""
                driver = PrinterDriver(
                    dev.id, queue, poll_interval=self.config.printer_poll, status_timeout=t.status_timeout,
                    settle=t.printer_settle,
                    on_health=functools.partial(hub.device_health, dev.id, "printer", kiosk=dev.kiosk))
                hub.add_printer(dev.id, kiosk, driver)
                handler: Any = driver
            elif port.protocol == "ff68":
                bindings = [KeypadBinding(d.id, d.address or 0, d.window or 0) for d in port.devices]
                handler = FF68Keypads(
                    bindings, on_key=hub.on_ff68_key, debounce=self.config.debounce, clock=t.clock,
                    on_health=lambda k, s, d: hub.device_health(k.device, "keypad", s, d, window=k.window))
                hub.add_ff68(handler)
            else:
                bus_devices = [BusDevice(d.id, d.address or 0, d.role, d.window) for d in port.devices]
                handler = HallcallBus(
                    bus_devices, on_key=hub.on_bus_key, on_rating=hub.on_rating, poll_interval=t.bus_poll,
                    reply_timeout=t.bus_reply_timeout,
                    on_health=lambda b, s, d: hub.device_health(b.device, b.role, s, d, window=b.window))
                hub.add_bus(handler)
            sup = PortSupervisor(port.serial, handler, on_state=handler.port_state, backoff=Backoff(*t.port_backoff))
            self.supervisors.append(sup)
            self._runners.append(handler)

    def _up(self) -> None:
        self.hub.on_up()
        self.hub.device_health(self.config.id, "agent", "online", f"{len(self.supervisors)} port(s)")
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.ensure_future(self._fetch_hall()))

    async def _fetch_hall(self) -> None:
        """Hall, zone and service names, and whether tickets are bilingual, for printed tickets; best effort."""
        if not self.hub.printers:
            return
        url = self.link.endpoints.http + "/api/v1/hall"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
                    session.get(url, headers={"Authorization": f"Bearer {self.token}"}) as resp:
                if resp.status == 200:
                    self.hub.set_hall(await resp.json())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("hall names not fetched from %s: %s", url, exc)
        finally:
            self.hall_read.set()

    async def start(self) -> None:
        await self.outbox.load()
        await self._build()
        for sup in self.supervisors:
            sup.start()
        for runner in self._runners:
            self._tasks.append(asyncio.create_task(runner.run(), name=f"driver {type(runner).__name__}"))

    async def run(self) -> None:
        """Run until cancelled; raises Fatal if the server refuses the agent."""
        await self.start()
        try:
            await self.link.run()
        finally:
            await self.stop()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for sup in self.supervisors:
            await sup.stop()
        await self.hub.close()


def printer_config(link: str | os.PathLike[str], kiosk: str, state_dir: str | os.PathLike[str], *,
                   device: str = "virtual-printer") -> AgentConfig:
    """An agent driving one printer (the demo's virtual printer) for one kiosk."""
    return devices_config.parse(
        f'[agent]\nid = "demo-devices"\nstate_dir = "{state_dir}"\n'
        f'[[ports]]\nport = "{link}"\nprotocol = "escpos"\n'
        f'[[ports.devices]]\nid = "{device}"\nrole = "printer"\nkiosk = "{kiosk}"\n', "demo")


async def run_agent(server_url: str, token: str, config_path_or_obj: str | os.PathLike[str] | AgentConfig, *,
                    state_dir: str | os.PathLike[str] | None = None, tuning: Tuning | None = None) -> None:
    """Run the device agent until cancelled (raises DevicesConfigError or Fatal)."""
    cfg = config_path_or_obj if isinstance(config_path_or_obj, AgentConfig) else devices_config.load(config_path_or_obj)
    if state_dir is not None:
        cfg = replace(cfg, state_dir=str(state_dir))
    await Agent(cfg, server_url, token, tuning=tuning).run()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="hallcall devices", description="Run the serial device agent.")
    p.add_argument("--server", required=True, help="server URL, e.g. http://10.0.0.2:8080")
    p.add_argument("--token", default=os.environ.get("HALLCALL_TOKEN"),
                   help="agent token (or set HALLCALL_TOKEN, which keeps it out of the process list)")
    p.add_argument("--config", required=True, help="devices.toml")
    p.add_argument("--state-dir", help="where print jobs and pending ratings are kept (overrides devices.toml)")
    p.add_argument("--check", action="store_true", help="validate devices.toml and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """Run with arguments parsed by ``build_parser`` (or a CLI subcommand it filled in)."""
    try:
        cfg = devices_config.load(args.config)
    except DevicesConfigError as exc:
        print(exc, flush=True)
        return 2
    if args.check:
        ports = ", ".join(f"{p.serial.port} ({p.protocol}: {len(p.devices)})" for p in cfg.ports)
        print(f"{args.config}: ok; windows {cfg.windows}, kiosks {cfg.kiosks}; ports {ports}")
        return 0
    if not args.token:
        print("--token (or HALLCALL_TOKEN) is required", flush=True)
        return 2

    async def serve() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await run_agent(args.server, args.token, cfg, state_dir=args.state_dir)

    try:
        asyncio.run(serve())
    except Fatal as exc:
        print(exc, flush=True)
        return 3
    except asyncio.CancelledError:
        pass
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
