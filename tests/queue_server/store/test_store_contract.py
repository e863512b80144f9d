"""The Store contract, run against every store implementation (see conftest.STORES)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from queue_server.core import rules
from queue_server.core.model import Doc, Event, Outcome, Session, token_key
from queue_server.core.rules import Tx
from queue_server.core.state import HallState
from queue_server.service import auth
from queue_server.store import History, SeqConflict, StoreError, open_store

from ...conftest import OPEN_TIME  # type: ignore[import-not-found]

pytestmark = pytest.mark.every_store  # the store is this module's subject


class Scenario:
    """Makes real events with the pure rules, as the Hall would."""

    def __init__(self, cfg: Any, now: datetime = OPEN_TIME) -> None:
        self.st = HallState(cfg)
        self.now = now
        self.n = 0

    def run(self, fn, *args, **kwargs) -> tuple[Any, list[Event]]:  # type: ignore[no-untyped-def]
        self.now += timedelta(seconds=30)
        tx = Tx(self.st, self.now, "person:test")
        result = fn(tx, *args, **kwargs)
        return result, tx.events

    def day(self) -> list[Event]:
        return self.run(rules.roll_day)[1]

    def issue(self, service: str = "pension") -> tuple[Any, list[Event]]:
        self.n += 1
        return self.run(rules.issue, service, token=token_key(f"token-{self.n:06d}-xxxxxx"))


async def test_an_empty_store_loads_nothing(store: Any) -> None:
    loaded = await store.load()
    assert (loaded.seq, loaded.day, loaded.tickets) == (0, "", [])
    assert await store.events_since(0) == []


async def test_commit_then_load_gives_back_the_day(store: Any, hall_config: Any) -> None:
    sc = Scenario(hall_config)
    events = sc.day()
    t, evs = sc.issue()
    events += evs
    events += sc.run(rules.open_window, 15, {"id": "p1", "name": "张三", "staff_no": "0012"})[1]
    events += sc.run(rules.call_next, 15)[1]
    events += sc.run(rules.set_notice, "今日下午三点系统维护")[1]
    doc = Doc("case", "c1", sc.st.day, {"state": "open"}, keys=("ticket:x",))
    events.append(Event(sc.st.seq + 1, "case.opened", sc.now, docs=(doc,)))
    await store.commit(0, events)
    loaded = await store.load()
    assert loaded.seq == len(events) and loaded.day == "2026-12-01"
    [ticket] = loaded.tickets
    assert ticket == sc.st.ticket(t.id)
    assert {w.number: w for w in loaded.windows}[15] == sc.st.windows[15]
    assert loaded.notice is not None and loaded.notice.text == "今日下午三点系统维护"
    assert [d.id for d in loaded.docs] == ["c1"]
    rebuilt = HallState(hall_config)
    rebuilt.load(loaded.day, loaded.tickets, loaded.windows, loaded.notice, loaded.seq, loaded.docs)
    assert rebuilt.tickets == sc.st.tickets and rebuilt.windows == sc.st.windows and rebuilt.counters == sc.st.counters


async def test_a_stale_commit_is_refused_with_what_was_missed(store: Any, hall_config: Any) -> None:
    sc = Scenario(hall_config)
    first = sc.day() + sc.issue()[1]
    await store.commit(0, first)
    other = Scenario(hall_config)
    stale = other.day() + other.issue()[1]
    with pytest.raises(SeqConflict) as err:
        await store.commit(0, stale)
    assert [e.seq for e in err.value.missing] == [e.seq for e in first]
    assert err.value.missing[-1].ticket == first[-1].ticket
    loaded = await store.load()
    assert loaded.seq == len(first)  # nothing of the stale batch landed


async def test_events_since_and_first_seq(store: Any, hall_config: Any) -> None:
    sc = Scenario(hall_config)
    events = sc.day()
    for _ in range(5):
        events += sc.issue()[1]
    await store.commit(0, events)
    got = await store.events_since(3)
    assert [e.seq for e in got] == list(range(4, len(events) + 1))
    assert got == events[3:]
    assert await store.first_seq() == 1
    assert await store.events_since(len(events)) == []


async def test_tail_yields_commits_in_order(store: Any, hall_config: Any) -> None:
    sc = Scenario(hall_config)
    batches = [sc.day() + sc.issue()[1], sc.issue()[1], sc.issue()[1]]
    seen: list[int] = []

    async def follow() -> None:
        async for event in store.tail():
            seen.append(event.seq)
            if len(seen) == sum(len(b) for b in batches):
                return

    follower = asyncio.create_task(follow())
    seq = 0
    for batch in batches:
        await store.commit(seq, batch)
        seq += len(batch)
    await asyncio.wait_for(follower, 10)
    assert seen == list(range(1, seq + 1))


def served_and_rated(sc: Scenario) -> tuple[Any, list[Event]]:
    """A day on which one ticket is served at window 15 and rated 1 (非常不满意), then the window pauses."""
    events = sc.day()
    t, evs = sc.issue()
    events += evs
    events += sc.run(rules.open_window, 15, {"id": "p1", "name": "张三"})[1]
    events += sc.run(rules.call_next, 15)[1]
    events += sc.run(rules.finish, 15, Outcome.DONE)[1]
    events += sc.run(rules.evaluate, sc.st.ticket(t.id), 1, ["attitude", "efficiency"], "态度差")[1]
    events += sc.run(rules.pause_window, 15, "rest")[1]
    return t, events


async def test_history_queries(store: Any, hall_config: Any) -> None:
    sc = Scenario(hall_config)
    t, events = served_and_rated(sc)
    await store.commit(0, events)
    [visit] = await store.visits("2026-12-01", "2026-12-01")
    assert (visit.ticket, visit.window, visit.clerk, visit.handling_seconds) == (t.id, 15, "p1", 30)
    [ev] = await store.evaluations("2026-12-01", "2026-12-31")
    assert (ev.level, ev.reasons, ev.comment) == (1, ("attitude", "efficiency"), "态度差")
    assert [e.name for e in await store.window_log("2026-12-01", "2026-12-01")] == ["window.opened", "window.paused"]
    assert (await store.ticket_by_token(f"token-{sc.n:06d}-xxxxxx")).rating == 1  # type: ignore[union-attr]
    assert await store.ticket_by_token(t.token) is None  # what the store keeps of a token opens nothing
    assert await store.ticket_by_token("nope") is None
    assert [x.id for x in await store.tickets("2026-12-01", "2026-12-01")] == [t.id]
    assert await store.visits("2026-12-02", "2026-12-09") == []


async def test_docs_by_kind_key_and_day(store: Any, hall_config: Any) -> None:
    sc = Scenario(hall_config)
    events = sc.day()
    a = Doc("booking", "b1", "2026-12-03", {"slot": "09:00"}, keys=("idhash:aa",))
    b = Doc("booking", "b2", "2026-12-04", {"slot": "10:00"}, keys=("idhash:bb",))
    events.append(Event(2, "booking.created", sc.now, docs=(a, b)))
    events.append(Event(3, "booking.voided", sc.now, docs=(replace(a, live=False, data={"slot": "09:00", "void": True}),)))
    await store.commit(0, events)
    assert [d.id for d in await store.docs("booking", key="idhash:bb")] == ["b2"]
    assert [d.id for d in await store.docs("booking", day_from="2026-12-04")] == ["b2"]
    got = await store.doc("booking", "b1")
    assert got is not None and got.live is False and got.data["void"] is True
    assert [d.id for d in (await store.load()).docs] == ["b2"]


async def test_people_tokens_and_sessions(store: Any) -> None:
    person = auth.new_person("zhangsan", "张三", "clerk", "pw123456", staff_no="0012", windows=(1, 2))
    await store.put_person(person)
    assert await store.person(login="zhangsan") == person
    assert await store.person(staff_no="0012") == person
    assert await store.person(id=person.id) == person
    assert [p.login for p in await store.people()] == ["zhangsan"]
    authn = auth.Authenticator(store, type("C", (), {"now": staticmethod(lambda: OPEN_TIME)})())
    secret, row = await authn.add_token("pad", "pad 3", windows=(3,))
    assert await store.token(hash=auth.digest(secret)) == row
    assert (await authn.bearer(secret)).windows == frozenset({3})  # type: ignore[union-attr]
    await authn.revoke_token(row.id)
    assert (await store.token(id=row.id)).revoked_at is not None  # type: ignore[union-attr]
    assert await authn.bearer(secret) is None
    session = Session("h1", person.id, "csrf", OPEN_TIME, OPEN_TIME + timedelta(hours=1))
    await store.put_session(session)
    assert await store.session("h1") == session
    await store.delete_session("h1")
    assert await store.session("h1") is None


async def test_a_hall_stops_at_once_after_starting(hall_config: Any, store: Any) -> None:
    # Stopped right after starting, while its event follower reads its first events
    # (redis-py used to swallow that cancellation and read on for ever).
    from queue_server.service.hall import Hall

    hall = Hall(hall_config, store)
    await hall.start(day_timer=False)
    await hall.wait_dispatched(hall.state.seq)
    await asyncio.wait_for(hall.stop(), 3)  # under the store's 5-second blocking read


async def test_history_moves_into_an_empty_store_and_its_log_goes_on(store: Any, hall_config: Any, store_spec: Any,
                                                                     tmp_path: Any) -> None:
    sc = Scenario(hall_config)
    _, events = served_and_rated(sc)
    booking = Doc("booking", "b1", "2026-12-01", {"slot": "09:00"}, keys=("idhash:aa",))
    events.append(Event(events[-1].seq + 1, "booking.created", sc.now, docs=(booking,)))
    await store.commit(0, events)
    loaded = await store.load()
    every = ("2000-01-01", "2100-01-01")
    history = History(
        seq=loaded.seq, day=loaded.day, notice=loaded.notice, windows=loaded.windows,
        tickets=await store.tickets(*every), visits=await store.visits(*every), evaluations=await store.evaluations(*every),
        window_log=await store.window_log(*every), docs=[d for k in await store.doc_kinds() for d in await store.docs(k)])
    assert await store.doc_kinds() == ["booking"]

    other_url = f"sqlite://{tmp_path}/other.db" if store_spec.kind == "sqlite" else store_spec.url
    target = open_store(other_url, hall_id="other-hall")  # on Redis: the same database, another hall's keys
    await target.open()
    try:
        await target.put_history(history)
        again = await target.load()
        assert (again.seq, again.day, again.windows, again.tickets) == (loaded.seq, loaded.day, loaded.windows, loaded.tickets)
        assert await target.tickets(*every) == history.tickets and await target.visits(*every) == history.visits
        assert await target.evaluations(*every) == history.evaluations
        assert [e.seq for e in await target.window_log(*every)] == [e.seq for e in history.window_log]
        assert [d.id for d in await target.docs("booking", key="idhash:aa")] == ["b1"]
        assert await target.events_since(0) == []  # rows only: the log itself is not made up
        more = sc.issue()[1]
        await target.commit(loaded.seq, more)  # and it goes on after the moved seq
        assert (await target.load()).seq == more[-1].seq
        with pytest.raises(StoreError):
            await target.put_history(history)  # never over a hall
    finally:
        await target.close()
