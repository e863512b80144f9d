"""The queue's rules, called directly: no store, no server, a clock passed in."""

from __future__ import annotations

import math
from typing import Any

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from queue_server.core import config, queueing, rules
from queue_server.core.errors import Conflict, IllegalTransition, Invalid, NotFound
from queue_server.core.model import Channel, Outcome, Priority, Status, VisitEnd, WindowStatus
from queue_server.core.rules import Tx
from queue_server.core.state import HallState

TZ = ZoneInfo("Asia/Shanghai")
NINE = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)


SMALL_HALL = """
[hall]
id = "t"
name = "测试大厅"
hours = ["08:30-12:00", "14:30-17:30"]

[[zones]]
id = "z"
name = "综合区"

[[services]]
id = "a"
zone = "z"
name = "甲业务"
prefix = "A"
daily_limit = 5
handling_minutes = 10

[[services]]
id = "b"
zone = "z"
name = "乙业务"
prefix = "B"

[[services]]
id = "s"
zone = "z"
name = "我要开超市"
prefix = "S"
bundle = ["a", "b"]

[[windows]]
number = 1
zone = "z"
services = ["a", "b"]

[[windows]]
number = 2
zone = "z"
services = ["b", "a"]
prefer_listed = true

[[windows]]
number = 3
zone = "z"
services = ["s", "a"]

[policy]
priority_streak = 2
"""


