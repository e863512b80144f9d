"""Printer jobs against a virtual printer on a pty: no ticket is lost to paper out, a pulled cable or a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devices import ticket
from devices.escpos import PrinterStatus
from devices.printer import Job, JobQueue, PrinterDriver
from devices.serial_port import SerialSettings
from devices.supervisor import PortSupervisor
from devices.virtual_printer import VirtualPrinter, VirtualPrinterPort

from .conftest import Recorder, fast_backoff


def job(n: int) -> Job:
    number = f"A{n:03d}"
    data = ticket.render(ticket.TicketContent(hall="太康县行政服务中心", number=number, service="企业设立登记"))
    return Job(f"20261201-{number}", data, number)


class Rig:
    """A virtual printer on a pty, and the agent's queue, driver and supervisor for it."""

    def __init__(self, tmp_path: Path, printer: VirtualPrinter) -> None:
        self.tmp_path = tmp_path
        self.fake = VirtualPrinterPort(tmp_path / "ttyPRN", printer, on_ticket=lambda t: None)
        self.health = Recorder()
        self.driver: PrinterDriver | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.sup: PortSupervisor | None = None

    async def start_agent(self) -> None:
        queue = await JobQueue(self.tmp_path / "state" / "printer-k1.jsonl").load()
        self.driver = PrinterDriver("printer-k1", queue, on_health=lambda s, d: self.health((s, d)),
                                    poll_interval=0.05, status_timeout=0.5, settle=0)
        self.sup = PortSupervisor(SerialSettings(str(self.fake.pty.link)), self.driver,
                                  on_state=self.driver.port_state, backoff=fast_backoff())
        self.sup.start()
        self.tasks.append(asyncio.create_task(self.driver.run()))

    async def stop_agent(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        if self.sup is not None:
            await self.sup.stop()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path, VirtualPrinter())
    await r.fake.start()
    await r.start_agent()
    yield r
    await r.stop_agent()
    await r.fake.stop()


async def test_a_job_prints_and_is_done(rig: Rig) -> None:
    assert rig.driver is not None
    assert await rig.driver.queue.add(job(1))
    printed = await rig.fake.wait_printed(1)
    assert printed[0].text_lines()[:3] == ["太康县行政服务中心", "企业设立登记", "A001"]
    await rig.health.expect(("online", ""))
    async with asyncio.timeout(5):
        await rig.driver.queue.wait_done("20261201-A001")
    assert rig.driver.queue.pending() == []
    assert not await rig.driver.queue.add(job(1))  # the same ticket again (a replayed event): not printed twice


async def test_paper_out_during_a_job_keeps_it_until_paper_is_back(rig: Rig) -> None:
    assert rig.driver is not None
    rig.fake.printer.paper = 0  # the roll ends during the next ticket
    await rig.driver.queue.add(job(2))
    health, detail = await rig.health.expect(lambda h: h[0] == "paper_out")
    assert "A002" in detail
    assert [j.id for j in rig.driver.queue.pending()] == ["20261201-A002"]
    assert rig.fake.printer.printed == [] and len(rig.fake.printer.lost) == 1

    # A second citizen takes a ticket while the printer is out: queued behind the first.
    await rig.driver.queue.add(job(3))
    rig.health.clear()
    rig.fake.printer.load_paper()
    printed = await rig.fake.wait_printed(2)
    assert [p.text_lines()[2] for p in printed] == ["A002", "A003"]
    await rig.health.expect(("online", ""))


async def test_cover_open_is_reported_and_nothing_is_sent(rig: Rig) -> None:
    assert rig.driver is not None
    rig.fake.printer.status = PrinterStatus(cover_open=True)
    await rig.health.expect(lambda h: h[0] == "cover_open")
    await rig.driver.queue.add(job(4))
    rig.fake.printer.status = PrinterStatus(paper_near_end=True)
    printed = await rig.fake.wait_printed(1)
    assert printed[0].text_lines()[2] == "A004"
    assert rig.fake.printer.lost == []  # never sent while the cover was open
    await rig.health.expect(("paper_near_end", ""))


async def test_unplugged_printer_keeps_jobs_and_prints_when_back(rig: Rig) -> None:
    assert rig.driver is not None
    await rig.health.expect(("online", ""))
    rig.fake.pty.unplug()
    await rig.health.expect(lambda h: h[0] == "offline")
    await rig.driver.queue.add(job(5))
    rig.fake.pty.plug()
    printed = await rig.fake.wait_printed(1)
    assert printed[0].text_lines()[2] == "A005"


async def test_a_silent_printer_is_offline(tmp_path: Path) -> None:
    r = Rig(tmp_path, VirtualPrinter())
    r.fake.pty.plug()  # a port with nothing answering on it
    await r.start_agent()
    try:
        assert r.driver is not None
        _, detail = await r.health.expect(lambda h: h[0] == "offline")
        assert "DLE EOT" in detail
    finally:
        await r.stop_agent()
        r.fake.pty.unplug()


async def test_jobs_survive_an_agent_restart(tmp_path: Path) -> None:
    r = Rig(tmp_path, VirtualPrinter(PrinterStatus(paper_out=True)))
    await r.fake.start()
    await r.start_agent()
    try:
        assert r.driver is not None
        await r.driver.queue.add(job(6))
        await r.health.expect(lambda h: h[0] == "paper_out")
        await r.stop_agent()  # the agent is restarted while the printer is out of paper
        r.fake.printer.load_paper()
        await r.start_agent()
        printed = await r.fake.wait_printed(1)
        assert printed[0].text_lines()[2] == "A006"
    finally:
        await r.stop_agent()
        await r.fake.stop()


async def test_job_queue_file_is_compacted_and_tolerates_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    q = await JobQueue(path).load()
    for n in range(3):
        await q.add(job(n))
    await q.done("20261201-A000")
    with path.open("a") as f:
        f.write('{"op":"add","id":"torn')  # the power went mid-write
    q2 = await JobQueue(path).load()
    assert [j.id for j in q2.pending()] == ["20261201-A001", "20261201-A002"]
    assert q2.known("20261201-A000")
    assert q2.pending()[0].data == job(1).data
    lines = path.read_text().splitlines()
    assert len(lines) == 3  # one done marker, two pending jobs
