"""devices.toml: which serial ports the agent drives, and what each device does.

Validated when the agent starts; every problem is reported at once, each as
``devices.toml:12: ports[1].devices[0].window: required for a keypad``, so an IT clerk
fixes the file in one pass. docs/devices.md shows a complete example.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .serial_port import FLOW_CONTROLS, PARITIES, SerialSettings

PROTOCOLS = {"escpos": ("printer",), "ff68": ("keypad",), "hallcall": ("keypad", "evaluator", "led")}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
_ARRAY = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.]+)\s*\]\]")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.]+)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=")


@dataclass(frozen=True)
class DeviceConfig:
    id: str
    role: str  # printer, keypad, evaluator, led
    address: int | None = None
    window: int | None = None
    kiosk: str | None = None
    width: int = 16  # LED strip width in characters


@dataclass(frozen=True)
class PortConfig:
    serial: SerialSettings
    protocol: str
    devices: tuple[DeviceConfig, ...]


@dataclass(frozen=True)
class AgentConfig:
    id: str = "devices"
    state_dir: str = "/var/lib/hallcall/devices"
    public_url: str = ""  # base of the tracking URL printed as a QR code; default: the server's origin
    hall_name: str = ""  # printed on tickets; default: the hall's name from the server
    key_max_age: float = 5.0  # a key press older than this when the server is back is dropped
    print_max_age: float = 300.0  # tickets requested longer ago than this while disconnected are not printed
    evaluation_max_age: float = 120.0
    debounce: float = 2.0  # FF68: the same frame again within this is a resend
    idle_text: str = "热情为您服务"
    paused_text: str = "暂停服务"
    emphasis: float = 5.0  # seconds a new call flashes or scrolls on LED strips
    printer_poll: float = 5.0
    ports: tuple[PortConfig, ...] = field(default_factory=tuple)

    @property
    def windows(self) -> list[int]:
        return sorted({d.window for p in self.ports for d in p.devices if d.window is not None})

    @property
    def kiosks(self) -> list[str]:
        return sorted({d.kiosk for p in self.ports for d in p.devices if d.kiosk})


class DevicesConfigError(Exception):
    """devices.toml is invalid; ``issues`` lists every problem as file:line: field: message."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = issues
        super().__init__("\n".join(issues))


class _Lines:
    """Where each key sits in the file: (table path with indexes, key) -> line number."""

    def __init__(self, text: str) -> None:
        self.index: dict[tuple[str, str | None], int] = {}
        counts: dict[str, int] = {}
        parents: dict[str, str] = {}
        where = ""
        for lineno, line in enumerate(text.splitlines(), 1):
            if m := _ARRAY.match(line):
                name = m.group(1)
                parent_name, _, leaf = name.rpartition(".")
                prefix = parents.get(parent_name, parent_name)
                path = f"{prefix}.{leaf}" if prefix else leaf
                i = counts.get(path, 0)
                counts[path] = i + 1
                where = f"{path}[{i}]"
                parents[name] = where
                self.index[(where, None)] = lineno
            elif m := _TABLE.match(line):
                where = m.group(1)
                self.index[(where, None)] = lineno
            elif m := _KEY.match(line):
                self.index.setdefault((where, m.group(1)), lineno)

    def find(self, where: str, key: str | None) -> int | None:
        return self.index.get((where, key)) or self.index.get((where, None))


class _Checker:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        self.issues: list[str] = []

    def fail(self, where: str, key: str | None, message: str) -> None:
        line = self.lines.find(where, key)
        name = f"{where}.{key}" if key and where else (key or where or "(top)")
        self.issues.append(f"{self.source}:{line}: {name}: {message}" if line else f"{self.source}: {name}: {message}")

    def get(self, table: dict[str, Any], where: str, key: str, kind: type | tuple[type, ...], default: Any = None,
            *, required: bool = False) -> Any:
        if key not in table:
            if required:
                self.fail(where, None, f"{key!r} is required")
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
        if not ok:
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(where, key, f"must be {names}, not {value!r}")
            return default
        return value


