"""The agent's WebSocket link to the server: hello, resync with ``since``, commands.

One connection at a time, reopened with jittered, capped backoff. Network trouble and
server restarts are retried; a refused token or a forbidden topic is fatal (retrying
cannot fix a wrong devices.toml or a revoked token). Events arrive in sequence order;
each remembers its ``seq`` so a reconnect asks only for what was missed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from queue_server import protocol

from .supervisor import Backoff

log = logging.getLogger("hallcall.devices.link")

# Refusals no retry can fix.
FATAL_CODES = frozenset({"unauthorized", "forbidden", "bad_topic", "bad_token", "token_revoked"})


class Fatal(Exception):
    """The server refused this agent for good (bad token, topics it may not see)."""


class NotConnected(Exception):
    """A command while the server is unreachable."""


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def ws_url(server: str) -> str:
    """The /ws address for a server given as http(s)://host[:port] or ws(s)://host[:port][/ws]."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"server URL must be http(s):// or ws(s)://, not {server!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def http_origin(server: str) -> str:
    """The server's http(s) origin, the default base of printed tracking URLs."""
    parts = urlsplit(server)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


Handler = Callable[[dict[str, Any]], None]
Hook = Callable[[], Awaitable[None] | None]


class HallLink:
    def __init__(self, server: str, token: str, topics: list[str], *, on_message: Handler, on_up: Hook | None = None,
                 on_down: Hook | None = None, backoff: Backoff | None = None, command_timeout: float = 10.0,
                 open_timeout: float = 10.0) -> None:
        self.url = ws_url(server)
        self.token = token
        self.topics = topics
        self.on_message = on_message
        self.on_up = on_up
        self.on_down = on_down
        self.backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self.command_timeout = command_timeout
        self.open_timeout = open_timeout
        self.last_seq: int | None = None
        self.welcome_seq = 0  # events up to here were missed while away (a replay)
        self.up = asyncio.Event()
        self.down = asyncio.Event()
        self.down.set()
        self.connections = 0
        self._ws: ClientConnection | None = None
        self._ids = 0
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._hooks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        """Stay connected until cancelled; raises Fatal when the server refuses the agent."""
        while True:
            try:
                async with connect(self.url, open_timeout=self.open_timeout, max_size=4 * 1024 * 1024) as ws:
                    await self._session(ws)
            except Fatal:
                raise
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    raise Fatal(f"the server refused the agent: HTTP {exc.response.status_code}") from None
                log.warning("server %s: %s", self.url, exc)
            except InvalidURI as exc:
                raise Fatal(str(exc)) from None
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, protocol.ProtocolError) as exc:
                log.warning("server %s unreachable: %s", self.url, exc or type(exc).__name__)
            finally:
                await self._lost()
            await asyncio.sleep(self.backoff.next())

    async def _session(self, ws: ClientConnection) -> None:
        await ws.send(protocol.encode(protocol.hello(self.token, self.topics, self.last_seq)))
        first = protocol.parse_server(await ws.recv())
        if first.get("type") == protocol.ERROR:
            err = first.get("error") or {}
            if err.get("code") in FATAL_CODES:
                raise Fatal(f"the server refused the agent: {err.get('code')}: {err.get('message')}")
            raise protocol.ProtocolError(str(err.get("code")), str(err.get("message")))
        if first.get("type") != protocol.WELCOME:
            raise protocol.ProtocolError("bad_message", f"expected welcome, got {first.get('type')!r}")
        self.welcome_seq = int(first.get("seq") or 0)
        self._ws = ws
        self.connections += 1
        self.backoff.reset()
        self.down.clear()
        self.up.set()
        log.info("connected to %s (role %s)", self.url, first.get("role"))
        self._hook(self.on_up)
        async for frame in ws:
            self._dispatch(protocol.parse_server(frame))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == protocol.RESULT:
            future = self._results.pop(msg.get("id"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                if msg.get("ok"):
                    future.set_result(msg.get("data"))
                else:
                    err = msg.get("error") or {}
                    future.set_exception(CommandError(str(err.get("code")), str(err.get("message"))))
        elif kind in (protocol.SNAPSHOT, protocol.EVENT):
            seq = msg.get("seq")
            if kind == protocol.EVENT and isinstance(seq, int) and self.last_seq is not None and seq <= self.last_seq:
                return  # already seen before the reconnect
            if isinstance(seq, int):
                self.last_seq = seq
            msg["replay"] = kind == protocol.EVENT and isinstance(seq, int) and seq <= self.welcome_seq
            try:
                self.on_message(msg)
            except Exception:
                log.exception("handling %s failed", msg.get("name") or kind)
        elif kind == protocol.ERROR:
            log.warning("server error: %s", msg.get("error"))

    async def _lost(self) -> None:
        was_up = self.up.is_set()
        self.up.clear()
        self.down.set()
        self._ws = None
        for future in self._results.values():
            if not future.done():
                future.set_exception(NotConnected("the connection to the server was lost"))
        self._results.clear()
        if was_up:
            self._hook(self.on_down)

    def _hook(self, hook: Hook | None) -> None:
        if hook is None:
            return
        result = hook()
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._hooks.add(task)
            task.add_done_callback(self._hooks.discard)

    async def command(self, name: str, **args: Any) -> Any:
        """Run a server command; raises NotConnected or CommandError."""
        ws = self._ws
        if ws is None or not self.up.is_set():
            raise NotConnected("the server is unreachable")
        self._ids += 1
        msg_id = self._ids
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[msg_id] = future
        try:
            await ws.send(protocol.encode(protocol.command(msg_id, name, **args)))
        except ConnectionClosed:
            self._results.pop(msg_id, None)
            raise NotConnected("the connection to the server was lost") from None
        try:
            async with asyncio.timeout(self.command_timeout):
                return await future
        except TimeoutError:
            self._results.pop(msg_id, None)
            raise CommandError("timeout", f"no answer to {name} in {self.command_timeout:g}s") from None

    async def close(self) -> None:
        for task in list(self._hooks):
            task.cancel()
