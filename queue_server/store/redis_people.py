"""People, device tokens, sessions and secrets on Redis: plain keys beside the hall's log.

They are not events: a password change or a new kiosk token is not part of the
hall's sequence, and admin commands write them while servers run. Secondary
indexes (login, staff number, token hash) may point at a row that has since
changed; every read checks the row itself.
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from typing import Any, Callable

from queue_server.core.model import DeviceToken, Person, Session

from . import redis_keys as K
from . import redis_project as P
from .redis_keys import Keys


class PeopleOnRedis:
    """Mixed into RedisStore, which provides the client ``r``, ``keys`` and ``_errors``."""

    r: Any
    keys: Keys
    _errors: Callable[[str], AbstractContextManager[None]]

    async def put_person(self, person: Person) -> None:
        k = self.keys
        with self._errors("save a person"):
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(k.k(K.PEOPLE), person.id, P.dumps(person.to_dict()))
            pipe.hset(k.k(K.PEOPLE_LOGIN), person.login, person.id)
            if person.staff_no:
                pipe.hset(k.k(K.PEOPLE_STAFF), person.staff_no, person.id)
            await pipe.execute()

    async def person(self, *, id: str | None = None, login: str | None = None, staff_no: str | None = None) -> Person | None:
        k = self.keys
        with self._errors("read a person"):
            if id is None:
                index, value = (K.PEOPLE_LOGIN, login) if login is not None else (K.PEOPLE_STAFF, staff_no)
                if not value:
                    return None
                id = await self.r.hget(k.k(index), value)
                if id is None:
                    return None
            row = await self.r.hget(k.k(K.PEOPLE), id)
        found = P.person(row) if row else None
        # The login and staff-number indexes are not cleaned when a person changes them.
        if found is None or (login is not None and found.login != login) or (staff_no is not None and found.staff_no != staff_no):
            return None
        return found

    async def people(self) -> list[Person]:
        with self._errors("read people"):
            rows = await self.r.hvals(self.keys.k(K.PEOPLE))
        return sorted((P.person(r) for r in rows), key=lambda p: p.login)

    async def put_token(self, token: DeviceToken) -> None:
        k = self.keys
        with self._errors("save a token"):
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(k.k(K.DEVICE_TOKENS), token.id, P.dumps(token.to_dict()))
            pipe.hset(k.k(K.DEVICE_HASHES), token.hash, token.id)
            await pipe.execute()

    async def token(self, *, id: str | None = None, hash: str | None = None) -> DeviceToken | None:
        k = self.keys
        with self._errors("read a token"):
            if id is None:
                id = await self.r.hget(k.k(K.DEVICE_HASHES), hash or "")
                if id is None:
                    return None
            row = await self.r.hget(k.k(K.DEVICE_TOKENS), id)
        return P.device_token(row) if row else None

    async def tokens(self) -> list[DeviceToken]:
        with self._errors("read tokens"):
            rows = await self.r.hvals(self.keys.k(K.DEVICE_TOKENS))
        return sorted((P.device_token(r) for r in rows), key=lambda t: t.id)

    async def put_session(self, session: Session) -> None:
        # Redis forgets the session an hour after its own lifetime, measured on Redis's
        # clock; whether it is still valid is decided by the hall's clock (auth.py).
        ttl = int((session.expires_at - session.created_at).total_seconds()) + 3600
        with self._errors("save a session"):
            await self.r.set(self.keys.session(session.hash), P.dumps(session.to_dict()), ex=max(ttl, 60))

    async def session(self, hash: str) -> Session | None:
        with self._errors("read a session"):
            row = await self.r.get(self.keys.session(hash))
        return P.session(row) if row else None

    async def delete_session(self, hash: str) -> None:
        with self._errors("end a session"):
            await self.r.delete(self.keys.session(hash))

    async def secret(self, name: str) -> bytes:
        """A random value every process of the hall shares, made on first use (e.g. the privacy salt)."""
        key = self.keys.k(K.SECRET + name)
        with self._errors("read a secret"):
            await self.r.set(key, secrets.token_hex(32), nx=True)  # the first process to ask makes it
            value: str = await self.r.get(key)
        return value.encode()
