"""Appointments: the booking API, kiosk check-in with a priority ticket, no-show voiding, limits."""

from __future__ import annotations

from typing import Any

import pytest

from queue_server.features.appointments import bookings
from queue_server.service import privacy

from ...conftest import Harness, Http, config_problems  # type: ignore[import-not-found]
from ..citizens_kit import at, id_number, manager  # type: ignore[import-not-found]
from ..citizens_kit import hall_config as make_config

pytestmark = pytest.mark.every_store  # the store is this module's subject

LI = id_number("41162719800101123")
WANG = id_number("41162719920305456")


@pytest.fixture
def hall_config(store_spec: Any) -> Any:
    return make_config(store_spec.url)


@pytest.fixture(autouse=True)
def salt_file(store_spec: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if store_spec.kind != "sqlite":  # a store without a file beside it takes the salt from a named file
        monkeypatch.setenv(privacy.SALT_ENV, str(tmp_path / "hall.salt"))


async def booking_system(server: Harness) -> Http:
    return server.client(await server.token("agent"))  # an integration token: bound to no window


async def book(client: Http, slot: str, person: str = LI, service: str = "pension", **more: Any) -> tuple[int, Any]:
    return await client.post("/api/v1/appointments", {"service": service, "slot_start": slot, "id_number": person, **more})


async def test_booking_check_in_by_id_and_the_priority_ticket_is_called_first(server: Harness) -> None:
    bs = await booking_system(server)
    status, b = await book(bs, "2026-12-01T10:00:00+08:00", name="李四", phone="13800001111", ref="ext-1")
    assert status == 201, b
    assert (b["status"], b["name"], b["phone"], b["slot_end"]) == ("booked", "李*", "138****1111", "2026-12-01T10:30:00+08:00")
    assert len(b["id"]) == bookings.CODE_LENGTH and "idhash" not in b and "id_number" not in b
    status, again = await book(bs, "2026-12-01T10:00:00+08:00", name="李四", ref="ext-1")  # the booking system retried
    assert status == 201 and again["id"] == b["id"]

    kiosk = await server.kiosk()
    normal = [(await kiosk.post("/api/v1/tickets", {"service": "pension"}))[1]["number"] for _ in range(2)]
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"id_number": LI})
    assert status == 409 and err["error"]["code"] == "too_early" and "09:30" in err["error"]["message"]

    server.hall.clock.set(at(1, 9, 40))  # type: ignore[attr-defined]
    status, got = await kiosk.post("/api/v1/appointments/check-in", {"id_number": LI.lower()})
    assert status == 201, got
    t = got["ticket"]
    assert (t["priority"], t["channel"], t["appointment"], t["status"]) == ("appointment", "appointment", b["id"], "waiting")
    assert t["ahead"] == 0 and t["token"] and got["booking"]["status"] == "checked_in" and got["booking"]["number"] == t["number"]
    clerk = await server.clerk_at(15)
    status, called = await clerk.post("/api/v1/windows/15/call-next")
    assert called["number"] == t["number"]  # before the two normal tickets issued earlier
    status, called = await clerk.post("/api/v1/windows/15/call-next")
    assert called["number"] == normal[0]

    status, err = await kiosk.post("/api/v1/appointments/check-in", {"id_number": LI})
    assert status == 404 and err["error"]["code"] == "booking_unknown"
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"code": b["id"]})
    assert status == 409 and err["error"]["code"] == "booking_closed" and "已签到" in err["error"]["message"]


async def test_check_in_by_booking_qr_code(server: Harness) -> None:
    bs = await booking_system(server)
    _, b = await book(bs, "2026-12-01T09:20:00+08:00", service="social-card")
    kiosk = await server.kiosk()
    status, got = await kiosk.post("/api/v1/appointments/check-in", {"code": f"https://hall.example/booking/{b['id'].lower()}"})
    assert status == 201 and got["ticket"]["service"] == "social-card" and got["ticket"]["priority"] == "appointment"
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"code": "NOSUCHCODE"})
    assert status == 404
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"code": b["id"], "id_number": LI})
    assert status == 422 and err["error"]["code"] == "checkin_target"
    _, later = await book(bs, "2026-12-02T10:00:00+08:00", service="social-card")
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"code": later["id"]})
    assert status == 409 and err["error"]["code"] == "booking_not_today"


async def test_no_check_in_is_voided_at_slot_plus_30_minutes_and_counted(server: Harness) -> None:
    bs = await booking_system(server)
    _, b = await book(bs, "2026-12-01T10:30:00+08:00")
    clock = server.hall.clock
    clock.set(at(1, 10, 59))  # type: ignore[attr-defined]
    assert await server.hall.check("appointments") == []
    kiosk = await server.kiosk()
    clock.set(at(1, 11, 0))  # type: ignore[attr-defined]
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"id_number": LI})
    assert status == 409 and err["error"]["code"] == "booking_expired"  # the checker has not run yet
    assert [d.id for d in await server.hall.check("appointments")] == [b["id"]]
    assert await server.hall.check("appointments") == []
    status, day = await bs.get("/api/v1/appointments?date=2026-12-01")
    assert status == 200 and day["counts"] == {"booked": 0, "checked_in": 0, "cancelled": 0, "no_show": 1}
    assert day["bookings"][0]["status_name"] == "爽约"
    status, err = await kiosk.post("/api/v1/appointments/check-in", {"code": b["id"]})
    assert status == 409 and "no_show" in err["error"]["message"]


