"""Signed webhooks from a durable outbox: subscriptions, signatures, retries with backoff, restarts, the
delivery log and the replay command, against a real HTTP receiver on both stores."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from queue_server.core import config
from queue_server.core.clock import ManualClock
from queue_server.core.model import DeviceToken, Doc, Event
from queue_server.features import catalog
from queue_server.features.webhooks import Webhooks, payload, signing
from queue_server.service import auth
from queue_server.service.hall import Hall
from queue_server.store.outbox import DELIVERED, FAILED, PENDING, Delivery

from ...conftest import HALL_FILE, OPEN_TIME, Harness, config_problems  # type: ignore[import-not-found]
from ..citizens_kit import manager  # type: ignore[import-not-found]
from .webhook_kit import SECRET, Receiver, endpoint_table, verify  # type: ignore[import-not-found]

KIOSK = auth.from_device(DeviceToken("k1", "kiosk", "kiosk", "", green=True))


def hall_text(extra: str) -> str:
    return HALL_FILE.read_text(encoding="utf-8") + "\n" + extra


@pytest.fixture
def secret_file(tmp_path: Path) -> str:
    path = tmp_path / "webhook.secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(fail_first=2)
    await r.start()
    yield r
    await r.stop()


class FakeNow:
    """The sender's wall clock, moved by the test so retries come due without waiting."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def make_hall(store: Any, clock: ManualClock) -> AsyncIterator[Any]:
    """Halls on the test's store, started without tickers: the test runs the sender (``hall.check``)."""
    started: list[Hall] = []

    async def make(extra: str) -> Hall:
        cfg = config.loads(hall_text(extra), source="hall.toml", store_url=store.url)
        h = Hall(cfg, store, clock, features=catalog.build(cfg))
        await h.start(day_timer=False, tickers=False)
        started.append(h)
        return h

    yield make
    for h in started:
        await h.stop()


def sender_of(hall: Hall, now: FakeNow | None = None) -> Any:
    sender = hall.features.get(Webhooks).sender
    assert sender is not None
    if now is not None:
        sender.now = now
    return sender


# -- pure parts ------------------------------------------------------------------------------------


def test_a_signature_verifies_and_a_changed_body_or_an_old_time_does_not() -> None:
    secret, body, t = SECRET.encode(), '{"seq":7}'.encode(), int(time.time())
    value = signing.header(secret, t, body)
    assert value.startswith(f"t={t},v1=") and verify(secret, value, body, t + 10)  # the documented recipe agrees
    assert signing.verify(secret, value, body, t + 10)
    assert not signing.verify(secret, value, b'{"seq":8}', t)
    assert not signing.verify(b"another-secret-value", value, body, t)
    assert not signing.verify(secret, value, body, t + 301)  # a captured delivery replayed later
    assert not signing.verify(secret, "garbage", body, t)


def test_subscriptions_take_events_families_or_everything_public() -> None:
    assert payload.selects(("ticket.called",), "ticket.called") and not payload.selects(("ticket.called",), "ticket.issued")
    assert payload.selects(("alert.*",), "alert.escalated") and payload.selects(("case.*",), "case.opened")
    assert payload.selects(("*",), "device.status") and payload.selects(("*",), "evaluation.submitted")
    for private in ("print.requested", "audit.recorded", "evaluation.requested", "booking.created", "export.batch"):
        assert not payload.selects(("*",), private)  # tokens, who viewed what, citizens' bookings


def test_a_webhook_body_carries_no_token_and_masks_citizens() -> None:
    doc = Doc("ledger", "BB1", "2026-12-01", {"name": "张三", "phone": "13800001111", "idhash": "ab" * 32,
                                              "state": "open", "code": "K7Q2"})
    event = Event(9, "ledger.opened", OPEN_TIME, docs=(doc,), extra={"case": "BB1", "request_id": "r-1"})
    body = json.loads(payload.body("taikang", event))
    assert (body["id"], body["seq"], body["type"], body["hall"]) == ("taikang:9", 9, "ledger.opened", "taikang")
    data = body["data"]["docs"][0]["data"]
    assert data["name"] == "张*" and data["phone"] == "138****1111" and data["state"] == "open"
    assert "idhash" not in data and "code" not in data and "request_id" not in body["data"]


