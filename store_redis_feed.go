package rtr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr/internal/feedloop"
)

// The Redis store's revocation feed ([RevocationFeed]):
//
//   - the record is one sorted set, prefix{:revocations}: the member names
//     the session (its subject and id), the score is the revocation's
//     Until in unix ms. Each publish removes the members whose Until has
//     passed and keeps the key's TTL at its latest Until, so Redis forgets
//     the record when nothing is in force any more;
//   - the push channel is prefix{:revocations}:push, with the same hash
//     tag, so that on a Cluster the publish script (record + push) runs in
//     one slot, and the push uses sharded pub/sub (SPUBLISH/SSUBSCRIBE):
//     only that slot's node carries it, instead of every node of the
//     cluster;
//   - a follower subscribes, and each time the subscription is confirmed
//     (first, and after every reconnect) reads the record again (members
//     with Until after now) before reporting FeedUp, so a revocation
//     published while it was away is not missed.
//
// No subject can produce the tag ":revocations" (subject tags never hold
// a colon), so the record never shares a key with a subject's sessions.

// Timings of a follower: how often an idle subscription is pinged, and
// the reconnect back-off.
const (
	redisFeedPing       = time.Second
	redisFeedMinBackoff = 50 * time.Millisecond
	redisFeedMaxBackoff = 2 * time.Second
	redisFeedPage       = 5000 // members read per catch-up command
)

// KEYS[1]: the record; KEYS[2]: the push channel (declared so that a
// Cluster routes the script to the channel's slot too). ARGV: now, "1" to
// push with SPUBLISH (Cluster) or "0" with PUBLISH, the push message, then
// member, until pairs.
var scriptPublishRevocations = redis.NewScript(`
local now = tonumber(ARGV[1])
local last = now
for i = 4, #ARGV, 2 do
  local m, u = ARGV[i], tonumber(ARGV[i + 1])
  local old = redis.call('ZSCORE', KEYS[1], m)
  if not old or tonumber(old) < u then redis.call('ZADD', KEYS[1], u, m) end
  if u > last then last = u end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if last > now and redis.call('PTTL', KEYS[1]) < last - now then
  redis.call('PEXPIRE', KEYS[1], last - now)
end
if ARGV[2] == '1' then
  redis.call('SPUBLISH', KEYS[2], ARGV[3])
else
  redis.call('PUBLISH', KEYS[2], ARGV[3])
end
return 1
`)

func (s *RedisStore) revRecordKey() string { return s.prefix + "{:revocations}" }
func (s *RedisStore) revChannel() string   { return s.prefix + "{:revocations}:push" }

func (s *RedisStore) sharded() bool {
	_, ok := s.client.(*redis.ClusterClient)
	return ok
}

// revMember names a revocation's session in the record: the subject's
// length, a colon, the subject, the session id.
func revMember(subject, sid string) string {
	return strconv.Itoa(len(subject)) + ":" + subject + sid
}

func parseRevMember(m string) (subject, sid string, ok bool) {
	i := strings.IndexByte(m, ':')
	if i <= 0 || i > 3 {
		return "", "", false
	}
	n64, ok := plainDecimal(m[:i])
	n := int(n64)
	if !ok || n <= 0 || n > MaxSubjectLen || len(m)-i-1 <= n {
		return "", "", false
	}
	subject, sid = m[i+1:i+1+n], m[i+1+n:]
	return subject, sid, len(sid) <= maxSessionIDLen
}

// The push message is, per revocation, its Until (unix ms), a space, the
// member's length, a colon and the member.
func appendRevMessage(b []byte, until int64, member string) []byte {
	b = strconv.AppendInt(b, until, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(member)), 10)
	b = append(b, ':')
	return append(b, member...)
}

func parseRevMessage(msg string) ([]Revocation, bool) {
	var out []Revocation
	for msg != "" {
		sp := strings.IndexByte(msg, ' ')
		if sp <= 0 || sp > 19 {
			return out, false
		}
		until, ok := plainDecimal(msg[:sp])
		if !ok {
			return out, false
		}
		msg = msg[sp+1:]
		c := strings.IndexByte(msg, ':')
		if c <= 0 || c > 4 {
			return out, false
		}
		n64, ok := plainDecimal(msg[:c])
		if !ok || n64 > int64(len(msg)-c-1) {
			return out, false
		}
		n := int(n64)
		subject, sid, ok := parseRevMember(msg[c+1 : c+1+n])
		if !ok {
			return out, false
		}
		out = append(out, Revocation{Subject: subject, SessionID: sid, Until: time.UnixMilli(until)})
		msg = msg[c+1+n:]
	}
	return out, true
}

// plainDecimal parses a non-negative decimal number in its one spelling
// (digits only, no leading zero), of at most 18 digits.
func plainDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// redisFeedBatch is the most revocations one publish script carries.
const redisFeedBatch = 1000

