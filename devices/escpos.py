"""ESC/POS commands for Chinese thermal ticket printers, and their status replies.

Sans-I/O: every function returns bytes (or parses them). Chinese printers print GBK
from their own font once Chinese mode is on (FS &); GS ! sizes both Chinese and ASCII,
while ESC ! only enlarges ASCII, so sizes always go through GS !.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import IntEnum

ESC = 0x1B
GS = 0x1D
FS = 0x1C
DLE = 0x10
EOT = 0x04
LF = b"\n"

# A visible stand-in for a character the printer's GBK font lacks (生僻字, emoji).
MISSING = "□"


class Align(IntEnum):
    LEFT = 0
    CENTER = 1
    RIGHT = 2


def init() -> bytes:
    return bytes([ESC, 0x40])


def chinese_on() -> bytes:
    return bytes([FS, 0x26])


def chinese_off() -> bytes:
    return bytes([FS, 0x2E])


def align(where: Align) -> bytes:
    return bytes([ESC, 0x61, int(where)])


def bold(on: bool) -> bytes:
    return bytes([ESC, 0x45, 1 if on else 0])


def size(width: int = 1, height: int = 1) -> bytes:
    """Character size 1..8 times in each direction (GS !)."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError("size is 1..8 in each direction")
    return bytes([GS, 0x21, (width - 1) << 4 | (height - 1)])


def feed(lines: int) -> bytes:
    return bytes([ESC, 0x64, max(0, min(255, lines))])


def cut(feed_lines: int = 3) -> bytes:
    """Feed and partial cut (GS V 66 n), so the ticket hangs until the citizen takes it."""
    return bytes([GS, 0x56, 0x42, max(0, min(255, feed_lines))])


def printable(text: str) -> str:
    """Replace what a GBK printer cannot print with a visible mark; never drop it."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            # Control bytes would be read as printer commands.
            out.append(MISSING)
        elif ch.isascii():
            out.append(ch)
        elif len(ch.encode("gb18030")) == 2:
            out.append(ch)
        else:
            # Four-byte GB18030 sequences are outside the GBK font in the printer.
            out.append(MISSING)
    return "".join(out)


def text(value: str) -> bytes:
    """Text in GB18030, with characters outside the printer's font replaced visibly."""
    return printable(value).encode("gb18030")


def line(value: str) -> bytes:
    return text(value) + LF


def _gs_k_qr(fn: int, params: bytes) -> bytes:
    n = len(params) + 2
    return bytes([GS, 0x28, 0x6B, n & 0xFF, n >> 8, 0x31, fn]) + params


class QrEcc(IntEnum):
    L = 0x30
    M = 0x31
    Q = 0x32
    H = 0x33


def qr(data: str, *, module: int = 6, ecc: QrEcc = QrEcc.M) -> bytes:
    """Native QR code (GS ( k): model 2, module size, error correction, store, print."""
    if not 1 <= module <= 16:
        raise ValueError("QR module size is 1..16")
    payload = data.encode("utf-8")
    if len(payload) > 7000:
        raise ValueError("QR data too long")
    return (
        _gs_k_qr(0x41, bytes([0x32, 0x00]))  # fn 165: model 2
        + _gs_k_qr(0x43, bytes([module]))  # fn 167: module size
        + _gs_k_qr(0x45, bytes([int(ecc)]))  # fn 169: error correction
        + _gs_k_qr(0x50, b"\x30" + payload)  # fn 180: store
        + _gs_k_qr(0x51, b"\x30")  # fn 181: print
    )


def code128(data: str, *, height: int = 60, width: int = 2) -> bytes:
    """CODE128 (code set B) with the human-readable text below."""
    raw = data.encode("ascii")
    if not raw or len(raw) > 253 or any(b < 0x20 or b > 0x7E for b in raw):
        raise ValueError("CODE128 data must be 1..253 printable ASCII characters")
    body = b"{B" + raw.replace(b"{", b"{{")
    return (
        bytes([GS, 0x48, 2])  # HRI below
        + bytes([GS, 0x68, max(1, min(255, height))])
        + bytes([GS, 0x77, max(2, min(6, width))])
        + bytes([GS, 0x6B, 73, len(body)])
        + body
    )


# -- status ----------------------------------------------------------------------------------


class StatusKind(IntEnum):
    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR = 3
    PAPER = 4


STATUS_KINDS = (StatusKind.PRINTER, StatusKind.OFFLINE_CAUSE, StatusKind.PAPER)


def status_query(kind: StatusKind) -> bytes:
    """DLE EOT n: real-time, answered at once even while the buffer holds a job."""
    return bytes([DLE, EOT, int(kind)])


def status_queries() -> bytes:
    return b"".join(status_query(k) for k in STATUS_KINDS)


def is_status_byte(byte: int) -> bool:
    """DLE EOT replies have the fixed pattern 0xx1xx10.

    The pattern never matches XON (0x11) or XOFF (0x13), so replies survive software
    flow control.
    """
    return byte & 0x93 == 0x12


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    online: bool = True
    cover_open: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    error: bool = False

    @property
    def ready(self) -> bool:
        """A job may be sent: paper near its end still prints."""
        return self.online and not (self.cover_open or self.paper_out or self.error)

    @property
    def health(self) -> str:
        """The one word a manager sees; the most urgent condition wins."""
        if self.paper_out:
            return "paper_out"
        if self.cover_open:
            return "cover_open"
        if self.error:
            return "error"
        if not self.online:
            return "offline"
        if self.paper_near_end:
            return "paper_near_end"
        return "online"


def parse_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Combine the replies to DLE EOT 1, 2 and 4."""
    for b in (printer, offline_cause, paper):
        if not is_status_byte(b):
            raise ValueError(f"{b:#04x} is not a DLE EOT status byte")
    return PrinterStatus(
        online=not printer & 0x08,
        cover_open=bool(offline_cause & 0x04),
        paper_out=bool(offline_cause & 0x20) or paper & 0x60 == 0x60,
        error=bool(offline_cause & 0x40),
        paper_near_end=paper & 0x0C == 0x0C,
    )


def status_bytes(status: PrinterStatus) -> bytes:
    """The replies a printer in ``status`` gives to DLE EOT 1, 2, 4 (for fakes and the virtual printer)."""
    printer = 0x12 | (0x08 if not status.ready else 0)
    cause = 0x12 | (0x04 if status.cover_open else 0) | (0x20 if status.paper_out else 0) | (0x40 if status.error else 0)
    paper = 0x12 | (0x0C if status.paper_near_end or status.paper_out else 0) | (0x60 if status.paper_out else 0)
    return bytes([printer, cause, paper])
