package rtr

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the instant-revocation settings ([Config.InstantRevocation]).
const (
	// DefaultRevocationMaxLag is the default [Config.RevocationMaxLag].
	DefaultRevocationMaxLag = 30 * time.Second

	// DefaultRevocationMaxEntries is the default
	// [Config.RevocationMaxEntries]: about 40 bytes each, so some 10 MB.
	DefaultRevocationMaxEntries = 1 << 18

	// RevocationMargin is added to AccessTTL + Leeway when a revocation is
	// recorded: it covers an access token minted by a rotation that was
	// in flight when the session ended, and small clock differences
	// between processes.
	RevocationMargin = 5 * time.Second
)

// Revocation says that a session has ended and that access tokens of it
// must be refused until Until. It never carries a token.
type Revocation struct {
	Subject   string
	SessionID string
	// Until is when the last access token of the session that can still
	// verify expires: the end of the session plus AccessTTL, Leeway and
	// [RevocationMargin]. After it the revocation can be forgotten.
	Until time.Time
}

// RevocationFeed is an optional ability of a [Store]: it shares ended
// sessions between every process on the store, so that their access tokens
// are refused everywhere without any I/O in [Verifier.Verify] (see
// [Config.InstantRevocation]). [MemoryStore] and [RedisStore] implement it;
// storetest checks any store that does.
//
// A feed is a durable record plus a push channel: a follower first reads
// every recorded revocation still in force (its Until after now), then
// receives new ones as they are published, and reads the record again
// after every reconnect, so a revocation published while it was
// disconnected is not missed.
type RevocationFeed interface {
	// PublishRevocations durably records revs (kept at least until their
	// Until, as seen by the now clock) and pushes them to every follower.
	// It returns once they are recorded; an error that wraps
	// [ErrStoreUnavailable] means they may not be. Publishing a
	// revocation again is harmless (the later Until wins).
	PublishRevocations(ctx context.Context, now time.Time, revs []Revocation) error

	// FollowRevocations delivers revocations to f until ctx is done, and
	// then returns ctx.Err(). It calls f from one goroutine at a time:
	// Revoked with the recorded revocations still in force at now()
	// (catch-up) and then with each published batch; FeedUp each time a
	// catch-up is complete and the push channel is connected; FeedDown
	// when the connection is lost (followed, on reconnect, by a new
	// catch-up and FeedUp). It keeps reconnecting by itself.
	FollowRevocations(ctx context.Context, now func() time.Time, f RevocationFollower) error
}

// RevocationFollower receives what a [RevocationFeed] delivers.
type RevocationFollower interface {
	// Revoked receives revocations, from a catch-up or a push.
	Revoked(revs []Revocation)
	// FeedUp reports that the follower is in sync: every revocation
	// recorded before the call has been delivered, and pushes flow.
	FeedUp()
	// FeedDown reports that pushes may be missed from now until the next
	// FeedUp. err says why; it never holds a token.
	FeedDown(err error)
}

// FeedStatus is the health of a verifier's revocation feed; see
// [Verifier.RevocationStatus].
type FeedStatus struct {
	// Enabled is false when the verifier does not follow a feed.
	Enabled bool
	// InSync is true when every revocation published so far has been
	// received (the feed is connected and caught up).
	InSync bool
	// Since is when the feed stopped being in sync (or when following
	// started, before the first catch-up); zero when InSync.
	Since time.Time
	// Lag is how long the feed has been out of sync (0 when InSync).
	Lag time.Duration
	// Entries is the number of revocations held in memory.
	Entries int
	// Overflow is true while more revocations are in force than
	// [Config.RevocationMaxEntries]: every token is refused with
	// [ErrStoreUnavailable] until the ones that did not fit expire.
	Overflow bool
}

const revShards = 64

// revocations is a verifier's in-memory set of ended sessions. Lookups
// take one shard's read lock and no I/O; a background goroutine follows
// the feed, sweeps expired entries and reports lag.
type revocations struct {
	seedSub, seedSid maphash.Seed
	maxEntries       int64
	now              func() time.Time
	maxLag           time.Duration
	failClosed       bool
	extra            int64 // ns added to every Until: this follower's own Leeway
	emit             func(EventType)

	downSince     atomic.Int64 // unix ns from now(); 0 when in sync
	overflowUntil atomic.Int64 // unix ns; refuse everything before it
	lagReported   atomic.Bool
	overflowed    atomic.Bool
	entries       atomic.Int64 // held in all shards together, at most maxEntries
	fullSweepAt   atomic.Int64 // unix ns of the last sweep of every shard made because the set was full

	shards [revShards]revShard

	cancel context.CancelFunc
	done   chan struct{}
}

