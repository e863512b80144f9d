"""The hall's records: tickets, service visits, windows, evaluations, notices.

Plain frozen dataclasses with explicit JSON forms. Every state change replaces a record
with a new one (``dataclasses.replace``), so a record can be shared between the
committed state and a batch being decided without copying. Times are aware datetimes
in the hall's timezone; their JSON form is ISO 8601 with the hall's offset.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, ClassVar, Self


class Status(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    HELD = "held"  # parked at a window (citizen fetches a document), called back later
    DONE = "done"
    NO_SHOW = "no_show"  # in the missed pool; may be requeued the same day
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# A ticket in one of these states is still somebody's business today.
ACTIVE = frozenset({Status.WAITING, Status.CALLED, Status.SERVING, Status.HELD, Status.NO_SHOW})
AT_WINDOW = frozenset({Status.CALLED, Status.SERVING, Status.HELD})
TERMINAL = frozenset({Status.DONE, Status.CANCELLED, Status.EXPIRED})


class Priority(StrEnum):
    NORMAL = "normal"
    GREEN = "green"  # 绿色通道: elderly, disabled, military, pregnant
    APPOINTMENT = "appointment"


class Channel(StrEnum):
    KIOSK = "kiosk"
    PHONE = "phone"
    APPOINTMENT = "appointment"
    STAFF = "staff"


class Outcome(StrEnum):
    DONE = "done"  # 办结
    PENDING_MATERIALS = "pending_materials"  # 容缺受理
    NOT_DONE = "not_done"  # 办不成


class VisitEnd(StrEnum):
    FINISHED = "finished"
    TRANSFERRED = "transferred"
    NO_SHOW = "no_show"
    HELD = "held"
    EXPIRED = "expired"


class WindowStatus(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    PAUSED = "paused"


LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
LEVELS_EN = {5: "Very satisfied", 4: "Satisfied", 3: "Fair", 2: "Dissatisfied", 1: "Very dissatisfied"}
# Reason codes for the two lowest levels, in the style of GB/T 39734-2020.
REASONS = {"attitude": "态度", "efficiency": "效率", "compliance": "规范", "integrity": "廉洁", "other": "其他"}
BAD_LEVELS = frozenset({1, 2})


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_TO_DICT: dict[type, Callable[[Any], dict[str, Any]]] = {}
# from_dict's converter per field of each record class, worked out once: every event
# read from Redis's stream (another process's) is converted back field by field.
_FROM_DICT: dict[type, dict[str, Callable[[Any], Any] | None]] = {}
_UNKNOWN: Any = object()


def _enum_or_none(kind: type) -> Callable[[Any], Any]:
    return lambda value: None if value is None else kind(value)


def _converters(cls: type[_Record]) -> dict[str, Callable[[Any], Any] | None]:
    """Field name -> how ``from_dict`` converts its JSON value (None: as it is, lists to tuples)."""
    out: dict[str, Callable[[Any], Any] | None] = {}
    for f in dataclasses.fields(cls):
        if f.name in cls._times:
            out[f.name] = _parse_dt
        elif f.name in cls._enums:
            out[f.name] = _enum_or_none(cls._enums[f.name])
        else:
            out[f.name] = None
    return out


def _compile_to_dict(cls: type[_Record]) -> Callable[[Any], dict[str, Any]]:
    """Write ``to_dict`` for one record class as a single dict display.

    Every event converts its records several times (store, screens, API), so the
    conversion is generated once per class instead of looping over fields.
    """
    parts = []
    for f in dataclasses.fields(cls):
        ref = f"self.{f.name}"
        if f.name in cls._times:
            value = f"(None if {ref} is None else {ref}.isoformat())"
        elif str(f.type).startswith("tuple"):
            value = f"list({ref})"
        else:
            value = ref
        parts.append(f"{f.name!r}: {value}")
    source = "def to_dict(self):\n    return {" + ", ".join(parts) + "}\n"
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - generated from the class's own field names
    to_dict: Callable[[Any], dict[str, Any]] = namespace["to_dict"]
    return to_dict


class _Record:
    """JSON conversion shared by the records: enums as values, datetimes as ISO strings."""

    __slots__ = ()
    _times: ClassVar[tuple[str, ...]] = ()
    _enums: ClassVar[dict[str, type]] = {}
    # Declared for the type checker only: @dataclass sets it on every record class,
    # which makes them valid arguments to dataclasses.fields().
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def to_dict(self) -> dict[str, Any]:
        fn = _TO_DICT.get(type(self))
        if fn is None:
            fn = _TO_DICT[type(self)] = _compile_to_dict(type(self))
        return fn(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        convert = _FROM_DICT.get(cls)
        if convert is None:
            convert = _FROM_DICT[cls] = _converters(cls)
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            how = convert.get(name, _UNKNOWN)
            if how is _UNKNOWN:
                continue  # a field this version does not have
            if how is not None:
                value = how(value)
            elif type(value) is list:
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


def token_key(token: str) -> str:
    """What the hall keeps of a citizen's tracking token: its SHA-256 (the token is 128 random-looking bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Ticket(_Record):
    """A numbered ticket (号票) and where it stands now."""

    id: str  # "20261201-A023": unique in the hall
    day: str  # business day, "2026-12-01"
    number: str  # "A023"
    seq_no: int  # 23: the daily sequence within its prefix
    service: str  # the queue it is in now (changes on transfer)
    zone: str
    origin_service: str  # the service it was issued for; owns the prefix
    channel: Channel
    priority: Priority
    status: Status
    token: str  # the SHA-256 of the citizen's tracking token (token_key): the token itself is never stored
    issued_at: datetime
    queued_at: datetime  # when it joined its current queue
    rank: float  # order in its queue: lower is called first
    pinned_window: int | None = None  # transferred to one window: only it may call
    window: int | None = None  # window of the current (or last) visit
    clerk: str | None = None  # person id of the current (or last) visit's clerk
    called_at: datetime | None = None  # current visit
    started_at: datetime | None = None
    first_called_at: datetime | None = None  # for the citizen's wait
    ended_at: datetime | None = None  # reached a terminal state
    missed_at: datetime | None = None  # put in the missed pool
    recalls: int = 0  # in the current visit
    visits: int = 0  # number of visits begun (a transfer starts another)
    no_shows: int = 0
    transfers: int = 0
    outcome: Outcome | None = None
    rating: int | None = None  # the level once evaluated
    request_id: str | None = None  # caller-supplied idempotency key
    appointment: str | None = None  # booking id when checked in from an appointment
    note: str | None = None
    kiosk: str | None = None  # the kiosk whose printer printed it; a reprint goes there by default
    promised_wait_minutes: int | None = None  # the wait the citizen was shown on taking it (ETA)

    _times = ("issued_at", "queued_at", "called_at", "started_at", "first_called_at", "ended_at", "missed_at")
    _enums = {"channel": Channel, "priority": Priority, "status": Status, "outcome": Outcome}

    def public(self) -> dict[str, Any]:
        """The form shared screens may see: no token, no idempotency key."""
        data = self.to_dict()
        del data["token"]
        del data["request_id"]
        return data

    @property
    def prefix(self) -> str:
        return self.number.rstrip("0123456789")


