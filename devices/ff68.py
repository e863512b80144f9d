"""The FF68 call keypad protocol (呼叫器), as deployed in Chinese halls over RS-485 9600 8N1.

Sans-I/O. A frame is ``FF 68 LEN LEN 68 ADDR FUNC DATA… CS 16`` with LEN = 2 + len(DATA)
and CS = sum(ADDR..DATA) mod 256. Keypads send key frames on their own (there is no
polling); the host acknowledges by echoing the frame back. The protocol has no sequence
number, so a keypad that missed the echo resends the same bytes: ``Debouncer`` drops a
repeat inside a short window so one press never calls twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .keypress import KeyPress

HEAD = b"\xff\x68"
START2 = 0x68
END = 0x16
HEADER_LEN = 5
MAX_DATA = 32
DISPLAY_DIGITS = 6
BLANK = 0x0A  # a dark digit position on the keypad's 7-segment display


class Func(IntEnum):
    KEY = 0x01  # keypad -> host: DATA = key code, then digits typed before it
    DISPLAY = 0x02  # host -> keypad: DATA = six digit positions, 0x0A = blank


class Code(IntEnum):
    EVALUATE = 0x0B  # 请评价: ends the service, which asks the citizen for a rating
    CALL_NEXT = 0x0C
    RECALL = 0x0D
    CONFIRM = 0x0F
    PAUSE = 0x12
    TRANSFER = 0x13


# CONFIRM with one typed digit picks an action; with two or more, the digits are a staff
# number and the clerk signs in.
CONFIRM_DIGITS = {6: "no_show", 0: "hold", 3: "call_back"}


class FF68Error(ValueError):
    """Data that cannot be put in, or read from, an FF68 frame."""


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


@dataclass(frozen=True, slots=True)
class FF68Frame:
    addr: int
    func: int
    data: bytes = b""

    def encode(self) -> bytes:
        if len(self.data) > MAX_DATA:
            raise FF68Error(f"FF68 data is at most {MAX_DATA} bytes")
        n = 2 + len(self.data)
        body = bytes([self.addr & 0xFF, self.func & 0xFF]) + self.data
        return HEAD + bytes([n, n, START2]) + body + bytes([checksum(body), END])


def key_frame(addr: int, code: Code, digits: str = "") -> FF68Frame:
    """What a keypad sends; the agent never builds these, fake keypads and tests do."""
    if not digits.isdigit() and digits:
        raise FF68Error("typed digits must be 0-9")
    return FF68Frame(addr, Func.KEY, bytes([code]) + bytes(int(d) for d in digits))


def display_digits(number: str) -> bytes:
    """Six display positions for a ticket number: digits right-aligned, the prefix dropped.

    The keypad's 7-segment display cannot show letters, so "A001" shows as 001 (the
    clerk sees the prefix on the LED strip and the console).
    """
    digits = [int(c) for c in number if c.isascii() and c.isdigit()][-DISPLAY_DIGITS:]
    return bytes([BLANK] * (DISPLAY_DIGITS - len(digits)) + digits)


def display_frame(addr: int, number: str) -> FF68Frame:
    """Show a ticket number on a keypad; an empty number blanks the display."""
    return FF68Frame(addr, Func.DISPLAY, display_digits(number))


def decode_key(frame: FF68Frame) -> KeyPress | None:
    """The action a key frame asks for, or None for a key hallcall does not use."""
    if frame.func != Func.KEY or not frame.data:
        return None
    code, typed = frame.data[0], frame.data[1:]
    if any(d > 9 for d in typed):
        return None
    digits = "".join(str(d) for d in typed)
    if code == Code.CALL_NEXT:
        return KeyPress("call_next")
    if code == Code.RECALL:
        return KeyPress("recall")
    if code == Code.EVALUATE:
        return KeyPress("finish")
    if code == Code.PAUSE:
        return KeyPress("pause_toggle")
    if code == Code.TRANSFER:
        return KeyPress("transfer", digits)
    if code == Code.CONFIRM:
        if len(digits) == 1 and int(digits) in CONFIRM_DIGITS:
            return KeyPress(CONFIRM_DIGITS[int(digits)])
        if len(digits) >= 2:
            return KeyPress("open", digits)
    return None


@dataclass
class FF68Stats:
    frames: int = 0
    garbage_bytes: int = 0
    bad_checksum: int = 0
    bad_header: int = 0  # mismatched lengths, missing 68 or 16
    oversized: int = 0
    truncated: int = 0
    duplicates: int = 0


@dataclass
class FF68Parser:
    """Bytes in, frames out; bad input is skipped and counted, never raised."""

    stats: FF68Stats = field(default_factory=FF68Stats)
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[FF68Frame]:
        buf = self._buf
        buf += data
        out: list[FF68Frame] = []
        while buf:
            start = buf.find(HEAD)
            if start < 0:
                self._skip(len(buf) - (1 if buf[-1] == HEAD[0] else 0))
                break
            self._skip(start)
            if len(buf) < HEADER_LEN:
                break
            n = buf[2]
            if n != buf[3] or buf[4] != START2 or n < 2:
                self.stats.bad_header += 1
                self._skip(1)
                continue
            if n - 2 > MAX_DATA:
                self.stats.oversized += 1
                self._skip(1)
                continue
            total = HEADER_LEN + n + 2
            if len(buf) < total:
                break
            body = bytes(buf[HEADER_LEN : HEADER_LEN + n])
            if buf[total - 1] != END:
                self.stats.bad_header += 1
                self._skip(1)
                continue
            if checksum(body) != buf[total - 2]:
                self.stats.bad_checksum += 1
                self._skip(1)
                continue
            out.append(FF68Frame(body[0], body[1], body[2:]))
            self.stats.frames += 1
            del buf[:total]
        return out

    def idle(self) -> list[FF68Frame]:
        """The line went quiet: a partial frame will never complete, so look past it."""
        if not self._buf:
            return []
        self.stats.truncated += 1
        out: list[FF68Frame] = []
        while self._buf:
            self._skip(1)
            out += self.feed(b"")
        return out

    def _skip(self, n: int) -> None:
        if n > 0:
            del self._buf[:n]
            self.stats.garbage_bytes += n


class Debouncer:
    """Accepts a key frame once; the same frame again within ``window`` seconds is a resend."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._seen: dict[tuple[int, int, bytes], float] = {}

    def accept(self, frame: FF68Frame, now: float) -> bool:
        key = (frame.addr, frame.func, frame.data)
        last = self._seen.get(key)
        self._seen[key] = now
        if len(self._seen) > 256:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.window}
        return last is None or now - last >= self.window