type revShard struct {
	mu sync.RWMutex
	m  map[uint64]int64 // key hash -> until, unix ns
	_  [32]byte
}

// revocationOptions configures newRevocations.
type revocationOptions struct {
	now        func() time.Time
	maxLag     time.Duration
	failClosed bool
	maxEntries int
	leeway     time.Duration   // the follower's Leeway, added to every Until
	emit       func(EventType) // nil: no events
}

// newRevocations returns an empty set, out of sync until the first
// catch-up (a feed must still deliver it).
func newRevocations(o revocationOptions) *revocations {
	r := &revocations{
		seedSub: maphash.MakeSeed(), seedSid: maphash.MakeSeed(),
		maxEntries: int64(max(1, o.maxEntries)),
		now:        o.now, maxLag: o.maxLag, failClosed: o.failClosed, emit: o.emit, extra: int64(o.leeway),
	}
	if r.emit == nil {
		r.emit = func(EventType) {}
	}
	for i := range r.shards {
		r.shards[i].m = make(map[uint64]int64)
	}
	r.downSince.Store(r.now().UnixNano())
	return r
}

// follow starts following feed in the background; stop ends it.
func (r *revocations) follow(feed RevocationFeed) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.housekeep(ctx)
		}()
		_ = feed.FollowRevocations(ctx, r.now, r)
		wg.Wait()
	}()
}

// stop ends following and waits for the goroutines to return.
func (r *revocations) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

// housekeep sweeps one shard of expired entries per tick (every shard in
// about 16 s) and reports lag past maxLag.
func (r *revocations) housekeep(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.now().UnixNano()
		r.sweep(next, now)
		next = (next + 1) % revShards
		r.checkLag(now)
	}
}

// checkLag emits [EventFeedLagging] once when the feed has been out of
// sync for longer than maxLag.
func (r *revocations) checkLag(now int64) {
	if d := r.downSince.Load(); d != 0 && now-d > int64(r.maxLag) && r.lagReported.CompareAndSwap(false, true) {
		r.emit(EventFeedLagging)
	}
}

func (r *revocations) sweep(i int, now int64) {
	sh := &r.shards[i]
	sh.mu.Lock()
	r.sweepLocked(sh, now)
	sh.mu.Unlock()
}

// sweepLocked forgets the expired entries of sh, whose lock is held.
func (r *revocations) sweepLocked(sh *revShard, now int64) {
	n := 0
	for k, until := range sh.m {
		if until <= now {
			delete(sh.m, k)
			n++
		}
	}
	r.entries.Add(int64(-n))
}

// reserve takes room for one more entry, if the bound allows it.
func (r *revocations) reserve() bool {
	if r.entries.Add(1) <= r.maxEntries {
		return true
	}
	r.entries.Add(-1)
	return false
}

// insert records until for k in sh, or reports that the set is full of
// revocations in force (after forgetting the expired ones of sh).
func (r *revocations) insert(sh *revShard, k uint64, until, now int64) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[k]; ok {
		sh.m[k] = max(old, until)
		return true
	}
	if !r.reserve() {
		r.sweepLocked(sh, now)
		if !r.reserve() {
			return false
		}
	}
	sh.m[k] = until
	return true
}

// sweepAllWhenFull sweeps every shard, at most once a second (a flood at
// the bound must not make each insertion walk the whole set), and reports
// whether it did.
func (r *revocations) sweepAllWhenFull(now int64) bool {
	last := r.fullSweepAt.Load()
	if now-last < int64(time.Second) || !r.fullSweepAt.CompareAndSwap(last, now) {
		return false
	}
	for i := range r.shards {
		r.sweep(i, now)
	}
	return true
}

func (r *revocations) key(subject, sid string) uint64 {
	return maphash.String(r.seedSid, sid) ^ (maphash.String(r.seedSub, subject) * 0x9e3779b97f4a7c15)
}

// Revoked implements [RevocationFollower].
func (r *revocations) Revoked(revs []Revocation) {
	now := r.now().UnixNano()
	for _, rv := range revs {
		until := rv.Until.UnixNano() + r.extra
		if until <= now {
			continue
		}
		k := r.key(rv.Subject, rv.SessionID)
		sh := &r.shards[k%revShards]
		if r.insert(sh, k, until, now) || (r.sweepAllWhenFull(now) && r.insert(sh, k, until, now)) {
			continue
		}
		// Full of revocations in force. Forgetting one would bring a
		// revoked session back; refuse every token instead until the one
		// that did not fit has expired.
		for {
			o := r.overflowUntil.Load()
			if o >= until || r.overflowUntil.CompareAndSwap(o, until) {
				break
			}
		}
		if r.overflowed.CompareAndSwap(false, true) {
			// Not from here: the feed may be holding a lock of the store,
			// and the callback may call the store.
			go r.emit(EventRevocationOverflow)
		}
	}
}

