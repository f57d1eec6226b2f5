package rtr

import "github.com/redis/go-redis/v9"

// The Redis store's scripts. Each state change is one script, so one round
// trip and one atomic step. KEYS[1] is a session hash, KEYS[2] its
// subject's index (a sorted set of session ids scored by expiry, in unix
// milliseconds); both carry the subject's hash tag, and session keys built
// inside a script from the session-key prefix share it too, so no script
// crosses a cluster slot.
//
// Session hash fields: c current jti, p previous jti, g generation,
// k created, t rotated, i idle expiry, a absolute expiry (unix ms), m meta
// (JSON, only when present). Key TTLs are set relative to the caller's
// clock (PEXPIRE expiry-now), so clock skew between the application and
// Redis cannot shorten or stretch a session.

// touchIndex keeps the index's TTL at least as long as its newest session.
const luaTouchIndex = `
local function touch_index(key, exp, now)
  if redis.call('PTTL', key) < exp - now then
    redis.call('PEXPIRE', key, exp - now)
  end
end
`

// ARGV: sid, cur, gen, created, rotated, idle, abs, now, meta
var scriptCreate = redis.NewScript(luaTouchIndex + `
local now = tonumber(ARGV[8])
local exp = math.min(tonumber(ARGV[6]), tonumber(ARGV[7]))
if exp <= now then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2], 'g', ARGV[3], 'k', ARGV[4], 't', ARGV[5], 'i', ARGV[6], 'a', ARGV[7])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'm', ARGV[9]) end
redis.call('PEXPIRE', KEYS[1], exp - now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], exp, ARGV[1])
touch_index(KEYS[2], exp, now)
return 1
`)

// ARGV: jti, gen, new jti, now, idle ttl, grace, sid, deadline (times in
// ms; deadline is wall-clock unix ms, 0 for none, checked against the
// server's TIME so a script that waited in a stalled server past its
// caller's deadline changes nothing).
// Reply: {0} not found (or the token is newer than the store: deleted);
// {1|2, cur, prev, gen, created, rotated, idle, abs, meta} this request
// repeated, or retried; {5, created, idle, abs, meta} rotated (the caller
// knows the rest: cur is the new jti, prev the presented one, gen the
// presented one's + 1, rotated now); {3} reused (the session is deleted);
// {4} too late.
var scriptRotate = redis.NewScript(luaTouchIndex + `
if ARGV[8] ~= '0' then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[8]) then return {4} end
end
local h = redis.call('HMGET', KEYS[1], 'c', 'p', 'g', 'k', 't', 'i', 'a', 'm')
if not h[1] then return {0} end
local now = tonumber(ARGV[4])
local idle, abs = tonumber(h[6]), tonumber(h[7])
local gen, pgen = tonumber(h[3]), tonumber(ARGV[2])
local prev = h[2] or ''
local meta = h[8] or ''
if now >= math.min(idle, abs) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[7])
  return {0}
end
if pgen == gen and ARGV[1] == h[1] then
  local ni = math.min(now + tonumber(ARGV[5]), abs)
  redis.call('HSET', KEYS[1], 'c', ARGV[3], 'p', h[1], 'g', gen + 1, 't', ARGV[4], 'i', ni)
  redis.call('PEXPIRE', KEYS[1], ni - now)
  if redis.call('ZADD', KEYS[2], ni, ARGV[7]) == 0 then
    -- the index existed, so it has a TTL: extend it in one call
    redis.call('PEXPIRE', KEYS[2], ni - now, 'GT')
  else
    touch_index(KEYS[2], ni, now)
  end
  return {5, h[4], ni, abs, meta}
end
if pgen + 1 == gen and prev ~= '' and ARGV[1] == prev then
  if ARGV[3] == h[1] then
    -- this very request again (a driver retry after a lost reply)
    return {1, h[1], prev, gen, h[4], h[5], idle, abs, meta}
  end
  if now - tonumber(h[5]) < tonumber(ARGV[6]) then
    return {2, h[1], prev, gen, h[4], h[5], idle, abs, meta}
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[7])
if pgen > gen then return {0} end -- the store lost a rotation: end quietly
return {3}
`)

// ARGV: sid. Reply: 1 if the session existed.
var scriptRevoke = redis.NewScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
`)

// The scripts below reach a subject's session keys through its index, so
// they cannot name them in KEYS. Their hash tag keeps them in the index's
// slot, but while Cluster migrates that slot some keys may already have
// moved: a session key the index lists but the node lacks is therefore
// never taken as gone. Those ids come back as "missing" and the store
// settles them with scriptSettle, which declares the keys, so that Cluster
// answers TRYAGAIN (store unavailable) instead of a wrong result.

// Only a Cluster migrates slots: on any other server a session key the
// index lists but the server lacks has expired or was deleted, and these
// scripts forget it at once (ARGV "cluster" is '0'), so that a subject
// with an expired session still costs one round trip.

// KEYS[1]: index. ARGV: session-key prefix, cluster ('1' or '0').
// Reply: {ids revoked, ids missing (still indexed)}.
var scriptRevokeAll = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local gone, missing = {}, {}
for _, id in ipairs(ids) do
  if redis.call('DEL', ARGV[1] .. id) == 1 then
    gone[#gone + 1] = id
  elseif ARGV[2] == '1' then
    missing[#missing + 1] = id
  end
end
if #missing == 0 then
  redis.call('DEL', KEYS[1])
else
  for i = 1, #gone, 1000 do
    redis.call('ZREM', KEYS[1], unpack(gone, i, math.min(i + 999, #gone)))
  end
end
return {gone, missing}
`)

// KEYS[1]: index, KEYS[2..]: session keys whose ids are ARGV[2..].
// ARGV[1]: "revoke" or "list". Sessions that are really gone leave the
// index. Reply: revoke: the ids deleted; list: rows as scriptList's.
var scriptSettle = redis.NewScript(`
local out = {}
for i = 2, #KEYS do
  local id = ARGV[i]
  if ARGV[1] == 'revoke' then
    if redis.call('DEL', KEYS[i]) == 1 then out[#out + 1] = id end
    redis.call('ZREM', KEYS[1], id)
  else
    local h = redis.call('HMGET', KEYS[i], 'c', 'p', 'g', 'k', 't', 'i', 'a', 'm')
    if h[1] then
      out[#out + 1] = {id, h[1], h[2] or '', h[3], h[4], h[5], h[6], h[7], h[8] or ''}
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
return out
`)

// KEYS[1]: index. ARGV: session-key prefix, now, cluster ('1' or '0').
// Reply: {rows, ids missing}, a row being
// {sid, cur, prev, gen, created, rotated, idle, abs, meta}.
var scriptList = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out, missing = {}, {}
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', ARGV[1] .. id, 'c', 'p', 'g', 'k', 't', 'i', 'a', 'm')
  if h[1] then
    out[#out + 1] = {id, h[1], h[2] or '', h[3], h[4], h[5], h[6], h[7], h[8] or ''}
  elseif ARGV[3] == '1' then
    missing[#missing + 1] = id
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return {out, missing}
`)
