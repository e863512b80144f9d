"""hallcall's own serial frame protocol for keypads, satisfaction keypads and LED strips.

Sans-I/O: builders return bytes, ``FrameParser.feed`` turns bytes into frames, payload
decoders turn frames into events. docs/devices.md is the prose version of this file.

Layout (big-endian unless noted)::

    AA 55 | VER | ADDR | SEQ | CMD | LEN(2) | PAYLOAD | CRC-16/MODBUS(2, low byte first)

The CRC covers VER..PAYLOAD. Bit 7 of CMD is set on frames a device sends, so a device
on a multi-drop RS-485 bus never mistakes another device's reply for a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .keypress import KeyPress

SYNC = b"\xaa\x55"
VERSION = 1
HOST = 0x00
BROADCAST = 0xFF
HEADER_LEN = 8
MAX_PAYLOAD = 512
FROM_DEVICE = 0x80

FLAG_FLASH = 0x01
FLAG_SCROLL = 0x02
ALL_LINES = 0xFF


class Cmd(IntEnum):
    PING = 0x01  # host polls; the device answers with a pending event or ACK
    INFO = 0x02  # host asks, the device answers INFO with kind, width, firmware
    SHOW_TEXT = 0x10
    CLEAR = 0x11
    BRIGHTNESS = 0x12
    KEY = 0x20
    EVAL_START = 0x30
    EVAL_RESULT = 0x31
    EVAL_CANCEL = 0x32
    ACK = 0x06
    NAK = 0x15


class Nak(IntEnum):
    BAD_CRC = 1
    UNKNOWN_CMD = 2
    BAD_PAYLOAD = 3
    BUSY = 4


class Key(IntEnum):
    """Key codes in KEY payloads; the argument after the code is ASCII."""

    CALL_NEXT = 0x01
    RECALL = 0x02
    START = 0x03
    FINISH = 0x04
    NO_SHOW = 0x05
    HOLD = 0x06
    CALL_BACK = 0x07  # argument: a held ticket number, or empty for the oldest held
    TRANSFER = 0x08  # argument: the target window number
    PAUSE = 0x09
    RESUME = 0x0A
    SIGN_IN = 0x0B  # argument: the clerk's staff number
    SIGN_OUT = 0x0C


_KEY_ACTIONS = {
    Key.CALL_NEXT: "call_next", Key.RECALL: "recall", Key.START: "start", Key.FINISH: "finish",
    Key.NO_SHOW: "no_show", Key.HOLD: "hold", Key.CALL_BACK: "call_back", Key.TRANSFER: "transfer",
    Key.PAUSE: "pause", Key.RESUME: "resume", Key.SIGN_IN: "open", Key.SIGN_OUT: "close",
}

# Reason bits in EVAL_RESULT, in the order of the server's reason codes.
REASON_BITS = ("attitude", "efficiency", "compliance", "integrity", "other")

# Device kinds in INFO replies.
KINDS = {1: "keypad", 2: "evaluator", 3: "led"}


class FrameError(ValueError):
    """A frame whose payload does not match its command."""


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    addr: int
    seq: int
    cmd: int
    payload: bytes = b""
    from_device: bool = False

    def encode(self) -> bytes:
        """The frame's bytes on the wire."""
        if len(self.payload) > MAX_PAYLOAD:
            raise FrameError(f"payload of {len(self.payload)} bytes is over {MAX_PAYLOAD}")
        cmd = (self.cmd & 0x7F) | (FROM_DEVICE if self.from_device else 0)
        body = bytes([VERSION, self.addr & 0xFF, self.seq & 0xFF, cmd]) + len(self.payload).to_bytes(2, "big") + self.payload
        return SYNC + body + crc16_modbus(body).to_bytes(2, "little")

    @property
    def crc(self) -> int:
        return int.from_bytes(self.encode()[-2:], "little")


# -- builders -----------------------------------------------------------------------------


def _str8(text: str, encoding: str) -> bytes:
    raw = text.encode(encoding, errors="replace")[:255]
    return bytes([len(raw)]) + raw


def _gb(text: str) -> bytes:
    return text.encode("gb18030", errors="replace")


def ping(addr: int, seq: int) -> Frame:
    return Frame(addr, seq, Cmd.PING)


def info_request(addr: int, seq: int) -> Frame:
    return Frame(addr, seq, Cmd.INFO)


