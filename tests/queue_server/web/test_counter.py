"""The clerk's counter against a real server: a double click never acts twice, nothing is finished implicitly."""

from __future__ import annotations

import asyncio

from queue_server.core.model import Status

from ...conftest import Harness  # type: ignore[import-not-found]


async def _called(server: Harness) -> list[str]:
    events = await server.hall.store.events_since(0)
    return [e.ticket.number for e in events if e.name == "ticket.called" and e.ticket is not None]


async def test_two_identical_call_nexts_at_once_call_exactly_one_citizen(server: Harness) -> None:
    kiosk = await server.kiosk()
    first = (await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]
    second = (await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]
    clerk = await server.clerk_at(21)
    body = {"expect": None}  # the console shows nobody at the window
    replies = await asyncio.gather(*(clerk.post("/api/v1/windows/21/call-next", body) for _ in range(2)))
    assert sorted(status for status, _ in replies) == [200, 409]
    [refused] = [data for status, data in replies if status == 409]
    assert refused["error"]["code"] == "expect_mismatch"
    assert await _called(server) == [first["number"]]
    st = server.hall.state
    assert st.ticket_by_number(first["number"]).status is Status.CALLED
    assert st.ticket_by_number(second["number"]).status is Status.WAITING


async def test_a_console_call_next_with_a_ticket_at_the_window_is_refused_without_expect(server: Harness) -> None:
    kiosk = await server.kiosk()
    first = (await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]
    await kiosk.post("/api/v1/tickets", {"service": "social-card"})
    clerk = await server.clerk_at(21)
    replies = await asyncio.gather(*(clerk.post("/api/v1/windows/21/call-next") for _ in range(3)))
    assert sorted(status for status, _ in replies) == [200, 409, 409]
    assert {d["error"]["code"] for s, d in replies if s == 409} == {"ticket_in_progress"}
    assert await _called(server) == [first["number"]]
    assert server.hall.state.ticket_by_number(first["number"]).status is Status.CALLED  # never finished unserved


async def test_a_second_finish_click_is_refused_and_changes_nothing(server: Harness) -> None:
    kiosk = await server.kiosk()
    t = (await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]
    clerk = await server.clerk_at(21)
    await clerk.post("/api/v1/windows/21/call-next", {"expect": None})
    seq = server.hall.state.seq
    for path in ("recall", "start", "no-show", "transfer", "hold"):  # every action checks the screen's ticket
        status, err = await clerk.post(f"/api/v1/windows/21/{path}", {"expect": "Z999"})
        assert (status, err["error"]["code"]) == (409, "expect_mismatch"), path
    assert server.hall.state.seq == seq
    replies = await asyncio.gather(*(clerk.post("/api/v1/windows/21/finish", {"outcome": "done", "expect": t["number"]})
                                     for _ in range(2)))
    assert sorted(status for status, _ in replies) == [200, 409]
    events = [e.name for e in await server.hall.store.events_since(seq)]
    assert events == ["ticket.finished", "evaluation.requested"]


async def test_the_keypads_next_key_closes_the_ticket_and_reports_count_it(server: Harness) -> None:
    kiosk = await server.kiosk()
    numbers = [(await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]["number"] for _ in range(3)]
    await server.clerk_at(21)
    keypad = server.client(await server.token("agent", windows=(21,)))
    assert (await keypad.post("/api/v1/windows/21/call-next"))[1]["number"] == numbers[0]
    await keypad.post("/api/v1/windows/21/start")
    assert (await keypad.post("/api/v1/windows/21/call-next"))[1]["number"] == numbers[1]
    assert (await keypad.post("/api/v1/windows/21/call-next"))[1]["number"] == numbers[2]  # numbers[1] never started
    st = server.hall.state
    assert st.ticket_by_number(numbers[0]).outcome == "done"
    assert st.ticket_by_number(numbers[1]).outcome is None
    visits = {v.number: v for v in await server.hall.store.visits(st.day, st.day)}
    assert (visits[numbers[0]].closed_by, visits[numbers[1]].closed_by) == ("next", "next")
    pad = server.client(await server.token("pad", windows=(21,)))
    status, err = await pad.post("/api/v1/evaluations", {"ticket": numbers[1], "level": 5})
    assert (status, err["error"]["code"]) == (409, "not_served")

    manager = server.client()
    await server.person("boss", "manager")
    await manager.login("boss")
    status, stats = await manager.get(f"/api/v1/stats?date={st.day}&by=window")
    assert status == 200
    hall = stats["hall"]
    assert (hall["served"], hall["closed_by_next"], hall["closed_unstarted"]) == (1, 2, 1)
    [w21] = [r for r in stats["by"]["window"] if r["window"] == 21]
    assert (w21["served"], w21["closed_by_next"], w21["closed_unstarted"]) == (1, 2, 1)


async def test_a_clerk_calls_a_chosen_ticket_with_a_reason(server: Harness) -> None:
    kiosk = await server.kiosk()
    numbers = [(await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1]["number"] for _ in range(3)]
    clerk = await server.clerk_at(21)
    status, err = await clerk.post("/api/v1/windows/21/call-ticket", {"ticket": numbers[2]})
    assert status == 422 and err["error"]["code"] in ("missing_field", "bad_value")
    status, called = await clerk.post("/api/v1/windows/21/call-ticket",
                                      {"ticket": numbers[2], "reason": "行动不便", "expect": None})
    assert status == 200 and called["number"] == numbers[2] and called["window"] == 21
    [event] = [e for e in await server.hall.store.events_since(0) if e.name == "ticket.called"]
    assert event.extra["reason"] == "行动不便" and event.extra["chosen"] is True


async def test_a_pad_rates_only_the_ticket_just_finished_at_its_window_and_only_for_a_while(server: Harness) -> None:
    kiosk = await server.kiosk()
    tickets = [(await kiosk.post("/api/v1/tickets", {"service": "social-card"}))[1] for _ in range(3)]
    clerk = await server.clerk_at(21)
    for _ in range(2):
        await clerk.post("/api/v1/windows/21/call-next", {"expect": None})
        await clerk.post("/api/v1/windows/21/finish", {"outcome": "done"})
    pad = server.client(await server.token("pad", windows=(21,)))
    older, latest = tickets[0], tickets[1]
    status, err = await pad.post("/api/v1/evaluations", {"ticket": older["number"], "level": 5})
    assert (status, err["error"]["code"]) == (409, "not_latest")
    assert server.hall.state.ticket_by_number(older["number"]).rating is None
    server.hall.clock.advance(10 * 60 + 1)  # type: ignore[attr-defined]  # policy.rating_minutes = 10
    status, err = await pad.post("/api/v1/evaluations", {"ticket": latest["number"], "level": 5})
    assert (status, err["error"]["code"]) == (409, "rating_closed")
    # The citizen may still rate either by the ticket's token, from the phone.
    assert (await server.client().post("/api/v1/evaluations", {"ticket": older["token"], "level": 4}))[0] == 201

    await clerk.post("/api/v1/windows/21/call-next", {"expect": None})
    await clerk.post("/api/v1/windows/21/finish", {"outcome": "done"})
    server.hall.clock.advance(9 * 60)  # type: ignore[attr-defined]
    status, ev = await pad.post("/api/v1/evaluations", {"ticket": tickets[2]["number"], "level": 5})
    assert status == 201 and ev["source"] == "pad"
