"""Fake serial devices on the far end of real pseudo-terminals.

Each behaves as the protocol in docs/devices.md says the hardware does, and records
what the agent sent it so tests can await it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from pathlib import Path

from devices import ff68, frames
from devices.frames import Cmd, Frame, Key
from devices.ptylink import PtyLink

from .conftest import Recorder


class FakeFF68Keypad:
    """FF68 keypads: they press keys and show what the host sends to their displays."""

    def __init__(self, link: str | Path) -> None:
        self.pty = PtyLink(link)
        self.parser = ff68.FF68Parser()
        self.echoes = Recorder()
        self.displays = Recorder()  # (address, digits as shown, e.g. "   001")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> FakeFF68Keypad:
        self.pty.plug()
        self._task = asyncio.create_task(self._serve())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pty.unplug()

    def press(self, addr: int, code: ff68.Code, digits: str = "") -> bytes:
        wire = ff68.key_frame(addr, code, digits).encode()
        self.pty.write(wire)
        return wire

    async def _serve(self) -> None:
        while True:
            try:
                data = await self.pty.read()
            except OSError:
                await self.pty.wait_plugged()
                continue
            for frame in self.parser.feed(data):
                if frame.func == ff68.Func.KEY:
                    self.echoes(frame.encode())
                elif frame.func == ff68.Func.DISPLAY:
                    shown = "".join(" " if d == ff68.BLANK else str(d) for d in frame.data)
                    self.displays((frame.addr, shown))


class FakeBusDevice:
    """One hallcall-protocol device at an address: answers polls, keeps events until ACKed."""

    def __init__(self, address: int, kind: str, width: int = 16) -> None:
        self.address = address
        self.kind = kind
        self.width = width
        self.seq = 0x40
        self.events: deque[Frame] = deque()
        self.shown = Recorder()  # frames.ShowText
        self.evals = Recorder()  # frames.EvalStart or ("cancel", ticket)
        self.acked = Recorder()  # sequence numbers of our events the host acknowledged
        self.silent = False  # a device with its power off
        self.drop_acks = 0  # lose the host's next ACKs, so the event is offered again

    def _next(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def press(self, key: Key, arg: str = "") -> None:
        self.events.append(frames.key_event(self.address, self._next(), key, arg))

    def rate(self, ticket: str, level: int, reasons: tuple[str, ...] = ()) -> None:
        self.events.append(frames.eval_result(self.address, self._next(), ticket, level, reasons))

    def answer(self, request: Frame) -> Frame | None:
        if self.silent:
            return None
        ack = frames.ack(self.address, self._next(), request.seq, from_device=True)
        if request.cmd == Cmd.PING:
            return self.events[0] if self.events else ack
        if request.cmd == Cmd.INFO:
            return frames.info_reply(self.address, self._next(), self.kind, self.width, "fake-1.0")
        if request.cmd == Cmd.SHOW_TEXT:
            self.shown(frames.decode_show_text(request))
        elif request.cmd == Cmd.CLEAR:
            self.shown(frames.ShowText(request.payload[0], False, False, 0, ""))
        elif request.cmd == Cmd.EVAL_START:
            self.evals(frames.decode_eval_start(request))
        elif request.cmd == Cmd.EVAL_CANCEL:
            self.evals(("cancel", frames._read_str8(request.payload, 0, "ascii")[0]))
        elif request.cmd == Cmd.ACK:
            if self.drop_acks:
                self.drop_acks -= 1
                return None
            acked = frames.acked_seq(request)
            if self.events and self.events[0].seq == acked:
                self.events.popleft()
                self.acked(acked)
            return None
        elif request.cmd == Cmd.NAK:
            return None
        elif request.cmd != Cmd.BRIGHTNESS:
            return frames.nak(self.address, self._next(), request.seq, frames.Nak.UNKNOWN_CMD, from_device=True)
        return ack


class FakeBus:
    """Several ``FakeBusDevice``s sharing one pty, as on an RS-485 pair."""

    def __init__(self, link: str | Path, *devices: FakeBusDevice) -> None:
        self.pty = PtyLink(link)
        self.devices = {d.address: d for d in devices}
        self.parser = frames.FrameParser()
        self.requests = Recorder()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> FakeBus:
        self.pty.plug()
        self._task = asyncio.create_task(self._serve())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pty.unplug()

    async def _serve(self) -> None:
        while True:
            try:
                data = await self.pty.read()
            except OSError:
                await self.pty.wait_plugged()
                self.parser = frames.FrameParser()
                continue
            for request in self.parser.feed(data):
                if request.from_device or request.addr not in self.devices:
                    continue
                if request.cmd != Cmd.PING:
                    self.requests(request)
                reply = self.devices[request.addr].answer(request)
                if reply is not None and self.pty.plugged:
                    self.pty.write(reply.encode())