def test_the_config_names_each_wrong_field(secret_file: str) -> None:
    text = hall_text(endpoint_table("crm", "ftp://x", secret_file, '["ticket.called", "ticket.teleported"]', retries=3)
                     + '\n[webhooks.Bad_Name]\nurl = "http://x"\nsecret_env = "A"\nsecret_file = "b"\n')
    cfg = config.loads(text, source="hall.toml", store_url="sqlite://x.db")
    found = {i.field: i for i in config_problems(cfg)}
    assert {"webhooks.crm.url", "webhooks.crm.events", "webhooks.crm.retries", "webhooks.Bad_Name",
            "webhooks.Bad_Name.secret_env"} <= set(found), found
    assert found["webhooks.crm.events"].line == text.splitlines().index('events = ["ticket.called", "ticket.teleported"]') + 1


# -- the outbox in each store --------------------------------------------------------------------------


async def test_the_outbox_fills_once_from_a_cursor_and_leases_what_it_hands_out(store: Any) -> None:
    def item(seq: int) -> Delivery:
        return Delivery("crm", seq, "ticket.issued", json.dumps({"seq": seq}), next_at=100.0)

    assert await store.outbox_cursor("crm") is None
    assert await store.outbox_fill("crm", None, 5, [])
    assert not await store.outbox_fill("crm", None, 7, [item(6)])  # another process filled first
    assert await store.outbox_fill("crm", 5, 12, [item(6), item(11)]) and await store.outbox_cursor("crm") == 12

    assert await store.outbox_claim(99.0, 10, 50) == []  # not due yet
    first = await store.outbox_claim(100.0, 10, 50)
    assert [d.seq for d in first] == [6, 11] and all(d.next_at == 110.0 for d in first)
    assert await store.outbox_claim(105.0, 10, 50) == []  # leased: a second sender does not post them too
    again = await store.outbox_claim(110.0, 10, 1)  # the lease ran out (its sender died): due again, in seq order
    assert [d.seq for d in again] == [6]

    a, b = first
    a.status, a.attempts, a.last_status = DELIVERED, 1, 204
    b.status, b.attempts, b.last_status, b.last_error = FAILED, 12, 500, "boom"
    await store.outbox_settle(a)
    await store.outbox_settle(b)
    assert await store.outbox_claim(1e12, 10, 50) == []
    log = await store.outbox_log("crm", 10)
    assert [(d.seq, d.status, d.attempts, d.last_status) for d in log] == [(11, FAILED, 12, 500), (6, DELIVERED, 1, 204)]

    assert await store.outbox_replay("crm", None, 200.0) == 1  # the failed one
    assert [(d.seq, d.status, d.attempts) for d in await store.outbox_claim(200.0, 10, 50)] == [(11, PENDING, 0)]
    assert await store.outbox_replay("crm", 6, 300.0) == 1  # one delivered event, on request
    assert await store.outbox_replay("crm", 99, 300.0) == 0


# -- a hall posting to a real receiver ------------------------------------------------------------------


async def test_events_are_signed_retried_with_backoff_and_survive_a_restart(
        make_hall: Any, receiver: Receiver, secret_file: str) -> None:
    extra = endpoint_table("crm", receiver.url, secret_file, '["ticket.*", "evaluation.submitted"]',
                           backoff_seconds=1.0, max_backoff_seconds=60.0, timeout_seconds=2.0)
    hall = await make_hall(extra)
    now = FakeNow()
    sender = sender_of(hall, now)
    await hall.check("webhooks")  # the endpoint hears of events from here on
    start = hall.state.seq
    for service in ("pension", "referral", "pension"):
        await hall.execute("issue", KIOSK, service=service)
    issued = [s for s in range(start + 1, hall.state.seq + 1)]

    await hall.check("webhooks")
    assert [receiver.attempts[s] for s in issued] == [1, 1, 1] and receiver.got == {}  # 503 each
    await hall.check("webhooks")
    assert [receiver.attempts[s] for s in issued] == [1, 1, 1]  # not due again yet: backoff
    now.t += 1.0
    await hall.check("webhooks")
    assert [receiver.attempts[s] for s in issued] == [2, 2, 2]
    now.t += 1.5  # the second retry waits about twice as long
    await hall.check("webhooks")
    assert [receiver.attempts[s] for s in issued] == [2, 2, 2]
    now.t += 0.6
    await hall.check("webhooks")
    assert sorted(receiver.got) == issued and receiver.bad_signatures == 0
    assert {b["type"] for b in receiver.got.values()} == {"ticket.issued"}
    assert all("token" not in b["data"]["ticket"] for b in receiver.got.values())

    # The receiver goes away: attempts fail and stay in the outbox.
    await receiver.stop()
    await hall.execute("issue", KIOSK, service="pension")
    down = hall.state.seq
    await hall.check("webhooks")
    [d] = [d for d in sender.recent if d.seq == down]
    assert (d.status, d.attempts, d.last_status) == (PENDING, 1, None) and d.last_error

    # The server stops with that delivery pending and one event never taken into the outbox.
    await hall.execute("issue", KIOSK, service="referral")
    unseen = hall.state.seq
    await hall.stop()
    await receiver.start()
    hall = await make_hall(extra)
    sender_of(hall, now)
    for _ in range(4):  # the restarted receiver refuses each event's first attempts too
        now.t += 5
        await hall.check("webhooks")
    assert {down, unseen} <= set(receiver.got) and receiver.bad_signatures == 0
    assert receiver.duplicates == []


