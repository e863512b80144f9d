"""The device agent end to end: a real server, the real agent, fake devices on real ptys.

The agent reaches the server through a TCP proxy the tests can cut, so "the server is
unreachable" is a real network failure while the hall keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devices import config as devices_config
from devices.agent import Agent, Tuning
from devices.ff68 import Code
from devices.frames import EvalStart
from devices.keypress import KeyPress
from devices.virtual_printer import VirtualPrinter, VirtualPrinterPort
from queue_server.protocol.client import CommandError, Fatal

from .conftest import Recorder
from .fakes import FakeBus, FakeBusDevice, FakeFF68Keypad
from .netcut import Proxy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HallAgent:
    """A running server, an agent bound to window 3 and kiosk k1, and the fake devices."""

    def __init__(self, server: Any, tmp_path: Path, wall: Any) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.wall = wall  # the server's clock: the PC's clock is right
        self.keypad = FakeFF68Keypad(tmp_path / "ttyKEY")
        self.evaluator = FakeBusDevice(2, "evaluator", 0)
        self.led = FakeBusDevice(3, "led", 16)
        self.bus = FakeBus(tmp_path / "ttyBUS", self.evaluator, self.led)
        self.printer = VirtualPrinterPort(tmp_path / "ttyPRN", VirtualPrinter(), on_ticket=lambda t: None)
        self.events = Recorder()  # committed server events
        self.proxy = Proxy(server.base)
        self.agent: Agent | None = None
        self.task: asyncio.Task[None] | None = None

    def toml(self) -> str:
        return f"""
[agent]
id = "agent-east"
state_dir = "{self.tmp_path / 'state'}"
key_max_age = 5
print_max_age = 60
printer_poll = 0.05
emphasis = 3

[[ports]]
port = "{self.keypad.pty.link}"
protocol = "ff68"

  [[ports.devices]]
  id = "keypad-3"
  role = "keypad"
  address = 1
  window = 3

[[ports]]
port = "{self.bus.pty.link}"
protocol = "hallcall"

  [[ports.devices]]
  id = "evaluator-3"
  role = "evaluator"
  address = 2
  window = 3

  [[ports.devices]]
  id = "led-3"
  role = "led"
  address = 3
  window = 3
  width = 16

[[ports]]
port = "{self.printer.pty.link}"
protocol = "escpos"
flow_control = "xonxoff"

  [[ports.devices]]
  id = "printer-k1"
  role = "printer"
  kiosk = "k1"
