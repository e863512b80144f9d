"""Hall configuration: load a TOML file, validate it, fail with file, line and field.

Every problem found is reported at once, each as ``hall.toml:42: windows[3].services:
unknown service "tax"``, so an IT clerk fixes the file in one pass.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import time_limits
from .time_limits import TimeLimit
from .workdays import Calendar, parse_calendar

DEFAULT_STORE_FILE = "hallcall.db"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PREFIX = re.compile(r"^[A-Z]{1,2}$")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    name_en: str = ""


@dataclass(frozen=True)
class Department:
    """A 窗口单位: the department (市场监管局, 税务局 …) whose staff run a window."""

    id: str
    name: str
    name_en: str = ""


@dataclass(frozen=True)
class Service:
    id: str
    zone: str
    name: str
    prefix: str
    name_en: str = ""
    daily_limit: int = 999
    target_wait_minutes: int = 20
    handling_minutes: float = 8.0  # expected handling time, the ETA's prior
    bundle: tuple[str, ...] = ()
    time_limit: TimeLimit | None = None  # 办结时限: issue to final 办结, on the working-day calendar

    @property
    def is_bundle(self) -> bool:
        return bool(self.bundle)


@dataclass(frozen=True)
class WindowConfig:
    number: int
    zone: str
    name: str
    services: tuple[str, ...]
    name_en: str = ""
    prefer_listed: bool = False  # call its services strictly in listed order
    department: str = ""  # a Department id; "" when the hall names none


@dataclass(frozen=True)
class Policy:
    max_recalls: int = 3
    requeue_after: int = 3  # a returning no-show waits behind this many tickets
    priority_streak: int = 3  # priority tickets a window may call in a row before a normal one
    transfer_to_head: bool = True
    call_next_finishes_current: bool = True  # keypads have no finish key
    issue_outside_hours: bool = False  # kiosks may issue when the hall is closed
    rating_minutes: int = 10  # a pad rates its window's ticket just finished, this long after (0: no limit)
    issue_without_window: bool = True  # kiosks may issue for a service no signed-in window serves


@dataclass(frozen=True)
class Limits:
    """How often one source may act: the [limits] table (docs/config.md explains each key)."""

    kiosk_per_minute: float = 6.0  # tickets one kiosk token takes a minute, on average
    kiosk_burst: int = 10  # and at once (a family at the kiosk, a queue at opening time)
    address_per_minute: float = 12.0  # tickets taken from one client address a minute, whatever the token
    address_burst: int = 20
    phone_per_hour: float = 6.0  # remote (phone) tickets one phone session takes an hour
    phone_burst: int = 3
    login_failures: int = 5  # wrong passwords for one login from one address before each further try waits
    login_backoff_max_seconds: float = 300.0  # the wait doubles from 1 s up to this
    address_login_failures: int = 30  # wrong passwords from one address, any login, before it waits
    address_login_per_minute: float = 2.0  # then this many tries a minute come back
    body_seconds: float = 10.0  # a request body must have arrived this long after its headers
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")  # whose X-Forwarded-For names the client

    def issuing_lifted(self) -> Limits:
        """These limits without the ones on taking tickets: for simulations, whose one kiosk plays all the hall's."""
        return replace(self, kiosk_burst=10**9, address_burst=10**9, phone_burst=10**9)


LANGUAGES = ("zh", "en")  # the pages' languages (web/i18n.json)