class Hall:
    """The pure state plus a clock, for tests."""

    def __init__(self, text: str = SMALL_HALL, now: datetime = NINE) -> None:
        self.cfg = config.loads(text, store_url="sqlite://unused.db")
        self.st = HallState(self.cfg)
        self.now = now
        self.n = 0
        self.do(rules.roll_day)

    def do(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        tx = Tx(self.st, self.now, "test")
        result = fn(tx, *args, **kwargs)
        self.last_events = tx.events
        return result

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def issue(self, service: str = "a", priority: Priority = Priority.NORMAL, *, staff: bool = False):  # type: ignore[no-untyped-def]
        self.n += 1
        self.tick()
        return self.do(rules.issue, service, token=f"tok{self.n:06d}", priority=priority, staff=staff)

    def open(self, *numbers: int) -> None:
        for n in numbers:
            self.do(rules.open_window, n, {"id": f"clerk{n}", "name": f"clerk {n}"})

    def call(self, window: int):  # type: ignore[no-untyped-def]
        """What a clerk does: finish the ticket at the window, if any, then call the next."""
        self.tick()
        current = self.st.current_ticket(window)
        if current is not None and current.status in (Status.CALLED, Status.SERVING):
            self.do(rules.finish, window)
        return self.do(rules.call_next, window)


def test_numbers_count_up_per_service_and_reset_each_day() -> None:
    h = Hall()
    assert [h.issue("a").number for _ in range(3)] == ["A001", "A002", "A003"]
    assert h.issue("b").number == "B001"
    h.now = NINE + timedelta(days=1)
    h.do(rules.roll_day)
    t = h.issue("a")
    assert (t.number, t.day, t.id) == ("A001", "2026-12-02", "20261202-A001")


def test_daily_limit_answers_tickets_exhausted() -> None:
    h = Hall()
    for _ in range(5):
        h.issue("a")
    with pytest.raises(Conflict) as err:
        h.issue("a")
    assert err.value.code == "tickets_exhausted"
    assert h.st.counters["a"] == 5  # the refused ticket took no number


@pytest.mark.parametrize("hour,minute", [(7, 59), (12, 0), (13, 0), (17, 30), (22, 0)])
def test_kiosks_cannot_issue_outside_hours_but_staff_can(hour: int, minute: int) -> None:
    h = Hall(now=NINE.replace(hour=hour, minute=minute))
    with pytest.raises(Conflict) as err:
        h.issue("a")
    assert err.value.code == "hall_closed"
    assert h.issue("a", staff=True).number == "A001"


def test_unknown_service_is_not_found() -> None:
    h = Hall()
    with pytest.raises(NotFound) as err:
        h.issue("nope")
    assert err.value.code == "service_unknown"


def test_a_window_calls_oldest_first_across_its_services() -> None:
    h = Hall()
    h.open(1)
    b1 = h.issue("b")
    a1 = h.issue("a")
    b2 = h.issue("b")
    assert [h.call(1).number for _ in range(3)] == [b1.number, a1.number, b2.number]
    assert h.call(1) is None


def test_prefer_listed_window_takes_its_first_service_first() -> None:
    h = Hall()
    h.open(2)  # serves b then a, strictly in that order
    h.issue("a")
    h.issue("a")
    b1 = h.issue("b")
    assert h.call(2).number == b1.number
    assert h.call(2).number == "A001"


def test_priority_goes_first_but_normal_tickets_never_starve() -> None:
    h = Hall()
    h.open(1)
    normal = [h.issue("a") for _ in range(2)]
    green = [h.issue("a", Priority.GREEN) for _ in range(3)]
    called = [h.call(1).number for _ in range(5)]
    # priority_streak = 2: two priority calls, then a normal one, then priority again
    assert called == [green[0].number, green[1].number, normal[0].number, green[2].number, normal[1].number]


def test_zero_streak_means_no_priority_lane() -> None:
    h = Hall(SMALL_HALL.replace("priority_streak = 2", "priority_streak = 0"))
    h.open(1)
    n = h.issue("a")
    h.issue("a", Priority.APPOINTMENT)
    assert h.call(1).number == n.number


def test_a_bundle_is_called_only_by_windows_that_serve_it() -> None:
    h = Hall()
    h.open(1, 3)
    bundle = h.issue("s")
    assert h.call(1) is None
    assert h.call(3).number == bundle.number


def test_lifecycle_happy_path_records_a_visit_and_asks_for_a_rating() -> None:
    h = Hall()
    h.open(1)
    t = h.issue("a")
    h.call(1)
    h.tick(30)
    started = h.do(rules.start, 1)
    assert started.status is Status.SERVING
    h.tick(600)
    done = h.do(rules.finish, 1, Outcome.PENDING_MATERIALS)
    assert (done.status, done.outcome) == (Status.DONE, Outcome.PENDING_MATERIALS)
    names = [e.name for e in h.last_events]
    assert names == ["ticket.finished", "evaluation.requested"]
    visit = h.last_events[0].visit
    assert visit is not None and visit.handling_seconds == 600 and visit.end is VisitEnd.FINISHED
    assert h.st.windows[1].current is None
    ev = h.do(rules.evaluate, h.st.ticket(t.id), 2, ["attitude"], "等太久")
    assert (ev.level, ev.window, ev.clerk, ev.reasons) == (2, 1, "clerk1", ("attitude",))
    assert h.st.ticket(t.id).rating == 2


def test_illegal_transitions_are_typed_errors() -> None:
    h = Hall()
    h.open(1)
    with pytest.raises(Conflict) as err:
        h.do(rules.finish, 1)
    assert err.value.code == "no_current_ticket"
    t = h.issue("a")
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.ticket(t.id), 5)
    assert err.value.code == "not_finished"
    h.call(1)
    h.do(rules.start, 1)
    with pytest.raises(IllegalTransition):
        h.do(rules.start, 1)
    with pytest.raises(IllegalTransition):
        h.do(rules.no_show, 1)
    with pytest.raises(IllegalTransition):
        h.do(rules.cancel, h.st.ticket(t.id))
    with pytest.raises(Conflict) as err:
        h.do(rules.call_next, 2)
    assert err.value.code == "window_closed"


def test_recall_is_bounded() -> None:
    h = Hall()
    h.open(1)
    h.issue("a")
    h.call(1)
    for n in range(1, 4):
        assert h.do(rules.recall, 1).recalls == n
    with pytest.raises(Conflict) as err:
        h.do(rules.recall, 1)
    assert err.value.code == "recall_limit"


