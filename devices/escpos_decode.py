"""Read ESC/POS bytes back into what a printer would put on paper.

Sans-I/O: ``EscPosDecoder.feed`` takes bytes as they arrive (commands may be split
anywhere) and returns status requests and finished tickets. It knows the commands
printers in halls are sent; anything else is skipped by its documented length or, if
unknown, by two bytes, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .escpos import DLE, ESC, FS, GS


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    align: int = 0  # 0 left, 1 center, 2 right
    width: int = 1  # magnification
    height: int = 1
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Qr:
    data: str
    module: int = 3
    ecc: str = "L"


@dataclass(frozen=True, slots=True)
class Barcode:
    kind: str
    data: str


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int


Item = Line | Qr | Barcode | Feed


@dataclass(frozen=True, slots=True)
class StatusRequest:
    kind: int  # n of DLE EOT n


@dataclass(frozen=True, slots=True)
class Printed:
    """A ticket, complete once the paper was cut."""

    items: tuple[Item, ...]

    def text_lines(self) -> list[str]:
        return [i.text for i in self.items if isinstance(i, Line)]

    @property
    def qr(self) -> str | None:
        return next((i.data for i in self.items if isinstance(i, Qr)), None)


class _Incomplete(Exception):
    """The buffer ends inside a command: wait for more bytes."""


_ESC_ARGS = {0x21: 1, 0x2D: 1, 0x32: 0, 0x33: 1, 0x40: 0, 0x45: 1, 0x47: 1, 0x4A: 1, 0x4D: 1, 0x52: 1,
             0x56: 1, 0x61: 1, 0x64: 1, 0x74: 1, 0x7B: 1, 0x70: 3, 0x20: 1, 0x24: 2, 0x3D: 1, 0x63: 2}
_FS_ARGS = {0x26: 0, 0x2E: 0, 0x21: 1, 0x2D: 1, 0x43: 1, 0x57: 1, 0x53: 2}
_GS_ARGS = {0x21: 1, 0x42: 1, 0x48: 1, 0x68: 1, 0x77: 1, 0x66: 1, 0x4C: 2, 0x57: 2, 0x61: 1, 0x72: 1}
_ECC = {0x30: "L", 0x31: "M", 0x32: "Q", 0x33: "H"}
_BARCODES = {65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "CODABAR",
             72: "CODE93", 73: "CODE128"}


@dataclass
class DecoderStats:
    commands: int = 0
    unknown: int = 0


@dataclass
class EscPosDecoder:
    stats: DecoderStats = field(default_factory=DecoderStats)
    _buf: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self._reset_format()
        self.chinese = False
        self._items: list[Item] = []
        self._text = bytearray()
        self._qr_data = b""
        self._qr_module = 3
        self._qr_ecc = "L"

    def _reset_format(self) -> None:
        self.align = 0
        self.width = 1
        self.height = 1
        self.bold = False

    def feed(self, data: bytes) -> list[StatusRequest | Printed]:
        self._buf += data
        out: list[StatusRequest | Printed] = []
        while self._buf:
            try:
                used = self._step(out)
            except _Incomplete:
                break
            del self._buf[:used]
        return out

    def _need(self, n: int) -> None:
        if len(self._buf) < n:
            raise _Incomplete

    def _step(self, out: list[StatusRequest | Printed]) -> int:
        buf = self._buf
        b = buf[0]
        if b == 0x0A:
            self._end_line()
            return 1
        if b in (ESC, FS, GS, DLE):
            self._need(2)
            self.stats.commands += 1
            if b == ESC:
                return self._esc(buf[1])
            if b == FS:
                return self._fs(buf[1])
            if b == GS:
                return self._gs(buf[1], out)
            return self._dle(buf[1], out)
        if b < 0x20:
            if b == 0x09:
                self._text += b" "
            return 1  # CR and other stray control bytes print nothing
        self._text += bytes([b])
        return 1

    def _unknown(self) -> int:
        self.stats.unknown += 1
        return 2

    def _esc(self, c: int) -> int:
        if c not in _ESC_ARGS:
            return self._unknown()
        n = 2 + _ESC_ARGS[c]
        self._need(n)
        arg = self._buf[2] if n > 2 else 0
        if c == 0x40:
            self._flush_text()
            self._reset_format()
        elif c == 0x61:
            self._flush_text()
            self.align = arg % 48 if arg >= 48 else arg
        elif c == 0x45:
            self.bold = bool(arg & 1)
        elif c == 0x21:
            # ESC ! sizes ASCII only; kept so a decoded ticket shows what went wrong.
            self.width = 2 if arg & 0x20 else 1
            self.height = 2 if arg & 0x10 else 1
            self.bold = bool(arg & 0x08)
        elif c == 0x64:
            self._flush_text()
            self._items.append(Feed(arg))
        return n

    def _fs(self, c: int) -> int:
        if c not in _FS_ARGS:
            return self._unknown()
        n = 2 + _FS_ARGS[c]
        self._need(n)
        if c == 0x26:
            self.chinese = True
        elif c == 0x2E:
            self.chinese = False
        return n

    def _dle(self, c: int, out: list[StatusRequest | Printed]) -> int:
        if c in (0x04, 0x05):
            self._need(3)
            if c == 0x04:
                out.append(StatusRequest(self._buf[2]))
            return 3
        if c == 0x14:
            self._need(5)
            return 5
        return self._unknown()

    def _gs(self, c: int, out: list[StatusRequest | Printed]) -> int:
        buf = self._buf
        if c == 0x56:  # GS V m [n]: cut
            self._need(3)
            n = 4 if buf[2] in (65, 66, 97, 98, 103, 104) else 3
            self._need(n)
            self._flush_text()
            out.append(Printed(tuple(self._items)))
            self._items = []
            return n
        if c == 0x28:  # GS ( fn pL pH ...
            self._need(5)
            n = 5 + buf[3] + (buf[4] << 8)
            self._need(n)
            if buf[2] == 0x6B:
                self._qr(bytes(buf[5:n]))
            return n
        if c == 0x6B:  # GS k m ...
            self._need(3)
            m = buf[2]
            if m <= 6:
                end = buf.find(b"\x00", 3)
                if end < 0:
                    raise _Incomplete
                data, n = bytes(buf[3:end]), end + 1
            else:
                self._need(4)
                n = 4 + buf[3]
                self._need(n)
                data = bytes(buf[4:n])
            self._flush_text()
            text = data.decode("ascii", "replace")
            if m == 73 and text.startswith("{"):
                text = text[2:].replace("{{", "{")
            self._items.append(Barcode(_BARCODES.get(m if m > 6 else m + 65, f"type {m}"), text))
            return n
        if c == 0x76:  # GS v 0 m xL xH yL yH data: raster image
            self._need(8)
            n = 8 + (buf[4] + (buf[5] << 8)) * (buf[6] + (buf[7] << 8))
            self._need(n)
            self._flush_text()
            self._items.append(Line("[图像]"))
            return n
        if c not in _GS_ARGS:
            return self._unknown()
        n = 2 + _GS_ARGS[c]
        self._need(n)
        if c == 0x21:
            self.width = (buf[2] >> 4) + 1
            self.height = (buf[2] & 0x0F) + 1
        return n

    def _qr(self, params: bytes) -> None:
        if len(params) < 2 or params[0] != 0x31:
            return
        fn, rest = params[1], params[2:]
        if fn == 0x43 and rest:
            self._qr_module = rest[0]
        elif fn == 0x45 and rest:
            self._qr_ecc = _ECC.get(rest[0], "?")
        elif fn == 0x50:
            self._qr_data = rest[1:]
        elif fn == 0x51:
            self._flush_text()
            self._items.append(Qr(self._qr_data.decode("utf-8", "replace"), self._qr_module, self._qr_ecc))

    def _decode(self, raw: bytes) -> str:
        return raw.decode("gb18030" if self.chinese else "latin-1", "replace")

    def _flush_text(self) -> None:
        """Text held without a line feed is printed by the next layout change, as printers do."""
        if self._text:
            self._end_line()

    def _end_line(self) -> None:
        self._items.append(Line(self._decode(bytes(self._text)), self.align, self.width, self.height, self.bold))
        self._text.clear()