@dataclass(frozen=True)
class Hall:
    id: str
    name: str
    name_en: str = ""
    timezone: str = "Asia/Shanghai"
    hours: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 30), time(17, 30)))
    public_url: str = ""  # base of tracking links printed on tickets
    language: str = "zh"  # what every citizen, and every screen nobody touches, starts in
    bilingual_tickets: bool = False  # printed tickets carry English lines under the Chinese
    department: str = ""  # the 窗口单位 of windows that name none (a Department id)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class HallConfig:
    hall: Hall
    zones: dict[str, Zone]
    services: dict[str, Service]
    windows: dict[int, WindowConfig]
    policy: Policy = field(default_factory=Policy)
    store_url: str = ""
    source: str = "<memory>"
    extra: dict[str, Any] = field(default_factory=dict)  # tables owned by features and tools (alerts, voice…)
    text: str = field(default="", repr=False)  # the file's text, to locate lines in feature sections
    calendar: Calendar = field(default_factory=Calendar)  # working days, from [calendar]
    limits: Limits = field(default_factory=Limits)  # rates of issuing and signing in, body timeouts
    departments: dict[str, Department] = field(default_factory=dict)  # 窗口单位, in file order

    def department_of(self, window: int | None) -> str | None:
        """The department id of a window; None for no window or one the hall does not know."""
        w = self.windows.get(window) if window is not None else None
        return w.department or None if w is not None else None

    def service_department(self, service: str) -> str | None:
        """The department of every window serving ``service``; None when they differ or name none."""
        found = {self.department_of(n) for n in self.windows_serving(service)}
        return found.pop() if len(found) == 1 else None

    def issue(self, table: str, key: str | None, message: str, idx: int | None = None) -> ConfigIssue:
        """A problem in a section owned by a feature, located in the file like the core's own."""
        name = table if idx is None else f"{table}[{idx}]"
        if key:
            name = f"{name}.{key}"
        return ConfigIssue(self.source, _Lines(self.text).find(table, idx, key), name, message)

    def windows_serving(self, service: str) -> list[int]:
        serving: dict[str, list[int]] | None = self.__dict__.get("_serving")
        if serving is None:  # computed once; the config never changes after loading
            serving = {s: [n for n, w in self.windows.items() if s in w.services] for s in self.services}
            object.__setattr__(self, "_serving", serving)
        return serving.get(service, [])

    def summary(self) -> str:
        lines = [
            f"{self.hall.name} ({self.hall.id}), timezone {self.hall.timezone}",
            "hours " + ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.hall.hours),
            f"{len(self.zones)} zones, {len(self.services)} services, {len(self.windows)} windows",
        ]
        for zone in self.zones.values():
            services = [s for s in self.services.values() if s.zone == zone.id]
            windows = [w.number for w in self.windows.values() if w.zone == zone.id]
            lines.append(f"  {zone.name} [{zone.id}]: windows {_ranges(windows) or '-'}")
            for s in services:
                kind = f" bundle of {len(s.bundle)}" if s.bundle else ""
                lines.append(f"    {s.prefix} {s.name} [{s.id}] limit {s.daily_limit}, target {s.target_wait_minutes} min{kind}")
        return "\n".join(lines)


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


class _Lines:
    """Find the line of a key in TOML text: (table, index, key) -> line number."""

    _table = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    _array = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
    _key = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.index: dict[tuple[str, int | None, str | None], int] = {}
        counts: dict[str, int] = {}
        table: tuple[str, int | None] = ("", None)
        for lineno, line in enumerate(text.splitlines(), 1):
            if m := self._array.match(line):
                name = m.group(1)
                idx = counts.get(name, 0)
                counts[name] = idx + 1
                table = (name, idx)
                self.index[(name, idx, None)] = lineno
            elif m := self._table.match(line):
                table = (m.group(1), None)
                self.index[(table[0], None, None)] = lineno
            elif m := self._key.match(line):
                self.index.setdefault((table[0], table[1], m.group(1)), lineno)

    def find(self, table: str, idx: int | None = None, key: str | None = None) -> int | None:
        return self.index.get((table, idx, key)) or self.index.get((table, idx, None))