def test_ratings_need_a_reason_when_bad_and_happen_once() -> None:
    h = Hall()
    h.open(1)
    t = h.issue("a")
    h.call(1)
    h.do(rules.finish, 1)
    with pytest.raises(Invalid) as err:
        h.do(rules.evaluate, h.st.ticket(t.id), 1)
    assert err.value.code == "reason_required"
    with pytest.raises(Invalid):
        h.do(rules.evaluate, h.st.ticket(t.id), 6)
    h.do(rules.evaluate, h.st.ticket(t.id), 4)
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.ticket(t.id), 5)
    assert err.value.code == "already_rated"


def test_call_next_from_a_console_never_finishes_the_ticket_at_the_window() -> None:
    h = Hall()
    h.open(1)
    first = h.issue("a")
    h.issue("a")
    h.call(1)
    seq = h.st.seq
    with pytest.raises(Conflict) as err:
        h.do(rules.call_next, 1)
    assert err.value.code == "ticket_in_progress"
    assert h.st.seq == seq and h.st.ticket(first.id).status is Status.CALLED


def test_the_next_key_closes_the_ticket_at_the_window_and_the_visit_says_so() -> None:
    h = Hall()
    h.open(1)
    started, unstarted, third = h.issue("a"), h.issue("a"), h.issue("a")
    h.call(1)
    h.do(rules.start, 1)
    h.tick(60)
    h.do(rules.call_next, 1, closes_current=True)
    assert [e.name for e in h.last_events] == ["ticket.finished", "evaluation.requested", "ticket.called"]
    visit = h.last_events[0].visit
    assert (visit.closed_by, visit.closed, visit.outcome) == ("next", "next", Outcome.DONE)
    assert h.st.ticket(started.id).outcome is Outcome.DONE
    h.tick(60)
    assert h.do(rules.call_next, 1, closes_current=True).number == third.number
    # Never started: closed without an outcome, not served, and nobody is asked for a rating.
    assert [e.name for e in h.last_events] == ["ticket.finished", "ticket.called"]
    visit = h.last_events[0].visit
    assert (visit.closed_by, visit.closed, visit.outcome, visit.started_at) == ("next", "unstarted", None, None)
    closed = h.st.ticket(unstarted.id)
    assert (closed.status, closed.outcome) == (Status.DONE, None)
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, closed, 5)
    assert err.value.code == "not_served"


def test_expect_refuses_an_action_decided_on_an_old_view_without_effect() -> None:
    h = Hall()
    h.open(1)
    a, b = h.issue("a"), h.issue("a")
    h.do(rules.expect_current, 1, None)  # nobody at the window: as expected
    h.call(1)
    h.do(rules.expect_current, 1, a.number)
    h.do(rules.expect_current, 1, a.id)
    for stale in (None, b.number):
        with pytest.raises(Conflict) as err:
            h.do(rules.expect_current, 1, stale)
        assert err.value.code == "expect_mismatch"
    h.do(rules.finish, 1)
    with pytest.raises(Conflict):
        h.do(rules.expect_current, 1, a.number)  # finished meanwhile: a second finish click is refused


def test_a_chosen_ticket_is_called_out_of_turn_with_a_reason() -> None:
    h = Hall()
    h.open(1, 2)
    first, chosen = h.issue("a"), h.issue("b")
    with pytest.raises(Invalid):
        h.do(rules.call_ticket, 1, h.st.ticket(chosen.id), "  ")
    called = h.do(rules.call_ticket, 1, h.st.ticket(chosen.id), "老人行动不便")
    assert (called.status, called.window) == (Status.CALLED, 1)
    assert h.last_events[0].extra["chosen"] is True and h.last_events[0].extra["reason"] == "老人行动不便"
    with pytest.raises(Conflict) as err:  # still at window 1: give its outcome first
        h.do(rules.call_ticket, 1, h.st.ticket(first.id), "再点一个")
    assert err.value.code == "ticket_in_progress"
    with pytest.raises(IllegalTransition):
        h.do(rules.call_ticket, 2, h.st.ticket(chosen.id), "已被叫走")
    h.do(rules.finish, 1)
    assert h.call(1).number == first.number


