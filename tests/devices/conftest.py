"""Helpers for device tests: fake devices on real pseudo-terminals, awaited state changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.ptylink import PtyLink
from queue_server.protocol.backoff import Backoff


def fast_backoff() -> Backoff:
    """Retries within tens of milliseconds, so plug-back tests stay fast."""
    return Backoff(initial=0.02, cap=0.1, rng=lambda: 0.5)


class Recorder:
    """Collects callback arguments and lets a test await the one it expects."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Condition()

    def __call__(self, *args: Any) -> None:
        self.items.append(args[0] if len(args) == 1 else args)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def expect(self, predicate: Any, timeout: float = 5.0) -> Any:
        """Wait for an item matching ``predicate`` (a value or a callable); return it."""
        test = predicate if callable(predicate) else (lambda item: item == predicate)

        def found() -> Any:
            return next((item for item in self.items if test(item)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        return found()

    def clear(self) -> None:
        self.items.clear()


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[PtyLink]:
    """A plugged-in fake serial device; the agent opens ``device.link``."""
    link = PtyLink(tmp_path / "ttyFAKE0")
    link.plug()
    yield link
    link.unplug()


async def read_until(dev: PtyLink, predicate: Any, timeout: float = 5.0) -> bytes:
    """Read from a fake device until ``predicate(data)`` holds for everything read so far."""
    data = b""

    async def loop() -> bytes:
        nonlocal data
        while not predicate(data):
            data += await dev.read()
        return data

    return await asyncio.wait_for(loop(), timeout)

