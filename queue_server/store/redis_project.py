"""What a commit writes to Redis, computed in Python: the arguments of ``commit.lua``.

Mirrors the SQLite store's ``_project``: each event goes to the hall's stream under
the ID ``<seq>-0`` and its records into the projections (see ``keys.py``). The script
receives the writes as a flat list of operations and only checks the sequence number
and carries them out, so the hall's rules never have to be written twice, once in
Python and once in Lua. Pure functions: no I/O, tested through the store contract.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from queue_server import protocol
from queue_server.core.model import DeviceToken, Doc, Evaluation, Event, Notice, Person, Session, Ticket, Visit, Window

from . import redis_keys as K
from .redis_keys import Keys, day_score

# Commands the commit script may run; it refuses anything else before writing at all.
WRITES = ("XADD", "HSET", "HSETNX", "ZADD", "SADD", "SREM", "RPUSH")


dumps = protocol.dumps
loads = protocol.loads


_DEFAULTS: dict[type, tuple[tuple[str, Any], ...]] = {}


def compact(record: Any) -> dict[str, Any]:
    """A record's JSON without the fields that hold their default (``from_dict`` restores them).

    A third less memory per ticket row and per stream entry.
    """
    defaults = _DEFAULTS.get(type(record))
    if defaults is None:
        defaults = _DEFAULTS[type(record)] = tuple(
            (f.name, f.default) for f in dataclasses.fields(record) if f.default is not dataclasses.MISSING)
    out: dict[str, Any] = record.to_dict()
    for name, default in defaults:
        if getattr(record, name) == default:
            del out[name]
    return out


def record(event: Event) -> dict[str, Any]:
    """The stored form of an event: ``Event.to_record()`` with compact records."""
    data: dict[str, Any] = dict(event.extra)
    for key in ("ticket", "window", "visit", "evaluation", "notice"):
        rec = getattr(event, key)
        if rec is not None:
            data[key] = compact(rec)
    if event.docs:
        data["docs"] = [d.to_dict() for d in event.docs]
    return {"seq": event.seq, "name": event.name, "at": event.at.isoformat(), "data": data}


class Ops:
    """Collects the commit's keys (KEYS) and operations (ARGV) in the script's layout."""

    def __init__(self, *fixed: str) -> None:
        self.keys: list[str] = list(fixed)
        self._index: dict[str, int] = {key: n for n, key in enumerate(fixed, 1)}
        self.args: list[Any] = []
        self.count = 0

    def add(self, command: str, key: str, *args: Any) -> None:
        assert command in WRITES, command
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)
        self.args += [command, index, len(args), *args]
        self.count += 1


def commit_args(keys: Keys, expect_seq: int, events: list[Event], writer: str, commit_id: str,
                turn_ms: int) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV for ``commit.lua`` (its header describes them).

    ``commit_id`` marks the batch's first stream entry, so a commit whose reply was
    lost (and that redis-py retried) can recognise its own events in the log.
    """
    ops = Ops(keys.seq, keys.log, keys.k(K.TURN))
    # The stream first: if Redis refuses an entry (memory full) nothing else was written.
    for n, event in enumerate(events):
        mark = ("c", commit_id) if n == 0 else ()
        ops.add("XADD", keys.log, f"{event.seq}-0", "e", dumps(record(event)), *mark)
    first_of_day: dict[str, int] = {}
    days: set[str] = set()
    kinds: set[str] = set()
    for event in events:
        first_of_day.setdefault(event.day, event.seq)
        _project(ops, keys, event, days, kinds)
    for day, seq in first_of_day.items():
        ops.add("HSETNX", keys.k(K.LOG_DAYS), day, seq)
    _index(ops, keys, days, kinds)
    return ops.keys, [expect_seq, events[-1].seq, writer, turn_ms, ops.count, *ops.args]


