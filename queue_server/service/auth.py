"""Who is asking, and what they may do.

People sign in with a password (scrypt) and get a cookie session with a CSRF token;
devices carry random bearer tokens of which only a hash is stored; a citizen's
capability is the tracking token of their own ticket. Permission rules are plain
functions of the principal and the hall's state, called inside the decision so that
"the clerk signed in at window 3" is checked atomically with the call itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from queue_server.core.clock import Clock
from queue_server.core.config import Limits
from queue_server.core.errors import Forbidden, NotFound, TooMany, Unauthorized
from queue_server.core.model import DeviceToken, Person, Session, Window, WindowStatus
from queue_server.core.state import HallState
from queue_server.store import Store

from . import limits

log = logging.getLogger("hallcall.auth")

# People who sign in. A guide (导办/帮办员) escorts citizens and takes no part in the queue:
# rules for staff (STAFF_ROLES) do not admit a guide.
STAFF_ROLES = ("clerk", "manager", "admin")
GUIDE = "guide"
PEOPLE_ROLES = (*STAFF_ROLES, GUIDE)
MANAGED_ROLES = ("clerk", GUIDE)  # the people a manager may add and change; admins manage everyone
DEVICE_ROLES = ("kiosk", "display", "pad", "agent")
SESSION_HOURS = 12
SESSION_COOKIE = "hallcall_session"
CSRF_HEADER = "X-CSRF-Token"
# A revoked token stops working on other server processes (or after a CLI revocation)
# within this many seconds; the environment may shorten it.
CACHE_SECONDS = float(os.environ.get("HALLCALL_AUTH_CACHE_SECONDS", "2.0"))

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# Password hashing (scrypt, ~16 MB and tens of milliseconds each) runs on this many threads
# of its own, never on the event loop or its shared executor, so a flood of sign-ins leaves
# the other core to the hall; more than HASHING_QUEUE sign-ins waiting are told to come back.
HASHING_THREADS = 1
HASHING_QUEUE = 32


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=32, maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def digest(secret: str) -> str:
    """The stored form of a bearer token or session cookie."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_device_token() -> str:
    return "hc_" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Principal:
    """The caller of one request or WebSocket connection."""

    role: str  # admin, manager, clerk, guide, kiosk, display, pad, agent, anonymous
    id: str = ""  # person id or token id
    name: str = ""
    windows: frozenset[int] = frozenset()  # a device's bound windows; a clerk's permitted ones (empty = any)
    kiosk: str = ""
    green: bool = False
    person: Person | None = None
    session: Session | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    address: str = ""  # the client's address, for limits per address (see web.http.client_address)

    @property
    def is_person(self) -> bool:
        return self.role in PEOPLE_ROLES

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")

    @property
    def actor(self) -> str | None:
        """How events record who acted."""
        if self.is_person:
            return f"person:{self.id}"
        if self.role in DEVICE_ROLES:
            return f"token:{self.id}"
        return None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "id": self.id, "name": self.name, "windows": sorted(self.windows)}
        if self.person is not None:
            out["person"] = self.person.public()
        if self.kiosk:
            out["kiosk"] = self.kiosk
            out["green"] = self.green
        return out


ANONYMOUS = Principal("anonymous")


def from_person(person: Person, session: Session | None = None) -> Principal:
    return Principal(person.role, person.id, person.name, frozenset(person.windows), person=person, session=session)


def from_device(token: DeviceToken) -> Principal:
    return Principal(token.role, token.id, token.label, frozenset(token.windows), kiosk=token.kiosk, green=token.green)


# -- permission rules -------------------------------------------------------------------
#
# Every command names one Rule: the roles that may run it at all, checked before anything
# else, and, where it depends on the hall's state ("the clerk signed in at window 3"), a
# check run again inside the command's decision, so it holds atomically with the action.

