"""The WebSocket hub at /ws: hello, snapshot or replay, live events, commands.

Each committed event is routed once to the topics that may see it and encoded once, as
a finished WebSocket frame; sending it to a client queues it, and the frames queued for a
client are written in one write per flush (``flusher.py``: at once in a quiet hall, a few
milliseconds apart under load, so a socket is not written a thousand times a second).
The socket's buffer is the client's bounded send queue: a frozen screen that lets it
pass ``SEND_BUFFER`` bytes is cut off, costing the hall nothing, and reconnects with
``since``. A ring of recent encoded events serves those reconnects; a client whose
``since`` is older than the ring gets a snapshot instead. Events from before this
process started are read from the store's log when a reconnecting client first needs
them (after a restart, the screens' ``since`` is a few events back), not all at start-up.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections import deque
from dataclasses import replace
from typing import Any, Iterable

from aiohttp import WSCloseCode, WSMsgType, web

from queue_server import __version__, protocol
from queue_server.core import queueing, rules
from queue_server.core.errors import HallError, Invalid, TooMany
from queue_server.core.model import Event, Status, token_key
from queue_server.service import auth, limits, trace, views
from queue_server.service.auth import Principal
from queue_server.service.commands import Download
from queue_server.service.hall import Hall
from queue_server.store import StoreError

from . import audience
from .audience import ALL
from .digest import Digest
from .flusher import Flusher
from .http import client_address

log = logging.getLogger("hallcall.ws")

RING = 10_000  # events kept for reconnects
SEND_BUFFER = 1024 * 1024  # bytes a client may fall behind (about a thousand events) before it is cut
HEARTBEAT = 20.0
HELLO_TIMEOUT = 10.0
CATCH_UP_SECONDS = 5.0  # a reconnecting client waits at most this for this process to reach its since
STAFFING = ("window.opened", "window.closed")  # events that change who serves a queue, and so its ETA
# Events a shared screen (hall TV, kiosk) needs only for the queue counts they change: in a
# rush (more than DIGEST_ABOVE of them in the last second) it gets them as ``queues`` digests
# (``digest.py``), at most ten a second, instead of one frame per ticket.
DIGESTED = frozenset({"ticket.issued"})
DIGEST_ABOVE = 10
SCREEN_ROLES = frozenset({"anonymous", "display", "kiosk"})
MAX_TOPICS = 200  # topics one connection may hold, hello and later subscribes together
MAX_TOPIC_LENGTH = 100  # the longest real topic is a ticket's: "ticket:" and a 64-character token
# Frames a connection may send: a keypad or console sends a few a second at most; a client
# that floods is told ``rate_limited`` and closed.
MESSAGES = limits.Rate(per_minute=20 * 60, burst=200)


Encoded = tuple[int, list[tuple[frozenset[str], bytes]]]  # an event's seq and its audiences' frames


def ws_frame(text: str) -> bytes:
    """A complete unmasked WebSocket text frame (server to client, no extensions)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


def frames(hall: Hall, event: Event, service_view: audience.ServiceView | None = None) -> list[tuple[frozenset[str], bytes]]:
    """The event's audiences, each payload encoded once as a finished frame."""
    head = {"type": protocol.EVENT, "seq": event.seq, "name": event.name, "at": event.at.isoformat()}
    return [(topics, ws_frame(protocol.encode({**head, "data": data})))
            for topics, data in audience.of(hall, event, service_view)]


class Client:
    __slots__ = ("ws", "principal", "topics", "tokens", "floor", "closed", "transport", "limit", "messages", "pending",
                 "flusher")

    def __init__(self, ws: web.WebSocketResponse, principal: Principal, transport: Any, limit: int = SEND_BUFFER,
                 flusher: Flusher | None = None) -> None:
        self.ws = ws
        self.principal = principal
        self.topics: set[str] = set()
        self.tokens: dict[str, str | None] = {}  # followed tracking token -> today's ticket id (None: no such ticket)
        self.floor = 0  # events up to here are covered by the snapshot or replay already sent
        self.closed = False
        self.transport = transport
        self.limit = limit
        self.pending: list[bytes] = []  # frames queued since the last flush, written together
        self.flusher = flusher
        self.messages = limits.Bucket(MESSAGES, time.monotonic())

    @property
    def topic_count(self) -> int:
        """Topics accepted, a token that names no ticket included (it counts as any other)."""
        return len(self.topics) + sum(1 for ticket in self.tokens.values() if ticket is None)

    def send(self, frame: bytes) -> None:
        """Queue a finished frame for the socket; it is written with the others at the next flush."""
        if self.closed:
            return
        self.pending.append(frame)
        if self.flusher is None:
            self.flush()
        elif len(self.pending) == 1:
            self.flusher.queued(self)

    def flush(self) -> None:
        """Write the queued frames in one write; cut a client that has stopped reading.

        Frames are whole bytes written in one step of the event loop, so they never
        interleave with the pings and closes aiohttp writes on the same socket.
        """
        frames, self.pending = self.pending, []
        if self.closed or not frames:
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            self.closed = True
            return
        if transport.get_write_buffer_size() > self.limit:
            # A client this far behind would only show stale calls, and one that stopped
            # reading cannot even take a close frame: cut the connection; it resyncs with since.
            self.closed = True
            log.warning("dropping a WebSocket client that fell %d bytes behind", transport.get_write_buffer_size())
            transport.abort()
            return
        transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def reply(self, message: dict[str, Any]) -> None:
        self.send(ws_frame(protocol.encode(message)))


