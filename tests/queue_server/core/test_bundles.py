"""Bundles (一件事) with parts: routed from window to window, or served whole at one window."""

from __future__ import annotations

import pytest

from queue_server.core import bundles, config, rules
from queue_server.core.errors import Conflict, Invalid
from queue_server.core.model import Outcome, Priority, Status, VisitEnd

from .test_rules import Hall  # type: ignore[import-not-found]

BUNDLE_HALL = """
[hall]
id = "t"
name = "测试大厅"
hours = ["08:30-12:00", "14:30-17:30"]

[[zones]]
id = "z"
name = "企业开办专区"

[[services]]
id = "licence"
zone = "z"
name = "营业执照"
prefix = "A"

[[services]]
id = "tax"
zone = "z"
name = "税务登记"
prefix = "C"

[[services]]
id = "seals"
zone = "z"
name = "刻制印章"
prefix = "D"

[[services]]
id = "food"
zone = "z"
name = "食品经营许可"
prefix = "F"

[[services]]
id = "shop"
zone = "z"
name = "我要开超市"
prefix = "S"
bundle = ["licence", "food", "tax", "seals"]
mode = "route"
route = ["licence", ["tax", "seals"], "food"]
materials = 9

[[services]]
id = "startup"
zone = "z"
name = "企业开办"
prefix = "K"
bundle = ["licence", "tax", "seals"]
mode = "one-window"

[[windows]]
number = 1
zone = "z"
services = ["licence"]

[[windows]]
number = 2
zone = "z"
services = ["tax"]

[[windows]]
number = 3
zone = "z"
services = ["seals"]

[[windows]]
number = 4
zone = "z"
services = ["food"]

[[windows]]
number = 5
zone = "z"
services = ["startup"]

[[windows]]
number = 6
zone = "z"
services = ["startup", "tax"]
"""


def hall() -> Hall:
    h = Hall(BUNDLE_HALL)
    h.open(1, 2, 3, 4, 5, 6)
    return h


def serve(h: Hall, window: int, outcome: Outcome = Outcome.DONE):  # type: ignore[no-untyped-def]
    """Call the next ticket to a window, start and finish it."""
    h.tick()
    called = h.do(rules.call_next, window)
    h.tick(60)
    h.do(rules.start, window)
    h.tick(120)
    return called, h.do(rules.finish, window, outcome)


def test_the_config_reads_modes_routes_and_materials() -> None:
    cfg = config.loads(BUNDLE_HALL, store_url="sqlite://unused.db")
    shop, startup = cfg.services["shop"], cfg.services["startup"]
    assert (shop.mode, shop.route, shop.materials) == ("route", (("licence",), ("tax", "seals"), ("food",)), 9)
    assert (startup.mode, startup.route) == ("one-window", (("licence", "tax", "seals"),))


ROUTE = 'mode = "route"\nroute = ["licence", ["tax", "seals"], "food"]'


