"""FF68 keypads on a pty: echo, debounce, display, and reconnect after unplugging."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devices import ff68
from devices.ff68 import Code
from devices.keypad import FF68Keypads, KeypadBinding
from devices.keypress import KeyPress
from devices.serial_port import SerialSettings
from devices.supervisor import PortSupervisor

from .conftest import Recorder, fast_backoff
from .fakes import FakeFF68Keypad


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.fake = FakeFF68Keypad(tmp_path / "ttyKEY")
        self.keys = Recorder()
        self.health = Recorder()
        self.clock = Clock()
        self.driver = FF68Keypads(
            [KeypadBinding("keypad-3", 1, 3), KeypadBinding("keypad-4", 2, 4)],
            on_key=lambda k, p: self.keys((k.window, p)), on_health=lambda k, s, d: self.health((k.device, s)),
            debounce=2.0, clock=self.clock,
        )
        self.sup = PortSupervisor(SerialSettings(str(self.fake.pty.link)), self.driver,
                                  on_state=self.driver.port_state, backoff=fast_backoff())
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.fake.start()
        self.sup.start()
        self.task = asyncio.create_task(self.driver.run())
        await self.sup.wait_connected(5)

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


async def test_key_press_is_echoed_and_decoded(rig: Rig) -> None:
    wire = rig.fake.press(1, Code.CALL_NEXT)
    assert await rig.keys.expect(lambda k: True) == (3, KeyPress("call_next"))
    assert await rig.fake.echoes.expect(wire) == bytes.fromhex("FF 68 03 03 68 01 01 0C 0E 16")
    rig.fake.press(2, Code.CONFIRM, "6")
    assert await rig.keys.expect((4, KeyPress("no_show")))


async def test_resent_frame_inside_the_window_calls_once(rig: Rig) -> None:
    wire = rig.fake.press(1, Code.CALL_NEXT)
    await rig.keys.expect((3, KeyPress("call_next")))
    rig.clock.now += 0.4
    rig.fake.press(1, Code.CALL_NEXT)  # the keypad missed the echo and resends
    # Both frames are echoed (the keypad must stop resending) …
    await rig.fake.echoes.expect(lambda e: sum(x == wire for x in rig.fake.echoes.items) >= 2)
    # … but only one call reached the agent.
    assert rig.keys.items == [(3, KeyPress("call_next"))]
    assert rig.driver.parser.stats.duplicates == 1
    rig.clock.now += 5
    rig.fake.press(1, Code.CALL_NEXT)  # a real second press, later
    await rig.keys.expect(lambda k: len(rig.keys.items) == 2)


async def test_noise_on_the_line_is_skipped(rig: Rig) -> None:
    rig.fake.pty.write(b"\x00\xff\x68\x03\x03\x68\x01\x01\x0c\x99\x16garbage")
    rig.fake.press(1, Code.RECALL)
    assert await rig.keys.expect(lambda k: True) == (3, KeyPress("recall"))
    assert rig.driver.parser.stats.bad_checksum == 1


async def test_display_shows_the_number_and_is_restored_after_unplugging(rig: Rig) -> None:
    rig.driver.show(3, "A001")
    assert await rig.fake.displays.expect(lambda d: True) == (1, "   001")
    rig.fake.displays.clear()
    rig.health.clear()
    rig.fake.pty.unplug()
    await rig.health.expect(("keypad-3", "offline"))
    rig.fake.pty.plug()
    await rig.health.expect(("keypad-3", "online"))
    assert await rig.fake.displays.expect(lambda d: True) == (1, "   001")
    rig.fake.press(1, Code.CALL_NEXT)
    await rig.keys.expect((3, KeyPress("call_next")))


async def test_unbound_address_is_echoed_but_ignored(rig: Rig) -> None:
    wire = rig.fake.press(9, Code.CALL_NEXT)
    await rig.fake.echoes.expect(wire)
    rig.fake.press(1, Code.PAUSE)
    assert await rig.keys.expect(lambda k: True) == (3, KeyPress("pause_toggle"))
    assert len(rig.keys.items) == 1
    assert ff68.decode_key(ff68.key_frame(9, Code.CALL_NEXT)) == KeyPress("call_next")
