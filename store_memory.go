package rtr

import (
	"context"
	"crypto/subtle"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"time"
)

// DefaultMemoryMaxSessions is the default capacity of a [MemoryStore].
const DefaultMemoryMaxSessions = 1 << 21

const (
	memShardCount = 64
	memMinSweep   = 256 // a shard sweeps expired sessions no more often than every this many creates
)

// MemoryStore is an in-process [Store] for development, tests and
// single-instance services. Sessions are sharded by subject, so unrelated
// users never contend for one lock; expired sessions are forgotten lazily
// and swept as a shard grows (no background goroutine, nothing to close),
// and the total is capped (see [WithMaxSessions]). Sessions do not survive
// a restart and are not shared between processes: use [RedisStore] for
// that.
type MemoryStore struct {
	seed        maphash.Seed
	maxPerShard int
	shards      [memShardCount]memShard
}

type memShard struct {
	mu        sync.Mutex
	subjects  map[string][]*memSession
	count     int // sessions in this shard
	nextSweep int // count at which Create sweeps expired sessions
	_         [40]byte
}

// memSession is the compact in-memory form of a [SessionRecord].
type memSession struct {
	id                                string
	cur, prev                         string
	gen                               uint64
	created, rotated, idleExp, absExp int64 // unix nanoseconds
	meta                              map[string]string
}

// MemoryOption configures [NewMemoryStore].
type MemoryOption func(*MemoryStore)

// WithMaxSessions caps the number of sessions a [MemoryStore] holds
// (default [DefaultMemoryMaxSessions]). When a shard is full even after
// forgetting expired sessions, [MemoryStore.Create] fails with
// [ErrStoreUnavailable] (a login answers 503; nobody is logged out).
func WithMaxSessions(n int) MemoryOption {
	return func(m *MemoryStore) {
		if n > 0 {
			m.maxPerShard = max(1, (n+memShardCount-1)/memShardCount)
		}
	}
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	m := &MemoryStore{seed: maphash.MakeSeed()}
	WithMaxSessions(DefaultMemoryMaxSessions)(m)
	for _, o := range opts {
		o(m)
	}
	for i := range m.shards {
		m.shards[i].subjects = make(map[string][]*memSession)
		m.shards[i].nextSweep = memMinSweep
	}
	return m
}

func (m *MemoryStore) shard(subject string) *memShard {
	return &m.shards[maphash.String(m.seed, subject)%memShardCount]
}

// Create implements [Store].
func (m *MemoryStore) Create(ctx context.Context, r SessionRecord) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	s := &memSession{
		id: r.ID, cur: r.Current, prev: r.Previous, gen: r.Generation,
		created: r.CreatedAt.UnixNano(), rotated: r.RotatedAt.UnixNano(),
		idleExp: r.IdleExpiresAt.UnixNano(), absExp: r.AbsoluteExpiresAt.UnixNano(),
		meta: maps.Clone(r.Meta),
	}
	sh := m.shard(r.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.count >= sh.nextSweep || sh.count >= m.maxPerShard {
		sh.sweep(r.CreatedAt.UnixNano())
		sh.nextSweep = max(memMinSweep, 2*sh.count)
	}
	if sh.count >= m.maxPerShard {
		return fmt.Errorf("%w: memory store is full", ErrStoreUnavailable)
	}
	sh.subjects[r.Subject] = append(sh.subjects[r.Subject], s)
	sh.count++
	return nil
}

// Rotate implements [Store].
func (m *MemoryStore) Rotate(ctx context.Context, req RotateRequest) (RotateResult, error) {
	if err := ctxErr(ctx); err != nil {
		return RotateResult{}, err
	}
	sh := m.shard(req.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if late(req.Deadline) {
		return RotateResult{}, errTooLate
	}
	list, i := sh.find(req.Subject, req.SessionID, req.Now.UnixNano())
	if i < 0 {
		return RotateResult{}, ErrSessionNotFound
	}
	s := list[i]
	rec := s.record(req.Subject)
	switch o := decide(&rec, req, jtiEqual); o {
	case OutcomeRotated:
		s.cur, s.prev, s.gen = rec.Current, rec.Previous, rec.Generation
		s.rotated, s.idleExp = rec.RotatedAt.UnixNano(), rec.IdleExpiresAt.UnixNano()
		return RotateResult{Outcome: o, Session: rec}, nil
	case OutcomeRetried:
		return RotateResult{Outcome: o, Session: rec}, nil
	case outcomeStoreBehind:
		sh.remove(req.Subject, list, i)
		return RotateResult{}, ErrSessionNotFound
	default:
		sh.remove(req.Subject, list, i)
		return RotateResult{Outcome: OutcomeReused}, nil
	}
}

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, subject, sessionID string, now time.Time) (SessionRecord, error) {
	if err := ctxErr(ctx); err != nil {
		return SessionRecord{}, err
	}
	sh := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list, i := sh.find(subject, sessionID, now.UnixNano())
	if i < 0 {
		return SessionRecord{}, ErrSessionNotFound
	}
	return list[i].record(subject), nil
}

