"""hallcall-protocol devices sharing one pty: polling, requests, ratings, dedupe, recovery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devices.bus import BusDevice, HallcallBus
from devices.frames import Cmd, EvalResult, EvalStart, Key, ShowText
from devices.keypress import KeyPress
from devices.serial_port import SerialSettings
from devices.supervisor import PortSupervisor

from .conftest import Recorder, fast_backoff
from .fakes import FakeBus, FakeBusDevice


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.keypad = FakeBusDevice(1, "keypad", 8)
        self.evaluator = FakeBusDevice(2, "evaluator", 0)
        self.led = FakeBusDevice(3, "led", 16)
        self.fake = FakeBus(tmp_path / "ttyBUS", self.keypad, self.evaluator, self.led)
        self.keys = Recorder()
        self.ratings = Recorder()
        self.health = Recorder()
        self.fail_ratings = 0
        self.bus = HallcallBus(
            [BusDevice("kp-3", 1, "keypad", 3), BusDevice("ev-3", 2, "evaluator", 3), BusDevice("led-3", 3, "led", 3)],
            on_key=lambda d, k: self.keys((d.device, k)), on_rating=self._rating,
            on_health=lambda d, s, detail: self.health((d.device, s)), poll_interval=0.02, reply_timeout=0.1,
            retries=1, offline_after=2,
        )
        self.sup = PortSupervisor(SerialSettings(str(self.fake.pty.link)), self.bus, on_state=self.bus.port_state,
                                  backoff=fast_backoff())
        self.task: asyncio.Task[None] | None = None

    async def _rating(self, dev: BusDevice, result: EvalResult) -> None:
        if self.fail_ratings:
            self.fail_ratings -= 1
            raise OSError("disk full")
        self.ratings((dev.device, result))

    async def start(self) -> None:
        await self.fake.start()
        self.sup.start()
        self.task = asyncio.create_task(self.bus.run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.sup.stop()
        await self.fake.stop()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    await r.start()
    yield r
    await r.stop()


async def test_devices_come_online_and_report_their_info(rig: Rig) -> None:
    for device in ("kp-3", "ev-3", "led-3"):
        await rig.health.expect((device, "online"))
    led = rig.bus.by_id["led-3"]
    assert led.info is not None and led.info.kind == "led" and led.info.width == 16


async def test_key_events_are_delivered_once_and_acknowledged(rig: Rig) -> None:
    rig.keypad.press(Key.CALL_NEXT)
    rig.keypad.press(Key.SIGN_IN, "1024")
    await rig.keys.expect(("kp-3", KeyPress("open", "1024")))
    assert rig.keys.items == [("kp-3", KeyPress("call_next")), ("kp-3", KeyPress("open", "1024"))]
    await rig.keypad.acked.expect(lambda a: len(rig.keypad.acked.items) == 2)
    assert not rig.keypad.events


async def test_lost_ack_means_a_resend_that_is_not_acted_on_twice(rig: Rig) -> None:
    rig.keypad.drop_acks = 1
    rig.keypad.press(Key.RECALL)
    await rig.keypad.acked.expect(lambda a: True)  # acknowledged on the second offer
    assert rig.keys.items == [("kp-3", KeyPress("recall"))]
    assert rig.fake.requests.items.count  # the host did send two ACKs for it
    acks = [r for r in rig.fake.requests.items if r.cmd == Cmd.ACK and r.addr == 1]
    assert len(acks) == 2 and acks[0].payload == acks[1].payload


async def test_show_text_reaches_the_strip(rig: Rig) -> None:
    rig.bus.show_text("led-3", "请A001号到3号窗口", flash=True, seconds=5)
    assert await rig.led.shown.expect(lambda s: True) == ShowText(0, True, False, 5, "请A001号到3号窗口")


async def test_newer_text_replaces_an_unsent_one(rig: Rig) -> None:
    await rig.health.expect(("led-3", "online"))
    rig.bus.show_text("led-3", "请A001号到3号窗口")
    rig.bus.show_text("led-3", "请A002号到3号窗口")
    await rig.led.shown.expect(lambda s: s.text == "请A002号到3号窗口")
    assert [s.text for s in rig.led.shown.items] == ["请A002号到3号窗口"]


async def test_evaluation_round_trip_with_a_failed_store(rig: Rig) -> None:
    rig.bus.eval_start("ev-3", "20261201-A001", "A001", "王芳", "1024")
    assert await rig.evaluator.evals.expect(lambda e: True) == EvalStart("20261201-A001", "A001", "王芳", "1024")
    rig.fail_ratings = 1  # the agent could not keep it the first time: the device must offer it again
    rig.evaluator.rate("20261201-A001", 2, ("attitude",))
    got = await rig.ratings.expect(lambda r: True)
    assert got == ("ev-3", EvalResult("20261201-A001", 2, ("attitude",)))
    await rig.evaluator.acked.expect(lambda a: True)
    assert len(rig.ratings.items) == 1
    rig.bus.eval_cancel("ev-3", "20261201-A001")
    assert await rig.evaluator.evals.expect(lambda e: isinstance(e, tuple)) == ("cancel", "20261201-A001")


async def test_silent_device_goes_offline_and_its_text_waits(rig: Rig) -> None:
    await rig.health.expect(("led-3", "online"))
    rig.led.silent = True
    await rig.health.expect(("led-3", "offline"))
    rig.bus.show_text("led-3", "暂停服务")
    rig.keypad.press(Key.CALL_NEXT)  # the others on the bus keep working
    await rig.keys.expect(("kp-3", KeyPress("call_next")))
    rig.health.clear()
    rig.led.silent = False
    await rig.health.expect(("led-3", "online"))
    assert (await rig.led.shown.expect(lambda s: True)).text == "暂停服务"


async def test_unplugged_bus_recovers(rig: Rig) -> None:
    await rig.health.expect(("led-3", "online"))
    rig.health.clear()
    rig.fake.pty.unplug()
    await rig.health.expect(("led-3", "offline"))
    rig.bus.show_text("led-3", "热情为您服务")
    rig.fake.pty.plug()
    await rig.health.expect(("led-3", "online"))
    assert (await rig.led.shown.expect(lambda s: True)).text == "热情为您服务"
    rig.keypad.press(Key.FINISH)
    await rig.keys.expect(("kp-3", KeyPress("finish")))


async def test_garbage_on_the_bus_is_survived(rig: Rig) -> None:
    await rig.health.expect(("kp-3", "online"))
    rig.fake.pty.write(b"\xaa\x55\x01\x01\x01\xa0\xff\xff" + bytes(range(256)))
    rig.keypad.press(Key.HOLD)
    await rig.keys.expect(("kp-3", KeyPress("hold")))
    assert rig.bus.parser.stats.garbage_bytes > 0