def test_a_window_may_not_pick_a_ticket_it_does_not_serve() -> None:
    h = Hall()
    h.open(1, 3)
    t = h.issue("s")  # the bundle: window 3 serves it, window 1 does not
    with pytest.raises(Conflict) as err:
        h.do(rules.call_ticket, 1, h.st.ticket(t.id), "点错了")
    assert err.value.code == "not_served_here"
    assert h.do(rules.call_ticket, 3, h.st.ticket(t.id), "一件事").window == 3


def test_transfer_to_a_service_keeps_number_and_priority_and_goes_to_the_head() -> None:
    h = Hall()
    h.open(1, 2)
    t = h.issue("a", Priority.GREEN)
    waiting_b = [h.issue("b") for _ in range(3)]
    h.call(1)
    moved = h.do(rules.transfer, 1, service="b")
    assert (moved.number, moved.priority, moved.service, moved.status) == (t.number, Priority.GREEN, "b", Status.WAITING)
    assert queueing.queue_order(h.st, "b")[0].id == t.id
    assert h.last_events[0].visit.end is VisitEnd.TRANSFERRED
    assert h.call(2).number == t.number
    assert h.st.ticket(t.id).visits == 2
    assert h.call(2).number == waiting_b[0].number


def test_transfer_at_the_tail_when_asked() -> None:
    h = Hall()
    h.open(1)
    h.issue("a")
    h.issue("b")
    h.call(1)
    moved = h.do(rules.transfer, 1, service="b", head=False)
    assert [t.id for t in queueing.queue_order(h.st, "b")][-1] == moved.id


def test_transfer_to_a_window_is_called_only_there() -> None:
    h = Hall()
    h.open(1, 2, 3)
    t = h.issue("b")
    h.call(2)
    h.do(rules.transfer, 2, to_window=3)  # window 3 does not list service b
    assert h.call(1) is None
    assert h.call(3).number == t.number


def test_no_show_then_requeue_after_k_tickets() -> None:
    h = Hall()
    h.open(1)
    t = h.issue("b")
    others = [h.issue("b") for _ in range(5)]
    h.call(1)
    missed = h.do(rules.no_show, 1)
    assert missed.status is Status.NO_SHOW and h.st.windows[1].current is None
    back = h.do(rules.requeue, h.st.ticket(t.id))
    assert queueing.ahead_of(h.st, back) == 3  # requeue_after = 3
    assert [h.call(1).number for _ in range(4)] == [o.number for o in others[:3]] + [t.number]


def test_requeue_with_few_waiting_goes_to_the_tail() -> None:
    h = Hall()
    h.open(1)
    t = h.issue("b")
    other = h.issue("b")
    h.call(1)
    h.do(rules.no_show, 1)
    h.do(rules.requeue, h.st.ticket(t.id))
    assert [x.id for x in queueing.queue_order(h.st, "b")] == [other.id, t.id]


def test_hold_parks_a_ticket_and_call_back_brings_it_back() -> None:
    h = Hall()
    h.open(1)
    t = h.issue("a")
    nxt = h.issue("a")
    h.call(1)
    held = h.do(rules.hold, 1)
    assert held.status is Status.HELD and held.pinned_window == 1
    assert h.call(1).number == nxt.number  # a held ticket is not called by call-next
    with pytest.raises(Conflict):  # the clerk gives the outcome of the ticket at the window first
        h.do(rules.call_back, 1, h.st.ticket(t.id))
    h.do(rules.finish, 1)
    back = h.do(rules.call_back, 1, h.st.ticket(t.id))
    assert back.status is Status.CALLED and back.visits == 2


def test_cancel_leaves_the_queue() -> None:
    h = Hall()
    t = h.issue("a")
    h.do(rules.cancel, h.st.ticket(t.id))
    assert h.st.waiting["a"] == {}
    assert h.st.ticket(t.id).status is Status.CANCELLED