@dataclass(frozen=True, slots=True)
class Visit(_Record):
    """One visit of a ticket at one window: called until finished, transferred or missed."""

    ticket: str
    leg: int
    day: str
    number: str
    service: str
    zone: str
    priority: Priority
    window: int
    clerk: str | None
    queued_at: datetime
    called_at: datetime
    started_at: datetime | None
    ended_at: datetime
    end: VisitEnd
    outcome: Outcome | None = None
    recalls: int = 0
    closed_by: str | None = None  # "next": a keypad's next key ended it, not the clerk's outcome

    _times = ("queued_at", "called_at", "started_at", "ended_at")
    _enums = {"priority": Priority, "end": VisitEnd, "outcome": Outcome}

    @property
    def wait_seconds(self) -> float:
        return (self.called_at - self.queued_at).total_seconds()

    @property
    def handling_seconds(self) -> float:
        return (self.ended_at - (self.started_at or self.called_at)).total_seconds()

    @property
    def closed(self) -> str:
        """How a visit ended beyond ``end``: "" by the clerk, "next" by the next key after a start,
        "unstarted" by the next key with no start (not a service: not 办结)."""
        if self.closed_by != "next":
            return ""
        return "next" if self.started_at is not None else "unstarted"


@dataclass(frozen=True, slots=True)
class Window(_Record):
    """A service window (窗口) and who sits at it."""

    number: int
    status: WindowStatus = WindowStatus.CLOSED
    since: datetime | None = None  # when the status last changed
    clerk: str | None = None  # person id of the clerk signed in
    clerk_name: str | None = None
    staff_no: str | None = None
    department: str | None = None
    photo: str | None = None
    pause_reason: str | None = None
    current: str | None = None  # ticket id being called or served here
    priority_streak: int = 0  # priority tickets called in a row (starvation guard)

    _times = ("since",)
    _enums = {"status": WindowStatus}


