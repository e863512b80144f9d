"""Rating a route bundle part by part ([policy] bundle_rating = "part"), or once as a whole (the default)."""

from __future__ import annotations

import pytest

from queue_server.core import bundles, config, rules
from queue_server.core.errors import Conflict, NotFound
from queue_server.core.model import Outcome, Status

from .test_bundles import BUNDLE_HALL, serve  # type: ignore[import-not-found]
from .test_rules import Hall  # type: ignore[import-not-found]

BY_PART = BUNDLE_HALL + '\n[policy]\nbundle_rating = "part"\n'


def hall(text: str = BY_PART) -> Hall:
    h = Hall(text)
    h.open(1, 2, 3, 4, 5, 6)
    return h


def route_through(h: Hall) -> list[tuple[int, object]]:
    """Serve 我要开超市 at windows 1 to 4; where each finish asked for a rating, and of which part."""
    asked = []
    for window in (1, 2, 3, 4):
        serve(h, window)
        asked += [(e.window.number, e.extra.get("part")) for e in h.last_events if e.name == "evaluation.requested"]
    return asked


def test_each_part_is_rated_at_its_own_window_under_its_service_and_clerk() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    assert [e.name for e in h.last_events] == ["ticket.routed", "evaluation.requested"]
    assert h.last_events[1].extra["part"] == "licence" and h.last_events[1].window.number == 1
    h.tick(5)
    ev = h.do(rules.evaluate, h.st.tickets[t.id], 5, window=1)  # the ticket already waits for the next part
    assert (ev.service, ev.window, ev.clerk, ev.part, ev.key) == ("licence", 1, "clerk1", "licence", f"{t.id}.licence")
    assert h.last_events[0].name == "evaluation.submitted"
    for window, level in ((2, 4), (3, 3)):
        serve(h, window)
        part = h.last_events[-1].extra["part"]
        ev = h.do(rules.evaluate, h.st.tickets[t.id], level, window=window)
        assert (ev.service, ev.window, ev.clerk, ev.level) == (part, window, f"clerk{window}", level)
    _, done = serve(h, 4)
    assert done.status is Status.DONE
    assert [(e.name, e.extra.get("part")) for e in h.last_events][-1] == ("evaluation.requested", "food")
    ev = h.do(rules.evaluate, h.st.tickets[t.id], 5, window=4)
    assert (ev.service, ev.window, ev.clerk) == ("food", 4, "clerk4")
    rated = h.st.tickets[t.id]
    assert [(p["service"], p.get("rating")) for p in rated.parts] == [("licence", 5), ("food", 5), ("tax", 4), ("seals", 3)]
    assert rated.rating is None  # the bundle as a whole is not rated on its own


def test_a_part_is_rated_once() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    h.do(rules.evaluate, h.st.tickets[t.id], 5, window=1)
    for how in ({"window": 1}, {"part": "licence"}, {}):
        with pytest.raises(Conflict) as err:
            h.do(rules.evaluate, h.st.tickets[t.id], 1, ["attitude"], **how)
        assert err.value.code == "already_rated", how


def test_a_part_not_done_or_not_in_the_bundle_is_not_rated() -> None:
    h = hall()
    t = h.issue("shop")
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, t, 5)
    assert err.value.code == "not_finished"
    serve(h, 1)
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.tickets[t.id], 5, part="food")
    assert err.value.code == "not_finished" and "食品经营许可" in str(err.value)
    with pytest.raises(NotFound) as missing:
        h.do(rules.evaluate, h.st.tickets[t.id], 5, part="pension")
    assert missing.value.code == "part_unknown"
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.tickets[t.id], 5, part="licence", window=2)
    assert err.value.code == "other_window"


def test_a_device_of_several_windows_rates_the_part_it_names_or_the_latest() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    serve(h, 2)
    done = h.st.tickets[t.id]
    assert bundles.rating_window(done, frozenset({1, 2, 3})) == 2
    assert bundles.rating_window(done, frozenset({1, 2, 3}), "licence") == 1
    assert bundles.rating_window(done, frozenset({3, 4})) is None


