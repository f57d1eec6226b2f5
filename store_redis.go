package rtr

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisKeyPrefix is the default prefix of every key [RedisStore]
// writes.
const DefaultRedisKeyPrefix = "rtr:"

// RedisStore is a [Store] on Redis: standalone, Sentinel or Cluster,
// through any go-redis [redis.UniversalClient].
//
// Every state change is one Lua script: one round trip, one atomic step.
// A subject's keys share a hash tag ({subject}), so scripts never cross a
// cluster slot. Every key has a TTL, so Redis forgets what expires even if
// rtr never touches it again. Redis holds token ids (jti), never a token.
//
// Sessions live only as long as Redis keeps them: run Redis with AOF or
// RDB persistence if a restart must not log everyone out.
type RedisStore struct {
	client      redis.UniversalClient
	prefix      string
	readTimeout time.Duration // the client's; 0 when unknown or unlimited
	watchCtx    bool          // the client ignores context deadlines, so the store watches them
	cluster     bool          // the client may be a Cluster's: slots can be mid-migration
}

// RedisOption configures [NewRedisStore].
type RedisOption func(*RedisStore)

// WithKeyPrefix sets the prefix of every key (default
// [DefaultRedisKeyPrefix]), to share one Redis between applications.
func WithKeyPrefix(prefix string) RedisOption {
	return func(s *RedisStore) { s.prefix = prefix }
}

