package rtr

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
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
	feed        memFeed // the revocation feed (store_memory_feed.go)
}

// A shard keeps its sessions where the garbage collector has nothing to
// follow, so a store of a million sessions costs the collector next to
// nothing (a string and a slice per session would cost it a full scan of
// millions of objects per cycle; see BENCHMARKS.md):
//
//   - slab holds the sessions by value, without pointers; free lists the
//     unused slots;
//   - heads maps the hash of a subject to the first slot of a chain (next)
//     of the sessions whose subjects have that hash, in creation order;
//     the subject itself is compared, so colliding hashes only share a
//     chain;
//   - subjects is an arena of subject bytes, one copy per subject, shared
//     by its sessions; garbage counts the bytes no session refers to any
//     more, and the arena is compacted when they are the larger part;
//   - ext holds, by slot, the rare parts that are not pointer-free: ids
//     not in rtr's own form, and metadata.
type memShard struct {
	mu        sync.Mutex
	heads     map[uint64]int32
	slab      []memSession
	free      []int32
	subjects  []byte
	garbage   int
	ext       map[int32]*memExt
	count     int // sessions in this shard
	nextSweep int // count at which Create sweeps expired sessions
	_         [40]byte
}

// memSession is the compact in-memory form of a [SessionRecord]. Ids in
// rtr's own form (22 characters of base64url, 128 bits) are kept as their
// 16 bytes; others, and metadata, are in the shard's ext.
type memSession struct {
	ids                               [3]memID // id, current jti, previous jti
	kind                              [3]uint8 // idEmpty, idCompact or idOther, per ids entry
	hasExt                            bool
	next                              int32  // next slot in the chain; -1 ends it
	subjOff, subjLen                  uint32 // the subject, in the shard's subjects arena
	gen                               uint64
	created, rotated, idleExp, absExp int64 // unix nanoseconds
}

type memID [16]byte

// memExt holds what does not fit memSession's compact form.
type memExt struct {
	ids  [3]string // the ids whose kind is idOther
	meta map[string]string
}

// Indexes into memSession.ids, and the kinds of id.
const (
	slotID, slotCur, slotPrev = 0, 1, 2

	idEmpty   = 0 // ""
	idCompact = 1 // a canonical 22-character base64url string, as its 16 bytes
	idOther   = 2 // any other string, in ext

	noSlot int32 = -1
)

// MemoryOption configures [NewMemoryStore].
type MemoryOption func(*MemoryStore)

// WithMaxSessions caps the number of sessions a [MemoryStore] holds
// (default [DefaultMemoryMaxSessions]). When a shard is full even after
// forgetting expired sessions, [MemoryStore.Create] fails with
// [ErrStoreUnavailable] (a login answers 503; nobody is logged out).
//
// n must be positive: WithMaxSessions panics otherwise, with an error
// wrapping [ErrInvalidConfig] (a store cannot be unbounded).
func WithMaxSessions(n int) MemoryOption {
	if n <= 0 {
		panic(fmt.Errorf("%w: WithMaxSessions(%d): the cap must be positive", ErrInvalidConfig, n))
	}
	return func(m *MemoryStore) { m.setMaxSessions(n) }
}

func (m *MemoryStore) setMaxSessions(n int) {
	m.maxPerShard = max(1, (n+memShardCount-1)/memShardCount)
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	m := &MemoryStore{seed: maphash.MakeSeed()}
	m.setMaxSessions(DefaultMemoryMaxSessions)
	for _, o := range opts {
		o(m)
	}
	for i := range m.shards {
		m.shards[i].heads = make(map[uint64]int32)
		m.shards[i].nextSweep = memMinSweep
	}
	return m
}

// shard returns subject's shard and the hash that keys its chain.
func (m *MemoryStore) shard(subject string) (*memShard, uint64) {
	h := maphash.String(m.seed, subject)
	return &m.shards[h%memShardCount], h
}

