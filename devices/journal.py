"""An append-only JSON-lines file, fsynced per record, compacted when opened.

The printer's job queue and the rating outbox keep their state here so that neither a
restart, a power cut nor a dead server loses a ticket or a rating. A torn last line (the
power went mid-write) is skipped when the file is read back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("hallcall.devices.journal")


class Journal:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()

    def read(self) -> list[dict[str, Any]]:
        """Every intact record, oldest first (blocking; small files)."""
        if not self.path.exists():
            return []
        records = []
        with self.path.open("r", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    log.warning("%s:%d: skipping a damaged record", self.path, lineno)
                    continue
                if isinstance(rec, dict):
                    records.append(rec)
        return records

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replace the file with ``records`` atomically (blocking)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def append_blocking(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    async def append(self, record: dict[str, Any]) -> None:
        """Append one record and return once it is on disk."""
        async with self._lock:
            await asyncio.to_thread(self.append_blocking, record)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