async def test_limits_are_enforced_with_clear_errors(server: Harness) -> None:
    bs = await booking_system(server)
    assert (await book(bs, "2026-12-01T10:00+08:00"))[0] == 201
    status, err = await book(bs, "2026-12-01T15:00+08:00")
    assert status == 409 and err["error"]["code"] == "booking_limit" and "养老保险" in err["error"]["message"]
    assert (await book(bs, "2026-12-01T15:00+08:00", service="medical-reimbursement"))[0] == 201
    assert (await book(bs, "2026-12-02T10:00+08:00"))[0] == 201  # another day is another booking
    bad = {
        "2026-12-01T08:30+08:00": "slot_past",
        "2026-12-05T10:00+08:00": "slot_closed",  # Saturday
        "2026-12-04T10:00+08:00": "slot_closed",  # the configured holiday
        "2026-12-03T12:30+08:00": "slot_closed",  # the lunch break
        "2026-12-28T10:00+08:00": "too_far_ahead",
        "tomorrow at ten": "bad_slot",
    }
    for slot, code in bad.items():
        status, err = await book(bs, slot, person=WANG)
        assert (status, err["error"]["code"]) in ((409, code), (422, code)), (slot, err)
    wrong = LI[:-1] + ("1" if LI[-1] != "1" else "2")
    status, err = await book(bs, "2026-12-03T10:00+08:00", person=wrong)
    assert status == 422 and err["error"]["code"] == "bad_id_number" and wrong not in err["error"]["message"]


async def test_repeated_no_shows_bar_booking_for_a_period(server: Harness) -> None:
    bs = await booking_system(server)
    await book(bs, "2026-12-01T10:00+08:00", person=WANG)
    await book(bs, "2026-12-01T10:00+08:00", person=WANG, service="medical-reimbursement")
    server.hall.clock.set(at(1, 10, 30))  # type: ignore[attr-defined]
    assert len(await server.hall.check("appointments")) == 2
    status, err = await book(bs, "2026-12-02T10:00+08:00", person=WANG)
    assert status == 409 and err["error"]["code"] == "booking_barred" and "2026-12-31" in err["error"]["message"]
    assert (await book(bs, "2026-12-02T10:00+08:00", person=LI))[0] == 201  # only that person


async def test_change_and_cancel(server: Harness) -> None:
    bs = await booking_system(server)
    _, b = await book(bs, "2026-12-02T10:00+08:00", phone="13800001111")
    status, changed = await bs.put(f"/api/v1/appointments/{b['id']}", {"slot_start": "2026-12-03T15:00+08:00", "phone": "13900002222"})
    assert status == 200 and changed["slot_start"] == "2026-12-03T15:00:00+08:00" and changed["slot_end"] == "2026-12-03T15:30:00+08:00"
    assert (changed["changes"], changed["phone"], changed["day"]) == (1, "139****2222", "2026-12-03")
    status, err = await bs.put(f"/api/v1/appointments/{b['id']}", {"slot_start": "2026-12-06T10:00+08:00"})
    assert status == 422 and err["error"]["code"] == "slot_closed"
    status, gone = await bs.delete(f"/api/v1/appointments/{b['id']}")
    assert status == 200 and gone["status"] == "cancelled"
    assert (await bs.delete(f"/api/v1/appointments/{b['id']}"))[0] == 404
    status, seen = await bs.get(f"/api/v1/appointments/{b['id']}")
    assert status == 200 and [s["step"] for s in seen["steps"]] == ["booked", "changed", "cancelled"]
    assert (await book(bs, "2026-12-02T10:00+08:00"))[0] == 201  # a cancelled booking does not count


async def test_who_may_book(server: Harness) -> None:
    window_agent = server.client(await server.token("agent", windows=(15,)))
    status, err = await book(window_agent, "2026-12-02T10:00+08:00")
    assert status == 403 and "no window" in err["error"]["message"]
    assert (await book(await server.kiosk(), "2026-12-02T10:00+08:00"))[0] == 403
    assert (await book(server.client(), "2026-12-02T10:00+08:00"))[0] == 401
    assert (await book(await manager(server), "2026-12-02T10:00+08:00"))[0] == 201
    status, err = await (await server.kiosk()).post("/api/v1/tickets", {"service": "pension", "priority": "appointment"})
    assert status == 403 and err["error"]["code"] == "appointment_only"


def test_the_appointments_section_is_checked() -> None:
    cfg = make_config("sqlite://x.db", "\n[appointments]\nvoid_after_minutes = 0\nslot_minutes = \"half an hour\"\n")
    issues = [str(i) for i in config_problems(cfg)]
    assert any("appointments.void_after_minutes: must be between 1 and 480" in i for i in issues), issues
    assert any("appointments.slot_minutes: must be int, not str" in i for i in issues)
