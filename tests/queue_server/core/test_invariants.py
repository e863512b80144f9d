"""Random interleavings of every queue action keep the hall's promises.

A hypothesis state machine drives the pure rules across four windows. After every
step: no ticket is held by two windows, none is lost, numbers are gapless per
service, the queues' kept order matches their tickets, and folding the whole event log
from scratch gives the same state (which is what lets another server process, or a
restart, rebuild the hall from events). Every call-next chooses what the reference
rules below (the plain scan of every queue the index replaced) choose. Each step is
decided on a shared fork, undone and redone, as the engine does around a commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from queue_server.core import config, queueing, rules
from queue_server.core.config import Policy, WindowConfig
from queue_server.core.lanes import joined_key, order_key
from queue_server.core.errors import HallError
from queue_server.core.model import AT_WINDOW, Outcome, Priority, Status, Ticket, Window
from queue_server.core.rules import Tx
from queue_server.core.state import HallState

TZ = ZoneInfo("Asia/Shanghai")

HALL = """
[hall]
id = "inv"
name = "不变式大厅"
hours = ["00:00-24:00"]

[[zones]]
id = "z"
name = "区"

[[services]]
id = "a"
zone = "z"
name = "甲"
prefix = "A"

[[services]]
id = "b"
zone = "z"
name = "乙"
prefix = "B"

[[services]]
id = "c"
zone = "z"
name = "丙"
prefix = "C"

[[windows]]
number = 1
zone = "z"
services = ["a", "b"]

[[windows]]
number = 2
zone = "z"
services = ["b", "c"]
prefer_listed = true

[[windows]]
number = 3
zone = "z"
services = ["c"]

[[windows]]
number = 4
zone = "z"
services = ["a", "b", "c"]