// PublishRevocations implements [RevocationFeed]: one script (one round
// trip) per batch of up to 1,000 revocations records them and pushes them.
func (s *RedisStore) PublishRevocations(ctx context.Context, now time.Time, revs []Revocation) error {
	for len(revs) > 0 {
		n := min(len(revs), redisFeedBatch)
		if err := s.publishBatch(ctx, now, revs[:n]); err != nil {
			return err
		}
		revs = revs[n:]
	}
	return nil
}

func (s *RedisStore) publishBatch(ctx context.Context, now time.Time, revs []Revocation) error {
	sharded := "0"
	if s.sharded() {
		sharded = "1"
	}
	args := make([]any, 3, 3+2*len(revs))
	var msg []byte
	for _, rv := range revs {
		if rv.Subject == "" || len(rv.Subject) > MaxSubjectLen || rv.SessionID == "" || len(rv.SessionID) > maxSessionIDLen {
			return fmt.Errorf("rtr: invalid revocation")
		}
		m := revMember(rv.Subject, rv.SessionID)
		u := rv.Until.UnixMilli()
		args = append(args, m, u)
		msg = appendRevMessage(msg, u, m)
	}
	args[0], args[1], args[2] = now.UnixMilli(), sharded, string(msg)
	_, err := bounded(ctx, s, func(ctx context.Context) (any, error) {
		return scriptPublishRevocations.Run(ctx, s.client, []string{s.revRecordKey(), s.revChannel()}, args...).Result()
	})
	return unavailable(err)
}

// FollowRevocations implements [RevocationFeed]. It reconnects by itself
// with a back-off of up to two seconds, and pings an idle subscription
// every second, so a connection that died silently is noticed within
// about two seconds.
func (s *RedisStore) FollowRevocations(ctx context.Context, now func() time.Time, f RevocationFollower) error {
	return feedloop.Run(ctx, redisFeedMinBackoff, redisFeedMaxBackoff,
		func(ctx context.Context) (bool, error) { return s.followOnce(ctx, now, f) },
		func(err error) { f.FeedDown(unavailable(err)) })
}

// followOnce runs one subscription until it fails; up reports whether it
// got in sync at least once.
func (s *RedisStore) followOnce(ctx context.Context, now func() time.Time, f RevocationFollower) (up bool, err error) {
	var ps *redis.PubSub
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		ps = cc.SSubscribe(ctx, s.revChannel())
	} else {
		ps = s.client.Subscribe(ctx, s.revChannel())
	}
	defer ps.Close()
	// Receiving blocks until a reply or the ping interval; closing the
	// subscription is what ends it at once when ctx is done.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = ps.Close()
		case <-stop:
		}
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, redisFeedPing)
		if err != nil {
			var ne net.Error
			if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return up, err
				}
				pinged = true
				continue
			}
			return up, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" && m.Kind != "ssubscribe" {
				return up, fmt.Errorf("rtr: revocation feed: unexpected %s", m.Kind)
			}
			// Subscribed (again): read what may have been missed.
			if err := s.catchUp(ctx, now(), f); err != nil {
				return up, err
			}
			up = true
			f.FeedUp()
		case *redis.Message:
			revs, ok := parseRevMessage(m.Payload)
			f.Revoked(revs)
			if !ok {
				return up, errors.New("rtr: revocation feed: malformed push")
			}
		}
	}
}

// catchUp delivers the recorded revocations whose Until is after now. It
// iterates with ZSCAN, whose cursor guarantees that every member present
// from the start to the end of the iteration is returned, whatever is
// added, raised or removed meanwhile (offsets into a score range do not:
// members removed below the offset shift it).
func (s *RedisStore) catchUp(ctx context.Context, now time.Time, f RevocationFollower) error {
	cutoff := now.UnixMilli()
	type page struct {
		kv   []string
		next uint64
	}
	var cursor uint64
	for {
		p, err := bounded(ctx, s, func(ctx context.Context) (page, error) {
			kv, next, err := s.client.ZScan(ctx, s.revRecordKey(), cursor, "", redisFeedPage).Result()
			return page{kv, next}, err
		})
		if err != nil {
			return err
		}
		revs := make([]Revocation, 0, len(p.kv)/2)
		for i := 0; i+1 < len(p.kv); i += 2 {
			u, err := strconv.ParseFloat(p.kv[i+1], 64)
			if err != nil || int64(u) <= cutoff {
				continue
			}
			subject, sid, ok := parseRevMember(p.kv[i])
			if !ok {
				continue // not rtr's: nothing to refuse by it
			}
			revs = append(revs, Revocation{Subject: subject, SessionID: sid, Until: time.UnixMilli(int64(u))})
		}
		f.Revoked(revs)
		if p.next == 0 {
			return nil
		}
		cursor = p.next
	}
}
