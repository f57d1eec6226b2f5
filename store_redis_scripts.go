package rtr

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Redis store's scripts. Each state change is one script, so one round
// trip and one atomic step, on one key: KEYS[1], the subject's hash, whose
// fields are the subject's session ids and whose values are packed records
// (store_redis_record.go has the layout). Times are unix milliseconds from
// the caller's clock.
//
// The hash's TTL is kept at least as long as its longest-lived session, set
// relative to the caller's clock (PEXPIRE expiry-now), so that clock skew
// between the application and Redis cannot shorten or stretch a session.
// Redis 7.0 has no TTL per hash field: a session that expires stays in the
// hash until a script meets it (Rotate deletes it; Create deletes all at
// the session cap, or a sample of at most 32 without a cap; Sessions all)
// or the hash itself expires. With the cap a hash holds at most that many
// sessions, which bounds what Sessions (HGETALL) and RevokeAll (HKEYS) read.
//
// The script texts name record offsets and reply codes as $NAME; luaTemplate
// replaces them with the Go constants before redis.NewScript hashes the
// text, so the layout and the codes have one definition.

// Replies of the rotate script: a bare string is the rotated record; the
// others are tables {code} or {code, record}.
const (
	replyNotFound = 0 // missing or expired (deleted), or the token is newer than the store (deleted)
	replyRepeated = 1 // {code, record}: this very request again, after a lost reply
	replyRetried  = 2 // {code, record}: the previous token within the grace
	replyReused   = 3 // the session was deleted
	replyTooLate  = 4 // past the caller's deadline; nothing changed
)

// luaTemplate fills in the constants the scripts share with Go. Lua
// strings count from 1: $X is Go's offset X plus one, $X_END the last
// byte of a 6-byte time (or of the 4-byte generation).
var luaTemplate = strings.NewReplacer(
	"$GEN_END", lua(offGen+4),
	"$GEN", lua(offGen+1),
	"$CREATED_END", lua(offCreated+6),
	"$CREATED", lua(offCreated+1),
	"$ROTATED", lua(offRotated+1),
	"$IDLE", lua(offIdle+1),
	"$ABS_END", lua(offAbs+6),
	"$ABS", lua(offAbs+1),
	"$JTI", lua(recordFixed+1),
	"$MIN_LEN", lua(recordFixed+2),
	"$V1", lua(recordV1),
	"$BUCKETED_MAX", lua(recordBucketed|maxBucketBits),
	"$BUCKETED", lua(recordBucketed),
	"$LEN_MASK", lua(jtiDecoded),
	"$NOT_FOUND", lua(replyNotFound),
	"$REPEATED", lua(replyRepeated),
	"$RETRIED", lua(replyRetried),
	"$REUSED", lua(replyReused),
	"$TOO_LATE", lua(replyTooLate),
)

func lua(n int) string { return strconv.Itoa(n) }

func newScript(src string) *redis.Script {
	src = luaTemplate.Replace(src)
	if strings.Contains(src, "$") {
		panic("rtr: unreplaced name in a Redis script")
	}
	return redis.NewScript(src)
}

// luaRecord reads the fixed part of a packed record, for the scripts that
// walk many records.
const luaRecord = `
local byte, sub = string.byte, string.sub
-- u48 reads the 6-byte big-endian number at s[i]
local function u48(s, i)
  local a, b, c, d, e, f = byte(s, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end
-- expires: the session's end (min of idle and absolute expiry), or nil
-- for a value this code does not know
local function expires(v)
  local f = byte(v, 1)
  if #v < $MIN_LEN or (f ~= $V1 and (f < $BUCKETED or f > $BUCKETED_MAX)) then return nil end
  return math.min(u48(v, $IDLE), u48(v, $ABS))
end
-- bytesLess compares strings byte by byte (Lua's < follows the locale)
local function bytesLess(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
`