// Revoke implements [Store].
func (m *MemoryStore) Revoke(ctx context.Context, subject, sessionID string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	sh := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.subjects[subject]
	for i, s := range list {
		if s.id == sessionID {
			sh.remove(subject, list, i)
			return true, nil
		}
	}
	return false, nil
}

// RevokeAll implements [Store].
func (m *MemoryStore) RevokeAll(ctx context.Context, subject string) ([]string, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	sh := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.subjects[subject]
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.id
	}
	delete(sh.subjects, subject)
	sh.count -= len(list)
	return ids, nil
}

// List implements [Store].
func (m *MemoryStore) List(ctx context.Context, subject string, now time.Time) ([]SessionRecord, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	sh := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.prune(subject, now.UnixNano())
	out := make([]SessionRecord, len(list))
	for i, s := range list {
		out[i] = s.record(subject)
	}
	sortByCreated(out)
	return out, nil
}

// Len returns the number of sessions held, expired ones not yet forgotten
// included.
func (m *MemoryStore) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += sh.count
		sh.mu.Unlock()
	}
	return n
}

// find prunes subject's expired sessions and returns the list and the
// index of sessionID in it (-1 if absent).
func (sh *memShard) find(subject, sessionID string, now int64) ([]*memSession, int) {
	list := sh.prune(subject, now)
	for i, s := range list {
		if s.id == sessionID {
			return list, i
		}
	}
	return list, -1
}

// prune drops subject's sessions that are expired at now.
func (sh *memShard) prune(subject string, now int64) []*memSession {
	list := sh.subjects[subject]
	kept := list[:0]
	for _, s := range list {
		if s.live(now) {
			kept = append(kept, s)
		}
	}
	if len(kept) == len(list) {
		return list
	}
	clear(list[len(kept):]) // let the dropped sessions be collected
	sh.count -= len(list) - len(kept)
	if len(kept) == 0 {
		delete(sh.subjects, subject)
		return nil
	}
	sh.subjects[subject] = kept
	return kept
}

// sweep forgets every expired session in the shard.
func (sh *memShard) sweep(now int64) {
	for subject := range sh.subjects {
		sh.prune(subject, now)
	}
}

func (sh *memShard) remove(subject string, list []*memSession, i int) {
	list = slices.Delete(list, i, i+1)
	sh.count--
	if len(list) == 0 {
		delete(sh.subjects, subject)
		return
	}
	sh.subjects[subject] = list
}

func (s *memSession) live(now int64) bool { return now < min(s.idleExp, s.absExp) }

func (s *memSession) record(subject string) SessionRecord {
	return SessionRecord{
		ID: s.id, Subject: subject,
		Current: s.cur, Previous: s.prev, Generation: s.gen,
		CreatedAt: time.Unix(0, s.created), RotatedAt: time.Unix(0, s.rotated),
		IdleExpiresAt: time.Unix(0, s.idleExp), AbsoluteExpiresAt: time.Unix(0, s.absExp),
		Meta: maps.Clone(s.meta),
	}
}

// jtiEqual compares token ids in constant time.
func jtiEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// errTooLate is the answer to a rotation that reached the store after its
// caller's deadline: nothing was changed.
var errTooLate = fmt.Errorf("%w: rotation arrived after the caller's deadline; nothing changed", ErrStoreUnavailable)

// late reports whether a non-zero deadline has passed on the wall clock.
func late(deadline time.Time) bool { return !deadline.IsZero() && time.Now().After(deadline) }

// ctxErr reports a done context as a store failure: "cannot tell now".
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return nil
}