async def test_each_endpoint_gets_only_what_it_subscribed_to(make_hall: Any, receiver: Receiver, secret_file: str) -> None:
    other = Receiver()
    await other.start()
    try:
        hall = await make_hall(endpoint_table("calls", receiver.url, secret_file, '["ticket.called"]')
                               + endpoint_table("windows", other.url, secret_file, '["window.*"]'))
        receiver.fail_first = 0
        await hall.check("webhooks")
        clerk = auth.from_person(await _clerk(hall))
        await hall.execute("issue", KIOSK, service="pension")
        await hall.execute("open", clerk, window=15)
        await hall.execute("call_next", clerk, window=15)
        await hall.check("webhooks")
        assert [b["type"] for b in receiver.got.values()] == ["ticket.called"]
        assert [b["type"] for b in other.got.values()] == ["window.opened"]
        called = next(iter(receiver.got.values()))
        assert called["data"]["ticket"]["window"] == 15 and "token" not in called["data"]["ticket"]
    finally:
        await other.stop()


async def _clerk(hall: Hall) -> Any:
    from queue_server.core.model import Person

    person = Person("p15", "clerk15", "张三", role="clerk", staff_no="0015", windows=(15,))
    await hall.store.put_person(person)
    return person


# -- the delivery log and the replay command, through the API --------------------------------------------


@pytest.fixture
def hall_config(store_spec: Any, receiver: Receiver, tmp_path: Path) -> Any:
    secret = tmp_path / "webhook.secret"
    secret.write_text(SECRET, encoding="utf-8")
    text = hall_text(endpoint_table("crm", receiver.url, str(secret), '["ticket.issued"]', max_attempts=2,
                                    backoff_seconds=0.01))
    return config.loads(text, source="hall.toml", store_url=store_spec.url)


async def test_managers_see_the_delivery_log_and_replay_a_failed_delivery(server: Harness, receiver: Receiver) -> None:
    sender = sender_of(server.hall)
    receiver.fail_first = 2  # exactly max_attempts: the delivery fails for good
    kiosk = await server.kiosk()
    status, t = await kiosk.post("/api/v1/tickets", {"service": "pension"})
    assert status == 201
    async with sender.settled:
        await asyncio.wait_for(sender.settled.wait_for(lambda: any(d.status == FAILED for d in sender.recent)), 30)
    [seq] = [d.seq for d in sender.recent if d.status == FAILED]

    mgr = await manager(server)
    status, log = await mgr.get("/api/v1/webhooks/deliveries")
    assert status == 200
    [ep] = log["endpoints"]
    assert (ep["name"], ep["url"], ep["events"]) == ("crm", receiver.url, ["ticket.issued"])
    [d] = [d for d in ep["deliveries"] if d["seq"] == seq]
    assert (d["status"], d["attempts"], d["last_status"], d["event"]) == ("failed", 2, 503, "ticket.issued")
    assert "body" not in d

    assert (await kiosk.get("/api/v1/webhooks/deliveries"))[0] in (401, 403)
    status, err = await mgr.post("/api/v1/webhooks/nope/replay", {})
    assert status == 404 and err["error"]["code"] == "webhook_unknown"
    status, err = await mgr.post("/api/v1/webhooks/crm/replay", {"seq": 999_999})
    assert status == 404 and err["error"]["code"] == "delivery_unknown"

    status, done = await mgr.post("/api/v1/webhooks/crm/replay", {})
    assert status == 200 and done == {"endpoint": "crm", "replayed": 1}
    await receiver.wait_until(lambda: seq in receiver.got)
    assert receiver.got[seq]["data"]["ticket"]["number"] == t["number"] and receiver.attempts[seq] == 3