def history_args(keys: Keys, carriers: list[Event], day: str | None, seq: int, writer: str) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV for ``commit.lua`` that write rows of a hall's history (``History.carriers``)
    into a store whose log is still empty, adding nothing to the stream, and set its seq to ``seq``."""
    ops = Ops(keys.seq, keys.log, keys.k(K.TURN))
    days: set[str] = set()
    kinds: set[str] = set()
    for event in carriers:
        _project(ops, keys, event, days, kinds)
    if day is not None:
        ops.add("HSET", keys.k(K.META), "day", day)
    _index(ops, keys, days, kinds)
    return ops.keys, [0, seq, writer, 0, ops.count, *ops.args]


def _index(ops: Ops, keys: Keys, days: set[str], kinds: set[str]) -> None:
    """The days with history and the doc kinds, which range queries and start-up walk."""
    for day in sorted(days):
        ops.add("ZADD", keys.k(K.DAYS), day_score(day), day)
    for kind in sorted(kinds):
        ops.add("SADD", keys.k(K.DOC_KINDS), kind)


def _project(ops: Ops, keys: Keys, event: Event, days: set[str], kinds: set[str]) -> None:
    t = event.ticket
    if t is not None:
        ops.add("HSET", keys.tickets(t.day), t.id, dumps(compact(t)))
        ops.add("HSET", keys.k(K.TOKENS), t.token, f"{t.day} {t.id}")
        days.add(t.day)
    v = event.visit
    if v is not None:
        ops.add("HSET", keys.visits(v.day), f"{v.ticket}/{v.leg}", dumps(compact(v)))
        days.add(v.day)
    ev = event.evaluation
    if ev is not None:
        if ev.at is None:
            ev = dataclasses.replace(ev, at=event.at)
        ops.add("HSET", keys.evaluations(ev.day), ev.ticket, dumps(ev.to_dict()))
        days.add(ev.day)
    w = event.window
    if w is not None:
        ops.add("HSET", keys.k(K.WINDOWS), str(w.number), dumps(w.to_dict()))
        if event.name.startswith("window."):
            ops.add("RPUSH", keys.window_log(event.day), dumps(record(event)))
            days.add(event.day)
    if event.notice is not None:
        ops.add("HSET", keys.k(K.META), "notice", dumps(event.notice.to_dict()))
    if event.name == "day.started":
        ops.add("HSET", keys.k(K.META), "day", event.extra["day"])
    for doc in event.docs:
        ops.add("HSET", keys.docs(doc.kind), doc.id, dumps(doc.to_dict()))
        ops.add("ZADD", keys.doc_days(doc.kind), day_score(doc.day), doc.id)
        for key in doc.keys:
            ops.add("SADD", keys.doc_key(doc.kind, key), doc.id)
        ops.add("SADD" if doc.live else "SREM", keys.doc_live(doc.kind), doc.id)
        kinds.add(doc.kind)


# -- reading back ----------------------------------------------------------------------------


def script_entries(raw: list[Any]) -> list[tuple[str, dict[str, str]]]:
    """Stream entries as a Lua script returns them (flat field lists), shaped as XRANGE's."""
    return [(entry_id, dict(zip(flat[::2], flat[1::2]))) for entry_id, flat in raw]


def event(fields: dict[str, str]) -> Event:
    return Event.from_record(loads(fields["e"]))


def event_json(text: str) -> Event:
    return Event.from_record(loads(text))


def ticket(text: str) -> Ticket:
    return Ticket.from_dict(loads(text))


def visit(text: str) -> Visit:
    return Visit.from_dict(loads(text))


def evaluation(text: str) -> Evaluation:
    return Evaluation.from_dict(loads(text))


def window(text: str) -> Window:
    return Window.from_dict(loads(text))


def notice(text: str) -> Notice:
    return Notice.from_dict(loads(text))


def doc(text: str) -> Doc:
    return Doc.from_dict(loads(text))


def person(text: str) -> Person:
    return Person.from_dict(loads(text))


def device_token(text: str) -> DeviceToken:
    return DeviceToken.from_dict(loads(text))


def session(text: str) -> Session:
    return Session.from_dict(loads(text))
