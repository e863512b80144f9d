"""The serial transport and its supervisor, on real pseudo-terminals."""

from __future__ import annotations

import termios
import threading
from pathlib import Path

import pytest

from devices.ptylink import PtyLink
from devices.serial_port import PortError, SerialPort, SerialSettings, WriteTimeout
from devices.supervisor import PortClosed, PortSupervisor

from .conftest import Recorder, fast_backoff, read_until


class EchoHandler:
    """A driver that records what arrives and how the connection went."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.events = Recorder()
        self.idle = 0

    def connection_made(self, port: PortSupervisor) -> None:
        self.events("made")

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.events(("data", bytes(self.data)))

    def line_idle(self) -> None:
        self.idle += 1

    def connection_lost(self, reason: str) -> None:
        self.events(("lost", reason))


def test_settings_refuse_what_is_not_flow_control() -> None:
    with pytest.raises(ValueError, match="flow_control"):
        SerialSettings("/dev/ttyUSB0", flow_control="dsrdtr")
    with pytest.raises(ValueError, match="parity"):
        SerialSettings("/dev/ttyUSB0", parity="mark")
    assert SerialSettings("/dev/ttyUSB0", parity="even").describe() == "/dev/ttyUSB0 9600 8E1"


@pytest.mark.parametrize(("flow", "iflag", "cflag"), [("none", 0, 0), ("xonxoff", termios.IXON, 0),
                                                       ("rtscts", 0, termios.CRTSCTS)])
async def test_flow_control_reaches_the_tty(device: PtyLink, flow: str, iflag: int, cflag: int) -> None:
    port = await SerialPort.open(SerialSettings(str(device.link), 19200, flow_control=flow))
    try:
        attrs = termios.tcgetattr(port.raw.fileno())
        assert attrs[0] & termios.IXON == iflag
        assert attrs[2] & termios.CRTSCTS == cflag
        assert attrs[4] == termios.B19200
    finally:
        await port.close()


async def test_read_and_write_through_a_pty(device: PtyLink) -> None:
    port = await SerialPort.open(SerialSettings(str(device.link)))
    try:
        await port.write(b"\x10\x04\x01")
        assert await device.read(timeout=2) == b"\x10\x04\x01"
        device.write(b"\x12")
        got = b""
        while not got:
            got = await port.read()
        assert got == b"\x12"
        assert await port.read() == b""  # a quiet line reads as nothing
    finally:
        await port.close()
    with pytest.raises(PortError):
        await port.read()


async def test_pyserial_urls_work_too() -> None:
    port = await SerialPort.open(SerialSettings("loop://"))
    try:
        await port.write(b"ping")
        got = b""
        while len(got) < 4:
            got += await port.read()
        assert got == b"ping"
    finally:
        await port.close()


async def test_xoff_holds_writes_until_the_write_timeout(device: PtyLink) -> None:
    port = await SerialPort.open(SerialSettings(str(device.link), flow_control="xonxoff", write_timeout=0.2))
    try:
        device.write(b"\x13")  # XOFF: the printer's buffer is full
        # The kernel takes the XOFF a moment later; until then a write may still go through,
        # so write until one is held (the fake device reads everything it is sent).
        with pytest.raises(WriteTimeout):
            for _ in range(64):
                await port.write(bytes(8192))
        device.write(b"\x11")  # XON: output flows again
        device.take()
        await port.write(b"after")
        assert (await read_until(device, lambda d: d.endswith(b"after"))).endswith(b"after")
    finally:
        await port.close()


async def test_supervisor_reports_offline_then_picks_the_device_up(tmp_path: Path) -> None:
    dev = PtyLink(tmp_path / "ttyUSB9")
    handler = EchoHandler()
    states = Recorder()
    sup = PortSupervisor(SerialSettings(str(dev.link)), handler, on_state=states, backoff=fast_backoff())
    sup.start()
    try:
        down = await states.expect(lambda s: s[0] is False)
        assert "cannot open" in down[1] and "ttyUSB9" in down[1]
        dev.plug()
        await states.expect(lambda s: s[0] is True)
        await handler.events.expect("made")
        dev.write(b"hello")
        await handler.events.expect(("data", b"hello"))
        await sup.write(b"world")
        assert await read_until(dev, lambda d: d == b"world") == b"world"

        # Unplug: the read fails, the driver hears of it, the manager sees offline.
        states.clear()
        dev.unplug()
        await handler.events.expect(lambda e: e[0] == "lost")
        await states.expect(lambda s: s[0] is False)
        with pytest.raises(PortClosed):
            await sup.write(b"x")

        # Plug back in at the same path: recovered without restarting anything.
        states.clear()
        dev.plug()
        await states.expect(lambda s: s[0] is True)
        dev.write(b"again")
        await handler.events.expect(lambda e: e[0] == "data" and e[1].endswith(b"again"))
        assert sup.opens == 2
    finally:
        await sup.stop()
        dev.unplug()
    assert not sup.connected.is_set()
    # The port's own threads are joined once stopped.
    assert not [t for t in threading.enumerate() if t.name.startswith("serial-")]


async def test_stop_closes_the_port_cleanly(device: PtyLink) -> None:
    handler = EchoHandler()
    sup = PortSupervisor(SerialSettings(str(device.link)), handler, backoff=fast_backoff())
    sup.start()
    await sup.wait_connected(5)
    await sup.stop()
    await handler.events.expect(lambda e: e[0] == "lost")
    # Closed for real: another program may open the port now.
    port = await SerialPort.open(SerialSettings(str(device.link)))
    await port.close()


async def test_exclusive_open_refuses_a_second_agent(device: PtyLink) -> None:
    first = await SerialPort.open(SerialSettings(str(device.link)))
    try:
        with pytest.raises(PortError):
            await SerialPort.open(SerialSettings(str(device.link)))
    finally:
        await first.close()
