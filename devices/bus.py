"""hallcall-protocol devices on one serial port: the host's side of the RS-485 bus.

The host speaks first, one transaction at a time: a request (show text, start an
evaluation …) answered by ACK or NAK, or a poll answered by the device's oldest
pending event (a key, a rating) or by ACK when it has none. An unanswered request is
resent with the same sequence number; a device event resent because our ACK was lost
is recognised and acknowledged again without acting twice. A rating is acknowledged
to the device only after the agent has it on disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from . import frames
from .frames import Cmd, EvalResult, Frame, Nak
from .keypress import KeyPress
from .serial_port import PortError
from .supervisor import PortSupervisor

log = logging.getLogger("hallcall.devices.bus")

Build = Callable[[int, int], Frame]  # (address, seq) -> frame


@dataclass
class BusDevice:
    device: str  # device id, as reported to the server
    address: int
    role: str  # keypad, evaluator, led
    window: int | None = None
    online: bool | None = None
    info: frames.Info | None = None
    missed: int = 0
    _seq: int = 0
    pending: dict[str, Build] = field(default_factory=dict)  # request kind -> builder, oldest first

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq


KeyCallback = Callable[[BusDevice, KeyPress], None]
RatingCallback = Callable[[BusDevice, EvalResult], Awaitable[None]]
HealthCallback = Callable[[BusDevice, str, str], None]


class HallcallBus:
    def __init__(self, devices: list[BusDevice], *, on_key: KeyCallback, on_rating: RatingCallback,
                 on_health: HealthCallback | None = None, poll_interval: float = 0.1, reply_timeout: float = 0.25,
                 retries: int = 2, offline_after: int = 3) -> None:
        self.devices = devices
        self.by_id = {d.device: d for d in devices}
        self.on_key = on_key
        self.on_rating = on_rating
        self.on_health = on_health
        self.poll_interval = poll_interval
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.offline_after = offline_after
        self.parser = frames.FrameParser()
        self.deduper = frames.Deduper()
        self.port: PortSupervisor | None = None
        self.unanswered = 0
        self.bad_payloads = 0
        self._expect: tuple[int, asyncio.Future[Frame]] | None = None
        self._wake = asyncio.Event()

    # -- PortHandler ----------------------------------------------------------------------

    def connection_made(self, port: PortSupervisor) -> None:
        self.port = port
        self._wake.set()

    def data_received(self, data: bytes) -> None:
        self._frames(self.parser.feed(data))

    def line_idle(self) -> None:
        self._frames(self.parser.idle())

    def connection_lost(self, reason: str) -> None:
        for dev in self.devices:
            self._set_online(dev, False, reason)

    def port_state(self, up: bool, detail: str) -> None:
        if not up:
            self.connection_lost(detail)
        self._wake.set()

    def _frames(self, got: list[Frame]) -> None:
        for frame in got:
            if not frame.from_device:
                continue  # a request of ours, heard back on a two-wire bus
            if self._expect is not None and self._expect[0] == frame.addr and not self._expect[1].done():
                self._expect[1].set_result(frame)

    # -- requests the agent makes ------------------------------------------------------------

    def _request(self, device: str, kind: str, build: Build) -> None:
        dev = self.by_id[device]
        dev.pending.pop(kind, None)  # a newer request of the same kind replaces one not yet sent
        dev.pending[kind] = build
        self._wake.set()

    def show_text(self, device: str, text: str, *, line: int = 0, flash: bool = False, scroll: bool = False,
                  seconds: int = 0) -> None:
        self._request(device, f"text:{line}", lambda a, s: frames.show_text(a, s, text, line=line, flash=flash,
                                                                           scroll=scroll, seconds=seconds))

    def clear(self, device: str, line: int = frames.ALL_LINES) -> None:
        self._request(device, f"text:{line}", lambda a, s: frames.clear(a, s, line))

    def brightness(self, device: str, level: int) -> None:
        self._request(device, "brightness", lambda a, s: frames.brightness(a, s, level))

    def eval_start(self, device: str, ticket: str, number: str, clerk_name: str, staff_no: str) -> None:
        self._request(device, "eval", lambda a, s: frames.eval_start(a, s, ticket, number, clerk_name, staff_no))

    def eval_cancel(self, device: str, ticket: str = "") -> None:
        self._request(device, "eval", lambda a, s: frames.eval_cancel(a, s, ticket))

    # -- the poll loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve every device on the bus in turn while the port is open."""
        while True:
            if self.port is not None and self.port.connected.is_set():
                try:
                    for dev in self.devices:
                        await self._serve(dev)
                except PortError as exc:
                    log.warning("bus: %s", exc)
            self._wake.clear()
            wake = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({wake}, timeout=self.poll_interval)
            finally:
                wake.cancel()

    async def _serve(self, dev: BusDevice) -> None:
        if dev.info is None and dev.online is not True:
            reply = await self._transact(dev, frames.info_request)
            if reply is not None and reply.cmd == Cmd.INFO:
                try:
                    dev.info = frames.decode_info(reply)
                except frames.FrameError:
                    self.bad_payloads += 1
            elif reply is None:
                return
        for kind, build in list(dev.pending.items()):
            reply = await self._transact(dev, build)
            if reply is None:
                return  # try again next round
            if dev.pending.get(kind) is build:
                del dev.pending[kind]
            if reply.cmd == Cmd.NAK:
                log.warning("device %s refused %s: %s", dev.device, kind, reply.payload.hex(" "))
        reply = await self._transact(dev, frames.ping)
        if reply is not None and reply.cmd in (Cmd.KEY, Cmd.EVAL_RESULT):
            await self._event(dev, reply)

    async def _transact(self, dev: BusDevice, build: Build) -> Frame | None:
        """Send a request and wait for its answer, resending the same frame a few times."""
        assert self.port is not None
        request = build(dev.address, dev.next_seq())
        wire = request.encode()
        loop = asyncio.get_running_loop()
        for _ in range(self.retries + 1):
            future: asyncio.Future[Frame] = loop.create_future()
            self._expect = (dev.address, future)
            await self.port.write(wire)
            try:
                async with asyncio.timeout(self.reply_timeout):
                    while True:
                        reply = await future
                        if reply.cmd not in (Cmd.ACK, Cmd.NAK) or frames.acked_seq(reply) == request.seq:
                            break
                        future = loop.create_future()  # a late answer to an earlier request
                        self._expect = (dev.address, future)
            except TimeoutError:
                continue
            except frames.FrameError:
                continue
            finally:
                self._expect = None
            if reply.cmd == Cmd.NAK and reply.payload[1:2] == bytes([Nak.BAD_CRC]):
                continue  # the line garbled our request: send it again
            dev.missed = 0
            self._set_online(dev, True, "")
            return reply
        self.unanswered += 1
        dev.missed += 1
        if dev.missed >= self.offline_after:
            self._set_online(dev, False, f"no reply at address {dev.address}")
        return None

    async def _event(self, dev: BusDevice, frame: Frame) -> None:
        assert self.port is not None
        if self.deduper.is_duplicate(frame):
            await self.port.write(frames.ack(dev.address, dev.next_seq(), frame.seq).encode())
            return
        try:
            if frame.cmd == Cmd.KEY:
                self.on_key(dev, frames.decode_key(frame))
            else:
                await self.on_rating(dev, frames.decode_eval_result(frame))
        except frames.FrameError as exc:
            self.bad_payloads += 1
            log.warning("device %s sent a bad %s: %s", dev.device, Cmd(frame.cmd).name, exc)
            await self.port.write(frames.nak(dev.address, dev.next_seq(), frame.seq, Nak.BAD_PAYLOAD).encode())
            return
        except Exception:
            # Not kept (the disk is full?): the device keeps the event and offers it again.
            log.exception("device %s: event not kept", dev.device)
            self.deduper.forget(dev.address)
            await self.port.write(frames.nak(dev.address, dev.next_seq(), frame.seq, Nak.BUSY).encode())
            return
        await self.port.write(frames.ack(dev.address, dev.next_seq(), frame.seq).encode())

    def _set_online(self, dev: BusDevice, online: bool, detail: str) -> None:
        if dev.online == online:
            return
        dev.online = online
        if not online:
            dev.info = None
            dev.missed = 0
        if self.on_health is not None:
            self.on_health(dev, "online" if online else "offline", detail)