class _Checker:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        self.issues: list[ConfigIssue] = []
        self.service_index: dict[str, int] = {}

    def fail(self, table: str, idx: int | None, key: str | None, message: str) -> None:
        name = table if idx is None else f"{table}[{idx}]"
        if key:
            name = f"{name}.{key}"
        self.issues.append(ConfigIssue(self.source, self.lines.find(table, idx, key), name, message))

    def get(self, data: dict[str, Any], table: str, idx: int | None, key: str, kind: type | tuple[type, ...], default: Any = ..., ) -> Any:
        if key not in data:
            if default is ...:
                self.fail(table, idx, key, "is required")
                return None
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(table, idx, key, f"must be {names}, not {type(value).__name__}")
            return None if default is ... else default
        return value

    def unknown(self, data: dict[str, Any], table: str, idx: int | None, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.fail(table, idx, key, f"unknown field (expected one of: {', '.join(sorted(allowed))})")


def parse_hours(values: list[Any]) -> tuple[tuple[time, time], ...]:
    """Parse ["08:30-12:00", ...] into sorted, non-overlapping (start, end) pairs."""
    spans: list[tuple[time, time]] = []
    for value in values:
        m = _HOURS.match(value) if isinstance(value, str) else None
        if not m:
            raise ValueError(f"{value!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h2 == 24 and m2 == 0:
            h2, m2 = 23, 59
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"{value!r} is not a time of day")
        start, end = time(h1, m1), time(h2, m2)
        if end <= start:
            raise ValueError(f"{value!r} ends before it starts")
        spans.append((start, end))
    spans.sort()
    for (a1, b1), (a2, b2) in zip(spans, spans[1:]):
        if a2 < b1:
            raise ValueError(f"{a2:%H:%M} overlaps the span ending {b1:%H:%M}")
    return tuple(spans)


# The tables the core reads; every other table belongs to a feature or a tool, which
# reads it (and reports problems) when the hall's features are built.
CORE_TABLES = frozenset({"hall", "zones", "services", "windows", "policy", "store", "calendar", "limits", "departments"})


def load(path: str | Path, *, store_url: str | None = None) -> HallConfig:
    """Load and validate a hall file. ``store_url`` overrides its [store] url."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), None, "file", exc.strerror or str(exc))]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(path), None, "file", "is not UTF-8 text")]) from None
    return loads(text, source=str(path), store_url=store_url)


def loads(text: str, *, source: str = "<memory>", store_url: str | None = None) -> HallConfig:
    """Validate hall TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        m = re.search(r"line (\d+)", str(exc))
        if line is None and m:
            line = int(m.group(1))
        raise ConfigError([ConfigIssue(source, line, "syntax", str(exc))]) from None
    c = _Checker(source, text)
    for key, value in data.items():
        if key not in CORE_TABLES and not isinstance(value, dict):
            c.fail(key, None, None, "must be a table")

    hall = _hall(c, data.get("hall"))
    zones = _zones(c, data.get("zones", []))
    services = _services(c, data.get("services", []), zones)
    windows = _windows(c, data.get("windows", []), zones, services)
    departments = _departments(c, data.get("departments"), data.get("windows", []), hall)
    windows = {n: _with_department(w, departments, hall) for n, w in windows.items()}
    policy = _flat(c, "policy", data.get("policy", {}), Policy())
    limits = _flat(c, "limits", data.get("limits", {}), Limits())

    # The [store] table is checked even when --store overrides it: a typo must not wait
    # for the day somebody runs without the flag.
    store = data.get("store", {})
    if not isinstance(store, dict):
        c.fail("store", None, None, "must be a table")
        store = {}
    c.unknown(store, "store", None, {"url"})
    file_url = c.get(store, "store", None, "url", str, "")
    url = store_url if store_url is not None else file_url
    if not url:
        url = f"sqlite:///{Path.cwd() / DEFAULT_STORE_FILE}"

    calendar, problems = parse_calendar(data.get("calendar", {}))
    for name, message in problems:
        c.fail("calendar", None, name, message)

    if c.issues:
        raise ConfigError(c.issues)
    assert hall is not None
    extra = {k: v for k, v in data.items() if k not in CORE_TABLES}
    return HallConfig(hall, zones, services, windows, policy, url, source, extra, text, calendar, limits,
                      {d.id: d for d in departments.values()})


def _hall(c: _Checker, data: Any) -> Hall | None:
    if not isinstance(data, dict):
        c.fail("hall", None, None, "a [hall] table is required")
        return None
    c.unknown(data, "hall", None, {"id", "name", "name_en", "timezone", "hours", "public_url", "language",
                                   "bilingual_tickets", "department"})
    hid = c.get(data, "hall", None, "id", str)
    if hid is not None and not _ID.match(hid):
        c.fail("hall", None, "id", f"{hid!r} must be lowercase letters, digits, - or _")
    name = c.get(data, "hall", None, "name", str)
    tz = c.get(data, "hall", None, "timezone", str, "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.fail("hall", None, "timezone", f"unknown timezone {tz!r}")
        tz = "Asia/Shanghai"
    language = c.get(data, "hall", None, "language", str, "zh")
    if language not in LANGUAGES:
        c.fail("hall", None, "language", f"must be one of {', '.join(LANGUAGES)}")
    hours_raw = c.get(data, "hall", None, "hours", list, ["08:30-12:00", "14:30-17:30"])
    hours = Hall.hours
    try:
        hours = parse_hours(hours_raw or [])
        if not hours:
            c.fail("hall", None, "hours", "needs at least one span")
    except ValueError as exc:
        c.fail("hall", None, "hours", str(exc))
    return Hall(
        id=hid or "hall",
        name=name or "",
        name_en=c.get(data, "hall", None, "name_en", str, ""),
        timezone=tz,
        hours=hours,
        public_url=c.get(data, "hall", None, "public_url", str, ""),
        language=language if language in LANGUAGES else "zh",
        bilingual_tickets=bool(c.get(data, "hall", None, "bilingual_tickets", bool, False)),
        department=c.get(data, "hall", None, "department", str, "") or "",
    )


def _array(c: _Checker, table: str, items: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(items, list):
        c.fail(table, None, None, f"must be an array of tables ([[{table}]])")
        return []
    out = []
    for idx, item in enumerate(items):
        if not isinstance(item, dict):
            c.fail(table, idx, None, "must be a table")
            continue
        out.append((idx, item))
    return out


def _named(c: _Checker, table: str, items: Any) -> list[tuple[int, str, str, str]]:
    """The entries of a table of (id, name, name_en) things, each id checked: (index, id, name, name_en)."""
    out = []
    for idx, d in _array(c, table, items):
        c.unknown(d, table, idx, {"id", "name", "name_en"})
        tid = c.get(d, table, idx, "id", str)
        name = c.get(d, table, idx, "name", str)
        if tid is None or name is None:
            continue
        if not _ID.match(tid):
            c.fail(table, idx, "id", f"{tid!r} must be lowercase letters, digits, - or _")
        out.append((idx, tid, name, c.get(d, table, idx, "name_en", str, "") or ""))
    return out


def _zones(c: _Checker, items: Any) -> dict[str, Zone]:
    zones: dict[str, Zone] = {}
    for idx, zid, name, name_en in _named(c, "zones", items):
        if zid in zones:
            c.fail("zones", idx, "id", f"duplicate zone {zid!r}")
        zones[zid] = Zone(zid, name, name_en)
    if not zones and isinstance(items, list):
        c.fail("zones", None, None, "at least one [[zones]] is required")
    return zones


def _services(c: _Checker, items: Any, zones: dict[str, Zone]) -> dict[str, Service]:
    services: dict[str, Service] = {}
    prefixes: dict[str, str] = {}
    bundles: list[tuple[int, str, list[Any]]] = []
    allowed = {"id", "zone", "name", "name_en", "prefix", "daily_limit", "target_wait_minutes", "handling_minutes", "bundle",
               "time_limit"}
    for idx, d in _array(c, "services", items):
        c.unknown(d, "services", idx, allowed)
        sid = c.get(d, "services", idx, "id", str)
        zone = c.get(d, "services", idx, "zone", str)
        name = c.get(d, "services", idx, "name", str)
        prefix = c.get(d, "services", idx, "prefix", str)
        limit = c.get(d, "services", idx, "daily_limit", int, 999)
        target = c.get(d, "services", idx, "target_wait_minutes", int, 20)
        handling = c.get(d, "services", idx, "handling_minutes", float, 8.0)
        bundle = c.get(d, "services", idx, "bundle", list, [])
        if sid is None or zone is None or name is None or prefix is None:
            continue
        if not _ID.match(sid):
            c.fail("services", idx, "id", f"{sid!r} must be lowercase letters, digits, - or _")
        if sid in services:
            c.fail("services", idx, "id", f"duplicate service {sid!r}")
        if zone not in zones:
            c.fail("services", idx, "zone", f"unknown zone {zone!r}")
        if not _PREFIX.match(prefix):
            c.fail("services", idx, "prefix", f"{prefix!r} must be one or two capital letters")
        elif prefix in prefixes:
            c.fail("services", idx, "prefix", f"duplicate prefix {prefix!r} (also used by {prefixes[prefix]!r})")
        else:
            prefixes[prefix] = sid
        if limit is not None and not 1 <= limit <= 9999:
            c.fail("services", idx, "daily_limit", "must be between 1 and 9999")
            limit = 999
        if target is not None and not 1 <= target <= 24 * 60:
            c.fail("services", idx, "target_wait_minutes", "must be between 1 and 1440")
        if handling is not None and not 0 < handling <= 24 * 60:
            c.fail("services", idx, "handling_minutes", "must be between 0 and 1440")
            handling = 8.0
        bundles.append((idx, sid, bundle or []))
        c.service_index.setdefault(sid, idx)
        services[sid] = Service(
            sid, zone, name, prefix, c.get(d, "services", idx, "name_en", str, ""), limit or 999, target or 20,
            float(handling or 8.0), tuple(b for b in bundle or [] if isinstance(b, str)),
            _time_limit(c, idx, c.get(d, "services", idx, "time_limit", str, "")),
        )
    for idx, sid, bundle in bundles:
        for part in bundle:
            if not isinstance(part, str):
                c.fail("services", idx, "bundle", f"{part!r} is not a service id")
            elif part == sid:
                c.fail("services", idx, "bundle", f"a bundle cannot contain itself ({sid!r})")
            elif part not in services:
                c.fail("services", idx, "bundle", f"unknown service {part!r}")
            elif services[part].bundle:
                c.fail("services", idx, "bundle", f"{part!r} is itself a bundle")
    if not services and isinstance(items, list):
        c.fail("services", None, None, "at least one [[services]] is required")
    return services


def _time_limit(c: _Checker, idx: int, value: str | None) -> TimeLimit | None:
    if not value:
        return None
    try:
        return time_limits.parse(value)
    except ValueError as exc:
        c.fail("services", idx, "time_limit", str(exc))
        return None


def _windows(c: _Checker, items: Any, zones: dict[str, Zone], services: dict[str, Service]) -> dict[int, WindowConfig]:
    windows: dict[int, WindowConfig] = {}
    for idx, d in _array(c, "windows", items):
        c.unknown(d, "windows", idx, {"number", "zone", "name", "name_en", "services", "prefer_listed", "department"})
        number = c.get(d, "windows", idx, "number", int)
        zone = c.get(d, "windows", idx, "zone", str)
        name = c.get(d, "windows", idx, "name", str, "")
        served = c.get(d, "windows", idx, "services", list)
        if number is None or zone is None or served is None:
            continue
        if not 1 <= number <= 9999:
            c.fail("windows", idx, "number", "must be between 1 and 9999")
        if number in windows:
            c.fail("windows", idx, "number", f"duplicate window {number}")
        if zone not in zones:
            c.fail("windows", idx, "zone", f"unknown zone {zone!r}")
        if not served:
            c.fail("windows", idx, "services", "must name at least one service")
        for s in served:
            if not isinstance(s, str) or s not in services:
                c.fail("windows", idx, "services", f"unknown service {s!r}")
        if len(set(map(str, served))) != len(served):
            c.fail("windows", idx, "services", "lists a service twice")
        windows[number] = WindowConfig(
            number, zone, name or f"{number}号窗口", tuple(s for s in served if isinstance(s, str)),
            c.get(d, "windows", idx, "name_en", str, ""), bool(c.get(d, "windows", idx, "prefer_listed", bool, False)),
            c.get(d, "windows", idx, "department", str, "") or "",
        )
    if not windows and isinstance(items, list):
        c.fail("windows", None, None, "at least one [[windows]] is required")
    served_anywhere = {s for w in windows.values() for s in w.services}
    for sid, idx in c.service_index.items():
        if windows and sid not in served_anywhere:
            c.fail("services", idx, "id", f"no window serves {sid!r}")
    return windows


def _departments(c: _Checker, items: Any, windows: Any, hall: Hall | None) -> dict[str, Department]:
    """The [[departments]] table, keyed by id and by name; without one, every name a window gives is a department."""
    found: dict[str, Department] = {}
    if items is not None:
        for idx, did, name, name_en in _named(c, "departments", items):
            for key, value in (("id", did), ("name", name)):
                if value in found:
                    c.fail("departments", idx, key, f"duplicate department {value!r}")
            found[did] = found[name] = Department(did, name, name_en)
    named: list[tuple[int | None, Any]] = [(None, hall.department if hall else "")]
    if isinstance(windows, list):
        named += [(i, w.get("department")) for i, w in enumerate(windows) if isinstance(w, dict)]
    for at, value in named:  # at: the window's index, None for [hall]
        if not isinstance(value, str) or not value:
            continue
        if items is None:
            found.setdefault(value, Department(value, value))
        elif value not in found:
            c.fail("hall" if at is None else "windows", at, "department", f"unknown department {value!r} (not in [[departments]])")
    return found


def _with_department(w: WindowConfig, departments: dict[str, Department], hall: Hall | None) -> WindowConfig:
    """The window with its department resolved to an id (its own, else the hall's default)."""
    dept = departments.get(w.department or (hall.department if hall else ""))
    return replace(w, department=dept.id if dept else "")


F = TypeVar("F")


def _flat(c: _Checker, table: str, data: Any, defaults: F) -> F:
    """A table of plain settings over their defaults: numbers not negative (rates and bursts above 0),
    lists of strings where the default is a tuple."""
    if not isinstance(data, dict):
        c.fail(table, None, None, "must be a table")
        return defaults
    fields = {f: type(getattr(defaults, f)) for f in defaults.__dataclass_fields__}  # type: ignore[attr-defined]
    c.unknown(data, table, None, set(fields))
    values = {}
    for key, kind in fields.items():
        if kind is tuple:
            value = c.get(data, table, None, key, list, list(getattr(defaults, key)))
            if not all(isinstance(v, str) for v in value):
                c.fail(table, None, key, "must be a list of strings")
                continue
            values[key] = tuple(value)
            continue
        value = c.get(data, table, None, key, kind, getattr(defaults, key))
        if kind in (int, float) and value is not None and value < 0:
            c.fail(table, None, key, "must not be negative")
            continue
        if table == "limits" and kind in (int, float) and not value:
            c.fail(table, None, key, "must be above 0")
            continue
        values[key] = value
    return replace(defaults, **values)  # type: ignore[type-var]


# -- tables owned by features ----------------------------------------------------------------

T = TypeVar("T")
_MISSING: Any = object()


class Section:
    """Typed reads of one table of the hall file; problems collect as located ConfigIssues."""

    def __init__(self, cfg: HallConfig, name: str, raw: Any = _MISSING) -> None:
        self.cfg = cfg
        self.name = name
        self.issues: list[ConfigIssue] = []
        if raw is _MISSING:
            raw = cfg.extra
            for part in name.split("."):
                raw = raw.get(part, {}) if isinstance(raw, dict) else raw
        if not isinstance(raw, dict):
            self.issues.append(cfg.issue(name, None, "must be a table"))
            raw = {}
        self.raw: dict[str, Any] = raw
        self._known: set[str] = set()

    def fail(self, key: str | None, message: str) -> None:
        self.issues.append(self.cfg.issue(self.name, key, message))

    def get(self, key: str, default: T, *, lo: float | None = None, hi: float | None = None) -> T:
        """A value of the default's type, bounded; the default (and an issue) when wrong."""
        self._known.add(key)
        if key not in self.raw:
            return default
        value = self.raw[key]
        kind = type(default)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.fail(key, f"must be {kind.__name__}, not {type(value).__name__}")
            return default
        if lo is not None and value < lo or hi is not None and value > hi:
            self.fail(key, f"must be between {lo:g} and {hi:g}" if hi is not None else f"must be at least {lo:g}")
            return default
        return cast(T, value)  # checked against the default's type above

    def known(self, *keys: str) -> None:
        """Keys read by hand from ``raw`` (lists of tables, say): not unknown."""
        self._known.update(keys)

    def table(self, key: str) -> Section:
        """A sub-table (``[followup.export]``) read the same way."""
        self._known.add(key)
        return Section(self.cfg, f"{self.name}.{key}", self.raw.get(key, {}))

    def mapping(self, key: str, default: dict[str, str]) -> dict[str, str]:
        """A table of string values merged over the defaults (code tables)."""
        self._known.add(key)
        raw = self.raw.get(key, {})
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            self.fail(key, "must be a table of strings")
            return dict(default)
        return {**default, **raw}

    def finish(self) -> list[ConfigIssue]:
        """Report unknown keys; return every issue of this table."""
        for key in self.raw:
            if key not in self._known:
                self.fail(key, f"unknown field (expected one of: {', '.join(sorted(self._known))})")
        return self.issues