def test_day_end_expires_open_tickets_and_closes_windows() -> None:
    h = Hall()
    h.open(1)
    missed = h.issue("a")
    h.call(1)
    h.do(rules.no_show, 1)
    called = h.issue("a")
    waiting = h.issue("b")
    assert h.call(1).number == called.number
    h.now = datetime(2026, 12, 2, 0, 0, 5, tzinfo=TZ)
    assert h.do(rules.roll_day) is True
    names = [e.name for e in h.last_events]
    assert names.count("ticket.expired") == 2 and names[-2:] == ["window.closed", "day.started"]
    expired = {e.ticket.number: e for e in h.last_events if e.name == "ticket.expired"}
    assert expired[waiting.number].ticket.status is Status.EXPIRED
    assert expired[called.number].visit.end is VisitEnd.EXPIRED
    assert missed.number not in expired  # 过号 and 过期 are distinct: a no-show is not expired again
    assert h.st.windows[1].status is WindowStatus.CLOSED
    assert h.st.tickets == {} and h.st.day == "2026-12-02"


def test_window_status_transitions() -> None:
    h = Hall()
    h.open(1)
    with pytest.raises(Conflict) as err:
        h.do(rules.open_window, 1, {"id": "someone-else", "name": "李四"})
    assert err.value.code == "window_busy"
    with pytest.raises(Conflict) as err:
        h.do(rules.open_window, 2, {"id": "clerk1", "name": "clerk 1"})
    assert err.value.code == "clerk_busy"
    h.do(rules.pause_window, 1, "meeting")
    with pytest.raises(Conflict) as err:
        h.call(1)
    assert err.value.code == "window_paused"
    h.do(rules.resume_window, 1)
    h.issue("a")
    h.call(1)
    with pytest.raises(Conflict) as err:
        h.do(rules.close_window, 1)
    assert err.value.code == "ticket_in_progress"
    h.do(rules.finish, 1)
    assert h.do(rules.close_window, 1).status is WindowStatus.CLOSED


def test_ahead_and_eta_follow_queue_and_open_windows() -> None:
    h = Hall()
    tickets = [h.issue("a") for _ in range(4)]
    last = h.st.ticket(tickets[-1].id)
    assert queueing.ahead_of(h.st, last) == 3
    # No window signed in: nobody serves it, so no wait is promised.
    assert queueing.eta_minutes(h.st, "a", 3) is None
    h.open(1)
    assert queueing.eta_minutes(h.st, "a", 3) == 30  # one idle window: called after three visits of the 10-minute prior
    h.open(2)
    assert queueing.eta_minutes(h.st, "a", 0) == 0
    assert queueing.eta_minutes(h.st, "a", 3) == 10  # two windows take them two by two
    h.do(rules.pause_window, 2, "rest")
    # A pause is a break, not an absence: window 2 is back after a few minutes and takes every other ticket.
    assert queueing.eta_minutes(h.st, "a", 3) == round(10 + queueing.PAUSE_LEFT / 60)
    h.do(rules.close_window, 1)
    h.do(rules.close_window, 2)
    assert queueing.eta_minutes(h.st, "a", 0) is None


def test_a_ticket_nobody_serves_warns_on_its_slip_or_is_refused() -> None:
    lunch = Hall(SMALL_HALL.replace("priority_streak = 2", "priority_streak = 2\nissue_outside_hours = true"),
                 now=NINE.replace(hour=12, minute=10))
    lunch.do(rules.issue, "a", token="tok-2", print_to="k1")
    [printed] = [e for e in lunch.last_events if e.name == "print.requested"]
    assert printed.extra == {"kiosk": "k1", "ahead": 0, "eta_minutes": None, "no_window": True, "opens_at": "14:30", "by": "test"}
    strict = Hall(SMALL_HALL.replace("priority_streak = 2", "priority_streak = 2\nissue_without_window = false"))
    with pytest.raises(Conflict) as err:
        strict.issue("a")
    assert err.value.code == "no_window"
    assert strict.do(rules.issue, "a", token="tok-3", staff=True).number == "A001"  # staff always may
    strict.open(1)
    assert strict.issue("a").number == "A002"


