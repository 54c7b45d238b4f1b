/**
 * Lua scripts for every read-modify-write the Redis store does, so that several gateway processes
 * never interleave halfway through one. Keys of one user share a hash tag (`{tag}`), so each script
 * stays inside one Cluster slot.
 */

/*
 * A session is one string: "<lastSeenAt>,<idle expiry>,<absolute expiry>,<JSON as created>". Only the
 * times change, so the JSON is never re-encoded in Lua (cjson would turn an empty list into an
 * object), and a plain string costs far less memory than a hash whose JSON field exceeds the
 * listpack limit (measured: 512 bytes for such a hash alone).
 */

/**
 * Create a session under the per-user cap.
 * KEYS[1] user index (zset id → createdAt), KEYS[2] the new session key.
 * ARGV: id, json, ttlMs, createdAt, maxSessions, policy, session key prefix, now, lastSeenAt,
 * expiresAt, absoluteExpiresAt. Returns {1, evicted ids...} or {0} when refused.
 */
export const CREATE_SESSION = `
local index, key = KEYS[1], KEYS[2]
local id, json, ttl, createdAt = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local max, policy, prefix, now = tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])
local live = {}
for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local value = redis.call('GET', prefix .. member)
  local alive = false
  if value then
    local _, e, a = string.match(value, '^(%d+),(%d+),(%d+),')
    alive = tonumber(e) > now and tonumber(a) > now
  end
  if alive then
    table.insert(live, member)
  else
    redis.call('DEL', prefix .. member)
    redis.call('ZREM', index, member)
  end
end
local result = {1}
if #live >= max then
  if policy ~= 'evictOldest' then return {0} end
  for i = 1, #live - max + 1 do
    redis.call('DEL', prefix .. live[i])
    redis.call('ZREM', index, live[i])
    table.insert(result, live[i])
  end
end
redis.call('SET', key, ARGV[9] .. ',' .. ARGV[10] .. ',' .. ARGV[11] .. ',' .. json, 'PX', ttl)
redis.call('ZADD', index, createdAt, id)
local indexTtl = redis.call('PTTL', index)
if indexTtl < ttl then redis.call('PEXPIRE', index, ttl) end
return result
`;

/**
 * Slide a session's idle expiry (never backwards, never past the absolute limit); nothing happens
 * if it is gone. KEYS[1] session key. ARGV: lastSeenAt, expiresAt.
 */
export const TOUCH_SESSION = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local s, e, a, json = string.match(value, '^(%d+),(%d+),(%d+),(.*)$')
local seen, exp = tonumber(ARGV[1]), tonumber(ARGV[2])
s, e, a = tonumber(s), tonumber(e), tonumber(a)
if exp > a then exp = a end
if seen < s then seen = s end
if exp < e then exp = e end
redis.call('SET', KEYS[1], string.format('%d,%d,%d,', seen, exp, a) .. json, 'KEEPTTL')
return 1
`;

/**
 * End every session of a user. KEYS[1] user index. ARGV: session key prefix. Returns the ended ids.
 */
export const DELETE_USER_SESSIONS = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return ids
`;

/**
 * Count a failed login. KEYS[1] the user's failure hash {n, at}, KEYS[2] the user's version counter.
 * ARGV: now, maxFailures, lockMs, ttlMs, user-changed channel, user. Returns {failures, lockedAt or -1}.
 */
export const RECORD_FAILURE = `
local now, max, lockMs, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '-1')
if at >= 0 and at + lockMs <= now then
  n = 0
  at = -1
end
n = n + 1
if at < 0 and max > 0 and n >= max then
  at = now
  redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[5], ARGV[6])
end
redis.call('HSET', KEYS[1], 'n', n, 'at', at)
redis.call('PEXPIRE', KEYS[1], ttl)
return {n, at}
`;

/** Count a failure from an IP in a fixed window. KEYS[1] window key. ARGV: ttlMs. Returns the count. */
export const COUNT_WINDOW = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

/** Compare-and-set of one record: KEYS[1] the record, ARGV[1] the JSON expected there, ARGV[2] the new JSON. */
export const REPLACE_RECORD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;