def test_the_citizen_rates_the_latest_part_not_yet_rated() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    serve(h, 2)
    first = h.do(rules.evaluate, h.st.tickets[t.id], 4, source="phone")
    second = h.do(rules.evaluate, h.st.tickets[t.id], 5, source="phone")
    assert (first.part, second.part) == ("tax", "licence")


def test_a_pad_rates_the_part_just_done_at_its_window_within_the_rating_time() -> None:
    h = hall()
    t = h.issue("shop")
    serve(h, 1)
    h.tick(60)
    h.do(rules.call_next, 2)  # the citizen is at the next window already
    rules.pad_may_rate(rules.Tx(h.st, h.now, "test"), h.st.tickets[t.id], 1)
    plain = h.issue("licence")
    serve(h, 1)
    with pytest.raises(Conflict) as err:  # a newer ticket was finished at window 1
        rules.pad_may_rate(rules.Tx(h.st, h.now, "test"), h.st.tickets[t.id], 1)
    assert err.value.code == "not_latest" and plain.number in str(err.value)
    h.tick(11 * 60)
    with pytest.raises(Conflict) as err:
        rules.pad_may_rate(rules.Tx(h.st, h.now, "test"), h.st.tickets[plain.id])
    assert err.value.code == "rating_closed"


def test_by_default_a_route_bundle_is_rated_once_at_its_last_window() -> None:
    h = hall(BUNDLE_HALL)
    t = h.issue("shop")
    asked = route_through(h)
    assert asked == [(4, None)]
    ev = h.do(rules.evaluate, h.st.tickets[t.id], 4)
    assert (ev.service, ev.window, ev.part, ev.key) == ("shop", 4, None, t.id)
    assert h.st.tickets[t.id].rating == 4
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.tickets[t.id], 4)
    assert err.value.code == "already_rated"


def test_by_default_a_part_done_is_not_rated_on_its_own() -> None:
    h = hall(BUNDLE_HALL)
    t = h.issue("shop")
    serve(h, 1)
    assert "evaluation.requested" not in [e.name for e in h.last_events]
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.tickets[t.id], 5)
    assert err.value.code == "not_finished"
    for n in (2, 3, 4):
        serve(h, n)
    assert h.st.tickets[t.id].status is Status.DONE
    with pytest.raises(Conflict) as err:
        h.do(rules.evaluate, h.st.tickets[t.id], 5, part="licence")
    assert err.value.code == "rated_whole"


def test_a_one_window_bundle_is_rated_once_even_when_parts_are_rated() -> None:
    h = hall()
    h.issue("startup")
    h.do(rules.call_next, 5)
    for part in ("licence", "tax", "seals"):
        h.do(rules.tick_part, 5, part, Outcome.DONE)
    done = h.do(rules.finish, 5)
    assert [e.extra.get("part") for e in h.last_events if e.name == "evaluation.requested"] == [None]
    ev = h.do(rules.evaluate, done, 5)
    assert (ev.service, ev.window, ev.part) == ("startup", 5, None)


def test_an_unknown_rating_setting_is_named() -> None:
    with pytest.raises(config.ConfigError) as err:
        config.loads(BUNDLE_HALL + '\n[policy]\nbundle_rating = "window"\n', store_url="sqlite://unused.db")
    assert [(i.field, "bundle, part" in i.message) for i in err.value.issues] == [("policy.bundle_rating", True)]


def test_rated_by_part_every_part_is_asked_for_at_its_window() -> None:
    h = hall()
    t = h.issue("shop")
    asked = route_through(h)
    assert asked == [(1, "licence"), (2, "tax"), (3, "seals"), (4, "food")]
    assert h.st.tickets[t.id].status is Status.DONE
