"""The Hall: the one application service through which every action happens.

A Hall is its transaction engine (engine.py) plus what acts through it: the command
table (the core's commands and those of the features it was built with), the
authorization of callers, the features' hooks inside every decision, their tickers and
lifetimes. HTTP routes, WebSocket commands, the CLI and the simulator all call
``execute``; nothing else changes the hall.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from queue_server.core.clock import Clock
from queue_server.core.config import HallConfig
from queue_server.core.errors import NotFound
from queue_server.core.periods import day_range
from queue_server.core.schema import validate
from queue_server.reports import figures
from queue_server.store import Store, StoreError

from . import limits, privacy, tracking, views
from .actions import core_commands
from .auth import Authenticator, Principal
from .commands import Call, CommandTable
from .engine import Engine
from .plugin import Features, ticking

log = logging.getLogger("hallcall.hall")


class Hall(Engine):
    def __init__(self, config: HallConfig, store: Store, clock: Clock | None = None, *,
                 features: Features | None = None) -> None:
        self.features = features if features is not None else Features(config, ())
        super().__init__(config, store, clock, self.features.hooks)
        self.auth = Authenticator(store, self.clock, config.limits)
        self.issuing = limits.Issuing(config.limits, lambda: self.clock.now().timestamp())
        self.privacy = privacy.Hasher()
        self.tracking = tracking.Tracking()
        self.commands = CommandTable([*core_commands(), *(c for f in self.features for c in f.commands())])
        self._lifetimes = contextlib.AsyncExitStack()

    # -- lifetime ------------------------------------------------------------------------

    async def start(self, *, day_timer: bool = True, tickers: bool = True) -> None:
        """Load the day, start deciding, then the features' lifetimes and tickers."""
        self.tracking.key = await tracking.load_key(self.store)  # no ticket is issued without it
        await super().start(day_timer=day_timer)
        try:
            self.privacy.salt = await privacy.load_salt(self.store)
        except (StoreError, OSError) as exc:
            # The queue must run without it; only what takes ID numbers is refused (503).
            log.warning("ID numbers cannot be taken: %s", exc)
        for feature in self.features:
            await self._lifetimes.enter_async_context(feature.lifetime(self))
            if tickers:
                for ticker in feature.tickers():
                    await self._lifetimes.enter_async_context(ticking(self, ticker))

    async def stop(self) -> None:
        await self._lifetimes.aclose()
        await super().stop()
        self.auth.close()

    # -- the one way in ------------------------------------------------------------------

    async def execute(self, name: str, p: Principal, args: dict[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """Run a command by name for a caller: validate, authorize, act."""
        cmd = self.commands.get(name)
        if cmd is None:
            raise NotFound(f"no command {name!r}", code="unknown_command")
        args = {**(args or {}), **kwargs}
        validate(args, cmd.args, "args")
        if "window" in args and args["window"] not in self.config.windows:
            # Every command names windows by this argument: an unknown one is a 404 whoever asks.
            raise NotFound(f"no window {args['window']}", code="window_unknown")
        cmd.rule.allows(p, self.state, args)  # at once; Call.decide checks again inside the decision
        return await cmd.run(Call(self, p, args, cmd.rule))

    async def check(self, ticker: str) -> Any:
        """Run one feature ticker's check now, as its background loop would (tests, the simulator)."""
        for feature in self.features:
            for t in feature.tickers():
                if t.name == ticker:
                    return await t.check(self)
        raise LookupError(f"no ticker {ticker!r}")

    # -- reads shared by commands and pages ---------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return views.snapshot(self.state, self.clock.now())

    def period_of(self, args: dict[str, Any]) -> tuple[str, str]:
        """The days a list command asks for (``date``, or ``from`` and ``to``; today by default)."""
        return day_range(args, self.state.day)

    async def window_today(self, number: int) -> dict[str, Any]:
        """A window's figures of today, from the store's facts (the console's today panel)."""
        day = self.state.day
        visits = [g for g in await self.store.visit_facts(day, day) if g.window == number]
        row = figures.rows(self.config, "window", visits, []).get(number) or figures.empty(per_ticket=False)
        return {"served": row["served"], "no_show": row["no_show"], "called": row["called"],
                "mean_handling_seconds": row["handling"]["mean"], "mean_wait_seconds": row["wait"]["mean"]}
