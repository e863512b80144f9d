"""A virtual ticket printer: ESC/POS in, a readable ticket out.

``VirtualPrinter`` is the printer's logic with no I/O: it answers DLE EOT status
queries, loses a ticket when it runs out of paper mid-job, and keeps what it printed.
``VirtualPrinterPort`` puts it behind a pseudo-terminal at a fixed path, so the agent
prints to it exactly as to a real printer on /dev/ttyUSB0. ``hallcall demo`` runs one
so a newcomer sees what would come out of the kiosk; tests use it as the fake printer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from . import escpos
from .escpos import PrinterStatus
from .escpos_decode import Barcode, EscPosDecoder, Feed, Line, Printed, Qr, StatusRequest
from .ptylink import PtyLink

log = logging.getLogger("hallcall.devices.virtual_printer")


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _enlarge(text: str, factor: int) -> str:
    """Show magnified text in a terminal: full-width forms, spaced out past 2x."""
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)
    return ("\u3000" * (factor // 2 - 1)).join(wide) if factor > 2 else wide


def render_text(ticket: Printed, width: int = 32) -> str:
    """The ticket as plain text, ``width`` half-width columns wide (32 for 58 mm paper)."""
    rows = ["┌" + "─" * width + "┐"]

    def put(text: str, align: int = 0) -> None:
        pad = max(0, width - _cells(text))
        left = pad // 2 if align == 1 else pad if align == 2 else 0
        rows.append("│" + " " * left + text + " " * (pad - left) + "│")

    for item in ticket.items:
        if isinstance(item, Line):
            put(_enlarge(item.text, item.width) if item.width > 1 else item.text, item.align)
            for _ in range(item.height // 2 - 1):  # tall text takes more paper
                put("")
        elif isinstance(item, Qr):
            put("[二维码]", 1)
            put(item.data[: width], 1)
            if len(item.data) > width:
                put(item.data[width : 2 * width], 1)
        elif isinstance(item, Barcode):
            put(f"[条码 {item.kind}] {item.data}", 1)
        elif isinstance(item, Feed):
            for _ in range(min(item.lines, 3)):
                put("")
    rows.append("└" + "─" * width + "┘ ✂")
    return "\n".join(rows)


class VirtualPrinter:
    """The printer's behaviour, bytes in and bytes out."""

    def __init__(self, status: PrinterStatus | None = None, *, paper: int | None = None) -> None:
        self.status = status or PrinterStatus()
        # Tickets of paper left; None is an endless roll. At 0 the next ticket is lost
        # and the printer reports paper out, as when the roll ends in the middle of a job.
        self.paper = paper
        self.printed: list[Printed] = []
        self.lost: list[Printed] = []
        self.status_queries = 0
        self._decoder = EscPosDecoder()

    def load_paper(self, tickets: int | None = None) -> None:
        """A clerk puts a new roll in."""
        self.paper = tickets
        self.status = replace(self.status, paper_out=False, paper_near_end=False)

    def receive(self, data: bytes) -> tuple[bytes, list[Printed]]:
        """Process bytes from the host; return the status replies and the tickets printed."""
        replies = bytearray()
        printed: list[Printed] = []
        for item in self._decoder.feed(data):
            if isinstance(item, StatusRequest):
                self.status_queries += 1
                replies.append(self._status_byte(item.kind))
            elif not self.status.ready:
                self.lost.append(item)
            elif self.paper == 0:
                self.status = replace(self.status, paper_out=True)
                self.lost.append(item)
            else:
                if self.paper is not None:
                    self.paper -= 1
                self.printed.append(item)
                printed.append(item)
        return bytes(replies), printed

    def _status_byte(self, kind: int) -> int:
        printer, cause, paper = escpos.status_bytes(self.status)
        return {1: printer, 2: cause, 4: paper}.get(kind, 0x12)


class VirtualPrinterPort:
    """A ``VirtualPrinter`` reachable as a serial device at ``link``."""

    def __init__(
        self, link: str | os.PathLike[str], printer: VirtualPrinter | None = None, *,
        on_ticket: Callable[[Printed], None] | None = None, out_dir: str | os.PathLike[str] | None = None,
        width: int = 32,
    ) -> None:
        self.pty = PtyLink(link)
        self.printer = printer or VirtualPrinter()
        self.on_ticket = on_ticket
        self.out_dir = Path(out_dir) if out_dir else None
        self.width = width
        self._task: asyncio.Task[None] | None = None
        self._printed = asyncio.Condition()

    async def start(self) -> VirtualPrinterPort:
        self.pty.plug()
        self._task = asyncio.create_task(self._serve(), name=f"virtual-printer {self.pty.link}")
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.pty.unplug()

    async def __aenter__(self) -> VirtualPrinterPort:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_printed(self, count: int, timeout: float = 5.0) -> list[Printed]:
        """Wait until ``count`` tickets have come out in all."""
        async with asyncio.timeout(timeout), self._printed:
            await self._printed.wait_for(lambda: len(self.printer.printed) >= count)
        return list(self.printer.printed)

    async def _serve(self) -> None:
        while True:
            try:
                data = await self.pty.read()
            except OSError:
                await self.pty.wait_plugged()  # unplugged: serve again once plugged back
                continue
            replies, printed = self.printer.receive(data)
            if replies:
                self.pty.write(replies)
            for ticket in printed:
                self._emit(ticket)
            if printed:
                async with self._printed:
                    self._printed.notify_all()

    def _emit(self, ticket: Printed) -> None:
        text = render_text(ticket, self.width)
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / f"ticket-{len(self.printer.printed):04d}.txt").write_text(text + "\n", encoding="utf-8")
        if self.on_ticket:
            self.on_ticket(ticket)
        else:
            log.info("virtual printer %s printed:\n%s", self.pty.link, text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hallcall-virtual-printer", description="A virtual ESC/POS ticket printer on a pty.")
    p.add_argument("--link", default="/tmp/hallcall-printer", help="path where the printer's serial device appears")
    p.add_argument("--out", help="also write each ticket as a text file in this folder")
    p.add_argument("--width", type=int, default=32, help="paper width in half-width columns (32 = 58 mm, 48 = 80 mm)")
    return p


async def _run(args: argparse.Namespace) -> None:
    def show(ticket: Printed) -> None:
        print(render_text(ticket, args.width), flush=True)

    async with VirtualPrinterPort(args.link, on_ticket=show, out_dir=args.out, width=args.width):
        print(f"virtual printer ready at {args.link}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