def test_next_opening_is_the_start_of_the_next_span_between_spans() -> None:
    from datetime import time

    from queue_server.core.clock import next_opening

    hours = ((time(8, 30), time(12, 0)), (time(14, 30), time(17, 30)))
    at = lambda hh, mm: NINE.replace(hour=hh, minute=mm)  # noqa: E731
    assert next_opening(at(7, 50), TZ, hours) == time(8, 30)
    assert next_opening(at(10, 0), TZ, hours) is None
    assert next_opening(at(12, 0), TZ, hours) == time(14, 30)
    assert next_opening(at(18, 0), TZ, hours) is None


def test_the_eta_counts_the_other_queues_its_windows_serve_first() -> None:
    """Window 1 serves a and b, oldest first: two b citizens ahead delay an a citizen as much as two a's."""
    h = Hall()
    h.open(1)
    h.issue("b")
    h.issue("b")
    handling_b = queueing.mean_handling(h.st, "b")
    assert queueing.eta_minutes(h.st, "a", 0) == math.floor(2 * handling_b / 60 + 0.5)
    a = h.issue("a")
    called = h.call(1)
    assert called.service == "b"  # the b citizens came first and are called first
    # Window 2 opens and takes the other b citizen; the a citizen goes to window 1 once its b citizen is served.
    h.open(2)
    ahead = queueing.ahead_of(h.st, h.st.ticket(a.id))
    assert ahead == 0
    assert queueing.eta_minutes(h.st, "a", 0) == math.floor(handling_b / 2 / 60 + 0.5)  # half way through, on average
    # Knowing the time, the model counts what is left of the visit under way.
    h.tick(4 * 60)
    elapsed = (h.now - called.called_at).total_seconds()
    assert queueing.eta_minutes(h.st, "a", 0, h.now) == math.floor((handling_b - elapsed) / 60 + 0.5)


def test_priority_tickets_coming_in_stretch_a_normal_wait_but_not_a_priority_one() -> None:
    h = Hall()
    h.open(1)
    for _ in range(3):
        h.issue("a")
    calm = queueing.eta_minutes(h.st, "a", 3, h.now)
    assert calm == 30
    h.issue("a", Priority.GREEN)  # one priority citizen in the last hour: more will come
    green = h.call(1)  # and is called at once
    ahead = queueing.tail_ahead(h.st, "a", Priority.NORMAL)
    handling = queueing.mean_handling(h.st, "a")
    left = handling - (h.now - green.called_at).total_seconds()
    load = 0.5 * handling / 3600  # half the fluid share of one such visit an hour on one window
    assert queueing.eta_minutes(h.st, "a", ahead, h.now) == math.floor((left + 3 * handling) / (1 - load) / 60 + 0.5)
    # A priority ticket taken now is only behind those already waiting in its lane.
    assert queueing.eta_minutes(h.st, "a", queueing.tail_ahead(h.st, "a", Priority.GREEN), h.now) < calm


def test_citizens_who_do_not_come_shorten_the_wait_behind_them() -> None:
    h = Hall()
    h.open(1)
    for _ in range(5):
        h.issue("a")
    handling = queueing.mean_handling(h.st, "a")
    assert queueing.visit_seconds(h.st, "a") == handling  # nobody has missed a call yet
    h.call(1)
    h.tick(60)  # called, recalled, not there: a minute of the window's time
    h.do(rules.no_show, 1)
    share = 1 / (1 + queueing.NO_SHOW_PRIOR)
    assert queueing.visit_seconds(h.st, "a") == pytest.approx((1 - share) * handling + share * 60)
    assert queueing.eta_minutes(h.st, "a", 3) == math.floor(3 * queueing.visit_seconds(h.st, "a") / 60 + 0.5)


def test_where_clerks_leave_at_noon_a_wait_across_lunch_counts_the_break() -> None:
    strict = SMALL_HALL.replace("priority_streak = 2", "priority_streak = 2\nserve_through_breaks = false")
    for text, second, fourth in ((SMALL_HALL, 10, 30), (strict, 160, 180)):
        h = Hall(text, now=NINE.replace(hour=11, minute=49, second=50))
        h.open(1)
        for _ in range(4):
            h.issue("a")  # 11:49:51 … 11:49:54
        h.now = NINE.replace(hour=11, minute=50)
        # An idle window calls the first now, the second at 12:00 and, with the break, at 14:30.
        assert queueing.eta_minutes(h.st, "a", 1, h.now) == second
        assert queueing.eta_minutes(h.st, "a", 3, h.now) == fourth
        assert queueing.eta_minutes(h.st, "a", 3) == 30  # without the time, no break is known