StateCheck = Callable[[Principal, HallState, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Rule:
    who: str  # for people: who may run it
    roles: frozenset[str]
    check: StateCheck | None = None

    def admit(self, p: Principal) -> None:
        """Refuse a caller whose role may never run the command."""
        if p.role in self.roles:
            return
        if p.role == "anonymous":
            raise Unauthorized("sign in or present a token")
        article = "an" if p.role[:1] in "aeiou" else "a"
        raise Forbidden(f"{article} {p.role} may not do this")

    def allows(self, p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
        self.admit(p)
        if self.check is not None:
            self.check(p, st, args)

    def also(self, check: StateCheck, who: str | None = None) -> Rule:
        """This rule with one more check (a record's owner, say)."""
        first = self.check

        def both(p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
            if first is not None:
                first(p, st, args)
            check(p, st, args)

        return Rule(who or self.who, self.roles, both)


def rule(who: str, *roles: str, check: StateCheck | None = None) -> Rule:
    return Rule(who, frozenset(roles), check)


def require(p: Principal, *roles: str) -> None:
    """Refuse a caller whose role is not among ``roles``."""
    Rule("", frozenset(roles)).admit(p)


def window_of(st: HallState, number: Any) -> Window:
    if not isinstance(number, int) or number not in st.config.windows:
        raise NotFound(f"no window {number}", code="window_unknown")
    return st.windows[number]


def require_window_operator(p: Principal, window: Window, *, status_change: bool = False) -> None:
    """Call, recall, finish… need the clerk signed in there, or an agent bound to it.

    Opening, pausing, resuming and closing a window (``status_change``) may also be
    done by an admin, e.g. to close a window a clerk left open.
    """
    if p.role == "anonymous":
        raise Unauthorized("sign in or present a token")
    if p.role == "agent" and window.number in p.windows:
        return
    if p.role in PEOPLE_ROLES and window.clerk == p.id:
        return  # a manager standing in at a window acts as its clerk
    if status_change and p.role == "admin":
        return
    if p.role in PEOPLE_ROLES:
        raise Forbidden(f"you are not signed in at window {window.number}")
    raise Forbidden(f"a {p.role} token may not operate window {window.number}")


def _operator(p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
    require_window_operator(p, window_of(st, args.get("window")))


def _status(p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
    require_window_operator(p, window_of(st, args.get("window")), status_change=True)


def _may_open(p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
    number = args.get("window")
    window_of(st, number)
    if p.role == "agent":
        if number not in p.windows:
            raise Forbidden(f"this agent is not bound to window {number}")
        return
    if p.role == "clerk" and p.windows and number not in p.windows:
        raise Forbidden(f"you may not sign in at window {number}")


def _window_exists(p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
    window_of(st, args.get("window"))


def _window_records(p: Principal, st: HallState, args: Mapping[str, Any]) -> None:
    w = window_of(st, args.get("window"))
    if not p.is_manager:
        require_window_operator(p, w)


def signed_in_at(p: Principal, st: HallState) -> int | None:
    """The window a person is signed in at now, if any."""
    if not p.is_person:
        return None
    return next((n for n, w in st.windows.items() if w.clerk == p.id and w.status is not WindowStatus.CLOSED), None)


ANYONE = rule("anyone", "anonymous", *PEOPLE_ROLES, *DEVICE_ROLES)
STAFF = rule("staff (clerk, manager, admin)", *STAFF_ROLES)
MANAGERS = rule("manager, admin", "manager", "admin")
ADMIN = rule("admin", "admin")
KIOSK_OR_STAFF = rule("kiosk token, staff", "kiosk", *STAFF_ROLES)
WINDOW_OPERATOR = rule("the clerk signed in at the window, or its agent", *STAFF_ROLES, "agent", check=_operator)
WINDOW_STATUS = rule("the clerk signed in at the window, its agent, an admin", *STAFF_ROLES, "agent", check=_status)
MAY_OPEN = rule("a clerk permitted there, an admin, or its agent (with staff_no)", *STAFF_ROLES, "agent", check=_may_open)
QUEUE_VIEWERS = rule("staff, agent, display, pad", *STAFF_ROLES, "agent", "display", "pad", check=_window_exists)
WINDOW_RECORDS = rule("the clerk signed in at the window, its agent, manager, admin", *STAFF_ROLES, "agent",
                      check=_window_records)
AGENT = rule("agent", "agent")


# -- authentication -------------------------------------------------------------------------


class LoginThrottle:
    """Failed sign-ins: a backoff per (address, login) and a budget per address.

    Only a client that has failed waits. Wrong passwords for ``admin`` from one PC make
    that PC wait for ``admin`` (1 s, 2 s, 4 s … up to the maximum) after the first
    ``login_failures``; every other client, and the right password from anywhere else,
    is let in as before. An address that fails ``address_login_failures`` times, whatever
    the logins, then gets ``address_login_per_minute`` tries a minute, so guessing across
    many logins is slow too. The clock is the hall's, in seconds.
    """

    MAX_PAIRS = 10_000

    def __init__(self, settings: Limits, clock: limits.Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._pairs: dict[tuple[str, str], tuple[int, float]] = {}  # (address, login) -> failures, not before
        self._addresses = limits.Limiter(limits.Rate(settings.address_login_per_minute, settings.address_login_failures),
                                         clock)

    def wait(self, address: str, login: str) -> float:
        """Seconds before this address may try this login again (0.0: now)."""
        _, until = self._pairs.get((address, login), (0, 0.0))
        return max(until - self.clock(), self._addresses.wait(address), 0.0)

    def failed(self, address: str, login: str) -> None:
        now = self.clock()
        failures = self._pairs.get((address, login), (0, 0.0))[0] + 1
        over = failures - self.settings.login_failures
        until = now + min(self.settings.login_backoff_max_seconds, 2.0 ** (over - 1)) if over > 0 else 0.0
        if len(self._pairs) >= self.MAX_PAIRS:
            self._pairs = {k: v for k, v in self._pairs.items() if v[1] > now}
            while len(self._pairs) >= self.MAX_PAIRS:
                del self._pairs[next(iter(self._pairs))]
        self._pairs[(address, login)] = (failures, until)
        if over > 0:
            # The login is who was tried, not a secret; the password is never logged.
            log.warning("sign-in locked for login %r from %s for %.0f s after %d wrong passwords",
                        login, address or "?", until - now, failures)
        if self._addresses.take(address) == 0.0 and self._addresses.wait(address) > 0:
            log.warning("sign-in locked for every login from %s after %d wrong passwords",
                        address or "?", self.settings.address_login_failures)

    def succeeded(self, address: str, login: str) -> None:
        self._pairs.pop((address, login), None)


class Authenticator:
    """Resolves bearer tokens and session cookies against the store, with a short cache."""

    def __init__(self, store: Store, clock: Clock, settings: Limits | None = None) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self.throttle = LoginThrottle(settings or Limits(), lambda: self.clock.now().timestamp())
        self._hashing: ThreadPoolExecutor | None = None
        self._hashing_waiting = 0
        self._dummy_hash: str | None = None
        # Called with a session's hash when it is signed out, so live pages of it can be told at once.
        self.session_ended: list[Callable[[str], None]] = []

    def forget(self) -> None:
        self._cache.clear()

    def _cached(self, key: str) -> tuple[bool, Principal | None]:
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            p = hit[1]
            # A cached sign-in still ends when its session does, on the hall's clock.
            if p is None or p.session is None or p.session.expires_at > self.clock.now():
                return True, p
        return False, None

    def _remember(self, key: str, p: Principal | None) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, p)

    async def bearer(self, token: str) -> Principal | None:
        # Cached by the token itself (it is in this process's memory anyway); the hash,
        # which is all the store knows, is computed only on a miss.
        found, p = self._cached("t:" + token)
        if found:
            return p
        row = await self.store.token(hash=digest(token))
        p = from_device(row) if row is not None and row.revoked_at is None else None
        self._remember("t:" + token, p)
        return p

    async def cookie(self, cookie: str) -> Principal | None:
        key = "s:" + digest(cookie)
        found, p = self._cached(key)
        if found:
            return p
        session = await self.store.session(key[2:])
        p = None
        if session is not None and session.expires_at > self.clock.now():
            person = await self.store.person(id=session.person)
            if person is not None and person.active:
                p = from_person(person, session)
        self._remember(key, p)
        return p

    async def _hash(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a password hash on the hashing threads; refuse when too many already wait."""
        if self._hashing_waiting >= HASHING_QUEUE:
            raise TooMany("too many sign-ins at once; try again in a moment", code="busy", retry_after=1)
        if self._hashing is None:
            self._hashing = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="hallcall-hash")
        self._hashing_waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._hashing, fn, *args)
        finally:
            self._hashing_waiting -= 1

    def close(self) -> None:
        if self._hashing is not None:
            self._hashing.shutdown(wait=False, cancel_futures=True)
            self._hashing = None

    async def login(self, login: str, password: str, address: str = "") -> tuple[str, Principal]:
        """Check a password; return a new session cookie value and the principal.

        ``address`` is the client's; a client that keeps failing waits (``LoginThrottle``).
        """
        wait = self.throttle.wait(address, login)
        if wait > 0:
            raise TooMany(f"too many wrong passwords from here; try again in {limits.retry_after(wait)} s",
                          code="locked", retry_after=limits.retry_after(wait))
        person = await self.store.person(login=login)
        if person is None:
            # The same work for an unknown login as for a known one, so timing does not tell which exist.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(hash_password, "x")
            stored = self._dummy_hash
        else:
            stored = person.password_hash
        ok = await self._hash(verify_password, password, stored)
        if person is None or not ok or not person.active:
            self.throttle.failed(address, login)
            raise Unauthorized("wrong login or password", code="bad_credentials")
        self.throttle.succeeded(address, login)
        cookie = secrets.token_urlsafe(32)
        at = self.clock.now()
        session = Session(digest(cookie), person.id, secrets.token_urlsafe(16), at, at + timedelta(hours=SESSION_HOURS))
        await self.store.put_session(session)
        return cookie, from_person(person, session)

    async def logout(self, cookie: str) -> None:
        key = digest(cookie)
        await self.store.delete_session(key)
        self._cache.pop("s:" + key, None)
        for ended in self.session_ended:
            ended(key)

    async def add_token(self, role: str, label: str, *, windows: tuple[int, ...] = (), kiosk: str = "", green: bool = False) -> tuple[str, DeviceToken]:
        if role not in DEVICE_ROLES:
            raise ValueError(f"role must be one of {DEVICE_ROLES}")
        secret = new_device_token()
        row = DeviceToken(secrets.token_hex(4), role, label, digest(secret), tuple(sorted(windows)), kiosk, green, self.clock.now())
        await self.store.put_token(row)
        return secret, row

    async def revoke_token(self, token_id: str) -> DeviceToken | None:
        row = await self.store.token(id=token_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row = replace(row, revoked_at=self.clock.now())
            await self.store.put_token(row)
        self._cache = {k: v for k, v in self._cache.items() if not (k.startswith("t:") and v[1] is not None and v[1].id == row.id)}
        return row


def new_person(login: str, name: str, role: str, password: str, *, staff_no: str = "", department: str = "",
               photo: str = "", windows: tuple[int, ...] = (), now: datetime | None = None) -> Person:
    if role not in PEOPLE_ROLES:
        raise ValueError(f"role must be one of {PEOPLE_ROLES}")
    return Person(secrets.token_hex(6), login, name, role, staff_no, department, photo, tuple(windows),
                  hash_password(password), True, now)