class Hub:
    def __init__(self, hall: Hall, *, ring: int = RING, send_buffer: int = SEND_BUFFER, heartbeat: float = HEARTBEAT,
                 messages: limits.Rate = MESSAGES) -> None:
        self.hall = hall
        self.send_buffer = send_buffer
        self.heartbeat = heartbeat
        self.messages = messages
        self.clients: set[Client] = set()
        self.by_topic: dict[str, set[Client]] = {}
        # Today's tickets somebody follows -> their followers and the token each used: position
        # updates cost per followed ticket, not per topic held.
        self.following: dict[str, dict[Client, str]] = {}
        # Tokens of no ticket this process knows, by their key -> who asked: with several processes a
        # phone may come here a moment before the ticket's event does; it follows it from that event.
        self.awaiting: dict[str, dict[Client, str]] = {}
        self.ring: deque[Encoded] = deque(maxlen=ring)
        self._count_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._unsubscribe = hall.subscribe(self.on_event)
        self._unrewind = hall.on_rewind(self.on_rewind)
        self._void = (0, 0)  # seqs (after, up to] that the log lost in a failover: a since there gets a snapshot
        self._snapshot: tuple[int, dict[str, Any]] | None = None
        # Events committed before this hub started are not in the ring; ``_earlier`` holds
        # those read back from the log for reconnecting clients (contiguous, ending at ``started``).
        self.started = hall.last_dispatched
        self._earlier: list[Encoded] = []
        self._reading = asyncio.Lock()
        hall.auth.session_ended.append(self.end_session)
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.flusher = Flusher()
        self._rush: deque[float] = deque()  # loop times of the DIGESTED events of the last second
        self.screens: set[Client] = set()  # clients of SCREEN_ROLES
        self.digest = Digest(lambda service: views.service(self.hall.state, service),
                             lambda: self.hall.clock.now().isoformat(), ws_frame,
                             lambda topic: self.by_topic.get(topic, set()) & self.screens)

    async def _read_earlier(self, since: int) -> None:
        """Read the events after ``since`` that this process dispatched before it started the hub.

        Only as far back as the ring reaches, and once for all the clients of a reconnect storm.
        """
        size = self.ring.maxlen or RING
        async with self._reading:
            first = self._earlier[0][0] if self._earlier else self.started + 1
            if since >= first - 1 or since < self.hall.last_dispatched - size:
                return
            # The state moves on meanwhile; each service's counts are read once per batch
            # (the counts in a replayed event are the newest, as for any late event).
            seen: dict[str, dict[str, Any]] = {}

            def view(service: str) -> dict[str, Any]:
                if service not in seen:
                    seen[service] = views.service(self.hall.state, service)
                return seen[service]

            events = await self.hall.store.events_since(since, first - 1 - since)
            self._earlier[:0] = [(e.seq, frames(self.hall, e, view)) for e in events if e.seq < first]

    def _replayable(self) -> list[Encoded] | deque[Encoded]:
        """The encoded events a reconnecting client can be sent, oldest first, without a gap."""
        if not self._earlier:
            return self.ring
        if self.ring and self.ring[0][0] != self.started + 1:
            self._earlier = []  # the ring has moved past the start: what came before is too old now
            return self.ring
        return [*self._earlier, *self.ring]

    def end_session(self, session_hash: str) -> None:
        """A session was signed out: its pages hear so and are disconnected (they sign in again)."""
        for c in list(self.clients):
            session = c.principal.session
            if session is not None and session.hash == session_hash:
                c.reply(protocol.error("session_ended", "this sign-in has ended; sign in again"))
                c.flush()
                c.closed = True
                if c.transport is not None:
                    c.transport.close()  # after the reason is written: the page shows its sign-in

    async def close(self) -> None:
        if self.end_session in self.hall.auth.session_ended:
            self.hall.auth.session_ended.remove(self.end_session)
        self._closing = True  # agents cut by our shutdown are not gone: they come back elsewhere, or here
        self._unsubscribe()
        self._unrewind()
        self._unsubscribe = self._unrewind = lambda: None  # closing twice is harmless
        self.digest.close()
        self.flusher.flush()
        for c in list(self.clients):
            c.closed = True
            await c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- fan-out ------------------------------------------------------------------------

    def _recipients(self, topics: Iterable[str]) -> set[Client]:
        if ALL in topics:
            return set(self.clients)
        out: set[Client] = set()
        for topic in topics:
            out |= self.by_topic.get(topic, set())
        return out

    def on_event(self, event: Event) -> None:
        audiences = frames(self.hall, event)
        self.ring.append((event.seq, audiences))
        if self._earlier and len(self.ring) == self.ring.maxlen:
            self._earlier = []  # the ring alone now reaches as far back as a replay may go
        if not self.clients:
            return
        if event.name == "ticket.issued" and event.ticket is not None and event.ticket.token in self.awaiting:
            for c, token in self.awaiting.pop(event.ticket.token).items():
                c.tokens.pop(token, None)
                self._subscribe(c, [f"ticket:{token}"])
        sent: set[Client] = set()
        rush = self._in_rush(event)
        for topics, frame in audiences:
            recipients = self._recipients(topics)
            if rush:
                # Screens reached only through the hall's or a zone's topic get the counts in a
                # digest; the set arithmetic keeps a rush's cost off the number of screens.
                shared = frozenset(t for t in topics if t == protocol.topic_hall() or t.startswith("zone:"))
                if shared:
                    self.digest.add(shared, audience.touched_services(self.hall, event))
                    recipients = (recipients - self.screens) | (self._recipients(topics - shared) & self.screens)
            for c in recipients - sent:
                if event.seq > c.floor:
                    c.send(frame)
                sent.add(c)
        self.flusher.flush_due()  # in a quiet hall, before the caller's own answer goes out
        if (event.ticket is not None or event.name in STAFFING) and self.following:
            self._positions(event)

    def _in_rush(self, event: Event) -> bool:
        """A DIGESTED event while more than DIGEST_ABOVE of them came in the last second."""
        if event.name not in DIGESTED:
            return False
        now = asyncio.get_running_loop().time()
        rush = self._rush
        rush.append(now)
        while rush[0] < now - 1.0:
            rush.popleft()
        return len(rush) > DIGEST_ABOVE

    def on_rewind(self, seq: int, dispatched: int) -> None:
        """The log went back to ``seq`` (a Redis failover): what clients were sent after it is void.

        Every client is cut; it reconnects with its ``since`` and, since that lies in the
        void, is sent a snapshot of the state as the log now has it.
        """
        self.ring.clear()
        self._earlier = []
        self._snapshot = None
        self.started = seq
        self._void = (seq, max(dispatched, self._void[1]))
        for c in list(self.clients):
            c.closed = True
            if c.transport is not None:
                c.transport.close()

    def _positions(self, event: Event) -> None:
        """Tell citizens following a ticket how many now stand before them, and the wait (a window
        signing in or out changes it, or leaves none: the ETA is then null)."""
        st = self.hall.state
        services = {event.ticket.service} if event.ticket else set()
        if event.extra.get("from_service"):
            services.add(event.extra["from_service"])
        if event.name in STAFFING and event.window is not None and event.window.number in self.hall.config.windows:
            services.update(self.hall.config.windows[event.window.number].services)
        paces: dict[str, queueing.Pace] = {}
        for ticket_id, followers in self.following.items():
            t = st.tickets.get(ticket_id)
            if t is None or t.service not in services or t.status is not Status.WAITING or t.day != st.day:
                continue
            if t.service not in paces:
                paces[t.service] = queueing.Pace.of(st, t.service, event.at)
            ahead = queueing.ahead_of(st, t)  # a look-up in the queue's kept order, not a sort
            frame = ws_frame(protocol.encode({
                "type": protocol.POSITION, "seq": event.seq, "ticket": t.number, "status": t.status,
                "ahead": ahead, "eta_minutes": (eta := paces[t.service].minutes(ahead)), "eta_range": views.wire_range(eta),
            }))
            for c in followers:
                if event.seq > c.floor:  # else the client's snapshot is newer than this event
                    c.send(frame)

    def _subscribe(self, c: Client, topics: Iterable[str]) -> None:
        for topic in topics:
            if topic.startswith("ticket:"):
                token = topic[len("ticket:"):]
                if token in c.tokens:
                    continue
                t = self.hall.state.ticket_by_token(token)
                c.tokens[token] = t.id if t is not None else None
                if t is None:
                    # Accepted like any other, so nobody learns which tokens exist; nothing is sent for it
                    # unless a ticket with this token is issued (seen here later than on another process).
                    self.awaiting.setdefault(token_key(token), {})[c] = token
                    continue
                self.following.setdefault(t.id, {})[c] = token
                # Events name a ticket's topic by what the store keeps of its token, never the token.
                topic = protocol.topic_ticket(token_key(token))
            c.topics.add(topic)
            self.by_topic.setdefault(topic, set()).add(c)

    def _check_topics(self, c: Client, topics: list[str]) -> None:
        """Refuse the lot if one topic is not allowed, or if they would take the client over ``MAX_TOPICS``."""
        new = [t for t in topics if not self._holds(c, t)]
        if c.topic_count + len(new) > MAX_TOPICS:
            raise Invalid(f"at most {MAX_TOPICS} topics on one connection", code="too_many_topics")
        for topic in new:
            self.check_topic(c.principal, topic)

    @staticmethod
    def _holds(c: Client, topic: str) -> bool:
        if topic.startswith("ticket:"):
            return topic[len("ticket:"):] in c.tokens
        return topic in c.topics

    def _drop(self, c: Client) -> None:
        c.closed = True
        self.clients.discard(c)
        self.screens.discard(c)
        for token, ticket_id in c.tokens.items():
            index, key = (self.following, ticket_id) if ticket_id else (self.awaiting, token_key(token))
            followers = index.get(key)
            if followers is not None:
                followers.pop(c, None)
                if not followers:
                    del index[key]
        for topic in c.topics:
            members = self.by_topic.get(topic)
            if members is not None:
                members.discard(c)
                if not members:
                    del self.by_topic[topic]
        self._count_changed()

    async def wait_clients(self, count: int) -> None:
        """Wait until exactly ``count`` clients are connected (tests, graceful restarts)."""
        if len(self.clients) == count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count_waiters.append((count, future))
        await future

    def _count_changed(self) -> None:
        n = len(self.clients)
        for count, future in [w for w in self._count_waiters if w[0] == n]:
            if not future.done():
                future.set_result(None)
        self._count_waiters = [w for w in self._count_waiters if w[0] != n and not w[1].done()]

    @property
    def subscription_count(self) -> int:
        return sum(len(v) for v in self.by_topic.values())

    # -- topics and snapshots --------------------------------------------------------------

    def check_topic(self, p: Principal, topic: str) -> None:
        cfg = self.hall.config
        kind, _, arg = topic.partition(":")
        if len(topic) > MAX_TOPIC_LENGTH:
            raise Invalid(f"a topic is at most {MAX_TOPIC_LENGTH} characters", code="bad_topic")
        if topic == "hall" or topic.startswith("ticket:") and len(arg) >= 8:
            return
        if kind == "zone" and arg in cfg.zones:
            return
        if kind == "window" and arg.isascii() and arg.isdigit() and len(arg) <= 9 and int(arg) in cfg.windows:
            return
        if kind in ("kiosk", "printer") and arg:
            if p.role in ("manager", "admin") or (p.role in ("kiosk", "agent") and p.kiosk == arg):
                return
            raise HallError(f"topic {topic!r} needs that kiosk's token", code="forbidden")
        if topic == protocol.TOPIC_ADMIN:
            auth.require(p, "manager", "admin")
            return
        if topic == protocol.TOPIC_DEVICES:
            auth.require(p, "manager", "admin", "agent")
            return
        if topic == protocol.TOPIC_GUIDES:
            auth.require(p, *auth.PEOPLE_ROLES)
            return
        raise Invalid(f"unknown topic {topic!r}", code="bad_topic")

    def snapshot(self, c: Client) -> dict[str, Any]:
        st = self.hall.state
        if self._snapshot is None or self._snapshot[0] != st.seq:
            self._snapshot = (st.seq, self.hall.snapshot())
        state = dict(self._snapshot[1])
        if c.tokens:
            tickets = {}
            for token in c.tokens:
                t = st.ticket_by_token(token)
                if t is not None:
                    tickets[token] = views.ticket(st, t)
            state["tickets"] = tickets
        if protocol.TOPIC_ADMIN in c.topics or protocol.TOPIC_DEVICES in c.topics:
            state["devices"] = views.devices(st)
        kiosks = {t.partition(":")[2] for t in c.topics if t.startswith("printer:")}
        if kiosks:
            state["printers"] = [d for d in views.devices(st) if d.get("kind") == "printer" and d.get("kiosk") in kiosks]
        return {"type": protocol.SNAPSHOT, "seq": st.seq, "state": state}

    def start_stream(self, c: Client, since: int | None) -> None:
        """Send the snapshot or the missed events, and join the live stream, with no await between."""
        last = self.hall.last_dispatched
        replayable = self._replayable()
        oldest = replayable[0][0] if replayable else last + 1
        void = since is not None and self._void[0] < since <= self._void[1]
        if since is not None and since <= last and since >= oldest - 1 and not void:
            for seq, audiences in replayable:
                if seq <= since:
                    continue
                for topics, frame in audiences:
                    if ALL in topics or topics & c.topics:
                        c.send(frame)
                        break
            c.floor = last
        else:
            msg = self.snapshot(c)
            c.floor = msg["seq"]
            c.reply(msg)
        self.clients.add(c)
        if c.principal.role in SCREEN_ROLES:
            self.screens.add(c)
        self._count_changed()

    # -- one connection ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # No permessage-deflate: frames are encoded once for every client, and compression
        # would run per client for every event and keep a zlib context per connection.
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=1024 * 1024, compress=False)
        await ws.prepare(request)
        c = Client(ws, auth.ANONYMOUS, request.transport, self.send_buffer, self.flusher)
        c.messages = limits.Bucket(self.messages, time.monotonic())
        try:
            if await self._hello(request, c):
                await self._read(c)
            else:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"bad hello")
        finally:
            self._drop(c)
            self._agent_gone(c)
            if not ws.closed:
                await ws.close()
        return ws

    def _agent_gone(self, c: Client) -> None:
        """Mark what an agent reported over this connection offline: its printer prints nothing now."""
        link = c.principal.extra.get("link")
        if self._closing or c.principal.role != "agent" or not link:
            return

        async def mark() -> None:
            try:
                await self.hall.run(lambda tx: rules.agent_gone(tx, c.principal.id, link), c.principal.id)
            except HallError as exc:  # the hall is stopping
                log.info("devices of agent %s not marked offline: %s", c.principal.id, exc)

        task = asyncio.ensure_future(mark())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reply(self, c: Client, message: dict[str, Any]) -> None:
        c.reply(message)

    async def _hello(self, request: web.Request, c: Client) -> bool:
        async def refuse(code: str, message: str) -> bool:
            # Sent through aiohttp and awaited, so it is out before the close.
            await c.ws.send_str(protocol.encode(protocol.error(code, message)))
            return False

        try:
            msg = await c.ws.receive(timeout=HELLO_TIMEOUT)
        except asyncio.TimeoutError:
            return await refuse("hello_timeout", "send hello first")
        if msg.type == WSMsgType.BINARY:
            return await refuse("bad_message", "binary frames are not part of the protocol")
        if msg.type != WSMsgType.TEXT:
            return False
        try:
            hello = protocol.parse_client(msg.data)
            if hello["type"] != protocol.HELLO:
                raise protocol.ProtocolError("hello_first", "the first message must be hello")
            c.principal = replace(await self._principal(request, hello.get("token")), address=client_address(request))
            if c.principal.role == "agent":  # its device reports name this connection (rules.agent_gone)
                c.principal = replace(c.principal, extra={**c.principal.extra, "link": secrets.token_hex(8)})
            topics = list(dict.fromkeys(hello.get("topics") or []))
            if len(topics) > MAX_TOPICS:
                raise Invalid(f"at most {MAX_TOPICS} topics", code="bad_topic")
            for topic in topics:
                self.check_topic(c.principal, topic)
        except (protocol.ProtocolError, HallError) as exc:
            return await refuse(exc.code, exc.message)
        since = hello.get("since")
        if isinstance(since, int) and since > self.hall.last_dispatched:
            await self._catch_up(since)  # before subscribing: nothing may reach c before its stream starts
        elif isinstance(since, int) and since < self.started:
            try:
                await self._read_earlier(since)
            except StoreError as exc:
                log.warning("cannot read the log for a reconnecting client (%s); it gets a snapshot", exc)
        self._subscribe(c, topics)
        self._reply(c, {"type": protocol.WELCOME, "seq": self.hall.last_dispatched, "role": c.principal.role,
                        "version": __version__, "protocol": protocol.VERSION, "heartbeat": self.heartbeat})
        self.start_stream(c, hello.get("since"))
        return True

    async def _catch_up(self, since: int) -> None:
        """Wait for events the client saw on another server process to reach this one.

        With several processes on Redis, a screen whose process died reconnects here
        with a ``since`` this process may not have dispatched yet; a replay is better
        than a snapshot. A ``since`` beyond the log (a store reset) gets the snapshot.
        """
        try:
            if await self.hall.store.events_since(since - 1, 1):
                await asyncio.wait_for(self.hall.wait_dispatched(since), CATCH_UP_SECONDS)
        except (StoreError, asyncio.TimeoutError):
            pass  # the client gets a snapshot instead

    async def _principal(self, request: web.Request, token: str | None) -> Principal:
        if token:
            p = await self.hall.auth.bearer(token)
            if p is None:
                raise HallError("unknown or revoked token", code="unauthorized")
            return p
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        if cookie:
            origin = request.headers.get("Origin")
            if origin and origin.split("://", 1)[-1] != request.host:
                raise HallError("cross-origin WebSocket with a session cookie", code="forbidden")
            p = await self.hall.auth.cookie(cookie)
            if p is not None:
                return p
        return auth.ANONYMOUS

    async def _read(self, c: Client) -> None:
        async for msg in c.ws:
            if c.messages.take(time.monotonic()):
                log.warning("closing a WebSocket client (%s) that sent frames faster than %d a minute",
                            c.principal.role, self.messages.per_minute)
                c.flush()  # what was queued for it goes out before the reason and the close
                await c.ws.send_str(protocol.encode(protocol.error(
                    "rate_limited", f"more than {self.messages.per_minute:g} frames a minute; reconnect later")))
                await c.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"rate limited")
                break
            if msg.type == WSMsgType.BINARY:
                self._reply(c, protocol.error("bad_message", "binary frames are not part of the protocol"))
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                m = protocol.parse_client(msg.data)
            except protocol.ProtocolError as exc:
                self._reply(c, protocol.error(exc.code, exc.message))
                continue
            kind = m["type"]
            if kind == protocol.PING:
                # A pong says every event up to its seq came before it: the counts of those a
                # screen gets as a digest go first.
                self.digest.send_to(c)
                self._reply(c, {"type": protocol.PONG, "seq": self.hall.last_dispatched})
            elif kind == protocol.COMMAND:
                await self._command(c, m)
            elif kind == protocol.SUBSCRIBE:
                topics = list(dict.fromkeys(m["topics"]))
                try:
                    self._check_topics(c, topics)
                except HallError as exc:
                    self._reply(c, protocol.error(exc.code, exc.message))
                    continue
                self._subscribe(c, topics)
                # The topics of this request, as asked (never the client's whole list), and how many it holds now.
                self._reply(c, {"type": "subscribed", "topics": topics, "count": c.topic_count})
            else:
                self._reply(c, protocol.error("bad_type", "hello was already received"))
            if c.closed:
                break

    async def _command(self, c: Client, m: dict[str, Any]) -> None:
        msg_id = m["id"]
        args = {k: v for k, v in m.items() if k not in ("type", "id", "name")}
        with trace.traced(trace.new_id(), c.principal.role):
            try:
                data = await self.hall.execute(m["name"], c.principal, args)
            except HallError as exc:
                failure = protocol.failure(msg_id, exc.code, exc.message)
                if isinstance(exc, TooMany):  # as HTTP's Retry-After
                    failure["error"]["retry_after"] = exc.retry_after
                self._reply(c, failure)
                return
            except Exception:
                log.exception("command %s failed", m["name"])
                self._reply(c, protocol.failure(msg_id, "internal", "internal error"))
                return
        if isinstance(data, Download):
            data = download(data)
        self._reply(c, protocol.result(msg_id, data))


def download(d: Download) -> dict[str, Any]:
    """A file result on the WebSocket: text as text, anything else as base64."""
    out: dict[str, Any] = {"content_type": d.content_type, "filename": d.filename}
    if d.content_type.startswith("text/") or d.content_type.endswith("+xml"):
        out["text"] = d.body.decode("utf-8")
    else:
        out["base64"] = base64.b64encode(d.body).decode()
    return out