def test_a_long_wait_is_shown_as_a_span() -> None:
    assert queueing.eta_range(None) is None and queueing.eta_range(9) is None  # short: one figure
    assert queueing.eta_range(20) == (15, 25)
    assert queueing.eta_range(12) == (10, 15)
    assert queueing.eta_range(45) == (35, 55)


def test_recent_handling_times_move_the_eta() -> None:
    h = Hall()
    h.open(1)
    for _ in range(5):  # the daily limit of "a"
        h.issue("a")
    for _ in range(4):
        h.call(1)
        h.tick(120)  # two-minute services, far quicker than the 10-minute prior
    h.do(rules.finish, 1)
    assert len(h.st.handling["a"]) == 4
    assert queueing.mean_handling(h.st, "a") == pytest.approx((4 * 120 + 2 * 600) / 6, abs=2)


def test_a_visit_under_way_is_expected_to_last_as_the_longer_recent_ones_did() -> None:
    h = Hall()
    h.open(1)
    for _ in range(5):  # the daily limit of "a"
        h.issue("a")
    for seconds in (120, 120, 600, 600):  # quick visits and long ones
        h.call(1)
        h.tick(seconds)
    h.call(1)
    h.tick(300)  # five minutes into a visit: not a quick one, so likely a long one
    mean = queueing.mean_handling(h.st, "a")
    assert mean == pytest.approx((2 * 120 + 2 * 600 + 2 * 600) / 6, abs=2)
    guess = max(mean - 300, mean / 4)  # the mean less the time gone: 2 minutes
    left = (2 * (600 - 300) + 2 * guess) / (2 + 2)  # the two long visits went on for 5 more minutes
    assert queueing.remaining(h.st, "a", 300) == pytest.approx(left, abs=2)
    assert queueing.eta_minutes(h.st, "a", 0, h.now) == math.floor(left / 60 + 0.5) == 4
    # Past every recent visit, only the smoothed guess is left: a quarter of the mean.
    assert queueing.remaining(h.st, "a", 900) == pytest.approx(mean / 4)


def test_green_ticket_counts_only_priority_ahead() -> None:
    h = Hall()
    for _ in range(3):
        h.issue("a")
    h.issue("a", Priority.GREEN)
    g = h.issue("a", Priority.GREEN)
    assert queueing.ahead_of(h.st, h.st.ticket(g.id)) == 1
    assert queueing.tail_ahead(h.st, "a", Priority.GREEN) == 2


def test_issue_with_a_known_request_id_returns_the_same_ticket() -> None:
    h = Hall()
    first = h.do(rules.issue, "a", token="t1", request_id="kiosk-1-0001")
    again = h.do(rules.issue, "a", token="t2", request_id="kiosk-1-0001")
    assert again.id == first.id and h.last_events == []


@pytest.mark.parametrize("change", [{"service": "b"}, {"channel": Channel.PHONE}, {"priority": Priority.GREEN}])
def test_a_known_request_id_with_another_body_is_refused(change: dict[str, Any]) -> None:
    h = Hall()
    h.do(rules.issue, "a", token="t1", request_id="kiosk-1-0001")
    args = {"service": "a", **change}
    with pytest.raises(Invalid) as err:
        h.do(rules.issue, args.pop("service"), token="t2", request_id="kiosk-1-0001", **args)
    assert err.value.code == "idempotency_mismatch" and len(h.st.tickets) == 1


def test_channels_and_kiosk_print_job() -> None:
    h = Hall()
    h.do(rules.issue, "a", token="t1", channel=Channel.PHONE, print_to="k1")
    assert [e.name for e in h.last_events] == ["ticket.issued", "print.requested"]
    job = h.last_events[1]
    assert job.extra["kiosk"] == "k1" and job.ticket.token == "t1" and job.extra["ahead"] == 0


