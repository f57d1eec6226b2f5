package rtr

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisKeyPrefix is the default prefix of every key [RedisStore]
// writes.
const DefaultRedisKeyPrefix = "rtr:"

// RedisStore is a [Store] on Redis: standalone, Sentinel or Cluster,
// through any go-redis [redis.UniversalClient].
//
// All sessions of a subject live in one hash, named prefix{subject} (a
// digest stands in for a long or unusual subject): the field is the
// session id, the value a packed record of about 60 bytes. Every operation
// is one command or one Lua script on that one key: one round trip, one
// atomic step, one cluster slot. The hash has a TTL that covers its
// longest-lived session, so Redis forgets a user whose sessions all
// expired even if rtr never touches it again. Redis holds token ids
// (jti), never a token.
//
// Sessions live only as long as Redis keeps them: run Redis with AOF or
// RDB persistence if a restart must not log everyone out.
type RedisStore struct {
	client      redis.UniversalClient
	prefix      string
	readTimeout time.Duration // the client's; 0 when unknown or unlimited
	watchCtx    bool          // calls go on past context deadlines, so the store watches them
	deadlines   *redis.Client // a clone of client that honours deadlines, when client does not (see bounded)
}

// RedisOption configures [NewRedisStore].
type RedisOption func(*RedisStore)

// WithKeyPrefix sets the prefix of every key (default
// [DefaultRedisKeyPrefix]), to share one Redis between applications.
//
// The prefix must not contain '{' or '}': in Redis Cluster the braces
// after the prefix choose a subject's slot, and a brace in the prefix
// would choose it instead, putting every subject in one slot.
// WithKeyPrefix panics on such a prefix, with an error wrapping
// [ErrInvalidConfig].
func WithKeyPrefix(prefix string) RedisOption {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Errorf("%w: WithKeyPrefix(%q): the prefix must not contain braces, which would change the Redis Cluster hash tag", ErrInvalidConfig, prefix))
	}
	return func(s *RedisStore) { s.prefix = prefix }
}