// KEYS[1]: the subject's hash. ARGV: sid, record, now, ttl (how far the
// hash's TTL must reach for this session, from now), max (the session cap;
// 0 for none). Reply: the ids of the sessions the cap ended, least recently
// used first.
//
// Below the cap (HLEN) nothing is read. At the cap every record is read,
// the expired ones are deleted and the least recently used live ones
// (smallest rotated time, then created time, then id; a record in a format
// this code does not know counts as the oldest) are deleted until max - 1
// remain; the hash is then at most max fields, so this read is bounded by
// the cap (a hash that grew past it with no cap is read once, and shrinks).
// Without a cap, expired sessions among up to 32 random fields are deleted.
var scriptCreate = newScript(luaRecord + `
local now, ttl, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if ttl <= 0 then return {} end
local dead, evicted = {}, {}
if max > 0 then
  if redis.call('HLEN', KEYS[1]) >= max then
    local all = redis.call('HGETALL', KEYS[1])
    -- one pass: the expired, the number live, and the least recently used
    local n, lr, lc, lid = 0
    for i = 1, #all, 2 do
      local v = all[i + 1]
      local e = expires(v)
      if e and e <= now then
        dead[#dead + 1] = all[i]
      else
        n = n + 1
        local r, c = -1, -1
        if e then r, c = u48(v, $ROTATED), u48(v, $CREATED) end
        if not lid or r < lr or (r == lr and (c < lc or (c == lc and bytesLess(all[i], lid)))) then
          lr, lc, lid = r, c, all[i]
        end
      end
    end
    if n == max then
      evicted[1] = lid
      dead[#dead + 1] = lid
    elseif n > max then -- over the cap already: sort them all, once
      local live = {}
      for i = 1, #all, 2 do
        local v = all[i + 1]
        local e = expires(v)
        if e and e > now then
          live[#live + 1] = {u48(v, $ROTATED), u48(v, $CREATED), all[i]}
        elseif not e then
          live[#live + 1] = {-1, -1, all[i]}
        end
      end
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

// KEYS[1]: the subject's hash. ARGV:
//
//	1 sid
//	2 the presented jti, packed
//	3 the presented generation, as the record holds it (4 bytes)
//	4 the next generation, as the record holds it ("" when there is none:
//	  the generations ran out, and the session ends quietly)
//	5 now, then the new idle expiry (now + idle ttl), 6 bytes each: the
//	  rotated record's rotation time and idle expiry (the script caps the
//	  idle expiry at the absolute one)
//	6 the new jti, packed, then the presented jti, packed: the rotated
//	  record's current and previous
//	7 the deadline (wall-clock unix ms, 0 for none) in 6 bytes, then the
//	  grace in ms as a decimal number (rotateLimits). The deadline is
//	  checked against the server's TIME so that a script that waited in a
//	  stalled server past its caller's deadline changes nothing.
//
// Numbers come as big-endian bytes and are read with one string.byte call:
// tonumber, and arithmetic on strings, cost a strtod each. The common
// case, the current token, is compared as two whole strings against the
// stored ones (generation, current jti), and the rotated record is spliced
// from Go's pieces and the stored record's unchanged ones; the decision
// for anything else follows. Replies: the rotated record (a string), or
// {$NOT_FOUND}, {$REPEATED, record}, {$RETRIED, record}, {$REUSED},
// {$TOO_LATE}.
var scriptRotate = newScript(`
local byte, sub = string.byte, string.sub
local lim = ARGV[7]
local d1, d2, d3, d4, d5, d6 = byte(lim, 1, 6)
local d = ((((d1 * 256 + d2) * 256 + d3) * 256 + d4) * 256 + d5) * 256 + d6
if d > 0 then
  -- late when the server's ms (TIME: seconds, microseconds) is past d;
  -- only the seconds are converted, the microseconds in d's second only
  local t = redis.call('TIME')
  local r = d % 1000
  local s = t[1] - (d - r) / 1000
  if s > 0 or (s == 0 and t[2] - r * 1000 >= 1000) then return {$TOO_LATE} end
end
local key, sid = KEYS[1], ARGV[1]
local v = redis.call('HGET', key, sid)
if not v then return {$NOT_FOUND} end
local f = byte(v, 1)
if #v < $MIN_LEN or (f ~= $V1 and (f < $BUCKETED or f > $BUCKETED_MAX)) then
  return redis.error_reply('rtr: unknown session record format')
end
local i1, i2, i3, i4, i5, i6, a1, a2, a3, a4, a5, a6 = byte(v, $IDLE, $ABS_END)
local idle = ((((i1 * 256 + i2) * 256 + i3) * 256 + i4) * 256 + i5) * 256 + i6
local abs = ((((a1 * 256 + a2) * 256 + a3) * 256 + a4) * 256 + a5) * 256 + a6
local times = ARGV[5]
local n1, n2, n3, n4, n5, n6, x1, x2, x3, x4, x5, x6 = byte(times, 1, 12)
local now = ((((n1 * 256 + n2) * 256 + n3) * 256 + n4) * 256 + n5) * 256 + n6
if now >= idle or now >= abs then
  redis.call('HDEL', key, sid)
  return {$NOT_FOUND}
end
local jti = ARGV[2]
local p = $JTI + #jti -- the stored previous jti, if jti is the current one
if sub(v, $GEN, $GEN_END) == ARGV[3] and sub(v, $JTI, p - 1) == jti then
  local gen = ARGV[4]
  if gen == '' then -- the generations ran out: end quietly
    redis.call('HDEL', key, sid)
    return {$NOT_FOUND}
  end
  local ni = ((((x1 * 256 + x2) * 256 + x3) * 256 + x4) * 256 + x5) * 256 + x6
  if ni > abs then -- capped by the absolute expiry
    ni, times = abs, sub(times, 1, 6) .. sub(v, $ABS, $ABS_END)
  end
  local nv = sub(v, 1, 1) .. gen .. sub(v, $CREATED, $CREATED_END) .. times .. sub(v, $ABS, $ABS_END) .. ARGV[6] .. sub(v, p + 1 + byte(v, p) % $LEN_MASK)
  redis.call('HSET', key, sid, nv)
  if f == $V1 then
    redis.call('PEXPIRE', key, ni - now, 'GT')
  else
    -- the TTL reaches the end of the old idle expiry's bucket (or abs)
    local b = 2 ^ (f - $BUCKETED)
    local nb = ni - ni % b
    if nb ~= idle - idle % b then
      local e = nb + b
      if e > abs then e = abs end
      redis.call('PEXPIRE', key, e - now, 'GT')
    end
  end
  return nv
end
local g1, g2, g3, g4 = byte(v, $GEN, $GEN_END)
local h1, h2, h3, h4 = byte(ARGV[3], 1, 4)
local gen = ((g1 * 256 + g2) * 256 + g3) * 256 + g4
local pgen = ((h1 * 256 + h2) * 256 + h3) * 256 + h4
local q = $JTI + 1 + byte(v, $JTI) % $LEN_MASK -- the stored previous jti
local n = byte(v, q) % $LEN_MASK
if pgen + 1 == gen and n > 0 and sub(v, q, q + n) == jti then
  if sub(ARGV[6], 1, q - $JTI) == sub(v, $JTI, q - 1) then
    -- this very request again (a driver retry after a lost reply)
    return {$REPEATED, v}
  end
  local r1, r2, r3, r4, r5, r6 = byte(v, $ROTATED, $ROTATED + 5)
  local rotated = ((((r1 * 256 + r2) * 256 + r3) * 256 + r4) * 256 + r5) * 256 + r6
  local grace = tonumber(sub(lim, 7)) -- 0 is strict, even for a caller whose clock reads before the rotation
  if grace > 0 and now - rotated < grace then return {$RETRIED, v} end
end
redis.call('HDEL', key, sid)
if pgen > gen then return {$NOT_FOUND} end -- the store lost a rotation: end quietly
return {$REUSED}
`)

// KEYS[1]: the subject's hash. Reply: the session ids it held. The hash
// holds at most the session cap (see scriptCreate), which bounds the work.
var scriptRevokeAll = newScript(`
local ids = redis.call('HKEYS', KEYS[1])
redis.call('DEL', KEYS[1])
return ids
`)

// KEYS[1]: the subject's hash. ARGV: now. Deletes the expired sessions.
// Reply: the others, as {sid, record, sid, record, ...}. Bounded by the
// session cap, as scriptRevokeAll.
var scriptList = newScript(luaRecord + `
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
