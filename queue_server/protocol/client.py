"""The hall's WebSocket client, shared by the voice agent, the device agent and the benchmarks.

hello (token, topics, ``since``) → welcome → the snapshot or the missed events → live
events; commands with ids and a timeout; a protocol ``ping`` as heartbeat; reconnects
with jittered, capped backoff until stopped. Network trouble, restarts and 5xx are
retried; a refused token or topic and a wrong address are fatal (``Fatal``), because no
retry can fix them.

The replay rule, the same for every client (docs/protocol.md, "The client"): on a
connection whose hello carried ``since``, an event with ``seq`` up to the welcome's
``seq`` is a replay, missed while away, and arrives with ``replay: True``. A welcome
without an integer ``seq`` leaves the end of the replay unknown, so every event on
that connection counts as a possible replay; a snapshot ends the replay. Consumers
judge a replay by its age (``protocol.event_age``), so a possible replay that is in
fact live and fresh is still acted on, and an old one is not.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from queue_server import protocol
from queue_server.protocol.backoff import Backoff

log = logging.getLogger("hallcall.protocol.client")

# Answers to a hello that no retry can fix: the token, the topics or the client is wrong.
FATAL_CODES = frozenset({"unauthorized", "forbidden", "bad_topic", "bad_token", "bad_field", "hello_first",
                         "token_revoked"})
TOKEN_CODES = frozenset({"unauthorized", "bad_token", "token_revoked"})
# Snapshots of a big hall with many ticket topics run to a few MiB.
MAX_FRAME = 8 * 2**20
# A stop should not wait long for a close handshake with a server that may be gone.
CLOSE_TIMEOUT = 2.0
PING = protocol.encode({"type": protocol.PING})

Handler = Callable[[dict[str, Any]], None]
Hook = Callable[[], Awaitable[None] | None]


class Fatal(Exception):
    """Retrying cannot help: the server refused the token or the hello, or the address is wrong."""

    def __init__(self, message: str, *, about: str) -> None:
        super().__init__(message)
        self.about = about  # "token", "hello" or "address": what the operator has to fix


class NotConnected(Exception):
    """A command while the server is unreachable, or the connection was lost before its answer."""


class CommandError(Exception):
    """The server refused a command, or did not answer it in time (code ``timeout``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Endpoints(NamedTuple):
    ws: str  # the /ws address
    http: str  # the HTTP base: the origin plus any path prefix a reverse proxy mounts the hall under


def endpoints(server: str) -> Endpoints:
    """Return the /ws address and the HTTP base of a server given as http(s)://, ws(s):// or host:port."""
    parts = urlsplit(server if "://" in server else f"http://{server}")
    secure = {"http": False, "ws": False, "https": True, "wss": True}.get(parts.scheme.lower())
    if secure is None or not parts.hostname:
        raise ValueError(f"a server address is http(s)://host[:port] or ws(s)://host[:port], not {server!r}")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/ws")
    return Endpoints(urlunsplit(("wss" if secure else "ws", parts.netloc, f"{path}/ws", "", "")),
                     urlunsplit(("https" if secure else "http", parts.netloc, path, "", "")))


def classify(exc: BaseException) -> Fatal | None:
    """Return the Fatal a failed connection amounts to, or None when a retry may help."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            return Fatal(f"the server refused the token (HTTP {status})", about="token")
        if 400 <= status < 500 and status not in (408, 429):
            return Fatal(f"the server answered HTTP {status} to the WebSocket handshake", about="address")
    elif isinstance(exc, InvalidURI):
        return Fatal(f"not a server address: {exc}", about="address")
    return None  # network errors, restarts, 5xx, timeouts: the hall needs its client back


def refusal(error: Any) -> Fatal | None:
    """Return the Fatal an ``error`` frame amounts to, or None when a retry may help."""
    error = error if isinstance(error, dict) else {}
    code, text = str(error.get("code")), str(error.get("message") or "")
    if code in TOKEN_CODES:
        return Fatal(f"the server refused the token: {text} ({code})", about="token")
    if code in FATAL_CODES:
        return Fatal(f"the server refused the hello: {text} ({code})", about="hello")
    return None


def _is_seq(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class StreamState:
    """A client's place in the hall's event stream, and the one replay rule; no I/O."""

    def __init__(self) -> None:
        self.last_seq: int | None = None  # the newest seq seen: the next hello's since
        self.replay_upto: float | None = None  # events up to here on this connection are replays

    def welcomed(self, since: int | None, welcome: dict[str, Any]) -> None:
        """Note a connection's welcome; ``since`` is what its hello asked for (None: a new session)."""
        seq = welcome.get("seq")
        if since is None:
            self.replay_upto = None  # a new session starts from a snapshot: what follows is live
        elif _is_seq(seq):
            self.replay_upto = seq
        else:
            # The server did not say where the replay ends. Calling a stale ticket over the
            # speakers, or printing one for a citizen long gone, is worse than checking the
            # age of a live event, so every event on this connection may be a replay.
            self.replay_upto = math.inf

    def take(self, msg: dict[str, Any]) -> bool:
        """Track a server message; return False for an event seen before. Events get ``replay``."""
        kind, seq = msg["type"], msg.get("seq")
        if kind == protocol.EVENT:
            if _is_seq(seq):
                if self.last_seq is not None and seq <= self.last_seq:
                    return False
                self.last_seq = seq
            upto = self.replay_upto
            msg["replay"] = upto is not None and (not _is_seq(seq) or seq <= upto)
        elif kind == protocol.SNAPSHOT:
            self.replay_upto = None
            if _is_seq(seq):
                self.last_seq = seq  # also backwards: after a store reset the snapshot is the truth
        elif kind == protocol.PONG:
            # Every event up to the pong's seq was sent before it: a quiet topic moves its since on.
            if self.last_seq is not None and _is_seq(seq) and seq > self.last_seq:
                self.last_seq = seq
        return True


class HallClient:
    """One client of the hall: stays connected, resumes with ``since``, runs commands."""

    def __init__(self, server: str, token: str | None, topics: Iterable[str], *, on_message: Handler | None = None,
                 on_up: Hook | None = None, on_down: Hook | None = None, backoff: Backoff | None = None,
                 command_timeout: float = 10.0, open_timeout: float = 10.0, heartbeat: float = 20.0,
                 heartbeat_timeout: float = 10.0, user_agent: str = "hallcall") -> None:
        self.endpoints = endpoints(server)
        self.token = token
        self.topics = list(topics)
        self.on_message = on_message
        self.on_up = on_up  # runs after the welcome, before any message of that connection is handled
        self.on_down = on_down
        self.backoff = backoff or Backoff()
        self.command_timeout = command_timeout
        self.open_timeout = open_timeout
        self.heartbeat = heartbeat
        self.heartbeat_timeout = heartbeat_timeout
        self.user_agent = user_agent
        self.stream = StreamState()
        self.welcome: dict[str, Any] | None = None
        self.connections = 0  # welcomed connections so far
        self.failure: Fatal | None = None
        self.up = asyncio.Event()
        self.down = asyncio.Event()
        self.down.set()
        self._changed = asyncio.Condition()
        self._ws: ClientConnection | None = None
        self._ids = 0
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int | None:
        """The newest seq seen; the next hello asks for what came after it."""
        return self.stream.last_seq

    # -- lifetime -------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run in a task of its own; ``stop`` ends it."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"hallcall client {self.endpoints.ws}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def wait_connected(self, count: int = 1, timeout: float | None = 10.0) -> None:
        """Wait until ``count`` connections were welcomed; raise Fatal if the client gave up."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.connections >= count or self.failure is not None)
        if self.connections < count and self.failure is not None:
            raise self.failure

    async def run(self) -> None:
        """Stay connected until cancelled; raise Fatal when retrying cannot help."""
        while True:
            welcomed = self.connections
            try:
                async with connect(self.endpoints.ws, open_timeout=self.open_timeout, close_timeout=CLOSE_TIMEOUT,
                                   ping_interval=None, compression=None, max_size=MAX_FRAME,
                                   user_agent_header=self.user_agent) as ws:
                    await self._session(ws)
                reason, level = "closed by the server", logging.INFO
            except Fatal as exc:
                await self._give_up(exc)
                raise
            except Exception as exc:
                fatal = classify(exc)
                if fatal is not None:
                    await self._give_up(fatal)
                    raise fatal from exc
                expected = isinstance(exc, (OSError, TimeoutError, protocol.ProtocolError)) or \
                    type(exc).__module__.startswith("websockets")
                reason, level = str(exc) or type(exc).__name__, logging.WARNING if expected else logging.ERROR
            finally:
                await self._lost()
            if self.connections > welcomed:
                self.backoff.reset()  # that connection worked: come back fast
            delay = self.backoff.next()
            log.log(level, "connection to %s failed or ended (%s); retrying in %.2f s", self.endpoints.ws, reason, delay,
                    exc_info=level >= logging.ERROR)
            await asyncio.sleep(delay)

    async def _give_up(self, exc: Fatal) -> None:
        async with self._changed:
            self.failure = exc
            self._changed.notify_all()

    # -- one connection -------------------------------------------------------------------------

    async def _session(self, ws: ClientConnection) -> None:
        since = self.stream.last_seq
        await ws.send(protocol.encode(protocol.hello(self.token, self.topics, since)))
        async with asyncio.timeout(self.open_timeout):
            first = protocol.parse_server(await ws.recv())
        if first["type"] == protocol.ERROR:
            error = first.get("error") or {}
            raise refusal(error) or protocol.ProtocolError(str(error.get("code")), str(error.get("message")))
        if first["type"] != protocol.WELCOME:
            raise protocol.ProtocolError("bad_message", f"expected a welcome, got {first['type']!r}")
        self.welcome = first
        self.stream.welcomed(since, first)
        self._ws = ws
        log.info("connected to %s as %s, %s", self.endpoints.ws, first.get("role"),
                 "new session" if since is None else f"resuming after seq {since}")
        await self._call(self.on_up)
        self.down.clear()
        self.up.set()
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()
        heard = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(ws, heard))
        try:
            async for frame in ws:
                heard.set()
                self._receive(frame)
        except ConnectionClosed:
            if beat.done() and not beat.cancelled() and beat.result():
                raise TimeoutError(f"no answer to a ping within {self.heartbeat_timeout:g} s") from None
            raise
        finally:
            beat.cancel()

    async def _heartbeat(self, ws: ClientConnection, heard: asyncio.Event) -> bool:
        """Ping; return True after dropping a server that sent nothing back in time."""
        while True:
            await asyncio.sleep(self.heartbeat)
            heard.clear()
            try:
                async with asyncio.timeout(self.heartbeat_timeout):
                    await ws.send(PING)
                    await heard.wait()
            except ConnectionClosed:
                return False  # the reader sees it too
            except TimeoutError:
                # A dead peer or a black-holed route may leave TCP open for many minutes, and
                # a close handshake would wait on the silent peer too: drop the socket at once.
                ws.transport.abort()
                return True

    def _receive(self, frame: str | bytes) -> None:
        try:
            msg = protocol.parse_server(frame)
        except protocol.ProtocolError as exc:
            log.warning("ignoring a malformed frame from %s: %s", self.endpoints.ws, exc)
            return
        kind = msg["type"]
        if kind == protocol.RESULT:
            self._settle(msg)
            return
        if not self.stream.take(msg):
            return  # seen on an earlier connection
        if kind == protocol.ERROR:
            error = msg.get("error") or {}
            fatal = refusal(error)
            if fatal is not None and fatal.about == "token":
                raise fatal  # the token was revoked while connected
            log.warning("server error: %s", error)
        if self.on_message is not None:
            try:
                self.on_message(msg)
            except Exception:
                log.exception("handling %s %s failed", kind, msg.get("name") or "")

    def _settle(self, msg: dict[str, Any]) -> None:
        msg_id = msg.get("id")
        future = self._results.pop(msg_id, None) if isinstance(msg_id, int) else None
        if future is None or future.done():
            return
        if msg.get("ok"):
            future.set_result(msg.get("data"))
        else:
            error = msg.get("error") or {}
            future.set_exception(CommandError(str(error.get("code")), str(error.get("message"))))

    async def _lost(self) -> None:
        was_up = self.up.is_set()
        self._ws = None
        self.up.clear()
        self.down.set()
        for future in self._results.values():
            if not future.done():
                future.set_exception(NotConnected("the connection to the server was lost"))
        self._results.clear()
        if was_up:
            await self._call(self.on_down)

    async def _call(self, hook: Hook | None) -> None:
        if hook is None:
            return
        try:
            result = hook()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("the %s hook failed", getattr(hook, "__name__", "connection"))

    # -- commands -------------------------------------------------------------------------------

    async def command(self, name: str, **args: Any) -> Any:
        """Run a server command and return its data; raise NotConnected or CommandError."""
        ws = self._ws
        if ws is None:
            raise NotConnected("the server is unreachable")
        self._ids += 1
        msg_id = self._ids
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[msg_id] = future
        try:
            async with asyncio.timeout(self.command_timeout):
                await ws.send(protocol.encode(protocol.command(msg_id, name, **args)))
                return await future
        except ConnectionClosed:
            raise NotConnected("the connection to the server was lost") from None
        except TimeoutError:
            raise CommandError("timeout", f"no answer to {name} within {self.command_timeout:g} s") from None
        finally:
            self._results.pop(msg_id, None)
