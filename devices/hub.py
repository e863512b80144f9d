"""The device agent's logic: server events to devices, device input to server commands.

- ``ticket.called`` / ``ticket.recalled`` at a bound window: LED strip text, keypad display.
- ``evaluation.requested``: the window's satisfaction keypad asks the citizen; the rating
  goes to the on-disk outbox, then to the server as ``evaluate``.
- ``print.requested`` for a bound kiosk: a printer job.
- Key presses become window commands; a press made while the server is unreachable is
  sent when it is back only if still fresh, so a stale press never calls a citizen.
- Device health becomes ``device_status``; the latest per device is sent on reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from displays.led import StripLayout
from queue_server import protocol
from queue_server.protocol.client import CommandError, NotConnected

from . import ticket as ticket_layout
from .bus import BusDevice, HallcallBus
from .config import AgentConfig
from .frames import EvalResult
from .keypad import FF68Keypads, KeypadBinding
from .keypress import KeyPress
from .outbox import DELIVERED_CODES, RETRY_CODES, Outbox, Rating
from .printer import Job, PrinterDriver

log = logging.getLogger("hallcall.devices.hub")

Sender = Callable[..., Any]  # HallClient.command

# What a keypad's own display shows when a command fails (hallcall-protocol keypads).
ERROR_TEXT = {
    "window_closed": "请先登录", "window_paused": "暂停中", "no_current_ticket": "无当前号", "recall_limit": "已达重呼上限",
    "person_unknown": "工号不存在", "staff_no_required": "请输入工号", "not_connected": "网络中断",
    "expect_mismatch": "请重按", "ticket_in_progress": "请先办结",
}
# Key actions on the ticket at the window: they carry the ticket the keypad shows (``expect``),
# so a press made on an out-of-date display is refused by the server instead of acting twice.
TICKET_ACTIONS = frozenset({"call_next", "recall", "start", "finish", "no_show", "hold", "call_back", "transfer"})


@dataclass
class Printer:
    device: str
    kiosk: str
    driver: PrinterDriver


@dataclass
class Strip:
    device: str
    window: int
    bus: HallcallBus
    layout: StripLayout
    shown: tuple[str, str] | None = None
    timer: asyncio.TimerHandle | None = None


class DeviceHub:
    def __init__(self, config: AgentConfig, *, outbox: Outbox, base_url: str,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        self.outbox = outbox
        self.base_url = config.public_url or base_url
        self.clock = clock
        self.wall = wall
        self.send: Sender | None = None
        self.connected = False
        self.down_since: float | None = None
        self.outage = 0.0  # how long the link was down before the current connection
        self.hall_name = config.hall_name
        self.names: dict[str, str] = {}
        self.hall_en: str | None = None  # set for a hall that prints bilingual tickets
        self.window_status: dict[int, str] = {}
        self.at_window: dict[int, str] = {}  # window -> the ticket number its keypads show ("" for none)
        self.evaluating: dict[int, str] = {}  # window -> ticket id on the evaluator now
        self.printers: dict[str, Printer] = {}  # kiosk -> printer
        self.strips: list[Strip] = []
        self.ff68: list[FF68Keypads] = []
        self.buses: list[HallcallBus] = []
        self.health: dict[str, dict[str, Any]] = {}
        self._health_sent: dict[str, dict[str, Any]] = {}
        self._keys: list[tuple[float, int, KeyPress, str]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flushing = asyncio.Lock()
        self.skipped_prints = 0

    # -- wiring (the agent builds drivers and registers them here) ---------------------------

    def add_printer(self, device: str, kiosk: str, driver: PrinterDriver) -> None:
        self.printers[kiosk] = Printer(device, kiosk, driver)

    def add_ff68(self, keypads: FF68Keypads) -> None:
        self.ff68.append(keypads)

    def add_bus(self, bus: HallcallBus) -> None:
        self.buses.append(bus)
        for dev in bus.devices:
            if dev.role == "led" and dev.window is not None:
                width = next((d.width for p in self.config.ports for d in p.devices if d.id == dev.device), 16)
                layout = StripLayout(width, idle_text=self.config.idle_text, paused_text=self.config.paused_text,
                                     closed_text=self.config.paused_text, emphasis=self.config.emphasis,
                                     dedupe=self.config.emphasis)
                self.strips.append(Strip(dev.device, dev.window, bus, layout))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for strip in self.strips:
            if strip.timer:
                strip.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the link ----------------------------------------------------------------------------

    def on_up(self) -> None:
        """Connected: send what waited. Runs before any replayed event is handled."""
        self.connected = True
        now = self.clock()
        self.outage = now - self.down_since if self.down_since is not None else 0.0
        self.down_since = None
        keys, self._keys = self._keys, []
        for pressed, window, press, device in keys:
            if now - pressed > self.config.key_max_age:
                log.warning("dropping a stale %s from %s (pressed %.0fs ago)", press.action, device, now - pressed)
                continue
            self._spawn(self._run_key(window, press, device))
        self._health_sent.clear()
        for report in list(self.health.values()):
            self._spawn(self._send_health(report))
        self._spawn(self.flush_ratings())

    def on_down(self) -> None:
        self.connected = False
        self.down_since = self.clock()

    def _stale_replay(self, msg: dict[str, Any], max_age: float) -> bool:
        """A replayed event older than ``max_age``: printed or prompted now, it would find nobody.

        Printing twice is not the risk (job names see to that); a late slip is: the citizen
        has left and someone else may take it, tracking QR and all. A replay is no older
        than the outage (this PC's clock); its ``at`` is the server's clock read against
        this PC's. Only an event old by both counts is dropped, so a fast PC clock cannot
        withhold a ticket requested a moment before the reconnect, and a live event the
        client could only mark as a possible replay (docs/protocol.md) still prints.
        """
        if not msg.get("replay"):
            return False
        age = protocol.event_age(msg, self.wall())
        return min(self.outage, math.inf if age is None else age) > max_age

    def on_message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "snapshot":
            self._snapshot(msg.get("state") or {})
            return
        name = str(msg.get("name"))
        data = msg.get("data") or {}
        ticket = data.get("ticket") or {}
        window = (data.get("window") or {}).get("number", ticket.get("window"))
        if name == "print.requested":
            self._print(msg, data)
            return
        if not isinstance(window, int):
            return
        if name == "evaluation.requested":
            if self._stale_replay(msg, self.config.evaluation_max_age):
                return
            self._evaluate(window, ticket, data.get("window") or {}, data.get("part"))
            return
        if name.startswith("window."):
            status = (data.get("window") or {}).get("status")
            self.window_status[window] = status or {"window.paused": "paused", "window.closed": "closed"}.get(name, "open")
        if name in ("ticket.called", "ticket.recalled"):
            self._cancel_evaluation(window)
            self._keypad_display(window, ticket.get("number") or "")
        elif name in ("ticket.finished", "ticket.routed", "ticket.no_show", "ticket.transferred", "ticket.held",
                      "window.closed"):
            self._keypad_display(window, "")
        for strip in self.strips:
            if strip.window == window:
                strip.layout.apply(name, data, self.clock())
                self._push(strip)

    def _snapshot(self, state: dict[str, Any]) -> None:
        for svc in state.get("services") or []:
            self._name_service(svc)
        for view in state.get("windows") or []:
            number = view.get("number")
            if not isinstance(number, int):
                continue
            self.window_status[number] = str(view.get("status") or "closed")
            current = view.get("ticket") or {}
            at_window = current.get("status") in ("called", "serving")
            self._keypad_display(number, str(current.get("number") or "") if at_window else "")
            for strip in self.strips:
                if strip.window == number:
                    strip.layout.load(view)
                    self._push(strip)

    def set_hall(self, described: dict[str, Any]) -> None:
        """Names from GET /api/v1/hall, for printed tickets."""
        if not self.config.hall_name and described.get("name"):
            self.hall_name = str(described["name"])
        # A bilingual hall prints English lines too (its English name may be blank).
        self.hall_en = str(described.get("name_en") or "") if described.get("bilingual_tickets") else None
        for zone in described.get("zones") or []:
            self.names[f"zone:{zone.get('id')}"] = str(zone.get("name") or zone.get("id"))
        for svc in described.get("services") or []:
            self._name_service(svc)

    def _name_service(self, svc: dict[str, Any]) -> None:
        self.names[f"service:{svc.get('id')}"] = str(svc.get("name") or svc.get("id"))
        self.names[f"service_en:{svc.get('id')}"] = str(svc.get("name_en") or "")

    # -- LED strips and keypad displays ----------------------------------------------------------

    def _push(self, strip: Strip) -> None:
        now = self.clock()
        frame = strip.layout.frame(now)
        if strip.timer is not None:
            strip.timer.cancel()
            strip.timer = None
        if frame.until is not None:
            strip.timer = asyncio.get_running_loop().call_later(max(0.0, frame.until - now), self._push, strip)
        if strip.shown == (frame.text, frame.mode):
            return
        strip.shown = (frame.text, frame.mode)
        seconds = math.ceil(frame.until - now) if frame.until is not None else 0
        strip.bus.show_text(strip.device, frame.text, flash=frame.flash, scroll=frame.scroll, seconds=seconds)

    def refresh_device(self, device: str) -> None:
        """A device came back: show it the current state again."""
        for strip in self.strips:
            if strip.device == device:
                strip.shown = None
                self._push(strip)

    def _keypad_display(self, window: int, number: str) -> None:
        self.at_window[window] = number
        for keypads in self.ff68:
            keypads.show(window, number)
        for bus in self.buses:
            for dev in bus.devices:
                if dev.role == "keypad" and dev.window == window:
                    bus.show_text(dev.device, number)

    def _keypad_message(self, device: str, text: str) -> None:
        for bus in self.buses:
            if device in bus.by_id and bus.by_id[device].role == "keypad":
                bus.show_text(device, text, flash=True, seconds=3)

    # -- keys -----------------------------------------------------------------------------------

    def on_ff68_key(self, keypad: KeypadBinding, press: KeyPress) -> None:
        self.key(keypad.window, press, keypad.device)

    def on_bus_key(self, dev: BusDevice, press: KeyPress) -> None:
        if dev.window is not None:
            self.key(dev.window, press, dev.device)

    def key(self, window: int, press: KeyPress, device: str) -> None:
        if not self.connected:
            self._keys.append((self.clock(), window, press, device))
            self._keypad_message(device, ERROR_TEXT["not_connected"])
            return
        self._spawn(self._run_key(window, press, device))

    def key_command(self, window: int, press: KeyPress) -> tuple[str, dict[str, Any]] | None:
        """The server command a key press means at a window, or None if it means nothing."""
        action, arg = press.action, press.arg
        if action == "pause_toggle":
            action = "resume" if self.window_status.get(window) == "paused" else "pause"
        args: dict[str, Any] = {"window": window}
        if action in TICKET_ACTIONS and window in self.at_window:
            args["expect"] = self.at_window[window] or None
        if action == "transfer":
            if not arg.isdigit():
                return None
            args["to_window"] = int(arg)
        elif action == "call_back" and arg:
            args["ticket"] = arg
        elif action == "open":
            if not arg:
                return None
            args["staff_no"] = arg
        return action, args

    async def _run_key(self, window: int, press: KeyPress, device: str) -> None:
        cmd = self.key_command(window, press)
        if cmd is None:
            log.info("key %s at window %d means nothing", press, window)
            return
        name, args = cmd
        assert self.send is not None
        try:
            data = await self.send(name, **args)
        except NotConnected:
            log.warning("%s from %s lost with the connection; not replayed", name, device)
            return
        except CommandError as exc:
            log.warning("%s at window %d refused: %s", name, window, exc)
            self._keypad_message(device, ERROR_TEXT.get(exc.code, exc.code[:8]))
            return
        if name == "call_next" and data is None:
            self._keypad_message(device, "无人等候")

    # -- evaluations ---------------------------------------------------------------------------------

    def _evaluators(self, window: int) -> list[tuple[HallcallBus, BusDevice]]:
        return [(b, d) for b in self.buses for d in b.devices if d.role == "evaluator" and d.window == window]

    def _evaluate(self, window: int, ticket: dict[str, Any], card: dict[str, Any], part: str | None = None) -> None:
        if not ticket.get("id"):
            return
        # The keypad echoes what it was given: a bundle's part rated on its own is asked for by its rating key.
        key = protocol.rating_key(str(ticket["id"]), part)
        for bus, dev in self._evaluators(window):
            bus.eval_start(dev.device, key, str(ticket.get("number") or ""),
                           str(card.get("clerk_name") or ""), str(card.get("staff_no") or ""))
            self.evaluating[window] = key

    def _cancel_evaluation(self, window: int) -> None:
        ticket = self.evaluating.pop(window, None)
        if ticket is not None:
            for bus, dev in self._evaluators(window):
                bus.eval_cancel(dev.device, ticket)

    async def on_rating(self, dev: BusDevice, result: EvalResult) -> None:
        """Keep the rating on disk (the device is acknowledged after this returns), then send it."""
        await self.outbox.add(Rating(result.ticket, result.level, result.reasons, dev.window, dev.device))
        if dev.window is not None and self.evaluating.get(dev.window) == result.ticket:
            del self.evaluating[dev.window]
        if self.connected:
            self._spawn(self.flush_ratings())

    async def flush_ratings(self) -> None:
        """Send kept ratings until one cannot be delivered now."""
        async with self._flushing:
            for rating in self.outbox.pending():
                assert self.send is not None
                try:
                    await self.send("evaluate", **rating.command_args())
                except NotConnected:
                    return
                except CommandError as exc:
                    if exc.code in DELIVERED_CODES:
                        await self.outbox.delivered(rating.ticket)
                    elif exc.code in RETRY_CODES:
                        return
                    else:
                        log.error("rating of %s refused: %s", rating.ticket, exc)
                        await self.outbox.reject(rating.ticket, exc.code, exc.message)
                    continue
                await self.outbox.delivered(rating.ticket)

    # -- printing --------------------------------------------------------------------------------------

    def _print(self, msg: dict[str, Any], data: dict[str, Any]) -> None:
        printer = self.printers.get(str(data.get("kiosk")))
        ticket = data.get("ticket") or {}
        if printer is None or not ticket.get("id"):
            return
        if self._stale_replay(msg, self.config.print_max_age):
            self.skipped_prints += 1
            log.warning("not printing %s: requested while the agent was away too long", ticket.get("number"))
            return
        content = ticket_layout.from_event(data, hall=self.hall_name, names=self.names, base_url=self.base_url,
                                           hall_en=self.hall_en)
        # A reprint is a new job (named by its event's sequence number); a replayed
        # request of either kind carries the same name and is not printed again.
        job_id = f"{ticket['id']}#{msg.get('seq')}" if data.get("reprint") else str(ticket["id"])
        job = Job(job_id, ticket_layout.render(content), str(ticket.get("number") or ""))
        self._spawn(printer.driver.queue.add(job))

    # -- health -------------------------------------------------------------------------------------------

    def device_health(self, device: str, kind: str, status: str, detail: str = "", *, window: int | None = None,
                      kiosk: str | None = None) -> None:
        report: dict[str, Any] = {"device": device, "kind": kind, "status": status, "detail": detail[:300]}
        if window is not None:
            report["window"] = window
        if kiosk is not None:
            report["kiosk"] = kiosk
        self.health[device] = report
        if status == "online" and kind in ("led", "keypad", "evaluator"):
            self.refresh_device(device)
        if self.connected:
            self._spawn(self._send_health(report))

    async def _send_health(self, report: dict[str, Any]) -> None:
        if self._health_sent.get(report["device"]) == report:
            return
        assert self.send is not None
        try:
            await self.send("device_status", **report)
        except (NotConnected, CommandError) as exc:
            log.warning("device status of %s not sent: %s", report["device"], exc)
            return
        self._health_sent[report["device"]] = report
