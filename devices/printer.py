"""Ticket printing: a job queue kept on disk, and the driver that empties it.

A job is done only when its bytes were written and the printer then answered DLE EOT
with a ready status. Paper out, an open cover or a silent printer keep the job; the
driver reports the condition and prints the job once the printer recovers. A ticket
may come out twice after a fault (the printer may have printed part of it), never
zero times.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import escpos
from .escpos import PrinterStatus
from .journal import Journal
from .serial_port import PortError
from .supervisor import PortSupervisor

log = logging.getLogger("hallcall.devices.printer")

HealthCallback = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Job:
    id: str  # the ticket id: a replayed print.requested must not print twice
    data: bytes
    label: str = ""
    created: float = 0.0

    def record(self) -> dict[str, Any]:
        return {"op": "add", "id": self.id, "label": self.label, "created": self.created,
                "data": base64.b64encode(self.data).decode("ascii")}


class JobQueue:
    """Print jobs in order, on disk until the printer confirms each one."""

    def __init__(self, path: str | os.PathLike[str], *, keep_done: int = 1000) -> None:
        self.journal = Journal(path)
        self.keep_done = keep_done
        self._pending: dict[str, Job] = {}
        self._done: deque[str] = deque(maxlen=keep_done)
        self.changed = asyncio.Event()
        self._settled = asyncio.Condition()

    async def load(self) -> JobQueue:
        """Read the queue back and compact the file."""
        records = await asyncio.to_thread(self.journal.read)
        for rec in records:
            job_id = str(rec.get("id", ""))
            if rec.get("op") == "add" and job_id not in self._done:
                with contextlib.suppress(ValueError, TypeError):
                    self._pending[job_id] = Job(job_id, base64.b64decode(rec["data"]), str(rec.get("label", "")),
                                                float(rec.get("created", 0)))
            elif rec.get("op") == "done":
                self._pending.pop(job_id, None)
                self._done.append(job_id)
        compact = [{"op": "done", "id": i} for i in self._done] + [j.record() for j in self._pending.values()]
        await asyncio.to_thread(self.journal.rewrite, compact)
        if self._pending:
            self.changed.set()
        return self

    def pending(self) -> list[Job]:
        return list(self._pending.values())

    def known(self, job_id: str) -> bool:
        return job_id in self._pending or job_id in self._done

    async def add(self, job: Job) -> bool:
        """Queue a job durably; False if this ticket was queued or printed before."""
        if self.known(job.id):
            return False
        if not job.created:
            job = Job(job.id, job.data, job.label, time.time())
        await self.journal.append(job.record())
        self._pending[job.id] = job
        self.changed.set()
        return True

    async def done(self, job_id: str) -> None:
        await self.journal.append({"op": "done", "id": job_id})
        self._pending.pop(job_id, None)
        self._done.append(job_id)
        async with self._settled:
            self._settled.notify_all()

    async def wait_done(self, job_id: str) -> None:
        """Wait until a job was printed and confirmed."""
        async with self._settled:
            await self._settled.wait_for(lambda: job_id in self._done)


class PrinterDriver:
    """Feeds a ``JobQueue`` to an ESC/POS printer on a supervised port and watches its status."""

    def __init__(self, device_id: str, queue: JobQueue, *, on_health: HealthCallback | None = None,
                 poll_interval: float = 5.0, status_timeout: float = 1.0, settle: float = 0.5) -> None:
        self.device_id = device_id
        self.queue = queue
        self.on_health = on_health
        self.poll_interval = poll_interval
        self.status_timeout = status_timeout
        # Wait after writing before asking the status: DLE EOT is answered at once, and
        # a roll that ends while the ticket is printing shows only after a moment.
        self.settle = settle
        self.port: PortSupervisor | None = None
        self.status: PrinterStatus | None = None
        self.health: tuple[str, str] | None = None
        self.printed = 0
        self.stray_bytes = 0
        self._replies: deque[int] = deque()
        self._reply = asyncio.Event()
        self._wake = asyncio.Event()
        self._port_detail = "not opened yet"

    # -- PortHandler --------------------------------------------------------------------

    def connection_made(self, port: PortSupervisor) -> None:
        self.port = port
        self._wake.set()

    def data_received(self, data: bytes) -> None:
        for b in data:
            if escpos.is_status_byte(b):
                self._replies.append(b)
            else:
                self.stray_bytes += 1
        self._reply.set()

    def line_idle(self) -> None:
        pass

    def connection_lost(self, reason: str) -> None:
        self._port_detail = reason
        self._report("offline", reason)

    def port_state(self, up: bool, detail: str) -> None:
        """The supervisor's view of the port, for when it cannot even be opened."""
        if not up:
            self._port_detail = detail
            self._report("offline", detail)
        self._wake.set()

    # -- status -------------------------------------------------------------------------

    async def query_status(self) -> PrinterStatus | None:
        """Ask DLE EOT 1, 2 and 4; None if the printer does not answer in time."""
        if self.port is None:
            return None
        self._replies.clear()
        await self.port.write(escpos.status_queries())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.status_timeout
        while len(self._replies) < 3:
            self._reply.clear()
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                async with asyncio.timeout(left):
                    await self._reply.wait()
            except TimeoutError:
                return None
        printer, cause, paper = (self._replies.popleft() for _ in range(3))
        return escpos.parse_status(printer, cause, paper)

    def _report(self, health: str, detail: str) -> None:
        if (health, detail) == self.health:
            return
        self.health = (health, detail)
        (log.info if health in ("online", "paper_near_end") else log.warning)(
            "printer %s: %s %s", self.device_id, health, detail)
        if self.on_health is not None:
            self.on_health(health, detail)

    def _report_status(self, status: PrinterStatus | None) -> None:
        self.status = status
        waiting = self.queue.pending()
        detail = f"{len(waiting)} ticket(s) waiting: {', '.join(j.label for j in waiting[:5])}" if waiting else ""
        if status is None:
            self._report("offline", "no reply to DLE EOT" + (f"; {detail}" if detail else ""))
        else:
            self._report(status.health, detail if not status.ready else "")

    # -- the job loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Print queued jobs whenever the printer is ready; poll its status meanwhile."""
        while True:
            if self.port is not None and self.port.connected.is_set():
                try:
                    await self._cycle()
                except PortError as exc:
                    log.warning("printer %s: %s", self.device_id, exc)
                    self._report("offline", str(exc))
            self._wake.clear()
            await self._wait_any()

    async def _wait_any(self) -> None:
        # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancel that races
        # with its result, and this loop would then never stop.
        wake = asyncio.ensure_future(self._wake.wait())
        job = asyncio.ensure_future(self.queue.changed.wait())
        try:
            await asyncio.wait({wake, job}, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            job.cancel()

    async def _cycle(self) -> None:
        assert self.port is not None
        self.queue.changed.clear()
        status = await self.query_status()
        self._report_status(status)
        while status is not None and status.ready and self.queue.pending():
            job = self.queue.pending()[0]
            await self.port.write(job.data)
            if self.settle:
                await asyncio.sleep(self.settle)
            status = await self.query_status()
            if status is not None and status.ready:
                await self.queue.done(job.id)
                self.printed += 1
                log.info("printer %s printed %s", self.device_id, job.label or job.id)
            else:
                log.warning("printer %s kept %s: %s", self.device_id, job.label or job.id,
                            status.health if status else "no status")
            self._report_status(status)
