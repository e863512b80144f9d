"""An ordered set of keys for the queues: add, remove, first and position in O(log n).

Keys live in short sorted runs (at most ``2 * LOAD`` each) with the largest key of each
run beside it, so finding a key is two bisections and changing one moves at most a
run's worth of pointers, however long the queue. Pure: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any, Iterator

from .model import Priority, Ticket

LOAD = 512  # keys per run: long enough to keep the runs few, short enough to insert fast

Key = tuple[Any, ...]


class SortedKeys:
    """Distinct comparable keys in ascending order."""

    __slots__ = ("_runs", "_maxes", "_len")

    def __init__(self, keys: Any = ()) -> None:
        self._runs: list[list[Key]] = []
        self._maxes: list[Key] = []
        self._len = 0
        ordered = sorted(keys)
        for i in range(0, len(ordered), LOAD):
            run = ordered[i:i + LOAD]
            self._runs.append(run)
            self._maxes.append(run[-1])
        self._len = len(ordered)

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Key]:
        for run in self._runs:
            yield from run

    def __contains__(self, key: Key) -> bool:
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return False
        run = self._runs[i]
        j = bisect_left(run, key)
        return run[j] == key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortedKeys) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"SortedKeys({list(self)!r})"

    def copy(self) -> SortedKeys:
        new = SortedKeys()
        new._runs, new._maxes, new._len = [list(r) for r in self._runs], list(self._maxes), self._len
        return new

    def add(self, key: Key) -> None:
        maxes = self._maxes
        if not maxes:
            self._runs.append([key])
            maxes.append(key)
        else:
            i = bisect_right(maxes, key)
            if i == len(maxes):
                i -= 1
                self._runs[i].append(key)
                maxes[i] = key
            else:
                insort(self._runs[i], key)
            run = self._runs[i]
            if len(run) > 2 * LOAD:
                self._runs[i:i + 1] = [run[:LOAD], run[LOAD:]]
                maxes[i:i + 1] = [run[LOAD - 1], run[-1]]
        self._len += 1

    def remove(self, key: Key) -> None:
        """Remove a key that is present (KeyError otherwise)."""
        maxes = self._maxes
        i = bisect_left(maxes, key)
        if i == len(maxes):
            raise KeyError(key)
        run = self._runs[i]
        j = bisect_left(run, key)
        if run[j] != key:
            raise KeyError(key)
        del run[j]
        self._len -= 1
        if not run:
            del self._runs[i]
            del maxes[i]
        elif j == len(run):
            maxes[i] = run[-1]

    def first(self) -> Key | None:
        return self._runs[0][0] if self._runs else None

    def first_from(self, key: Key) -> Key | None:
        """The smallest key that is ``>= key``."""
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return None
        run = self._runs[i]
        return run[bisect_left(run, key)]

    def position(self, key: Key) -> int:
        """How many keys are smaller than ``key``."""
        i = bisect_left(self._maxes, key)
        before = sum(len(run) for run in self._runs[:i])  # runs are few: a queue of 100,000 has about 200
        return before + (bisect_left(self._runs[i], key) if i < len(self._runs) else 0)

    def iter_from(self, key: Key) -> Iterator[Key]:
        """The keys ``>= key``, in order."""
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return
        run = self._runs[i]
        yield from run[bisect_left(run, key):]
        for run in self._runs[i + 1:]:
            yield from run


def lane(t: Ticket) -> int:
    """0 for the priority classes (green channel, appointment), 1 for normal tickets."""
    return 1 if t.priority is Priority.NORMAL else 0


def order_key(t: Ticket) -> tuple[int, float, str]:
    """A waiting ticket's place in its queue: lane, then rank, then id."""
    return (lane(t), t.rank, t.id)


def joined_key(t: Ticket) -> tuple[float, str]:
    """When a waiting ticket joined its queue: the longest waiting sorts first."""
    return (t.queued_at.timestamp(), t.id)