"""

    async def start(self) -> None:
        self.clerk = await self.server.person("wangfang", staff_no="1024", name="王芳", windows=(3,))
        self.token = await self.server.token("agent", windows=(3,), kiosk="k1")
        self.admin = self.server.client(await self.server.token("agent", windows=(3,)))
        self.unsubscribe = self.server.hall.subscribe(self.events)
        await self.proxy.start()
        await self.keypad.start()
        await self.bus.start()
        await self.printer.start()
        cfg = devices_config.parse(self.toml(), "devices.toml")
        tuning = Tuning(port_backoff=(0.02, 0.1), link_backoff=(0.02, 0.1), bus_poll=0.02, bus_reply_timeout=0.1,
                        printer_settle=0, status_timeout=0.5, command_timeout=5, clock=self.clock,
                        wall=self.wall.now)
        self.agent = Agent(cfg, self.proxy.base, self.token, tuning=tuning)
        self.task = asyncio.create_task(self.agent.run())
        await self.wait(self.agent.link.up)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.unsubscribe()
        await self.proxy.cut()
        await self.keypad.stop()
        await self.bus.stop()
        await self.printer.stop()

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            await event.wait()

    async def event(self, name: str, number: str | None = None) -> Any:
        return await self.events.expect(
            lambda e: e.name == name and (number is None or (e.ticket is not None and e.ticket.number == number)))

    async def sign_in(self) -> None:
        self.keypad.press(1, Code.CONFIRM, "1024")  # staff number, then confirm
        await self.event("window.opened")

    async def issue(self, n: int = 1) -> list[dict[str, Any]]:
        kiosk = await self.server.kiosk("k2")
        out = []
        for _ in range(n):
            status, body = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
            assert status == 201, body
            out.append(body)
        return out


@pytest.fixture
async def hall(server: Any, tmp_path: Path, clock: Any) -> AsyncIterator[HallAgent]:
    h = HallAgent(server, tmp_path, clock)
    await h.start()
    yield h
    await h.stop()


async def test_keypad_call_calls_the_next_ticket_and_shows_it(hall: HallAgent) -> None:
    await hall.sign_in()
    assert hall.server.hall.state.windows[3].clerk == hall.clerk.id
    await hall.led.shown.expect(lambda s: s.text == "热情为您服务")
    await hall.issue(2)

    wire = hall.keypad.press(1, Code.CALL_NEXT)
    called = await hall.event("ticket.called", "A001")
    assert called.window.number == 3
    assert await hall.keypad.displays.expect((1, "   001"))
    shown = await hall.led.shown.expect(lambda s: s.text == "请A001号到3号窗口")
    assert shown.flash and shown.seconds == 3

    # The keypad missed our echo and resends the very same frame: one call only.
    hall.keypad.pty.write(wire)
    await hall.keypad.echoes.expect(lambda e: sum(x == wire for x in hall.keypad.echoes.items) >= 2)
    hall.keypad.press(1, Code.RECALL)
    await hall.event("ticket.recalled", "A001")
    assert [e.ticket.number for e in hall.events.items if e.name == "ticket.called"] == ["A001"]
    assert hall.server.hall.state.ticket_by_number("A002").status == "waiting"
    # Each key carries the ticket the keypad shows, so one pressed on an out-of-date display is refused.
    assert hall.agent is not None
    assert hall.agent.hub.key_command(3, KeyPress("call_next")) == ("call_next", {"window": 3, "expect": "A001"})
    hall.agent.hub.at_window[3] = ""  # as if the keypad still showed nobody at the window
    name, args = hall.agent.hub.key_command(3, KeyPress("call_next"))
    assert hall.agent.hub.send is not None
    with pytest.raises(CommandError) as err:
        await hall.agent.hub.send(name, **args)
    assert err.value.code == "expect_mismatch"
    assert [e.ticket.number for e in hall.events.items if e.name == "ticket.called"] == ["A001"]


async def test_rating_on_the_satisfaction_keypad_is_stored_for_the_ticket_and_clerk(hall: HallAgent) -> None:
    await hall.sign_in()
    (issued,) = await hall.issue()
    hall.keypad.press(1, Code.CALL_NEXT)
    await hall.event("ticket.called", "A001")
    hall.keypad.press(1, Code.EVALUATE)  # 请评价: finishes the service
    await hall.event("evaluation.requested", "A001")
    prompt = await hall.evaluator.evals.expect(lambda e: isinstance(e, EvalStart))
    assert prompt == EvalStart(issued["id"], "A001", "王芳", "1024")

    hall.evaluator.rate(issued["id"], 5)
    submitted = await hall.event("evaluation.submitted", "A001")
    assert submitted.evaluation.level == 5
    assert submitted.evaluation.clerk == hall.clerk.id
    assert submitted.evaluation.window == 3
    assert submitted.evaluation.source == "keypad"
    await hall.evaluator.acked.expect(lambda a: True)


async def test_rating_made_while_the_server_is_unreachable_is_stored_when_it_is_back(hall: HallAgent) -> None:
    assert hall.agent is not None
    await hall.sign_in()
    (issued,) = await hall.issue()
    hall.keypad.press(1, Code.CALL_NEXT)
    await hall.event("ticket.called", "A001")
    hall.keypad.press(1, Code.EVALUATE)
    await hall.evaluator.evals.expect(lambda e: isinstance(e, EvalStart))

    await hall.proxy.cut()
    await hall.wait(hall.agent.link.down)
    hall.evaluator.rate(issued["id"], 1, ("attitude",))
    await hall.evaluator.acked.expect(lambda a: True)  # acknowledged: it is on disk
    kept = (hall.tmp_path / "state" / "ratings.jsonl").read_text().splitlines()
    assert json.loads(kept[-1])["ticket"] == issued["id"] and json.loads(kept[-1])["level"] == 1
    assert not [e for e in hall.events.items if e.name == "evaluation.submitted"]

    await hall.proxy.restore()
    submitted = await hall.event("evaluation.submitted", "A001")
    assert submitted.evaluation.level == 1 and submitted.evaluation.reasons == ("attitude",)
    assert submitted.evaluation.clerk == hall.clerk.id
    async with asyncio.timeout(5):
        await hall.agent.outbox.wait_empty()
    assert '"op":"delivered"' in (hall.tmp_path / "state" / "ratings.jsonl").read_text()


async def test_kiosk_ticket_prints_with_its_tracking_qr(hall: HallAgent) -> None:
    kiosk = await hall.server.kiosk("k1")
    status, body = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
    assert status == 201
    (printed,) = await hall.printer.wait_printed(1)
    lines = printed.text_lines()
    assert lines[0] == "太康县行政服务中心"
    assert "企业设立登记" in lines[1]
    assert lines[2] == body["number"]
    assert printed.qr == f"{hall.proxy.base}/t/{body['token']}"


async def test_a_bilingual_hall_prints_english_under_chinese(make_server: Any, hall_config: Any, clock: Any,
                                                             tmp_path: Path) -> None:
    bilingual = replace(hall_config, hall=replace(hall_config.hall, bilingual_tickets=True))
    server = await make_server(cfg=bilingual)
    h = HallAgent(server, tmp_path, clock)
    await h.start()
    try:
        assert h.agent is not None
        await h.wait(h.agent.hall_read)
        # No window serves pension yet: the slip warns in both languages instead of a wait.
        status, body = await (await server.kiosk("k1")).post("/api/v1/tickets", {"service": "pension"})
        assert status == 201
        (printed,) = await h.printer.wait_printed(1)
        assert printed.text_lines()[:5] == ["太康县行政服务中心", "Taikang County Administrative Service Center",
                                            "人社服务区 养老保险", "Pension insurance", body["number"]]
        assert {"暂无窗口办理", "No window serves this now"} <= set(printed.text_lines())
        assert "Please listen for your number; if missed, queue again" in printed.text_lines()
    finally:
        await h.stop()


async def test_staff_reprint_prints_the_ticket_again_at_its_kiosk(hall: HallAgent) -> None:
    kiosk = await hall.server.kiosk("k1")
    status, body = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
    assert status == 201
    (first,) = await hall.printer.wait_printed(1)

    await hall.server.person("guide", "manager")  # the lobby guide (导服) at the kiosks
    guide = hall.server.client()
    await guide.login("guide")
    status, again = await guide.post("/api/v1/reprint", {"ticket": body["number"]})
    assert status == 200, again
    assert again["printed_at"] == "k1" and "token" not in again
    _, second = await hall.printer.wait_printed(2)
    assert second.text_lines()[2] == body["number"]
    assert second.qr == first.qr == f"{hall.proxy.base}/t/{body['token']}"
    # Each job is known by its own name, so a replay of either request prints nothing more.
    assert hall.agent is not None
    jobs = hall.agent.hub.printers["k1"].driver.queue
    requests = [e for e in await hall.server.hall.store.events_since(0) if e.name == "print.requested"]
    assert [e.extra.get("reprint", False) for e in requests] == [False, True]
    async with asyncio.timeout(5):
        await jobs.wait_done(f"{body['id']}#{requests[1].seq}")
    assert jobs.known(body["id"]) and not jobs.pending()


async def test_tickets_requested_while_the_agent_was_away_print_only_while_fresh(hall: HallAgent, clock: Any) -> None:
    assert hall.agent is not None
    kiosk = await hall.server.kiosk("k1")
    await hall.proxy.cut()
    await hall.wait(hall.agent.link.down)
    status, stale = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
    assert status == 201
    clock.advance(120)  # print_max_age is 60: that citizen has given up on the slip
    hall.clock.now += 120
    status, fresh = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
    assert status == 201
    await hall.proxy.restore()
    (printed,) = await hall.printer.wait_printed(1)
    # Both requests came as replays after a two-minute outage; only the fresh one prints.
    assert printed.text_lines()[2] == fresh["number"]
    assert hall.agent.hub.skipped_prints == 1
    assert not hall.agent.hub.printers["k1"].driver.queue.known(stale["id"])


async def test_paper_out_is_reported_and_the_ticket_prints_after_the_roll_is_changed(hall: HallAgent) -> None:
    hall.printer.printer.paper = 0
    kiosk = await hall.server.kiosk("k1")
    status, body = await kiosk.post("/api/v1/tickets", {"service": "company-registration"})
    assert status == 201
    report = await hall.events.expect(lambda e: e.name == "device.status" and e.docs[0].data["status"] == "paper_out")
    assert report.docs[0].data["device"] == "printer-k1" and report.docs[0].data["kiosk"] == "k1"
    status, listing = await hall.admin.get("/api/v1/devices")
    assert status == 200
    assert {d["device"]: d["status"] for d in listing["devices"]}["printer-k1"] == "paper_out"

    hall.printer.printer.load_paper()
    (printed,) = await hall.printer.wait_printed(1)
    assert printed.text_lines()[2] == body["number"]
    await hall.events.expect(lambda e: e.name == "device.status" and e.docs[0].data["device"] == "printer-k1"
                             and e.docs[0].data["status"] == "online" and e.seq > report.seq)


async def test_stale_key_press_is_not_replayed_but_a_fresh_one_is(hall: HallAgent) -> None:
    assert hall.agent is not None
    await hall.sign_in()
    await hall.issue(2)

    await hall.proxy.cut()
    await hall.wait(hall.agent.link.down)
    hall.keypad.press(1, Code.CALL_NEXT)
    await hall.keypad.echoes.expect(lambda e: True)
    hall.clock.now += 30  # the network stayed down half a minute
    await hall.proxy.restore()
    await hall.wait(hall.agent.link.up)

    # Another outage, short this time: that press is still wanted.
    await hall.proxy.cut()
    await hall.wait(hall.agent.link.down)
    hall.clock.now += 3  # past the debounce window: a new press, not a resend
    hall.keypad.press(1, Code.CALL_NEXT)
    hall.clock.now += 1
    await hall.proxy.restore()
    await hall.event("ticket.called", "A001")
    hall.keypad.press(1, Code.RECALL)
    await hall.event("ticket.recalled", "A001")
    assert [e.ticket.number for e in hall.events.items if e.name == "ticket.called"] == ["A001"]


async def test_unplugged_led_strip_recovers_and_health_reaches_the_server(hall: HallAgent) -> None:
    await hall.sign_in()
    await hall.led.shown.expect(lambda s: s.text == "热情为您服务")
    hall.bus.pty.unplug()
    await hall.events.expect(lambda e: e.name == "device.status" and e.docs[0].data["device"] == "led-3"
                             and e.docs[0].data["status"] == "offline")
    await hall.issue()
    hall.keypad.press(1, Code.CALL_NEXT)
    await hall.event("ticket.called", "A001")
    hall.led.shown.clear()
    hall.bus.pty.plug()  # plugged back at the same path: the agent was never restarted
    await hall.led.shown.expect(lambda s: s.text == "请A001号到3号窗口")
    status, listing = await hall.admin.get("/api/v1/devices")
    devices = {d["device"]: d for d in listing["devices"]}
    assert devices["led-3"]["window"] == 3
    offline = next(e for e in hall.events.items if e.name == "device.status" and e.docs[0].data["device"] == "led-3"
                   and e.docs[0].data["status"] == "offline")
    await hall.events.expect(lambda e: e.name == "device.status" and e.docs[0].data["device"] == "led-3"
                             and e.docs[0].data["status"] == "online" and e.seq > offline.seq)


async def test_pause_key_toggles_and_the_strip_follows(hall: HallAgent) -> None:
    await hall.sign_in()
    hall.keypad.press(1, Code.PAUSE)
    await hall.event("window.paused")
    await hall.led.shown.expect(lambda s: s.text == "暂停服务")
    hall.led.shown.clear()
    hall.clock.now += 3  # past the debounce window: a second press
    hall.keypad.press(1, Code.PAUSE)
    await hall.event("window.resumed")
    await hall.led.shown.expect(lambda s: s.text == "热情为您服务")


async def test_refused_token_is_fatal(server: Any, tmp_path: Path) -> None:
    cfg = devices_config.parse(f'[agent]\nstate_dir = "{tmp_path}"\n[[ports]]\nport = "{tmp_path / "none"}"\n'
                               'protocol = "ff68"\n[[ports.devices]]\nid = "kp"\nrole = "keypad"\naddress = 1\n'
                               'window = 3\n')
    agent = Agent(cfg, server.base, "not-a-token", tuning=Tuning(port_backoff=(0.02, 0.1)))
    with pytest.raises(Fatal, match="unauthorized"):
        async with asyncio.timeout(10):
            await agent.run()