@pytest.mark.parametrize(("bad", "field", "words"), [
    ('mode = "walk"', "services[4].mode", "must be one of"),
    ('mode = "route"\nroute = ["licence", ["tax", "seals"], "licence"]', "services[4].route", "exactly once"),
    ('mode = "route"\nroute = ["licence", [], "food"]', "services[4].route", "a parallel group"),
    ('route = ["licence", ["tax", "seals"], "food"]', "services[4].route", 'mode = "route"'),
])
def test_a_bad_bundle_plan_is_named_with_its_field(bad: str, field: str, words: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.loads(BUNDLE_HALL.replace(ROUTE, bad, 1), store_url="sqlite://unused.db")
    assert any(i.field == field and words in i.message for i in err.value.issues), err.value.issues


def test_only_a_bundle_has_a_mode() -> None:
    text = BUNDLE_HALL.replace('prefix = "A"', 'prefix = "A"\nmode = "route"', 1)
    with pytest.raises(config.ConfigError) as err:
        config.loads(text, store_url="sqlite://unused.db")
    assert [i.field for i in err.value.issues] == ["services[0].mode"]


def test_a_routed_bundle_is_called_to_each_part_in_order_with_one_number() -> None:
    h = hall()
    t = h.issue("shop")
    assert (t.number, t.service, t.origin_service) == ("S001", "licence", "shop")
    calls = []
    called, after = serve(h, 1)
    calls.append((called.number, called.window, called.service))
    # At once in the next part's queue: waiting, same number, same priority, no new ticket.
    assert after.status is Status.WAITING and after.number == "S001" and after.service in ("tax", "seals")
    assert [e.name for e in h.last_events] == ["ticket.routed"]
    assert h.do(rules.call_next, 4) is None  # 食品经营许可 comes after the parallel group
    for window in (2, 3):
        called, after = serve(h, window)
        calls.append((called.number, called.window, called.service))
    called, done = serve(h, 4)
    calls.append((called.number, called.window, called.service))
    assert calls == [("S001", 1, "licence"), ("S001", 2, "tax"), ("S001", 3, "seals"), ("S001", 4, "food")]
    assert done.status is Status.DONE and done.outcome is Outcome.DONE
    assert [p["window"] for p in done.parts] == [1, 4, 2, 3]
    assert [e.name for e in h.last_events] == ["ticket.part_done", "ticket.finished", "evaluation.requested"]
    for window in (1, 2, 3, 4):  # a part done is never called again
        assert h.do(rules.call_next, window) is None
    assert len(h.st.tickets) == 1


def test_a_parallel_group_is_served_in_either_order() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    waiting = h.st.tickets[t.id]
    first = waiting.service  # the group's queue with the fewest waiting; the other window may call it by number
    other_window = 3 if first == "tax" else 2
    called = h.do(rules.call_ticket, other_window, waiting, "导办引导")
    assert called.service != first and called.window == other_window
    h.do(rules.finish, other_window)
    assert h.st.tickets[t.id].service == first  # the rest of the group comes next
    serve(h, 2 if first == "tax" else 3)
    assert h.st.tickets[t.id].service == "food"


def test_a_routed_part_keeps_its_place_by_issue_time() -> None:
    h = hall()
    bundle = h.issue("shop")
    later = h.issue("tax")
    serve(h, 1)
    routed = h.st.tickets[bundle.id]
    if routed.service == "tax":
        assert h.do(rules.call_next, 2).number == "S001"  # issued before C001: called first
    else:
        assert later.number == "C001"


def test_a_part_is_transferred_to_another_window_and_to_another_open_part() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    # Window 6 is the comprehensive window that also does 税务登记.
    h.do(rules.call_ticket, 2, h.st.tickets[t.id], "导办")
    moved = h.do(rules.transfer, 2, to_window=6)
    assert (moved.status, moved.service, moved.pinned_window) == (Status.WAITING, "tax", 6)
    assert h.last_events[0].visit.end is VisitEnd.TRANSFERRED
    assert h.do(rules.call_next, 6).number == "S001"
    for target in ({"service": "licence"}, {"to_window": 1}):  # 营业执照 is done: never again
        with pytest.raises(Invalid):
            h.do(rules.transfer, 6, **target)
    moved = h.do(rules.transfer, 6, service="seals")
    assert moved.service == "seals"
    called, after = serve(h, 3)
    assert after.service == "tax"  # still to do
    serve(h, 2)
    assert h.st.tickets[t.id].service == "food"


def test_each_part_is_a_recorded_visit() -> None:
    h = hall()
    h.issue("shop")
    visits = []
    for window in (1, 2, 3, 4):
        serve(h, window)
        visits.extend(e.visit for e in h.last_events if e.visit is not None)
    assert [(v.service, v.window, v.clerk, v.outcome, v.end) for v in visits] == [
        ("licence", 1, "clerk1", Outcome.DONE, VisitEnd.ROUTED),
        ("tax", 2, "clerk2", Outcome.DONE, VisitEnd.ROUTED),
        ("seals", 3, "clerk3", Outcome.DONE, VisitEnd.ROUTED),
        ("food", 4, "clerk4", Outcome.DONE, VisitEnd.ROUTED),
        ("shop", 4, "clerk4", Outcome.DONE, VisitEnd.FINISHED),  # the bundle served (办结), where it is rated
    ]
    assert len({v.leg for v in visits}) == 5
    assert [v.handling_seconds for v in visits] == [120, 120, 120, 120, 0]
    assert visits[-1].wait_seconds == 0


def test_a_green_channel_bundle_keeps_its_priority_on_every_part() -> None:
    h = hall()
    h.issue("tax")
    h.issue("seals")
    t = h.issue("shop", Priority.GREEN)
    serve(h, 1)
    assert h.st.tickets[t.id].priority is Priority.GREEN
    window = 2 if h.st.tickets[t.id].service == "tax" else 3
    assert h.do(rules.call_next, window).number == "S001"


def test_a_one_window_bundle_needs_every_part_ticked() -> None:
    h = hall()
    t = h.issue("startup")
    assert t.service == "startup" and bundles.open_parts(t) == ["licence", "tax", "seals"]
    h.do(rules.call_next, 5)
    h.tick(30)
    h.do(rules.start, 5)
    h.tick(300)
    h.do(rules.tick_part, 5, "licence", Outcome.DONE)
    with pytest.raises(Conflict) as err:
        h.do(rules.finish, 5)
    assert err.value.code == "parts_open" and "税务登记" in str(err.value) and "刻制印章" in str(err.value)
    with pytest.raises(Conflict):
        h.do(rules.tick_part, 5, "licence", Outcome.DONE)
    h.tick(60)
    h.do(rules.tick_part, 5, "tax", Outcome.PENDING_MATERIALS, {"materials": ["租赁合同"]})
    h.tick(60)
    h.do(rules.tick_part, 5, "seals", Outcome.DONE)
    done = h.do(rules.finish, 5)
    assert done.status is Status.DONE and done.outcome is Outcome.PENDING_MATERIALS
    assert [p["outcome"] for p in done.parts] == ["done", "pending_materials", "done"]
    closing = h.last_events[0].visit
    assert (closing.service, closing.end, closing.outcome) == ("startup", VisitEnd.FINISHED, Outcome.PENDING_MATERIALS)
    # Each part's visit runs from the tick before it: the clerk's time split as it was spent,
    # and the closing visit holds what came after the last tick.
    assert h.st.handling["licence"][-1] + h.st.handling["tax"][-1] + h.st.handling["seals"][-1] == 420
    assert closing.handling_seconds == 0 and h.st.handling["startup"][-1] == 420


def test_a_one_window_bundle_rating_lands_on_the_bundle() -> None:
    h = hall()
    t = h.issue("startup")
    h.do(rules.call_next, 5)
    for part in ("licence", "tax", "seals"):
        h.do(rules.tick_part, 5, part, Outcome.DONE)
    done = h.do(rules.finish, 5)
    ev = h.do(rules.evaluate, done, 5)
    assert (ev.service, ev.window) == ("startup", 5)
    assert t.number == "K001"


def test_a_keypad_next_key_closes_a_one_window_bundle_with_its_parts() -> None:
    h = hall()
    t = h.issue("startup")
    h.issue("startup")
    h.do(rules.call_next, 5)
    h.do(rules.start, 5)
    h.tick(60)
    h.do(rules.call_next, 5, closes_current=True)
    done = h.st.tickets[t.id]
    assert done.status is Status.DONE and [p["outcome"] for p in done.parts] == ["done", "done", "done"]


def test_ticking_is_only_for_one_window_bundles() -> None:
    h = hall()
    h.issue("shop")
    h.do(rules.call_next, 1)
    with pytest.raises(Conflict) as err:
        h.do(rules.tick_part, 1, "licence", Outcome.DONE)
    assert err.value.code == "not_one_window"


def test_a_routed_bundle_left_after_its_first_part_expires_with_that_part_done() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    h.now = h.now.replace(day=h.now.day + 1)
    h.do(rules.roll_day)
    assert h.last_events[0].ticket.id == t.id
    gone = h.last_events[0].ticket
    assert gone.status is Status.EXPIRED and [p["outcome"] for p in gone.parts] == ["done", None, None, None]


def test_a_one_window_visit_ended_otherwise_holds_only_the_time_after_its_last_tick() -> None:
    h = hall()
    t = h.issue("startup")
    h.do(rules.call_next, 5)
    h.do(rules.start, 5)
    h.tick(300)
    h.do(rules.tick_part, 5, "licence", Outcome.DONE)
    h.tick(60)
    moved = h.do(rules.transfer, 5, to_window=6)  # to the other comprehensive window, the licence done
    visit = h.last_events[0].visit
    assert (visit.service, visit.end, visit.handling_seconds) == ("startup", VisitEnd.TRANSFERRED, 60)
    assert moved.pinned_window == 6 and bundles.open_parts(moved) == ["tax", "seals"]
    h.tick()
    assert h.do(rules.call_next, 6).id == t.id
    with pytest.raises(Conflict):
        h.do(rules.tick_part, 6, "licence", Outcome.DONE)  # done at window 5 already