// NewRedisStore returns a store on client. The client's own timeouts and
// the context of each call bound how long a call may take; either one
// running out is [ErrStoreUnavailable]. Build the client with
// ContextTimeoutEnabled so that go-redis stops at the context's deadline.
// To a *redis.Client without it, NewRedisStore adds a hook that sends
// the store's own commands, once the hooks added before it have seen
// them, through a clone sharing its connection pool with
// ContextTimeoutEnabled set: deadlines hold at no extra goroutine per
// call, and the client's other commands are untouched (hooks added after
// NewRedisStore do not see the store's commands). A Cluster or Ring client
// without it is watched by a goroutine per call.
//
// NewRedisStore panics, with an error wrapping [ErrInvalidConfig], when
// client is nil (as go-redis's constructors do on nil options): the
// mistake shows at start-up rather than at the first login.
func NewRedisStore(client redis.UniversalClient, opts ...RedisOption) *RedisStore {
	if isNilClient(client) {
		panic(fmt.Errorf("%w: NewRedisStore: nil Redis client", ErrInvalidConfig))
	}
	s := &RedisStore{client: client, prefix: DefaultRedisKeyPrefix}
	s.readTimeout, s.watchCtx = clientTimeouts(client)
	if c, ok := client.(*redis.Client); ok && s.watchCtx {
		s.deadlines, s.watchCtx = deadlineClone(c), false
		k := weak.Make(c)
		if _, had := diverted.LoadOrStore(k, true); !had {
			c.AddHook(divertHook{}) // once per client, however many stores
			runtime.AddCleanup(c, func(k weak.Pointer[redis.Client]) { diverted.Delete(k) }, k)
		}
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// isNilClient reports whether client is nil, or a nil pointer of one of
// go-redis's client types.
func isNilClient(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case nil:
		return true
	case *redis.Client:
		return c == nil
	case *redis.ClusterClient:
		return c == nil
	case *redis.Ring:
		return c == nil
	}
	return false
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

// deadlineClone returns a clone of c (sharing its connection pools) that
// honours context deadlines. go-redis clones carry no hooks.
func deadlineClone(c *redis.Client) *redis.Client {
	o := c.Options()
	clone := c.WithTimeout(o.ReadTimeout)
	co := clone.Options() // the clone's own copy, not c's
	co.WriteTimeout = o.WriteTimeout
	co.ContextTimeoutEnabled = true
	return clone
}

// diverted holds the clients divertHook was added to.
var diverted sync.Map // weak.Pointer[redis.Client] -> true

// divertKey marks the context of a store call to be sent through the
// deadline-honouring clone it holds.
type divertKey struct{}

// divertHook, added by [NewRedisStore] to a *redis.Client that ignores
// context deadlines, sends the store's own commands (their context is
// marked) through the store's clone that honours them, after the hooks
// added before it (tracing, metrics) have seen them. Other commands pass
// through untouched.
type divertHook struct{}

func (divertHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (divertHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if c, ok := ctx.Value(divertKey{}).(*redis.Client); ok {
			return c.Process(ctx, cmd)
		}
		return next(ctx, cmd)
	}
}

func (divertHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// bounded runs call, which sends its commands with the context it is
// given, and returns when it does or when ctx is done, whichever comes
// first. A client that honours deadlines (ContextTimeoutEnabled) is
// called directly. A *redis.Client that does not gets a marked context:
// the store's hook on it (divertHook) runs the commands through a clone
// with ContextTimeoutEnabled, go-redis's own deadline handling, so no
// goroutine per call. For other clients that ignore deadlines (Cluster or
// Ring without ContextTimeoutEnabled: go-redis has no per-call timeout for
// them) the call goes on in a goroutine until the client's own timeout
// while bounded returns at ctx.Done, and a rotation it carries cannot
// commit late (see [RedisStore.Rotate]).
func bounded[T any](ctx context.Context, s *RedisStore, call func(ctx context.Context) (T, error)) (T, error) {
	if s.deadlines != nil {
		return call(context.WithValue(ctx, divertKey{}, s.deadlines))
	}
	if !s.watchCtx || ctx.Done() == nil {
		return call(ctx)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := call(ctx)
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

// key is the name of subject's hash, which holds all its sessions.
func (s *RedisStore) key(subject string) string {
	return s.prefix + "{" + subjectTag(subject) + "}"
}

// Create implements [Store]. The login script counts the hash's fields
// first (HLEN), so below the cap a login costs the same as without one; at
// the cap it reads the subject's records (at most maxSessions of them once
// the cap holds; a hash that grew over it without a cap is read once and
// shrinks back to it) to find the least recently used.
func (s *RedisStore) Create(ctx context.Context, r SessionRecord, maxSessions int) ([]string, error) {
	if err := ValidateRecord(r); err != nil {
		return nil, err
	}
	rec, err := packRecord(r)
	if err != nil {
		return nil, err
	}
	now := r.CreatedAt.UnixMilli()
	ttl := ttlHorizon(rec[0], r.IdleExpiresAt.UnixMilli(), r.AbsoluteExpiresAt.UnixMilli()) - now
	reply, err := bounded(ctx, s, func(ctx context.Context) ([]any, error) {
		return scriptCreate.Run(ctx, s.client, []string{s.key(r.Subject)}, r.ID, rec, now, ttl, max(maxSessions, 0)).Slice()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	var evicted []string
	for _, x := range reply {
		id, ok := x.(string)
		if !ok {
			return nil, errBadReply
		}
		evicted = append(evicted, id)
	}
	return evicted, nil
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
	jti := packedJTI(req.JTI)
	pair, ok := appendJTI(make([]byte, 0, 2*17), req.NewJTI)
	if !ok || req.NewJTI == "" {
		return RotateResult{}, fmt.Errorf("%w: new jti empty or over %d bytes", ErrStoreUnavailable, maxPackedJTI)
	}
	pair = append(pair, jti...)
	deadline := req.Deadline
	if s.readTimeout > 0 {
		if d := time.Now().Add(s.readTimeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	now := min(max(req.Now.UnixMilli(), 0), maxMillis)
	idle := min(max(now+req.IdleTTL.Milliseconds(), 0), maxMillis) // past maxMillis, the absolute expiry caps it anyway
	gen := genBytes(req.Generation)
	if gen == "" {
		return RotateResult{}, ErrSessionNotFound // no record holds such a generation
	}
	grace := max(req.Grace.Milliseconds(), 0)
	args := []any{req.SessionID, jti, gen, genBytes(req.Generation + 1), rotatedTimes(now, idle), pair,
		rotateLimits(deadlineMillis(deadline), grace)}
	reply, err := s.rotate(ctx, req.Subject, args)
	if err == nil && replyCode(reply) == replyTooLate && time.Now().Before(deadline) {
		args[len(args)-1] = rotateLimits(0, grace)
		reply, err = s.rotate(ctx, req.Subject, args)
	}
	if err != nil {
		return RotateResult{}, unavailable(err)
	}
	if v, ok := reply.(string); ok {
		rec, err := unpackRecord(req.Subject, req.SessionID, v)
		if err != nil {
			return RotateResult{}, err
		}
		return RotateResult{Outcome: OutcomeRotated, Session: rec}, nil
	}
	switch code := replyCode(reply); code {
	case replyNotFound:
		return RotateResult{}, ErrSessionNotFound
	case replyRepeated, replyRetried:
		t, _ := reply.([]any)
		if len(t) != 2 {
			return RotateResult{}, errBadReply
		}
		v, _ := t[1].(string)
		rec, err := unpackRecord(req.Subject, req.SessionID, v)
		if err != nil {
			return RotateResult{}, err
		}
		o := OutcomeRotated
		if code == replyRetried {
			o = OutcomeRetried
		}
		return RotateResult{Outcome: o, Session: rec}, nil
	case replyReused:
		return RotateResult{Outcome: OutcomeReuseDetected}, nil
	case replyTooLate:
		return RotateResult{}, errTooLate
	default:
		return RotateResult{}, errBadReply
	}
}

// replyCode is the code of a table reply of the rotate script, or -1.
func replyCode(reply any) int64 {
	if t, ok := reply.([]any); ok && len(t) > 0 {
		if c, ok := t[0].(int64); ok {
			return c
		}
	}
	return -1
}

func (s *RedisStore) rotate(ctx context.Context, subject string, args []any) (any, error) {
	return bounded(ctx, s, func(ctx context.Context) (any, error) {
		return scriptRotate.Run(ctx, s.client, []string{s.key(subject)}, args...).Result()
	})
}

// Get implements [Store].
func (s *RedisStore) Get(ctx context.Context, subject, sessionID string, now time.Time) (SessionRecord, error) {
	v, err := bounded(ctx, s, func(ctx context.Context) (string, error) {
		return s.client.HGet(ctx, s.key(subject), sessionID).Result()
	})
	if errors.Is(err, redis.Nil) {
		return SessionRecord{}, ErrSessionNotFound
	}
	if err != nil {
		return SessionRecord{}, unavailable(err)
	}
	rec, err := unpackRecord(subject, sessionID, v)
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
	n, err := bounded(ctx, s, func(ctx context.Context) (int64, error) {
		return s.client.HDel(ctx, s.key(subject), sessionID).Result()
	})
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// RevokeAll implements [Store].
func (s *RedisStore) RevokeAll(ctx context.Context, subject string) ([]string, error) {
	reply, err := bounded(ctx, s, func(ctx context.Context) ([]any, error) {
		return scriptRevokeAll.Run(ctx, s.client, []string{s.key(subject)}).Slice()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	ids := make([]string, 0, len(reply))
	for _, x := range reply {
		id, ok := x.(string)
		if !ok {
			return nil, errBadReply
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// List implements [Store].
func (s *RedisStore) List(ctx context.Context, subject string, now time.Time) ([]SessionRecord, error) {
	reply, err := bounded(ctx, s, func(ctx context.Context) ([]any, error) {
		return scriptList.Run(ctx, s.client, []string{s.key(subject)}, now.UnixMilli()).Slice()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	if len(reply)%2 != 0 {
		return nil, errBadReply
	}
	out := make([]SessionRecord, 0, len(reply)/2)
	for i := 0; i < len(reply); i += 2 {
		id, ok1 := reply[i].(string)
		v, ok2 := reply[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errBadReply
		}
		rec, err := unpackRecord(subject, id, v)
		if err != nil {
			return nil, err
		}
		if rec.live(now) {
			out = append(out, rec)
		}
	}
	// A hash has no order; a device list reads best by login.
	sortByCreated(out)
	return out, nil
}

var errBadReply = fmt.Errorf("%w: unexpected script reply", ErrStoreUnavailable)

// deadlineMillis encodes a deadline for the rotate script: unix ms, or 0
// for none.
func deadlineMillis(d time.Time) int64 {
	if d.IsZero() {
		return 0
	}
	return d.UnixMilli()
}

// unavailable wraps any Redis failure (network, timeout, cancelled
// context, an error reply) as [ErrStoreUnavailable].
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}