@dataclass(frozen=True, slots=True)
class Evaluation(_Record):
    """A citizen's rating (好差评) of one finished service."""

    ticket: str
    day: str
    number: str
    service: str
    zone: str
    window: int | None
    clerk: str | None
    level: int
    reasons: tuple[str, ...] = ()
    comment: str | None = None
    source: str = "pad"  # pad, keypad, phone, web
    at: datetime | None = None
    excluded: bool = False  # set aside on appeal (malicious or mistaken): not counted in satisfaction

    _times = ("at",)

    @property
    def bad(self) -> bool:
        return self.level in BAD_LEVELS


@dataclass(frozen=True, slots=True)
class Notice(_Record):
    """The scrolling notice on hall screens, set by a manager."""

    text: str = ""
    text_en: str = ""
    by: str | None = None
    at: datetime | None = None

    _times = ("at",)


@dataclass(frozen=True, slots=True)
class Doc(_Record):
    """A record owned by a later feature (a follow-up case, a booking, an alert…).

    Docs ride on events like tickets do, so they share the gapless sequence and the
    store's atomic commit without each store learning each feature. ``keys`` are
    secondary lookup keys ("idhash:…"); a doc that is no longer ``live`` leaves the
    in-memory state but stays in the store.
    """

    kind: str
    id: str
    day: str
    data: dict[str, Any]
    keys: tuple[str, ...] = ()
    live: bool = True


@dataclass(frozen=True, slots=True)
class Person(_Record):
    """Somebody who signs in: clerk, guide (导办/帮办员), manager or admin."""

    id: str
    login: str
    name: str
    role: str  # clerk, guide, manager, admin
    staff_no: str = ""
    department: str = ""
    photo: str = ""
    windows: tuple[int, ...] = ()  # windows a clerk may open; empty means any
    password_hash: str = ""
    active: bool = True
    created_at: datetime | None = None

    _times = ("created_at",)

    def card(self) -> dict[str, Any]:
        """What screens show of a clerk: never the password hash."""
        return {"id": self.id, "name": self.name, "staff_no": self.staff_no, "department": self.department, "photo": self.photo}

    def public(self) -> dict[str, Any]:
        data = self.to_dict()
        del data["password_hash"]
        return data


@dataclass(frozen=True, slots=True)
class DeviceToken(_Record):
    """A bearer token for a kiosk, screen, pad or agent. Only its hash is stored."""

    id: str
    role: str  # kiosk, display, pad, agent
    label: str
    hash: str
    windows: tuple[int, ...] = ()
    kiosk: str = ""  # the kiosk (and its printer) a kiosk or agent token speaks for
    green: bool = False  # kiosk may issue green-channel tickets
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    _times = ("created_at", "revoked_at")

    def public(self) -> dict[str, Any]:
        data = self.to_dict()
        del data["hash"]
        return data


@dataclass(frozen=True, slots=True)
class Session(_Record):
    """A signed-in person's browser session. Only the cookie's hash is stored."""

    hash: str
    person: str
    csrf: str
    created_at: datetime
    expires_at: datetime

    _times = ("created_at", "expires_at")


@dataclass(frozen=True, slots=True)
class Event:
    """A committed state change with its hall-wide, gapless sequence number."""

    seq: int
    name: str
    at: datetime
    ticket: Ticket | None = None
    window: Window | None = None
    visit: Visit | None = None
    evaluation: Evaluation | None = None
    notice: Notice | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    docs: tuple[Doc, ...] = ()
    _data: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def day(self) -> str:
        return self.at.date().isoformat()

    def data(self) -> dict[str, Any]:
        """The full payload, as stored. Computed once: the store and the hub both need it.

        Callers must not mutate the returned dict.
        """
        data = self._data
        if data is None:
            data = self._build_data()
            object.__setattr__(self, "_data", data)
        return data

    def _build_data(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for key in ("ticket", "window", "visit", "evaluation", "notice"):
            rec = getattr(self, key)
            if rec is not None:
                out[key] = rec.to_dict()
        if self.docs:
            out["docs"] = [d.to_dict() for d in self.docs]
        return out

    def to_record(self) -> dict[str, Any]:
        return {"seq": self.seq, "name": self.name, "at": self.at.isoformat(), "data": self.data()}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Event:
        data = dict(rec["data"])
        parsed: dict[str, Any] = {}
        for key, kind in (("ticket", Ticket), ("window", Window), ("visit", Visit), ("evaluation", Evaluation), ("notice", Notice)):
            if key in data:
                parsed[key] = kind.from_dict(data.pop(key))
        if "docs" in data:
            parsed["docs"] = tuple(Doc.from_dict(d) for d in data.pop("docs"))
        at = rec["at"]
        return cls(rec["seq"], rec["name"], at if isinstance(at, datetime) else datetime.fromisoformat(at), extra=data, **parsed)