// Create implements [Store]. With a cap, the work is proportional to the
// subject's sessions, at most maxSessions once the cap holds; without
// one, it does not depend on how many sessions the subject has.
func (m *MemoryStore) Create(ctx context.Context, r SessionRecord, maxSessions int) ([]string, error) {
	if err := ValidateRecord(r); err != nil {
		return nil, err
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	sh, h := m.shard(r.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.create(h, r, m.maxPerShard, maxSessions)
}

func (sh *memShard) create(h uint64, r SessionRecord, maxShard, maxSubject int) ([]string, error) {
	now := r.CreatedAt.UnixNano()
	var evicted []string
	if maxSubject > 0 {
		evicted = sh.capSubject(h, r.Subject, now, maxSubject-1)
	}
	if sh.count >= sh.nextSweep || sh.count >= maxShard {
		sh.sweep(now)
		sh.nextSweep = max(memMinSweep, 2*sh.count)
	}
	if sh.count >= maxShard || len(sh.subjects)+len(r.Subject) > math.MaxUint32 {
		// The evictions stand: they were due whatever the outcome.
		return evicted, fmt.Errorf("%w: memory store is full", ErrStoreUnavailable)
	}
	i := sh.alloc()
	s := &sh.slab[i]
	*s = memSession{
		next: noSlot, gen: r.Generation,
		created: now, rotated: r.LastUsedAt.UnixNano(),
		idleExp: r.IdleExpiresAt.UnixNano(), absExp: r.AbsoluteExpiresAt.UnixNano(),
	}
	sh.set(i, slotID, r.ID)
	sh.set(i, slotCur, r.Current)
	sh.set(i, slotPrev, r.Previous)
	if r.Meta != nil {
		sh.extOf(i).meta = maps.Clone(r.Meta)
	}
	// Put it at the head of the chain (constant time however many sessions
	// the subject has), sharing the subject's bytes with a session of the
	// same subject if there is one; the chain holds only the sessions whose
	// subjects share a 64-bit hash, so the first is nearly always a match.
	shared := false
	for j := sh.head(h); j != noSlot; j = sh.slab[j].next {
		if sh.subjectIs(j, r.Subject) {
			s.subjOff, s.subjLen, shared = sh.slab[j].subjOff, sh.slab[j].subjLen, true
			break
		}
	}
	if !shared {
		s.subjOff, s.subjLen = uint32(len(sh.subjects)), uint32(len(r.Subject))
		sh.subjects = append(sh.subjects, r.Subject...)
	}
	s.next = sh.head(h)
	sh.heads[h] = i
	sh.count++
	return evicted, nil
}

// capSubject deletes subject's expired sessions, then its least recently
// used live ones until at most keep remain, and returns the ids of the
// latter, least recently used first.
func (sh *memShard) capSubject(h uint64, subject string, now int64, keep int) []string {
	sh.prune(h, subject, now)
	var live []int32
	for i := sh.head(h); i != noSlot; i = sh.slab[i].next {
		if sh.subjectIs(i, subject) {
			live = append(live, i)
		}
	}
	if len(live) <= keep {
		return nil
	}
	ids := make(map[int32]string, len(live))
	for _, i := range live {
		ids[i] = sh.str(i, slotID, "")
	}
	slices.SortFunc(live, func(a, b int32) int {
		sa, sb := &sh.slab[a], &sh.slab[b]
		return lruCompare(sa.rotated, sa.created, ids[a], sb.rotated, sb.created, ids[b])
	})
	victims := live[:len(live)-keep]
	out := make([]string, len(victims))
	drop := make(map[int32]bool, len(victims))
	for k, i := range victims {
		out[k] = ids[i]
		drop[i] = true
	}
	sh.removeIf(h, func(i int32) bool { return drop[i] })
	return out
}

// Rotate implements [Store].
func (m *MemoryStore) Rotate(ctx context.Context, req RotateRequest) (RotateResult, error) {
	if err := ctxErr(ctx); err != nil {
		return RotateResult{}, err
	}
	sh, h := m.shard(req.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if late(req.Deadline) {
		return RotateResult{}, errTooLate
	}
	i := sh.find(h, req.Subject, req.SessionID, req.Now.UnixNano())
	if i == noSlot {
		return RotateResult{}, ErrSessionNotFound
	}
	rec := sh.record(i, req.Subject, req.SessionID, req.JTI)
	switch o := decide(&rec, req, jtiEqual); o {
	case OutcomeRotated:
		sh.set(i, slotPrev, rec.Previous)
		sh.set(i, slotCur, rec.Current)
		s := &sh.slab[i]
		s.gen = rec.Generation
		s.rotated, s.idleExp = rec.LastUsedAt.UnixNano(), rec.IdleExpiresAt.UnixNano()
		return RotateResult{Outcome: o, Session: rec}, nil
	case OutcomeRetried:
		return RotateResult{Outcome: o, Session: rec}, nil
	case outcomeStoreBehind:
		sh.remove(h, i)
		return RotateResult{}, ErrSessionNotFound
	default:
		sh.remove(h, i)
		return RotateResult{Outcome: OutcomeReuseDetected}, nil
	}
}

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, subject, sessionID string, now time.Time) (SessionRecord, error) {
	if err := ctxErr(ctx); err != nil {
		return SessionRecord{}, err
	}
	sh, h := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := sh.find(h, subject, sessionID, now.UnixNano())
	if i == noSlot {
		return SessionRecord{}, ErrSessionNotFound
	}
	return sh.record(i, subject, sessionID, ""), nil
}

// Revoke implements [Store].
func (m *MemoryStore) Revoke(ctx context.Context, subject, sessionID string) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	sh, h := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := sh.head(h); i != noSlot; i = sh.slab[i].next {
		if sh.subjectIs(i, subject) && sh.is(i, slotID, sessionID) {
			sh.remove(h, i)
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
	sh, h := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.revokeAll(h, subject), nil
}

func (sh *memShard) revokeAll(h uint64, subject string) []string {
	ids := []string{}
	sh.removeIf(h, func(i int32) bool {
		if !sh.subjectIs(i, subject) {
			return false
		}
		ids = append(ids, sh.str(i, slotID, ""))
		return true
	})
	return ids
}

// List implements [Store].
func (m *MemoryStore) List(ctx context.Context, subject string, now time.Time) ([]SessionRecord, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	sh, h := m.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.list(h, subject, now.UnixNano()), nil
}

func (sh *memShard) list(h uint64, subject string, now int64) []SessionRecord {
	sh.prune(h, subject, now)
	out := []SessionRecord{}
	for i := sh.head(h); i != noSlot; i = sh.slab[i].next {
		if sh.subjectIs(i, subject) {
			out = append(out, sh.record(i, subject, "", ""))
		}
	}
	sortByCreated(out)
	return out
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

// head returns the first slot of the chain for hash h.
func (sh *memShard) head(h uint64) int32 {
	if i, ok := sh.heads[h]; ok {
		return i
	}
	return noSlot
}

// alloc returns a free slot.
func (sh *memShard) alloc() int32 {
	if n := len(sh.free); n > 0 {
		i := sh.free[n-1]
		sh.free = sh.free[:n-1]
		return i
	}
	sh.slab = append(sh.slab, memSession{})
	return int32(len(sh.slab) - 1)
}

func (sh *memShard) subjectIs(i int32, subject string) bool {
	s := &sh.slab[i]
	return int(s.subjLen) == len(subject) && string(sh.subjects[s.subjOff:s.subjOff+s.subjLen]) == subject
}

// find prunes subject's expired sessions and returns the slot of
// sessionID (noSlot if absent).
func (sh *memShard) find(h uint64, subject, sessionID string, now int64) int32 {
	sh.prune(h, subject, now)
	for i := sh.head(h); i != noSlot; i = sh.slab[i].next {
		if sh.subjectIs(i, subject) && sh.is(i, slotID, sessionID) {
			return i
		}
	}
	return noSlot
}

// prune drops subject's sessions that are expired at now.
func (sh *memShard) prune(h uint64, subject string, now int64) {
	sh.removeIf(h, func(i int32) bool { return !sh.slab[i].live(now) && sh.subjectIs(i, subject) })
}

// sweep forgets every expired session in the shard.
func (sh *memShard) sweep(now int64) {
	for h := range sh.heads {
		sh.removeIf(h, func(i int32) bool { return !sh.slab[i].live(now) })
	}
}

// remove unlinks slot i from the chain of h and frees it.
func (sh *memShard) remove(h uint64, i int32) {
	sh.removeIf(h, func(j int32) bool { return j == i })
}

// removeIf unlinks and frees the slots of the chain of h for which drop
// holds, in one walk of the chain (and one more to tell which subjects
// still have a session there), so that dropping many sessions of one
// subject costs time linear in the chain, not quadratic.
func (sh *memShard) removeIf(h uint64, drop func(int32) bool) {
	type span struct{ off, n uint32 }
	var gone []span // subjects of dropped slots, usually one
	prev := noSlot
	for i := sh.head(h); i != noSlot; {
		s := &sh.slab[i]
		next := s.next
		if !drop(i) {
			prev, i = i, next
			continue
		}
		if prev == noSlot {
			if next == noSlot {
				delete(sh.heads, h)
			} else {
				sh.heads[h] = next
			}
		} else {
			sh.slab[prev].next = next
		}
		if sp := (span{s.subjOff, s.subjLen}); !slices.Contains(gone, sp) {
			gone = append(gone, sp)
		}
		if s.hasExt {
			delete(sh.ext, i)
		}
		*s = memSession{}
		sh.free = append(sh.free, i)
		sh.count--
		i = next
	}
	if len(gone) == 0 {
		return
	}
	// A subject's bytes are garbage once no session of the chain uses them.
	for i := sh.head(h); i != noSlot && len(gone) > 0; i = sh.slab[i].next {
		s := &sh.slab[i]
		gone = slices.DeleteFunc(gone, func(sp span) bool { return sp == span{s.subjOff, s.subjLen} })
	}
	for _, sp := range gone {
		sh.garbage += int(sp.n)
	}
	if sh.garbage > 1024 && sh.garbage > len(sh.subjects)/2 {
		sh.compactSubjects()
	}
}

// compactSubjects rewrites the subjects arena with the live subjects only.
// A subject is known by its offset and its length together: an empty
// subject (which [ValidateRecord] keeps out, but the arena must not
// depend on that) has the offset of the subject stored after it.
func (sh *memShard) compactSubjects() {
	type span struct{ off, n uint32 }
	arena := make([]byte, 0, len(sh.subjects)-sh.garbage)
	moved := make(map[span]uint32)
	for _, head := range sh.heads {
		for i := head; i != noSlot; i = sh.slab[i].next {
			s := &sh.slab[i]
			sp := span{s.subjOff, s.subjLen}
			off, ok := moved[sp]
			if !ok {
				off = uint32(len(arena))
				arena = append(arena, sh.subjects[s.subjOff:s.subjOff+s.subjLen]...)
				moved[sp] = off
			}
			s.subjOff = off
		}
	}
	sh.subjects, sh.garbage = arena, 0
}

func (s *memSession) live(now int64) bool { return now < min(s.idleExp, s.absExp) }

// extOf returns slot i's ext, creating it.
func (sh *memShard) extOf(i int32) *memExt {
	if sh.slab[i].hasExt {
		return sh.ext[i]
	}
	if sh.ext == nil {
		sh.ext = make(map[int32]*memExt)
	}
	e := new(memExt)
	sh.ext[i] = e
	sh.slab[i].hasExt = true
	return e
}

var strictB64 = base64.RawURLEncoding.Strict()

// packID returns the compact form of id when it has one. Strict decoding of
// exactly 22 characters into exactly 16 bytes accepts only canonical
// encodings, so encoding the bytes gives id back.
func packID(id string) (memID, uint8) {
	var b memID
	if id == "" {
		return b, idEmpty
	}
	if len(id) == 22 {
		if n, err := strictB64.Decode(b[:], bytesOf(id)); err == nil && n == len(b) {
			return b, idCompact
		}
	}
	return memID{}, idOther
}

// set stores str in id slot k of session i.
func (sh *memShard) set(i int32, k int, str string) {
	s := &sh.slab[i]
	s.ids[k], s.kind[k] = packID(str)
	if s.kind[k] == idOther {
		sh.extOf(i).ids[k] = str
	} else if s.hasExt {
		sh.ext[i].ids[k] = ""
	}
}

// is reports whether id slot k of session i holds str.
func (sh *memShard) is(i int32, k int, str string) bool {
	s := &sh.slab[i]
	switch s.kind[k] {
	case idEmpty:
		return str == ""
	case idCompact:
		b, kind := packID(str)
		return kind == idCompact && b == s.ids[k]
	default:
		return sh.ext[i].ids[k] == str
	}
}

// str returns id slot k of session i as a string. When hint is that string
// (compared in constant time: the jti slots are token ids), hint itself is
// returned and nothing is allocated.
func (sh *memShard) str(i int32, k int, hint string) string {
	s := &sh.slab[i]
	switch s.kind[k] {
	case idEmpty:
		return ""
	case idCompact:
		if b, kind := packID(hint); kind == idCompact && subtle.ConstantTimeCompare(b[:], s.ids[k][:]) == 1 {
			return hint
		}
		return base64.RawURLEncoding.EncodeToString(s.ids[k][:])
	default:
		return sh.ext[i].ids[k]
	}
}

// record returns session i as a SessionRecord. id and jti are strings the
// caller holds that the session's id and current or previous jti may
// equal; they are reused instead of allocating new ones.
func (sh *memShard) record(i int32, subject, id, jti string) SessionRecord {
	s := &sh.slab[i]
	var meta map[string]string
	if s.hasExt {
		meta = maps.Clone(sh.ext[i].meta)
	}
	return SessionRecord{
		ID: sh.str(i, slotID, id), Subject: subject,
		Current: sh.str(i, slotCur, jti), Previous: sh.str(i, slotPrev, jti), Generation: s.gen,
		CreatedAt: time.Unix(0, s.created), LastUsedAt: time.Unix(0, s.rotated),
		IdleExpiresAt: time.Unix(0, s.idleExp), AbsoluteExpiresAt: time.Unix(0, s.absExp),
		Meta: meta,
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