[policy]
priority_streak = 2
"""

WINDOWS = st.integers(min_value=1, max_value=4)


# -- the reference rules: call-next by scanning every queue ---------------------------


def reference_candidates(state: HallState, wcfg: WindowConfig) -> list[Ticket]:
    number = wcfg.number
    found: list[Ticket] = []
    for service in wcfg.services:
        found.extend(t for t in state.waiting.get(service, {}).values() if t.pinned_window in (None, number))
    for service, queue in state.waiting.items():
        if service not in wcfg.services:
            found.extend(t for t in queue.values() if t.pinned_window == number)
    return found


def reference_choose(state: HallState, wcfg: WindowConfig, window: Window, policy: Policy) -> Ticket | None:
    found = reference_candidates(state, wcfg)
    if not found:
        return None
    if wcfg.prefer_listed:
        pinned = [t for t in found if t.pinned_window == wcfg.number]
        for service in wcfg.services:
            listed = [t for t in found if t.service == service]
            if listed:
                found = listed + [t for t in pinned if t.service != service]
                break
    priority = [t for t in found if queueing.lane(t) == 0]
    normal = [t for t in found if queueing.lane(t) == 1]
    if priority and (not normal or window.priority_streak < policy.priority_streak):
        return min(priority, key=order_key)
    if normal:
        return min(normal, key=order_key)
    return min(priority, key=order_key)


def reference_head_rank(state: HallState, service: str, now: datetime) -> float:
    return min([t.rank for t in state.waiting.get(service, {}).values()] + [now.timestamp()]) - 1.0


def reference_rank_after(state: HallState, t: Ticket, service: str, k: int, now: datetime) -> float:
    order = sorted(state.waiting.get(service, {}).values(), key=order_key)
    same_lane = [o for o in order if queueing.lane(o) == queueing.lane(t) and o.id != t.id]
    if len(same_lane) <= k:
        return queueing.tail_rank(state, now)
    if k == 0:
        return same_lane[0].rank - 1.0
    return (same_lane[k - 1].rank + same_lane[k].rank) / 2


def _seen(st: HallState) -> tuple:
    """What readers of the committed state see."""
    return (st.seq, dict(st.tickets), {s: dict(q) for s, q in st.waiting.items() if q},
            {s: list(k) for s, k in st.lanes.items() if k}, {s: list(k) for s, k in st.free.items() if k},
            {n: {s: list(k) for s, k in by.items() if k} for n, by in st.pinned.items() if any(by.values())},
            {s: list(k) for s, k in st.joined.items() if k}, dict(st.windows))
SERVICES = st.sampled_from(["a", "b", "c"])


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cfg = config.loads(HALL, store_url="sqlite://unused.db")
        self.st = HallState(self.cfg)
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
        self.log: list = []
        self.issued: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        self.ids: set[str] = set()
        self.n = 0
        # tickets whose place was set by a transfer or requeue, which may overtake on purpose
        self.moved: set[str] = set()
        self.do(rules.roll_day)
        for w in range(1, 5):
            self.do(rules.open_window, w, {"id": f"clerk{w}", "name": f"clerk{w}"})

    def do(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.now += timedelta(seconds=7)
        committed = _seen(self.st)
        work = self.st.fork_shared()
        tx = Tx(work, self.now)
        try:
            result = fn(tx, *args, **kwargs)
        except HallError:
            assert tx.events == [], "a rule failed after emitting events"
            return None
        finally:
            work.undo()
            assert _seen(self.st) == committed, "a fork changed the committed state"
        work.redo()
        self.st = work
        self.log.extend(tx.events)
        return result

    @rule(service=SERVICES, priority=st.sampled_from([Priority.NORMAL, Priority.NORMAL, Priority.GREEN, Priority.APPOINTMENT]))
    def issue(self, service: str, priority: Priority) -> None:
        self.n += 1
        t = self.do(rules.issue, service, token=f"token-{self.n:08d}", priority=priority)
        assert t is not None
        self.issued[service].append(t.seq_no)
        self.ids.add(t.id)

    @rule(window=WINDOWS)
    def call_next(self, window: int) -> None:
        wcfg = self.cfg.windows[window]
        current = self.st.current_ticket(window)
        # What FIFO demands: no untouched ticket of the same queue and lane, issued earlier, stays behind.
        before = reference_candidates(self.st, wcfg)
        assert sorted(t.id for t in queueing.candidates(self.st, wcfg)) == sorted(t.id for t in before)
        assert list(queueing.window_order(self.st, wcfg)) == sorted(before, key=order_key)
        w = self.st.windows[window]
        expected = reference_choose(self.st, wcfg, w, self.cfg.policy)
        assert queueing.choose(self.st, wcfg, w, self.cfg.policy) == expected
        t = self.do(rules.call_next, window)
        if current is None or current.status not in (Status.CALLED, Status.SERVING):
            # (with a ticket at the window, call-next finishes it first, and that may change the queues)
            assert t == (None if expected is None else self.st.tickets[expected.id])
        if t is None:
            if current is None or current.status not in (Status.CALLED, Status.SERVING):
                assert before == [] or self.st.windows[window].status.value != "open"
            return
        if t.id in self.moved:
            return
        lane = queueing.lane(t)
        for other in before:
            if other.id in self.moved or other.id == t.id or other.service != t.service or queueing.lane(other) != lane:
                continue
            assert other.issued_at >= t.issued_at, f"{other.number} waited longer than {t.number} in the same lane"

    @rule(window=WINDOWS)
    def recall(self, window: int) -> None:
        self.do(rules.recall, window)

    @rule(window=WINDOWS)
    def start(self, window: int) -> None:
        self.do(rules.start, window)

    @rule(window=WINDOWS, outcome=st.sampled_from(list(Outcome)))
    def finish(self, window: int, outcome: Outcome) -> None:
        self.do(rules.finish, window, outcome)

    @rule(window=WINDOWS)
    def no_show(self, window: int) -> None:
        self.do(rules.no_show, window)

    @rule(window=WINDOWS)
    def hold(self, window: int) -> None:
        t = self.do(rules.hold, window)
        if t is not None:
            self.moved.add(t.id)

    @rule(window=WINDOWS, data=st.data())
    def call_back(self, window: int, data: st.DataObject) -> None:
        held = sorted(t.id for t in self.st.tickets.values() if t.status is Status.HELD)
        if held:
            self.do(rules.call_back, window, self.st.tickets[data.draw(st.sampled_from(held))])

    @precondition(lambda self: any(t.status is Status.NO_SHOW for t in self.st.tickets.values()))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        missed = sorted(t.id for t in self.st.tickets.values() if t.status is Status.NO_SHOW)
        back = self.st.tickets[data.draw(st.sampled_from(missed))]
        for k in range(4):
            later = self.now + timedelta(seconds=7)
            assert queueing.rank_after(self.st, back, back.service, k, later) == reference_rank_after(
                self.st, back, back.service, k, later)
        t = self.do(rules.requeue, back)
        if t is not None:
            self.moved.add(t.id)

    @rule(window=WINDOWS, service=SERVICES, head=st.booleans())
    def transfer_to_service(self, window: int, service: str, head: bool) -> None:
        later = self.now + timedelta(seconds=7)
        assert queueing.head_rank(self.st, service, later) == reference_head_rank(self.st, service, later)
        t = self.do(rules.transfer, window, service=service, head=head)
        if t is not None:
            self.moved.add(t.id)

    @rule(window=WINDOWS, to_window=WINDOWS)
    def transfer_to_window(self, window: int, to_window: int) -> None:
        t = self.do(rules.transfer, window, to_window=to_window)
        if t is not None:
            self.moved.add(t.id)

    @precondition(lambda self: any(t.status is Status.WAITING for t in self.st.tickets.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        waiting = sorted(t.id for t in self.st.tickets.values() if t.status is Status.WAITING)
        self.do(rules.cancel, self.st.tickets[data.draw(st.sampled_from(waiting))])

    @rule(window=WINDOWS)
    def close_and_reopen(self, window: int) -> None:
        if self.do(rules.close_window, window) is not None:
            self.do(rules.open_window, window, {"id": f"clerk{window}", "name": f"clerk{window}"})

    @rule(window=WINDOWS, reason=st.sampled_from(["rest", "meeting"]))
    def pause_resume(self, window: int, reason: str) -> None:
        self.do(rules.pause_window, window, reason)
        self.do(rules.resume_window, window)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def no_ticket_at_two_windows(self) -> None:
        at = [w.current for w in self.st.windows.values() if w.current]
        assert len(at) == len(set(at))
        for w in self.st.windows.values():
            if w.current:
                t = self.st.tickets[w.current]
                assert t.status in (Status.CALLED, Status.SERVING) and t.window == w.number
        for t in self.st.tickets.values():
            if t.status in (Status.CALLED, Status.SERVING):
                assert self.st.windows[t.window].current == t.id

    @invariant()
    def no_ticket_lost(self) -> None:
        assert set(self.st.tickets) == self.ids
        waiting = {t.id for t in self.st.tickets.values() if t.status is Status.WAITING}
        indexed = {tid for q in self.st.waiting.values() for tid in q}
        assert waiting == indexed
        for t in self.st.tickets.values():
            if t.status in AT_WINDOW and t.status is not Status.HELD:
                assert t.window is not None

    @invariant()
    def derived_counters_match_the_queues(self) -> None:
        for service, queue in self.st.waiting.items():
            priority = sum(1 for t in queue.values() if t.priority is not Priority.NORMAL)
            assert self.st.priority_waiting.get(service, 0) == priority
            first = self.st.oldest_waiting(service)
            if queue:
                assert first is not None and first.queued_at == min(t.queued_at for t in queue.values())

    @invariant()
    def the_kept_order_matches_the_queues(self) -> None:
        waiting = [t for q in self.st.waiting.values() for t in q.values()]
        for service in self.cfg.services:
            mine = [t for t in waiting if t.service == service]
            assert list(self.st.lanes.get(service, ())) == sorted(order_key(t) for t in mine)
            assert list(self.st.joined.get(service, ())) == sorted(joined_key(t) for t in mine)
            assert list(self.st.free.get(service, ())) == sorted(order_key(t) for t in mine if t.pinned_window is None)
            for n in self.cfg.windows:
                assert list(self.st.pinned.get(n, {}).get(service, ())) == sorted(
                    order_key(t) for t in mine if t.pinned_window == n)
            assert [queueing.ahead_of(self.st, t) for t in queueing.queue_order(self.st, service)] == list(range(len(mine)))

    @invariant()
    def staffed_counts_match_the_windows(self) -> None:
        for service in self.cfg.services:
            open_ = sum(1 for n in self.cfg.windows_serving(service) if self.st.windows[n].status.value != "closed")
            assert self.st.staffed_windows(service) == open_

    @invariant()
    def numbers_are_gapless(self) -> None:
        for service, numbers in self.issued.items():
            assert numbers == list(range(1, len(numbers) + 1))

    @invariant()
    def sequence_is_gapless(self) -> None:
        assert [e.seq for e in self.log] == list(range(1, len(self.log) + 1))

    def teardown(self) -> None:
        rebuilt = HallState(self.cfg)
        for event in self.log:
            rebuilt.apply(event)
        assert rebuilt.tickets == self.st.tickets
        assert rebuilt.windows == self.st.windows
        assert rebuilt.counters == self.st.counters
        assert {k: v for k, v in rebuilt.priority_waiting.items() if v} == {k: v for k, v in self.st.priority_waiting.items() if v}
        assert {s: set(q) for s, q in rebuilt.waiting.items()} == {s: set(q) for s, q in self.st.waiting.items()}
        assert _seen(rebuilt) == _seen(self.st)


QueueMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_queue_invariants = QueueMachine.TestCase
