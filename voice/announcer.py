"""The announcement queue: one call after another, never cut off, never stale.

Each announcement is the chime, the first language's phrase said ``repeat`` times,
then each further language once. Calls queue in arrival order; a call for a ticket
that is already waiting in the queue (a recall pressed twice, a call-back) updates
that entry instead of adding another; a call that waited longer than
``max_backlog_seconds`` is dropped with a log line rather than sent a citizen to
a window long after the clerk gave up on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from voice.audio import Audio, chime, silence
from voice.engines import Engine, EngineError
from voice.normalize import CallText, render
from voice.players import Player, PlayerError
from voice.settings import VoiceSettings

log = logging.getLogger(__name__)

_AFTER_CHIME = 0.25  # seconds between the chime and the first word


@dataclass(frozen=True, slots=True)
class Call:
    """A ticket called (or recalled) to a window, to be announced."""

    ticket_id: str
    text: CallText
    recall: bool = False
    seq: int | None = None
    received: float = field(default_factory=time.perf_counter)  # perf_counter() on arrival

    @property
    def label(self) -> str:
        return f"{self.text.ticket}-w{self.text.window}" + ("-recall" if self.recall else "")


@dataclass(frozen=True, slots=True)
class Announced:
    """What became of one call: played, dropped as stale, or failed."""

    call: Call
    outcome: str  # "played", "stale", "failed"
    phrases: tuple[tuple[str, str], ...] = ()
    first_audio: float | None = None  # perf_counter() when the first sample reached the player
    finished: float | None = None
    error: str = ""

    @property
    def latency(self) -> float | None:
        """Seconds from the call's arrival to its first audio sample at the player."""
        return None if self.first_audio is None else self.first_audio - self.call.received


class Announcer:
    """Play calls in order through one engine and one player."""

    def __init__(
        self,
        engine: Engine,
        player: Player,
        settings: VoiceSettings | None = None,
        *,
        on_done: Callable[[Announced], None] | None = None,
    ) -> None:
        self.engine = engine
        self.player = player
        self.settings = settings or VoiceSettings()
        self.on_done = on_done
        self.history: deque[Announced] = deque(maxlen=200)
        self._queue: OrderedDict[str, Call] = OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._chime = chime(engine.rate) if self.settings.chime else None

    def __len__(self) -> int:
        return len(self._queue)

    def phrases(self, call: Call) -> list[tuple[str, str]]:
        """Return (language, text) for each language, in speaking order."""
        s = self.settings
        return [
            (lang, render(call.text, lang, s.template(lang), yao=s.yao, speak_zone=s.speak_zone, speak_window_name=s.speak_window_name))
            for lang in s.languages
        ]

    def submit(self, call: Call) -> bool:
        """Queue a call; return False when it only updated a call already queued."""
        queued = self._queue.get(call.ticket_id)
        self._idle.clear()
        self._wake.set()
        if queued is not None:
            # Same ticket still waiting its turn: keep its place and its age, say the latest window.
            self._queue[call.ticket_id] = replace(call, received=queued.received)
            log.info("%s already queued; not announcing it twice", call.label)
            return False
        self._queue[call.ticket_id] = call
        return True

    async def join(self) -> None:
        """Wait until every queued call has been played or dropped."""
        await self._idle.wait()

    async def run(self) -> None:
        """Announce queued calls one after another, forever."""
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            _, call = self._queue.popitem(last=False)
            age = time.perf_counter() - call.received
            if age > self.settings.max_backlog_seconds:
                log.warning("dropping stale call %s: queued %.0f s ago (max %.0f s)", call.label, age, self.settings.max_backlog_seconds)
                self._record(Announced(call, "stale"))
                continue
            try:
                self._record(await self.announce(call))
            except (EngineError, PlayerError) as exc:
                log.error("could not announce %s: %s", call.label, exc)
                self._record(Announced(call, "failed", error=str(exc)))
            except Exception as exc:  # one bad call must not silence the hall for the day
                log.exception("could not announce %s", call.label)
                self._record(Announced(call, "failed", error=repr(exc)))

    async def announce(self, call: Call) -> Announced:
        """Play one call now: chime, phrase × repeat, further languages."""
        phrases = self.phrases(call)
        # Start synthesis before the chime: the engine works while the chime plays.
        jobs = [asyncio.create_task(self.engine.synthesize(text, lang)) for lang, text in phrases]
        gap = silence(self.settings.gap_seconds, self.engine.rate)
        try:
            async with self.player.open(call.label, self.engine.rate) as stream:
                if self._chime is not None:
                    await stream.write(self._chime)
                    await stream.write(silence(_AFTER_CHIME, self.engine.rate))
                first: Audio = await jobs[0]
                for i in range(self.settings.repeat):
                    if i:
                        await stream.write(gap)
                    await stream.write(first)
                for job in jobs[1:]:
                    await stream.write(gap)
                    await stream.write(await job)
            return Announced(call, "played", tuple(phrases), stream.first_write, time.perf_counter())
        finally:
            for job in jobs:
                if not job.done():
                    job.cancel()
            # Collect every job so a failed one is not reported as "never retrieved".
            await asyncio.gather(*jobs, return_exceptions=True)

    def _record(self, result: Announced) -> None:
        self.history.append(result)
        if self.on_done is not None:
            self.on_done(result)