def test_reprint_goes_to_the_ticket_kiosk_with_its_place_now() -> None:
    h = Hall()
    h.issue("a")
    t = h.do(rules.issue, "a", token="t2", print_to="k1")
    assert t.kiosk == "k1"
    h.open(1)
    h.call(1)  # the ticket ahead is called: one fewer ahead than when first printed
    h.do(rules.reprint, h.st.ticket(t.id))
    (job,) = h.last_events
    assert job.name == "print.requested" and job.extra["reprint"] is True
    assert (job.extra["kiosk"], job.extra["ahead"], job.ticket.token) == ("k1", 0, "t2")
    h.do(rules.reprint, h.st.ticket(t.id), "k3")
    assert h.last_events[0].extra["kiosk"] == "k3"


def test_reprint_needs_a_kiosk_and_a_ticket_still_to_be_called() -> None:
    h = Hall()
    staff = h.issue("a", staff=True)
    with pytest.raises(Invalid) as err:
        h.do(rules.reprint, staff)
    assert err.value.code == "kiosk_required"
    h.open(1)
    called = h.call(1)
    with pytest.raises(IllegalTransition):
        h.do(rules.reprint, called, "k1")
    h.do(rules.no_show, 1)
    h.do(rules.reprint, h.st.ticket(staff.id), "k1")  # a missed citizen may be back for a new slip
    assert h.last_events[0].extra["ahead"] == 0


def test_extra_data_cannot_shadow_a_record() -> None:
    h = Hall()
    tx = Tx(h.st, h.now)
    with pytest.raises(ValueError, match="record key"):
        tx.emit("case.opened", extra={"window": 3})
    assert tx.events == []


def _keys(by: dict) -> dict:
    return {name: list(keys) for name, keys in by.items() if keys}


def _view(st: HallState) -> tuple:
    """Everything a reader can see of the day, in iteration order (a queue's map has none: its order is kept apart)."""
    return (st.seq, list(st.tickets.items()), list(st.by_token.items()), list(st.by_number.items()),
            list(st.by_request.items()), {s: dict(q) for s, q in st.waiting.items() if q},
            _keys(st.lanes), _keys(st.free), _keys(st.joined), {n: _keys(by) for n, by in st.pinned.items() if _keys(by)},
            dict(st.windows), dict(st.priority_waiting), dict(st.counters), st.max_rank)


def test_a_shared_fork_leaves_the_committed_state_untouched_until_redone() -> None:
    h = Hall()
    h.open(1, 2)
    for n in range(6):
        h.issue("a" if n % 2 else "b", Priority.GREEN if n == 3 else Priority.NORMAL)
    h.call(1)
    committed = h.st
    before = _view(committed)
    full = committed.fork()  # the plain copy: what the batch must end as

    work = committed.fork_shared()
    for st in (full, work):
        h.st = st
        h.now = NINE + timedelta(minutes=5)
        h.do(rules.issue, "a", token="new-1", request_id="kiosk-1-0042")
        missed = h.do(rules.no_show, 1)
        h.do(rules.call_next, 1)
        h.do(rules.transfer, 1, service="a" if st.current_ticket(1).service == "b" else "b")
        h.do(rules.call_next, 2)
        h.do(rules.requeue, st.ticket(missed.id))
    work.undo()
    assert _view(committed) == before  # readers during the commit see only what is committed
    work.undo()  # a second undo changes nothing
    assert _view(committed) == before
    work.redo()
    assert _view(work) == _view(full)
    assert work.journal is None and work.undone is None


def test_a_day_change_in_a_shared_fork_does_not_clear_the_committed_day() -> None:
    h = Hall()
    h.issue("a")
    committed = h.st
    before = _view(committed)
    work = committed.fork_shared()
    h.st, h.now = work, NINE + timedelta(days=1)
    h.do(rules.roll_day)
    assert work.day == "2026-12-02" and not work.tickets
    work.undo()
    assert _view(committed) == before
    work.redo()
    assert work.day == "2026-12-02" and not work.tickets and not any(work.waiting.values())