// NewRedisStore returns a store on client. The client's own timeouts and
// the context of each call bound how long a call may take; either one
// running out is [ErrStoreUnavailable]. Build the client with
// ContextTimeoutEnabled so that go-redis stops at the context's deadline;
// for a client without it, the store watches the context itself.
func NewRedisStore(client redis.UniversalClient, opts ...RedisOption) *RedisStore {
	s := &RedisStore{client: client, prefix: DefaultRedisKeyPrefix}
	s.readTimeout, s.watchCtx = clientTimeouts(client)
	switch client.(type) {
	case *redis.Client, *redis.Ring: // no slot migrations
	default:
		s.cluster = true
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// clientTimeouts returns how long client waits for a reply, when it can be
// known (after that, go-redis gives up, and may retry, even though the
// context's deadline is further away), and whether the client ignores
// context deadlines (go-redis does unless ContextTimeoutEnabled is set).
func clientTimeouts(client redis.UniversalClient) (read time.Duration, ignoresCtx bool) {
	switch c := client.(type) {
	case *redis.Client:
		o := c.Options()
		return max(o.ReadTimeout, 0), !o.ContextTimeoutEnabled
	case *redis.ClusterClient:
		o := c.Options()
		return max(o.ReadTimeout, 0), !o.ContextTimeoutEnabled
	case *redis.Ring:
		o := c.Options()
		return max(o.ReadTimeout, 0), !o.ContextTimeoutEnabled
	}
	return 0, true
}

// bounded runs call and returns when it does or when ctx is done, whichever
// comes first. A client that honours deadlines itself is called directly;
// for one that does not, the call goes on in the background until the
// client's own timeout, and a rotation it carries cannot commit late (see
// [RedisStore.Rotate]).
func bounded[T any](ctx context.Context, s *RedisStore, call func() (T, error)) (T, error) {
	if !s.watchCtx || ctx.Done() == nil {
		return call()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := call()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// subjectTag returns the hash-tag body for subject: the subject itself
// when it is short and plain, otherwise a digest of it, so that no subject
// can break out of its braces or collide with another.
func subjectTag(subject string) string {
	if len(subject) <= 64 && !strings.ContainsAny(subject, "{}:#") && subject != "" {
		return subject
	}
	sum := sha256.Sum256([]byte(subject))
	return "#" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// sessionPrefix is the prefix of subject's session keys; a session key is
// sessionPrefix + session id.
func (s *RedisStore) sessionPrefix(subject string) string {
	return s.prefix + "{" + subjectTag(subject) + "}:s:"
}

func (s *RedisStore) indexKey(subject string) string {
	return s.prefix + "{" + subjectTag(subject) + "}:i"
}

func (s *RedisStore) keys(subject, sessionID string) []string {
	tag := s.prefix + "{" + subjectTag(subject) + "}:"
	return []string{tag + "s:" + sessionID, tag + "i"}
}

// Create implements [Store].
func (s *RedisStore) Create(ctx context.Context, r SessionRecord) error {
	meta := ""
	if len(r.Meta) > 0 {
		b, err := json.Marshal(r.Meta)
		if err != nil {
			return err
		}
		meta = string(b)
	}
	now := r.CreatedAt.UnixMilli()
	_, err := bounded(ctx, s, func() (any, error) {
		return scriptCreate.Run(ctx, s.client, s.keys(r.Subject, r.ID),
			r.ID, r.Current, r.Generation, now, r.RotatedAt.UnixMilli(),
			r.IdleExpiresAt.UnixMilli(), r.AbsoluteExpiresAt.UnixMilli(), now, meta).Result()
	})
	return unavailable(err)
}

// Rotate implements [Store].
//
// The script refuses to commit once the caller has stopped listening: past
// req.Deadline, or past the client's read timeout after the call was
// sent, whichever comes first (a server that stalled must not spend a
// token whose successor nobody will receive). The check uses the server's
// clock, so application and Redis hosts should keep their clocks in step
// (NTP); if the server answers "too late" while this side is still
// waiting, its clock is ahead, and the call is repeated once unguarded.
func (s *RedisStore) Rotate(ctx context.Context, req RotateRequest) (RotateResult, error) {
	deadline := req.Deadline
	if s.readTimeout > 0 {
		if d := time.Now().Add(s.readTimeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	reply, err := s.rotate(ctx, req, deadline)
	if err == nil && len(reply) > 0 && reply[0] == int64(4) && time.Now().Before(deadline) {
		reply, err = s.rotate(ctx, req, time.Time{})
	}
	if err != nil {
		return RotateResult{}, unavailable(err)
	}
	if len(reply) == 0 {
		return RotateResult{}, fmt.Errorf("%w: empty script reply", ErrStoreUnavailable)
	}
	switch code, _ := reply[0].(int64); code {
	case 0:
		return RotateResult{}, ErrSessionNotFound
	case 5:
		rec, err := rotatedRecord(req, reply[1:])
		if err != nil {
			return RotateResult{}, err
		}
		return RotateResult{Outcome: OutcomeRotated, Session: rec}, nil
	case 1, 2:
		rec, err := decodeRecord(req.Subject, req.SessionID, reply[1:])
		if err != nil {
			return RotateResult{}, err
		}
		o := OutcomeRotated
		if code == 2 {
			o = OutcomeRetried
		}
		return RotateResult{Outcome: o, Session: rec}, nil
	case 3:
		return RotateResult{Outcome: OutcomeReused}, nil
	case 4:
		return RotateResult{}, errTooLate
	default:
		return RotateResult{}, fmt.Errorf("%w: unexpected script reply", ErrStoreUnavailable)
	}
}

// Get implements [Store].
func (s *RedisStore) Get(ctx context.Context, subject, sessionID string, now time.Time) (SessionRecord, error) {
	h, err := bounded(ctx, s, s.client.HGetAll(ctx, s.sessionPrefix(subject)+sessionID).Result)
	if err != nil {
		return SessionRecord{}, unavailable(err)
	}
	if h["c"] == "" {
		return SessionRecord{}, ErrSessionNotFound
	}
	rec, err := decodeRecord(subject, sessionID, []any{h["c"], h["p"], h["g"], h["k"], h["t"], h["i"], h["a"], h["m"]})
	if err != nil {
		return SessionRecord{}, err
	}
	if !rec.live(now) {
		return SessionRecord{}, ErrSessionNotFound
	}
	return rec, nil
}

// Revoke implements [Store].
func (s *RedisStore) Revoke(ctx context.Context, subject, sessionID string) (bool, error) {
	n, err := bounded(ctx, s, func() (int64, error) {
		return scriptRevoke.Run(ctx, s.client, s.keys(subject, sessionID), sessionID).Int64()
	})
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// RevokeAll implements [Store]. One round trip, plus one more only for
// sessions the index lists but the node lacks (see scriptSettle).
func (s *RedisStore) RevokeAll(ctx context.Context, subject string) ([]string, error) {
	reply, err := bounded(ctx, s, func() ([]any, error) {
		return scriptRevokeAll.Run(ctx, s.client, []string{s.indexKey(subject)}, s.sessionPrefix(subject), s.clusterArg()).Slice()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	gone, missing, err := twoLists(reply)
	if err != nil || len(missing) == 0 {
		return gone, err
	}
	more, err := s.settle(ctx, subject, "revoke", missing)
	if err != nil {
		return nil, err
	}
	for _, id := range more {
		if id, ok := id.(string); ok {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

// List implements [Store]. One round trip, plus one more only for
// sessions the index lists but the node lacks (see scriptSettle).
func (s *RedisStore) List(ctx context.Context, subject string, now time.Time) ([]SessionRecord, error) {
	reply, err := bounded(ctx, s, func() ([]any, error) {
		return scriptList.Run(ctx, s.client, []string{s.indexKey(subject)}, s.sessionPrefix(subject), now.UnixMilli(), s.clusterArg()).Slice()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	if len(reply) != 2 {
		return nil, errBadReply
	}
	rows, _ := reply[0].([]any)
	missing, err := stringList(reply[1])
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		more, err := s.settle(ctx, subject, "list", missing)
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	out := make([]SessionRecord, 0, len(rows))
	for _, row := range rows {
		f, ok := row.([]any)
		if !ok || len(f) != 9 {
			return nil, errBadReply
		}
		id, _ := f[0].(string)
		rec, err := decodeRecord(subject, id, f[1:])
		if err != nil {
			return nil, err
		}
		if rec.live(now) {
			out = append(out, rec)
		}
	}
	// The index is ordered by expiry; a device list reads best by login.
	sortByCreated(out)
	return out, nil
}

// settle runs scriptSettle over ids, naming their session keys in KEYS so
// that Redis Cluster refuses (TRYAGAIN) while the slot is half migrated.
func (s *RedisStore) settle(ctx context.Context, subject, op string, ids []string) ([]any, error) {
	keys := make([]string, 1, len(ids)+1)
	keys[0] = s.indexKey(subject)
	args := make([]any, 1, len(ids)+1)
	args[0] = op
	prefix := s.sessionPrefix(subject)
	for _, id := range ids {
		keys = append(keys, prefix+id)
		args = append(args, id)
	}
	reply, err := bounded(ctx, s, func() ([]any, error) { return scriptSettle.Run(ctx, s.client, keys, args...).Slice() })
	if err != nil {
		return nil, unavailable(err)
	}
	return reply, nil
}

var errBadReply = fmt.Errorf("%w: unexpected script reply", ErrStoreUnavailable)

// twoLists reads a {strings, strings} script reply.
func twoLists(reply []any) (a, b []string, err error) {
	if len(reply) != 2 {
		return nil, nil, errBadReply
	}
	if a, err = stringList(reply[0]); err != nil {
		return nil, nil, err
	}
	b, err = stringList(reply[1])
	return a, b, err
}

// stringList reads a list of strings from a script reply.
func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok && v != nil {
		return nil, errBadReply
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, errBadReply
		}
		out = append(out, s)
	}
	return out, nil
}

func (s *RedisStore) rotate(ctx context.Context, req RotateRequest, deadline time.Time) ([]any, error) {
	return bounded(ctx, s, func() ([]any, error) {
		return scriptRotate.Run(ctx, s.client, s.keys(req.Subject, req.SessionID),
			req.JTI, req.Generation, req.NewJTI, req.Now.UnixMilli(),
			req.IdleTTL.Milliseconds(), req.Grace.Milliseconds(), req.SessionID, deadlineMillis(deadline)).Slice()
	})
}

// deadlineMillis encodes a deadline for the rotate script: unix ms, or 0
// for none.
func deadlineMillis(d time.Time) int64 {
	if d.IsZero() {
		return 0
	}
	return d.UnixMilli()
}

// decodeRecord reads {cur, prev, gen, created, rotated, idle, abs, meta}
// as the scripts return them.
func decodeRecord(subject, id string, f []any) (SessionRecord, error) {
	if len(f) < 8 {
		return SessionRecord{}, fmt.Errorf("%w: unexpected script reply", ErrStoreUnavailable)
	}
	var bad bool
	num := func(v any) int64 {
		switch x := v.(type) {
		case int64:
			return x
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			bad = bad || err != nil
			return n
		}
		bad = true
		return 0
	}
	str := func(v any) string { x, _ := v.(string); return x }
	ms := func(v any) time.Time { return time.UnixMilli(num(v)) }
	rec := SessionRecord{
		ID: id, Subject: subject,
		Current: str(f[0]), Previous: str(f[1]), Generation: uint64(num(f[2])),
		CreatedAt: ms(f[3]), RotatedAt: ms(f[4]), IdleExpiresAt: ms(f[5]), AbsoluteExpiresAt: ms(f[6]),
	}
	if m := str(f[7]); m != "" {
		if err := json.Unmarshal([]byte(m), &rec.Meta); err != nil {
			bad = true
		}
	}
	if bad || rec.Current == "" {
		return SessionRecord{}, fmt.Errorf("%w: malformed session record", ErrStoreUnavailable)
	}
	return rec, nil
}

// rotatedRecord is the record after a rotation, from the short reply
// {created, idle, abs, meta} and the request: exactly what decodeRecord
// makes of the full one.
func rotatedRecord(req RotateRequest, f []any) (SessionRecord, error) {
	if len(f) < 4 {
		return SessionRecord{}, fmt.Errorf("%w: unexpected script reply", ErrStoreUnavailable)
	}
	return decodeRecord(req.Subject, req.SessionID, []any{
		req.NewJTI, req.JTI, int64(req.Generation + 1), f[0], req.Now.UnixMilli(), f[1], f[2], f[3],
	})
}

// clusterArg tells the RevokeAll and List scripts whether an indexed
// session key the server lacks may be mid-migration ("1") or is gone ("0").
func (s *RedisStore) clusterArg() string {
	if s.cluster {
		return "1"
	}
	return "0"
}

// unavailable wraps any Redis failure (network, timeout, cancelled
// context, an error reply) as [ErrStoreUnavailable].
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}
