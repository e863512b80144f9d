"""Waiting for a Redis primary's replicas, so that an acknowledged commit survives a failover.

Redis replicates asynchronously. A commit that must survive the primary's death is
followed, in the same pipeline and on the same connection (``WAIT`` covers the writes
of its own connection only), by ``INFO replication`` and ``WAIT n timeout`` — or
``WAITAOF 0 n timeout`` on Redis ≥ 7.2, where a replica confirms once the write is in
its append-only file. The store acknowledges only when the replicas in step confirmed.

A primary with fewer replicas in step than asked for (after a failover, until the old
primary comes back as the new one's replica; a replica down or still syncing) is
waited for by as many as it has, with a warning: the hall keeps serving, with fewer
copies, as Redis alone would. A replica in step that does not confirm in time gets the
commit refused (503): see docs/deployment.md, "When the Redis host dies".
"""

from __future__ import annotations

import logging
from typing import Any

from .base import StoreError

log = logging.getLogger("hallcall.store.redis")


def online_replicas(replication: dict[str, Any]) -> int:
    """Replicas in step with the primary, from INFO replication (one still syncing cannot confirm yet)."""
    if replication.get("role") != "master":
        return 0
    return sum(1 for k, v in replication.items() if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online")


class Replicas:
    """How many replicas must confirm, how many the primary had at the last look, and how to wait."""

    def __init__(self, wanted: int, timeout_ms: int) -> None:
        self.wanted = wanted
        self.timeout_ms = timeout_ms
        self.attached = 0
        self.waitaof = False

    async def look(self, client: Any, where: str) -> None:
        """Learn the primary's version and replicas (at start)."""
        version = str((await client.info("server")).get("redis_version", "0"))
        self.waitaof = tuple(int(x) for x in version.split(".")[:2] if x.isdigit()) >= (7, 2)
        self.attached = online_replicas(await client.info("replication"))
        if self.attached < self.wanted:
            log.warning("the Redis primary at %s has %d replica(s), %d asked for: commits are acknowledged "
                        "with fewer copies until they attach", where, self.attached, self.wanted)

    def add_wait(self, pipe: Any) -> int:
        """Add INFO replication and the wait to a pipeline after its write; how many replicas it waits for."""
        want = min(self.wanted, self.attached)
        pipe.info("replication")
        if want and self.waitaof:
            pipe.execute_command("WAITAOF", 0, want, self.timeout_ms)  # on the replicas' disks, not only in memory
        elif want:
            pipe.execute_command("WAIT", want, self.timeout_ms)
        return want

    def judge(self, want: int, replication: dict[str, Any], confirmed: Any = 0) -> None:
        """Raise StoreError unless every replica waited for and still in step confirmed."""
        attached = online_replicas(replication)
        count = int(confirmed[1]) if isinstance(confirmed, list) else int(confirmed)
        if attached < self.wanted <= self.attached:
            log.warning("the Redis primary has %d of the %d replica(s) asked for: acknowledging with fewer copies "
                        "until they are back (see docs/deployment.md)", attached, self.wanted)
        elif self.attached < self.wanted <= attached:
            log.warning("the Redis primary has its %d replica(s) again", attached)
        self.attached = attached
        if count < min(want, attached):
            raise StoreError(f"only {count} of {want} Redis replica(s) confirmed the commit within "
                             f"{self.timeout_ms} ms, so it is not acknowledged (it stays in the log)")
