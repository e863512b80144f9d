-- Commit a batch of hall events if, and only if, the hall's log still ends at the
-- sequence number the caller decided on. This one check-and-write is what makes a
-- call-next claim, a ticket's number, a transfer and a requeue atomic across server
-- processes (see keys.py, "why one script"); what to write was computed in Python.
--
-- KEYS[1]  the hall's seq key   KEYS[2] its stream   KEYS[3] its turn key
-- KEYS[4..] every other key the operations write
-- ARGV[1]  expected seq   ARGV[2] the batch's last seq   ARGV[3] the writer's id
-- ARGV[4]  how long the caller claims the next turn if it loses (ms; 0: no claim)
-- ARGV[5]  number of operations
-- ARGV[6..] operations, each: command, key index, argument count, arguments...
--
-- Returns {1, new seq} when committed;
--         {0, current seq, entries} when another writer was first, with (up to 1000
--         of) the entries the caller missed, which saves it a round trip;
--         {2, current seq, ms} when it is another writer's turn for up to ms.

local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  -- A writer that keeps losing races commits next, instead of the one that is
  -- ahead winning again and again.
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4])
  end
  return {0, current, redis.call('XRANGE', KEYS[2], (tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', 1000)}
end
local turn = redis.call('GET', KEYS[3])
if turn and turn ~= ARGV[3] then
  return {2, current, redis.call('PTTL', KEYS[3])}
end

local allowed = {XADD = true, HSET = true, HSETNX = true, ZADD = true, SADD = true, SREM = true, RPUSH = true}
local count = tonumber(ARGV[5])

-- Validate everything before the first write: a script that fails half-way keeps
-- the writes it already made.
local i = 6
for _ = 1, count do
  if not allowed[ARGV[i]] or KEYS[tonumber(ARGV[i + 1])] == nil then
    return redis.error_reply('hallcall commit: bad operation ' .. tostring(ARGV[i]))
  end
  i = i + 3 + tonumber(ARGV[i + 2])
end

i = 6
for _ = 1, count do
  local n = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + n))
  i = i + 3 + n
end
redis.call('SET', KEYS[1], ARGV[2])
if turn then
  redis.call('DEL', KEYS[3])
end
return {1, tonumber(ARGV[2])}