// FeedUp implements [RevocationFollower].
func (r *revocations) FeedUp() {
	r.downSince.Store(0)
	if r.lagReported.CompareAndSwap(true, false) {
		r.emit(EventFeedRecovered)
	}
}

// FeedDown implements [RevocationFollower].
func (r *revocations) FeedDown(error) {
	r.downSince.CompareAndSwap(0, r.now().UnixNano())
}

// check is Verify's look-up: [ErrTokenRevoked] for an ended session,
// [ErrStoreUnavailable] when the set cannot be trusted (overflow, or a
// feed out of sync for longer than maxLag with failClosed).
func (r *revocations) check(subject, sid string) error {
	k := r.key(subject, sid)
	sh := &r.shards[k%revShards]
	sh.mu.RLock()
	until, ok := sh.m[k]
	sh.mu.RUnlock()
	var now int64
	if ok {
		now = r.now().UnixNano()
		if now < until {
			return ErrTokenRevoked
		}
	}
	if o := r.overflowUntil.Load(); o != 0 {
		if now == 0 {
			now = r.now().UnixNano()
		}
		if now < o {
			return errRevocationOverflow
		}
		if r.overflowUntil.CompareAndSwap(o, 0) {
			r.overflowed.Store(false)
		}
	}
	if r.failClosed {
		if d := r.downSince.Load(); d != 0 {
			if now == 0 {
				now = r.now().UnixNano()
			}
			if now-d > int64(r.maxLag) {
				return errFeedLagging
			}
		}
	}
	return nil
}

func (r *revocations) status() FeedStatus {
	now := r.now()
	s := FeedStatus{Enabled: true, InSync: true}
	if d := r.downSince.Load(); d != 0 {
		s.InSync = false
		s.Since = time.Unix(0, d)
		s.Lag = max(now.Sub(s.Since), 0)
	}
	s.Overflow = now.UnixNano() < r.overflowUntil.Load()
	s.Entries = int(r.entries.Load())
	return s
}

var (
	errRevocationOverflow = fmt.Errorf("%w: more revocations in force than RevocationMaxEntries", ErrStoreUnavailable)
	errFeedLagging        = fmt.Errorf("%w: revocation feed out of sync for longer than RevocationMaxLag", ErrStoreUnavailable)
)

// endedUntil is the Until of a session ended at now.
func (iss *Issuer) endedUntil(now time.Time) time.Time {
	return now.Add(iss.cfg.AccessTTL + iss.cfg.Leeway + RevocationMargin)
}

// publishEnded records that the sessions ids of subject have ended, when
// [Config.InstantRevocation] is on: this process's verifier refuses their
// access tokens at once, and every other follower of the store's feed as
// soon as the feed delivers. It fails with [ErrStoreUnavailable] when the
// feed could not record them.
func (iss *Issuer) publishEnded(ctx context.Context, subject string, ids ...string) error {
	if iss.feed == nil || len(ids) == 0 {
		return nil
	}
	until := iss.endedUntil(iss.cfg.Now())
	revs := make([]Revocation, len(ids))
	for i, id := range ids {
		revs[i] = Revocation{Subject: subject, SessionID: id, Until: until}
	}
	iss.verifier.rev.Revoked(revs)
	sctx, cancel := iss.storeContext(ctx)
	defer cancel()
	if err := iss.feed.PublishRevocations(sctx, iss.cfg.Now(), revs); err != nil {
		return storeError(err)
	}
	return nil
}

// RevocationStatus reports the health of the verifier's revocation feed
// (see [Config.InstantRevocation]); Enabled is false without one.
func (v *Verifier) RevocationStatus() FeedStatus {
	if v.rev == nil {
		return FeedStatus{}
	}
	return v.rev.status()
}

// Close stops the background work of the verifier (following the
// revocation feed). Verify keeps answering from what it holds, as a
// verifier whose feed is down. Close is idempotent.
func (v *Verifier) Close() error {
	if v.rev != nil {
		v.closeOnce.Do(v.rev.stop)
	}
	return nil
}

// Close stops the issuer's background work: following the revocation
// feed when [Config.InstantRevocation] is on. It does not close the
// store. Close is idempotent.
func (iss *Issuer) Close() error { return iss.verifier.Close() }

// followRevocations makes v refuse the sessions that feed reports ended.
// It is how verifiers not made by an [Issuer] join a store's feed.
func (v *Verifier) followRevocations(feed RevocationFeed, o revocationOptions) {
	v.rev = newRevocations(o)
	v.rev.follow(feed)
}