def show_text(addr: int, seq: int, text: str, *, line: int = 0, flash: bool = False, scroll: bool = False,
              seconds: int = 0) -> Frame:
    """Show text; ``seconds`` > 0 means: flash or scroll that long, then hold steady."""
    flags = (FLAG_FLASH if flash else 0) | (FLAG_SCROLL if scroll else 0)
    return Frame(addr, seq, Cmd.SHOW_TEXT, bytes([line & 0xFF, flags, max(0, min(255, seconds))]) + _gb(text))


def clear(addr: int, seq: int, line: int = ALL_LINES) -> Frame:
    return Frame(addr, seq, Cmd.CLEAR, bytes([line & 0xFF]))


def brightness(addr: int, seq: int, level: int) -> Frame:
    """Brightness 0 (off) .. 15 (full)."""
    if not 0 <= level <= 15:
        raise FrameError("brightness is 0..15")
    return Frame(addr, seq, Cmd.BRIGHTNESS, bytes([level]))


def eval_start(addr: int, seq: int, ticket: str, number: str, clerk_name: str, staff_no: str) -> Frame:
    payload = _str8(ticket, "ascii") + _str8(number, "ascii") + _str8(clerk_name, "gb18030") + _str8(staff_no, "ascii")
    return Frame(addr, seq, Cmd.EVAL_START, payload)


def eval_cancel(addr: int, seq: int, ticket: str = "") -> Frame:
    """Withdraw the prompt; an empty ticket withdraws whatever is shown."""
    return Frame(addr, seq, Cmd.EVAL_CANCEL, _str8(ticket, "ascii"))


def ack(addr: int, seq: int, acked: int, *, from_device: bool = False) -> Frame:
    return Frame(addr, seq, Cmd.ACK, bytes([acked & 0xFF]), from_device)


def nak(addr: int, seq: int, acked: int, reason: Nak, *, from_device: bool = False) -> Frame:
    return Frame(addr, seq, Cmd.NAK, bytes([acked & 0xFF, int(reason)]), from_device)


# Frames devices send; the agent never builds these, fake devices and tests do.


def key_event(addr: int, seq: int, key: Key, arg: str = "") -> Frame:
    return Frame(addr, seq, Cmd.KEY, bytes([key]) + arg.encode("ascii"), True)


def eval_result(addr: int, seq: int, ticket: str, level: int, reasons: tuple[str, ...] = ()) -> Frame:
    mask = sum(1 << REASON_BITS.index(r) for r in set(reasons))
    return Frame(addr, seq, Cmd.EVAL_RESULT, bytes([level, mask]) + _str8(ticket, "ascii"), True)


def info_reply(addr: int, seq: int, kind: str, width: int, firmware: str) -> Frame:
    code = {v: k for k, v in KINDS.items()}[kind]
    return Frame(addr, seq, Cmd.INFO, bytes([code, width & 0xFF]) + firmware.encode("ascii"), True)


# -- payload decoders -----------------------------------------------------------------------


def _need(frame: Frame, cmd: Cmd, size: int) -> bytes:
    if frame.cmd != cmd:
        raise FrameError(f"expected {cmd.name}, got command {frame.cmd:#04x}")
    if len(frame.payload) < size:
        raise FrameError(f"{cmd.name} payload too short")
    return frame.payload


def _read_str8(payload: bytes, pos: int, encoding: str) -> tuple[str, int]:
    if pos >= len(payload):
        raise FrameError("string field missing")
    end = pos + 1 + payload[pos]
    if end > len(payload):
        raise FrameError("string field overruns the payload")
    try:
        return payload[pos + 1 : end].decode(encoding), end
    except UnicodeDecodeError:
        raise FrameError(f"string field is not {encoding}") from None


@dataclass(frozen=True, slots=True)
class EvalResult:
    ticket: str
    level: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ShowText:
    line: int
    flash: bool
    scroll: bool
    seconds: int
    text: str


@dataclass(frozen=True, slots=True)
class EvalStart:
    ticket: str
    number: str
    clerk_name: str
    staff_no: str


@dataclass(frozen=True, slots=True)
class Info:
    kind: str
    width: int
    firmware: str


def decode_key(frame: Frame) -> KeyPress:
    payload = _need(frame, Cmd.KEY, 1)
    try:
        action = _KEY_ACTIONS[Key(payload[0])]
        arg = payload[1:].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise FrameError(f"bad key payload {payload.hex(' ')}") from None
    return KeyPress(action, arg)