def parse(text: str, source: str = "devices.toml") -> AgentConfig:
    """Validate devices.toml text; raise DevicesConfigError listing every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise DevicesConfigError([f"{source}:{m.group(1) if m else '?'}: syntax: {exc}"]) from None
    c = _Checker(source, text)
    for key in doc:
        if key not in ("agent", "ports"):
            c.fail(key, None, "unknown section (expected [agent] and [[ports]])")
    agent = doc.get("agent", {})
    defaults = AgentConfig()
    values: dict[str, Any] = {}
    for name, kind in (("id", str), ("state_dir", str), ("public_url", str), ("hall_name", str),
                       ("key_max_age", (int, float)), ("print_max_age", (int, float)),
                       ("evaluation_max_age", (int, float)), ("debounce", (int, float)), ("idle_text", str),
                       ("paused_text", str), ("emphasis", (int, float)), ("printer_poll", (int, float))):
        values[name] = c.get(agent, "agent", name, kind, getattr(defaults, name))
    for key in agent:
        if key not in values:
            c.fail("agent", key, "unknown setting")
    if values["public_url"] and not re.match(r"^https?://", values["public_url"]):
        c.fail("agent", "public_url", "must start with http:// or https://")
    ports_raw = doc.get("ports", [])
    if not isinstance(ports_raw, list) or not ports_raw:
        c.fail("ports", None, "at least one [[ports]] is needed")
        ports_raw = []
    ports = [p for i, raw in enumerate(ports_raw) if (p := _port(c, i, raw)) is not None]
    seen: dict[str, str] = {}
    paths: dict[str, str] = {}
    for i, port in enumerate(ports):
        if port.serial.port in paths:
            c.fail(f"ports[{i}]", "port", f"{port.serial.port} is already used by {paths[port.serial.port]}")
        paths[port.serial.port] = f"ports[{i}]"
        for j, dev in enumerate(port.devices):
            if dev.id in seen:
                c.fail(f"ports[{i}].devices[{j}]", "id", f"{dev.id!r} is already used by {seen[dev.id]}")
            seen[dev.id] = f"ports[{i}].devices[{j}]"
    if c.issues:
        raise DevicesConfigError(c.issues)
    return AgentConfig(**values, ports=tuple(ports))


def _port(c: _Checker, i: int, raw: Any) -> PortConfig | None:
    where = f"ports[{i}]"
    if not isinstance(raw, dict):
        c.fail(where, None, "must be a table")
        return None
    before = len(c.issues)
    port = c.get(raw, where, "port", str, required=True)
    protocol = c.get(raw, where, "protocol", str, required=True)
    if protocol is not None and protocol not in PROTOCOLS:
        c.fail(where, "protocol", f"must be one of {sorted(PROTOCOLS)}")
        protocol = None
    flow = c.get(raw, where, "flow_control", str, "none")
    if flow == "dsrdtr":
        c.fail(where, "flow_control", "dsrdtr is not flow control on Linux (it only sets DTR); use rtscts or xonxoff")
    elif flow not in FLOW_CONTROLS:
        c.fail(where, "flow_control", f"must be one of {list(FLOW_CONTROLS)}")
    baudrate = c.get(raw, where, "baudrate", int, 9600)
    if not 50 <= baudrate <= 4_000_000:
        c.fail(where, "baudrate", "must be between 50 and 4000000")
    bytesize = c.get(raw, where, "bytesize", int, 8)
    if bytesize not in (5, 6, 7, 8):
        c.fail(where, "bytesize", "must be 5, 6, 7 or 8")
    parity = c.get(raw, where, "parity", str, "none")
    if parity not in PARITIES:
        c.fail(where, "parity", "must be none, even or odd")
    stopbits = c.get(raw, where, "stopbits", (int, float), 1)
    if stopbits not in (1, 1.5, 2):
        c.fail(where, "stopbits", "must be 1, 1.5 or 2")
    write_timeout = c.get(raw, where, "write_timeout", (int, float), 2.0)
    if write_timeout <= 0:
        c.fail(where, "write_timeout", "must be above 0")
    for key in raw:
        if key not in ("port", "protocol", "flow_control", "baudrate", "bytesize", "parity", "stopbits",
                       "write_timeout", "devices"):
            c.fail(where, key, "unknown setting")
    devices_raw = raw.get("devices", [])
    if not isinstance(devices_raw, list) or not devices_raw:
        c.fail(where, "devices", "at least one [[ports.devices]] is needed")
        devices_raw = []
    devices = [d for j, d_raw in enumerate(devices_raw) if (d := _device(c, f"{where}.devices[{j}]", protocol, d_raw))]
    if protocol == "escpos" and len(devices_raw) > 1:
        c.fail(where, "devices", "an ESC/POS port drives one printer")
    addresses = [d.address for d in devices if d.address is not None]
    if len(addresses) != len(set(addresses)):
        c.fail(where, "devices", "two devices on one port share an address")
    if len(c.issues) > before or protocol is None:
        return None
    settings = SerialSettings(port, baudrate, bytesize, parity, float(stopbits), flow, float(write_timeout))
    return PortConfig(settings, protocol, tuple(devices))


def _device(c: _Checker, where: str, protocol: str | None, raw: Any) -> DeviceConfig | None:
    if not isinstance(raw, dict):
        c.fail(where, None, "must be a table")
        return None
    before = len(c.issues)
    dev_id = c.get(raw, where, "id", str, required=True)
    if dev_id is not None and not _ID.match(dev_id):
        c.fail(where, "id", "letters, digits and _ . : - only, at most 80")
    role = c.get(raw, where, "role", str, required=True)
    if protocol is not None and role is not None and role not in PROTOCOLS[protocol]:
        c.fail(where, "role", f"a {protocol} port carries {' or '.join(PROTOCOLS[protocol])}, not {role!r}")
        role = None
    address = c.get(raw, where, "address", int)
    window = c.get(raw, where, "window", int)
    kiosk = c.get(raw, where, "kiosk", str)
    width = c.get(raw, where, "width", int, 16)
    if role == "printer":
        if not kiosk:
            c.fail(where, "kiosk", "required for a printer: the kiosk whose tickets it prints")
    elif role is not None:
        if window is None:
            if "window" not in raw:
                c.fail(where, "window", f"required for a {role}")
        elif window < 1:
            c.fail(where, "window", "must be 1 or more")
        if address is None:
            if "address" not in raw:
                c.fail(where, "address", f"required on a {protocol} bus")
        elif not 1 <= address <= 254:
            c.fail(where, "address", "must be 1..254")
    if not 1 <= width <= 64:
        c.fail(where, "width", "must be 1..64 characters")
    for key in raw:
        if key not in ("id", "role", "address", "window", "kiosk", "width"):
            c.fail(where, key, "unknown setting")
    if len(c.issues) > before:
        return None
    return DeviceConfig(dev_id, role, address, window, kiosk, width)


def load(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and validate a devices.toml file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DevicesConfigError([f"{p}: cannot read: {exc.strerror or exc}"]) from None
    return parse(text, str(p))
