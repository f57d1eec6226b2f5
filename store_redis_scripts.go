package rtr

import "github.com/redis/go-redis/v9"

// The Redis store's scripts. Each state change is one script, so one round
// trip and one atomic step, on one key: KEYS[1], the subject's hash, whose
// fields are the subject's session ids and whose values are packed records
// (store_redis_record.go has the layout; the offsets below are its, counted
// from 1). Times are unix milliseconds from the caller's clock.
//
// The hash's TTL is kept at least as long as its longest-lived session, set
// relative to the caller's clock (PEXPIRE expiry-now), so that clock skew
// between the application and Redis cannot shorten or stretch a session.
// Redis 7.0 has no TTL per hash field: a session that expires stays in the
// hash until a script meets it (Rotate deletes it; Create deletes all at
// the session cap, or a sample of at most 32 without a cap; Sessions all)
// or the hash itself expires. With the cap a hash holds at most that many
// sessions, which bounds what Sessions (HGETALL) and RevokeAll (HKEYS) read.

// luaRecord reads the fixed part of a packed record. Scripts build new
// records from pieces the caller packed, so Lua only decodes numbers.
const luaRecord = `
local byte, sub = string.byte, string.sub
-- u48 reads the 6-byte big-endian number at s[i]
local function u48(s, i)
  local a, b, c, d, e, f = byte(s, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end
-- bytesLess compares strings byte by byte (Lua's < follows the locale)
local function bytesLess(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
-- expires: the session's end (min of idle and absolute expiry), or nil
-- for a value this code does not know
local function expires(v)
  if #v < 31 or byte(v, 1) ~= 1 then return nil end
  return math.min(u48(v, 18), u48(v, 24))
end
`

// KEYS[1]: the subject's hash. ARGV: sid, record, now, ttl (the session's
// expiry - now), max (the session cap; 0 for none). Reply: the ids of the
// sessions the cap ended, least recently used first.
//
// Below the cap (HLEN) nothing is read. At the cap every record is read,
// the expired ones are deleted and the least recently used live ones
// (smallest rotated time, then created time, then id; a record in a format
// this code does not know counts as the oldest) are deleted until max - 1
// remain; the hash is then at most max fields, so this read is bounded by
// the cap (a hash that grew past it with no cap is read once, and shrinks).
// Without a cap, expired sessions among up to 32 random fields are deleted.
var scriptCreate = redis.NewScript(luaRecord + `
local now, ttl, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if ttl <= 0 then return {} end
local dead, evicted = {}, {}
if max > 0 then
  if redis.call('HLEN', KEYS[1]) >= max then
    local all = redis.call('HGETALL', KEYS[1])
    local live = {}
    for i = 1, #all, 2 do
      local v = all[i + 1]
      local e = expires(v)
      if e and e <= now then
        dead[#dead + 1] = all[i]
      elseif e then
        live[#live + 1] = {u48(v, 12), u48(v, 6), all[i]}
      else
        live[#live + 1] = {-1, -1, all[i]}
      end
    end
    if #live >= max then
      table.sort(live, function(a, b)
        if a[1] ~= b[1] then return a[1] < b[1] end
        if a[2] ~= b[2] then return a[2] < b[2] end
        return bytesLess(a[3], b[3])
      end)
      for i = 1, #live - max + 1 do
        evicted[i] = live[i][3]
        dead[#dead + 1] = live[i][3]
      end
    end
  end
else
  local seen = redis.call('HRANDFIELD', KEYS[1], 32, 'WITHVALUES')
  for i = 1, #seen, 2 do
    local e = expires(seen[i + 1])
    if e and e <= now then dead[#dead + 1] = seen[i] end
  end
end
for i = 1, #dead, 1000 do
  redis.call('HDEL', KEYS[1], unpack(dead, i, math.min(i + 999, #dead)))
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return evicted
`)

// KEYS[1]: the subject's hash. ARGV: sid, packed jti, gen, packed new jti,
// now, idle ttl, grace, deadline (wall-clock unix ms, 0 for none, checked
// against the server's TIME so that a script that waited in a stalled
// server past its caller's deadline changes nothing), and two pieces of
// the rotated record: its version and generation (gen + 1), and its
// rotated and idle-expiry times (now, now + idle ttl).
// Reply: {0} not found (or the token is newer than the store: deleted);
// {5, record} rotated; {1|2, record} this request repeated, or retried;
// {3} reused (the session is deleted); {4} too late.
var scriptRotate = redis.NewScript(luaRecord + `
if ARGV[8] ~= '0' then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[8]) then return {4} end
end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {0} end
local exp = expires(v)
if not exp then return redis.error_reply('rtr: unknown session record format') end
local now = tonumber(ARGV[5])
if now >= exp then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {0}
end
local g1, g2, g3, g4 = byte(v, 2, 5)
local gen, pgen = ((g1 * 256 + g2) * 256 + g3) * 256 + g4, tonumber(ARGV[3])
local p = 31 + byte(v, 30) % 128 -- the previous jti
local q = p + 1 + byte(v, p) % 128 -- the metadata
local cur = sub(v, 30, p - 1)
if pgen == gen and ARGV[2] == cur then
  if gen >= 4294967295 then -- the generations ran out: end quietly
    redis.call('HDEL', KEYS[1], ARGV[1])
    return {0}
  end
  local idle, times = now + tonumber(ARGV[6]), ARGV[10]
  if idle > u48(v, 24) then -- capped by the absolute expiry
    idle, times = u48(v, 24), sub(times, 1, 6) .. sub(v, 24, 29)
  end
  local nv = ARGV[9] .. sub(v, 6, 11) .. times .. sub(v, 24, 29) .. ARGV[4] .. cur .. sub(v, q)
  redis.call('HSET', KEYS[1], ARGV[1], nv)
  redis.call('PEXPIRE', KEYS[1], idle - now, 'GT')
  return {5, nv}
end
if pgen + 1 == gen and q - p > 1 and ARGV[2] == sub(v, p, q - 1) then
  if ARGV[4] == cur then
    -- this very request again (a driver retry after a lost reply)
    return {1, v}
  end
  if now - u48(v, 12) < tonumber(ARGV[7]) then return {2, v} end
end
redis.call('HDEL', KEYS[1], ARGV[1])
if pgen > gen then return {0} end -- the store lost a rotation: end quietly
return {3}
`)

// KEYS[1]: the subject's hash. Reply: the session ids it held.
var scriptRevokeAll = redis.NewScript(`
local ids = redis.call('HKEYS', KEYS[1])
redis.call('DEL', KEYS[1])
return ids
`)

// KEYS[1]: the subject's hash. ARGV: now. Deletes the expired sessions.
// Reply: the others, as {sid, record, sid, record, ...}.
var scriptList = redis.NewScript(luaRecord + `
local now = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local out, dead = {}, {}
for i = 1, #all, 2 do
  local e = expires(all[i + 1])
  if e and e <= now then
    dead[#dead + 1] = all[i]
  else
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
for i = 1, #dead, 1000 do
  redis.call('HDEL', KEYS[1], unpack(dead, i, math.min(i + 999, #dead)))
end
return out
`)