def decode_eval_result(frame: Frame) -> EvalResult:
    payload = _need(frame, Cmd.EVAL_RESULT, 3)
    level, mask = payload[0], payload[1]
    if not 1 <= level <= 5:
        raise FrameError(f"level {level} is not 1..5")
    ticket, _ = _read_str8(payload, 2, "ascii")
    reasons = tuple(r for i, r in enumerate(REASON_BITS) if mask & (1 << i))
    return EvalResult(ticket, level, reasons)


def decode_show_text(frame: Frame) -> ShowText:
    payload = _need(frame, Cmd.SHOW_TEXT, 3)
    try:
        text = payload[3:].decode("gb18030")
    except UnicodeDecodeError:
        raise FrameError("text is not GB18030") from None
    return ShowText(payload[0], bool(payload[1] & FLAG_FLASH), bool(payload[1] & FLAG_SCROLL), payload[2], text)


def decode_eval_start(frame: Frame) -> EvalStart:
    payload = _need(frame, Cmd.EVAL_START, 4)
    ticket, pos = _read_str8(payload, 0, "ascii")
    number, pos = _read_str8(payload, pos, "ascii")
    clerk, pos = _read_str8(payload, pos, "gb18030")
    staff_no, _ = _read_str8(payload, pos, "ascii")
    return EvalStart(ticket, number, clerk, staff_no)


def decode_info(frame: Frame) -> Info:
    payload = _need(frame, Cmd.INFO, 2)
    try:
        return Info(KINDS[payload[0]], payload[1], payload[2:].decode("ascii"))
    except (KeyError, UnicodeDecodeError):
        raise FrameError(f"bad info payload {payload.hex(' ')}") from None


def acked_seq(frame: Frame) -> int:
    """The sequence number an ACK or NAK answers."""
    if frame.cmd not in (Cmd.ACK, Cmd.NAK) or not frame.payload:
        raise FrameError("not an ACK or NAK")
    return frame.payload[0]


# -- parsing --------------------------------------------------------------------------------


@dataclass
class ParserStats:
    frames: int = 0
    garbage_bytes: int = 0  # bytes skipped while looking for a frame
    bad_checksum: int = 0
    oversized: int = 0
    bad_version: int = 0
    truncated: int = 0  # partial frames abandoned when the line went quiet


@dataclass
class FrameParser:
    """Bytes in, frames out; bad input is skipped and counted, never raised."""

    max_payload: int = MAX_PAYLOAD
    stats: ParserStats = field(default_factory=ParserStats)
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        out: list[Frame] = []
        while buf:
            start = buf.find(SYNC)
            if start < 0:
                # A lone trailing AA may be the first half of the next sync.
                self._skip(len(buf) - (1 if buf[-1] == SYNC[0] else 0))
                break
            self._skip(start)
            if len(buf) < HEADER_LEN:
                break
            length = int.from_bytes(buf[6:8], "big")
            if buf[2] != VERSION:
                self.stats.bad_version += 1
                self._skip(1)
                continue
            if length > self.max_payload:
                self.stats.oversized += 1
                self._skip(1)
                continue
            total = HEADER_LEN + length + 2
            if len(buf) < total:
                break
            body = bytes(buf[2 : HEADER_LEN + length])
            if crc16_modbus(body) != int.from_bytes(buf[HEADER_LEN + length : total], "little"):
                # Skip one byte only: a real frame may start inside the damaged one.
                self.stats.bad_checksum += 1
                self._skip(1)
                continue
            cmd = buf[5]
            out.append(Frame(buf[3], buf[4], cmd & 0x7F, bytes(buf[HEADER_LEN : HEADER_LEN + length]), bool(cmd & FROM_DEVICE)))
            self.stats.frames += 1
            del buf[:total]
        return out

    def idle(self) -> list[Frame]:
        """The line went quiet: a partial frame will never complete, so look past it."""
        if not self._buf:
            return []
        self.stats.truncated += 1
        out: list[Frame] = []
        while self._buf:
            self._skip(1)
            out += self.feed(b"")
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _skip(self, n: int) -> None:
        if n > 0:
            del self._buf[:n]
            self.stats.garbage_bytes += n


class Deduper:
    """Drops a frame resent because its ACK was lost: same sender, same sequence, same bytes."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}

    def is_duplicate(self, frame: Frame) -> bool:
        key = (frame.seq, frame.crc)
        if self._last.get(frame.addr) == key:
            return True
        self._last[frame.addr] = key
        return False

    def forget(self, addr: int) -> None:
        """The last frame from ``addr`` was not acted on: accept it again when resent."""
        self._last.pop(addr, None)
