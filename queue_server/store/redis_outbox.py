"""The webhook outbox on Redis (see outbox.py): a hash of deliveries per endpoint, one due-time
sorted set for the hall, and two small scripts so that filling (with its cursor check) and
claiming (with its lease) are each atomic across server processes."""

from __future__ import annotations

from typing import Any, cast

from . import redis_keys as K
from .outbox import DELIVERED, FAILED, KEEP, PENDING, Delivery

FILL_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return 0 end
for i = 5, #ARGV, 3 do
  local seq = ARGV[i]
  if redis.call('HSETNX', KEYS[2], seq, ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[3], seq, seq)
    redis.call('ZADD', KEYS[4], ARGV[i + 2], ARGV[1] .. ' ' .. string.format('%012d', tonumber(seq)))
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  for _, seq in ipairs(redis.call('ZRANGE', KEYS[3], 0, over - 1)) do
    if not redis.call('ZSCORE', KEYS[4], ARGV[1] .. ' ' .. string.format('%012d', tonumber(seq))) then
      redis.call('HDEL', KEYS[2], seq)
      redis.call('ZREM', KEYS[3], seq)
    end
  end
end
return 1
"""

# Deliveries' hashes are named from the due set's members; they share the hall's hash tag.
CLAIM_LUA = """
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(members) do
  local sp = string.find(m, ' ', 1, true)
  local raw = redis.call('HGET', ARGV[4] .. string.sub(m, 1, sp - 1), tostring(tonumber(string.sub(m, sp + 1))))
  if raw then
    redis.call('ZADD', KEYS[1], ARGV[2], m)
    table.insert(out, raw)
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
"""


def _member(endpoint: str, seq: int) -> str:
    return f"{endpoint} {seq:012d}"  # zero-padded: equal due times go out in seq order


class OutboxOnRedis:
    keys: K.Keys
    r: Any
    _errors: Any

    def _hook_scripts(self) -> tuple[Any, Any]:
        scripts = getattr(self, "_hook_lua", None)
        if scripts is None:
            scripts = self._hook_lua = (self.r.register_script(FILL_LUA), self.r.register_script(CLAIM_LUA))
        return cast(tuple[Any, Any], scripts)

    async def outbox_cursor(self, endpoint: str) -> int | None:
        with self._errors("webhook cursor"):
            raw = await self.r.hget(self.keys.k(K.HOOK_CURSOR), endpoint)
        return None if raw is None else int(raw)

    async def outbox_fill(self, endpoint: str, expect: int | None, through: int, items: list[Delivery]) -> bool:
        k = self.keys
        args: list[Any] = [endpoint, "" if expect is None else str(expect), str(through), KEEP]
        for d in items:
            args += [d.seq, d.to_json(), d.next_at]
        with self._errors("webhook fill"):
            done = await self._hook_scripts()[0](
                keys=[k.k(K.HOOK_CURSOR), k.k(K.HOOK_DELIVERIES + endpoint), k.k(K.HOOK_SEQS + endpoint), k.k(K.HOOK_DUE)],
                args=args)
        return bool(done)

    async def outbox_claim(self, now: float, lease: float, limit: int) -> list[Delivery]:
        k = self.keys
        with self._errors("webhook claim"):
            raws = await self._hook_scripts()[1](keys=[k.k(K.HOOK_DUE)],
                                                 args=[now, now + lease, limit, k.k(K.HOOK_DELIVERIES)])
        found = [Delivery.from_json(raw) for raw in raws]
        for d in found:
            d.next_at = now + lease
        return found

    async def outbox_settle(self, delivery: Delivery) -> None:
        await self._put_deliveries([delivery])

    async def _put_deliveries(self, deliveries: list[Delivery]) -> None:
        k = self.keys
        with self._errors("webhook settle"):
            pipe = self.r.pipeline(transaction=True)
            for d in deliveries:
                pipe.hset(k.k(K.HOOK_DELIVERIES + d.endpoint), str(d.seq), d.to_json())
                if d.status == PENDING:
                    pipe.zadd(k.k(K.HOOK_DUE), {_member(d.endpoint, d.seq): d.next_at})
                else:
                    pipe.zrem(k.k(K.HOOK_DUE), _member(d.endpoint, d.seq))
            await pipe.execute()

    async def outbox_log(self, endpoint: str, limit: int) -> list[Delivery]:
        k = self.keys
        with self._errors("webhook log"):
            seqs = await self.r.zrevrange(k.k(K.HOOK_SEQS + endpoint), 0, limit - 1)
            raws = await self.r.hmget(k.k(K.HOOK_DELIVERIES + endpoint), seqs) if seqs else []
        return [Delivery.from_json(raw) for raw in raws if raw]

    async def outbox_replay(self, endpoint: str, seq: int | None, now: float) -> int:
        k = self.keys
        with self._errors("webhook replay"):
            if seq is None:
                raws = list((await self.r.hgetall(k.k(K.HOOK_DELIVERIES + endpoint))).values())
            else:
                raws = [r for r in [await self.r.hget(k.k(K.HOOK_DELIVERIES + endpoint), str(seq))] if r]
        found = [Delivery.from_json(raw) for raw in raws]
        again = [d for d in found if d.status == FAILED or (seq is not None and d.status == DELIVERED)]
        for d in again:
            d.status, d.attempts, d.next_at = PENDING, 0, now
        if again:
            await self._put_deliveries(again)
        return len(again)
