// Package storetest checks that an [rtr.Store] keeps the store contract.
// One call runs the whole suite against any implementation:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) rtr.Store { return newMyStore(t) })
//	}
//
// The factory is called once per subtest. Stores may be shared between
// subtests: every subtest uses its own random subjects. A store that also
// implements [rtr.RevocationFeed] gets the feed's subtests too
// (RevocationFeed/...): pushes, the catch-up of a follower that starts
// later, expiry, and the later Until winning.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

const (
	idle  = time.Hour
	grace = 10 * time.Second
)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) rtr.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s rtr.Store)
	}{
		{"NotFound", testNotFound},
		{"CreateGet", testCreateGet},
		{"Rotate", testRotate},
		{"IdleCappedByAbsolute", testIdleCapped},
		{"RetryWithinGrace", testRetryWithinGrace},
		{"Reuse", testReuse},
		{"Revoke", testRevoke},
		{"RevokeAll", testRevokeAll},
		{"List", testList},
		{"IdleExpiry", testIdleExpiry},
		{"AbsoluteExpiry", testAbsoluteExpiry},
		{"SubjectsAreIsolated", testSubjectsIsolated},
		{"CancelledContext", testCancelledContext},
		{"LateRotationChangesNothing", testLateRotation},
		{"RepeatedRequestIsIdempotent", testRepeatedRequest},
		{"TokenAheadOfStore", testTokenAheadOfStore},
		{"ConcurrentRotationStrict", func(t *testing.T, s rtr.Store) { testConcurrentRotation(t, s, 0) }},
		{"ConcurrentRotationGrace", func(t *testing.T, s rtr.Store) { testConcurrentRotation(t, s, grace) }},
		{"InvalidRecordRefused", testInvalidRecord},
		{"CapEvictsLeastRecentlyUsed", testCapLRU},
		{"CapTies", testCapTies},
		{"CapExactlyAtCap", testCapExactly},
		{"CapExpiredNotReported", testCapExpired},
		{"CapShrinksOverCapSubject", testCapShrinks},
		{"CapConcurrentLogins", testCapConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
	if _, ok := newStore(t).(rtr.RevocationFeed); ok {
		t.Run("RevocationFeed", func(t *testing.T) {
			testFeed(t, func(t *testing.T) rtr.RevocationFeed { return newStore(t).(rtr.RevocationFeed) })
		})
	}
}

// now is a wall-clock time, so stores that hand expiry to a server (Redis
// TTLs) keep the keys; whole milliseconds, the coarsest resolution a store
// may keep.
func now() time.Time { return time.Now().Truncate(time.Millisecond) }

func id() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func subject(t *testing.T) string { return "storetest-" + id()[:12] }

func newRecord(subj string, at time.Time) rtr.SessionRecord {
	return rtr.SessionRecord{
		ID: id(), Subject: subj, Current: id(), Generation: 1,
		CreatedAt: at, LastUsedAt: at,
		IdleExpiresAt: at.Add(idle), AbsoluteExpiresAt: at.Add(24 * time.Hour),
	}
}

func create(t *testing.T, s rtr.Store, subj string, at time.Time) rtr.SessionRecord {
	t.Helper()
	r := newRecord(subj, at)
	evicted, err := s.Create(context.Background(), r, 0)
	require.NoError(t, err)
	require.Empty(t, evicted, "no cap, no evictions")
	return r
}

// createCapped creates r under the cap max and returns the evicted ids.
func createCapped(t *testing.T, s rtr.Store, r rtr.SessionRecord, max int) []string {
	t.Helper()
	evicted, err := s.Create(context.Background(), r, max)
	require.NoError(t, err)
	return evicted
}

func rotateReq(r rtr.SessionRecord, jti string, gen uint64, at time.Time, g time.Duration) rtr.RotateRequest {
	return rtr.RotateRequest{
		Subject: r.Subject, SessionID: r.ID, JTI: jti, Generation: gen,
		NewJTI: id(), Now: at, IdleTTL: idle, Grace: g,
	}
}

func requireSameRecord(t *testing.T, want, got rtr.SessionRecord) {
	t.Helper()
	require.Equal(t, want.ID, got.ID, "ID")
	require.Equal(t, want.Subject, got.Subject, "Subject")
	require.Equal(t, want.Current, got.Current, "Current")
	require.Equal(t, want.Previous, got.Previous, "Previous")
	require.Equal(t, want.Generation, got.Generation, "Generation")
	for _, p := range []struct {
		name      string
		want, got time.Time
	}{
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
		{"LastUsedAt", want.LastUsedAt, got.LastUsedAt},
		{"IdleExpiresAt", want.IdleExpiresAt, got.IdleExpiresAt},
		{"AbsoluteExpiresAt", want.AbsoluteExpiresAt, got.AbsoluteExpiresAt},
	} {
		require.Truef(t, p.want.Equal(p.got), "%s: want %v, got %v", p.name, p.want, p.got)
	}
	require.Equal(t, len(want.Meta), len(got.Meta), "Meta")
	for k, v := range want.Meta {
		require.Equal(t, v, got.Meta[k], "Meta[%q]", k)
	}
}

func requireGone(t *testing.T, s rtr.Store, r rtr.SessionRecord, at time.Time) {
	t.Helper()
	_, err := s.Get(context.Background(), r.Subject, r.ID, at)
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
}

func testNotFound(t *testing.T, s rtr.Store) {
	ctx, subj, at := context.Background(), subject(t), now()
	_, err := s.Get(ctx, subj, id(), at)
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	_, err = s.Rotate(ctx, rtr.RotateRequest{Subject: subj, SessionID: id(), JTI: id(), Generation: 1, NewJTI: id(), Now: at, IdleTTL: idle})
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	ok, err := s.Revoke(ctx, subj, id())
	require.NoError(t, err)
	require.False(t, ok)
	ids, err := s.RevokeAll(ctx, subj)
	require.NoError(t, err)
	require.Empty(t, ids)
	list, err := s.List(ctx, subj, at)
	require.NoError(t, err)
	require.Empty(t, list)
}

func testCreateGet(t *testing.T, s rtr.Store) {
	at := now()
	r := newRecord(subject(t), at)
	r.Meta = map[string]string{"ua": "Mozilla/5.0 \"quoted\" ünï", "ip": "192.0.2.1"}
	_, err := s.Create(context.Background(), r, 0)
	require.NoError(t, err)
	got, err := s.Get(context.Background(), r.Subject, r.ID, at)
	require.NoError(t, err)
	requireSameRecord(t, r, got)
}

func testRotate(t *testing.T, s rtr.Store) {
	at := now()
	r := create(t, s, subject(t), at)
	later := at.Add(time.Minute)
	req := rotateReq(r, r.Current, 1, later, grace)
	res, err := s.Rotate(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)
	want := r
	want.Previous, want.Current, want.Generation = r.Current, req.NewJTI, 2
	want.LastUsedAt, want.IdleExpiresAt = later, later.Add(idle)
	requireSameRecord(t, want, res.Session)

	got, err := s.Get(context.Background(), r.Subject, r.ID, later)
	require.NoError(t, err)
	requireSameRecord(t, want, got)

	// The new token rotates in turn.
	res, err = s.Rotate(context.Background(), rotateReq(want, want.Current, 2, later.Add(time.Minute), grace))
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)
	require.Equal(t, uint64(3), res.Session.Generation)
	require.Equal(t, want.Current, res.Session.Previous)
}

func testIdleCapped(t *testing.T, s rtr.Store) {
	at := now()
	r := newRecord(subject(t), at)
	r.AbsoluteExpiresAt = at.Add(90 * time.Minute)
	_, err := s.Create(context.Background(), r, 0)
	require.NoError(t, err)
	later := at.Add(45 * time.Minute) // now+idle would pass the absolute expiry
	res, err := s.Rotate(context.Background(), rotateReq(r, r.Current, 1, later, 0))
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)
	require.True(t, res.Session.IdleExpiresAt.Equal(r.AbsoluteExpiresAt), "idle expiry %v not capped at %v", res.Session.IdleExpiresAt, r.AbsoluteExpiresAt)
}

func testRetryWithinGrace(t *testing.T, s rtr.Store) {
	ctx, at := context.Background(), now()
	r := create(t, s, subject(t), at)
	rotated, err := s.Rotate(ctx, rotateReq(r, r.Current, 1, at, grace))
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, rotated.Outcome)

	// Retries inside the window answer with the current generation and
	// change nothing; the window is anchored to the rotation, so retries
	// do not extend it.
	for _, after := range []time.Duration{0, grace / 2, grace - time.Millisecond} {
		res, err := s.Rotate(ctx, rotateReq(r, r.Current, 1, at.Add(after), grace))
		require.NoError(t, err)
		require.Equal(t, rtr.OutcomeRetried, res.Outcome, "retry %v after rotation", after)
		requireSameRecord(t, rotated.Session, res.Session)
	}
	got, err := s.Get(ctx, r.Subject, r.ID, at.Add(grace-time.Millisecond))
	require.NoError(t, err)
	requireSameRecord(t, rotated.Session, got)

	// The current token still rotates normally after retries.
	res, err := s.Rotate(ctx, rotateReq(rotated.Session, rotated.Session.Current, 2, at.Add(grace-time.Millisecond), grace))
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)
}

func testReuse(t *testing.T, s rtr.Store) {
	ctx := context.Background()
	// Each case rotates a fresh session `rotations` times at one instant,
	// then presents a token `after` later.
	cases := []struct {
		name      string
		rotations int
		present   func(first, last rtr.SessionRecord) (jti string, gen uint64)
		after     time.Duration
		grace     time.Duration
	}{
		{"PredecessorAtGraceEnd", 1, first, grace, grace},
		{"PredecessorAfterGrace", 1, first, idle / 2, grace},
		{"PredecessorStrict", 1, first, 0, 0},
		// A concurrent request whose clock reading is older than the
		// rotation it lost to: strict still means reuse.
		{"PredecessorStrictClockBehind", 1, first, -time.Millisecond, 0},
		{"OlderGenerationWithinGrace", 2, first, 0, grace},
		{"UnknownJTICurrentGeneration", 1, func(_, l rtr.SessionRecord) (string, uint64) { return id(), l.Generation }, 0, grace},
		{"CurrentJTIOlderGeneration", 1, func(_, l rtr.SessionRecord) (string, uint64) { return l.Current, l.Generation - 1 }, 0, grace},
		{"PreviousJTICurrentGeneration", 1, func(f, l rtr.SessionRecord) (string, uint64) { return f.Current, l.Generation }, 0, grace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := now()
			start := create(t, s, subject(t), at)
			last := start
			for range c.rotations {
				res, err := s.Rotate(ctx, rotateReq(last, last.Current, last.Generation, at, c.grace))
				require.NoError(t, err)
				require.Equal(t, rtr.OutcomeRotated, res.Outcome)
				last = res.Session
			}
			jti, gen := c.present(start, last)
			res, err := s.Rotate(ctx, rotateReq(start, jti, gen, at.Add(c.after), c.grace))
			require.NoError(t, err)
			require.Equal(t, rtr.OutcomeReuseDetected, res.Outcome)

			// The whole family is revoked: the current token is dead too.
			requireGone(t, s, start, at.Add(c.after))
			_, err = s.Rotate(ctx, rotateReq(last, last.Current, last.Generation, at.Add(c.after), c.grace))
			require.ErrorIs(t, err, rtr.ErrSessionNotFound)
			list, err := s.List(ctx, start.Subject, at.Add(c.after))
			require.NoError(t, err)
			require.Empty(t, list)
		})
	}
}

// first presents the session's generation-1 token.
func first(f, _ rtr.SessionRecord) (string, uint64) { return f.Current, 1 }

func testRevoke(t *testing.T, s rtr.Store) {
	ctx, subj, at := context.Background(), subject(t), now()
	a := create(t, s, subj, at)
	b := create(t, s, subj, at)
	ok, err := s.Revoke(ctx, subj, a.ID)
	require.NoError(t, err)
	require.True(t, ok)
	requireGone(t, s, a, at)
	_, err = s.Rotate(ctx, rotateReq(a, a.Current, 1, at, grace))
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)

	ok, err = s.Revoke(ctx, subj, a.ID)
	require.NoError(t, err)
	require.False(t, ok, "second revoke reports nothing revoked")

	got, err := s.Get(ctx, subj, b.ID, at)
	require.NoError(t, err, "other sessions of the subject survive")
	requireSameRecord(t, b, got)
}

func testRevokeAll(t *testing.T, s rtr.Store) {
	ctx, subj, other, at := context.Background(), subject(t), subject(t), now()
	var want []string
	for range 5 {
		want = append(want, create(t, s, subj, at).ID)
	}
	keep := create(t, s, other, at)
	ids, err := s.RevokeAll(ctx, subj)
	require.NoError(t, err)
	require.ElementsMatch(t, want, ids)
	list, err := s.List(ctx, subj, at)
	require.NoError(t, err)
	require.Empty(t, list)
	for _, id := range want {
		_, err := s.Get(ctx, subj, id, at)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	}
	_, err = s.Get(ctx, other, keep.ID, at)
	require.NoError(t, err, "another subject's session survives")

	ids, err = s.RevokeAll(ctx, subj)
	require.NoError(t, err)
	require.Empty(t, ids)
}

func testList(t *testing.T, s rtr.Store) {
	ctx, subj, at := context.Background(), subject(t), now()
	var want []rtr.SessionRecord
	for i := range 3 {
		r := newRecord(subj, at.Add(time.Duration(i)*time.Second))
		// Expiry order differs from login order.
		r.IdleExpiresAt = at.Add(idle - time.Duration(i)*time.Minute)
		r.Meta = map[string]string{"device": string(rune('a' + i))}
		_, err := s.Create(ctx, r, 0)
		require.NoError(t, err)
		want = append(want, r)
	}
	expired := newRecord(subj, at.Add(-2*idle))
	expired.IdleExpiresAt = at.Add(time.Second)
	_, err := s.Create(ctx, expired, 0)
	require.NoError(t, err)

	list, err := s.List(ctx, subj, at.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, list, 3, "expired sessions are not listed")
	for i := range want {
		requireSameRecord(t, want[i], list[i])
	}
	requireGone(t, s, expired, at.Add(time.Second))
}

func testIdleExpiry(t *testing.T, s rtr.Store) {
	ctx, at := context.Background(), now()
	r := create(t, s, subject(t), at)
	end := r.IdleExpiresAt
	_, err := s.Get(ctx, r.Subject, r.ID, end.Add(-time.Millisecond))
	require.NoError(t, err, "live just before the idle expiry")
	requireGone(t, s, r, end)
	_, err = s.Rotate(ctx, rotateReq(r, r.Current, 1, end, grace))
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	list, err := s.List(ctx, r.Subject, end)
	require.NoError(t, err)
	require.Empty(t, list)

	// Rotation slides the idle expiry.
	r2 := create(t, s, subject(t), at)
	mid := at.Add(idle / 2)
	res, err := s.Rotate(ctx, rotateReq(r2, r2.Current, 1, mid, grace))
	require.NoError(t, err)
	_, err = s.Get(ctx, r2.Subject, r2.ID, r2.IdleExpiresAt.Add(time.Minute))
	require.NoError(t, err, "alive past the original idle expiry after a rotation")
	requireGone(t, s, res.Session, mid.Add(idle))
}

func testAbsoluteExpiry(t *testing.T, s rtr.Store) {
	ctx, at := context.Background(), now()
	r := newRecord(subject(t), at)
	r.AbsoluteExpiresAt = at.Add(3 * idle / 2)
	_, err := s.Create(ctx, r, 0)
	require.NoError(t, err)
	cur := r
	for step := time.Duration(1); step <= 2; step++ {
		res, err := s.Rotate(ctx, rotateReq(cur, cur.Current, cur.Generation, at.Add(step*idle/2), grace))
		require.NoError(t, err)
		require.Equal(t, rtr.OutcomeRotated, res.Outcome)
		cur = res.Session
	}
	_, err = s.Get(ctx, r.Subject, r.ID, r.AbsoluteExpiresAt.Add(-time.Millisecond))
	require.NoError(t, err)
	_, err = s.Rotate(ctx, rotateReq(cur, cur.Current, cur.Generation, r.AbsoluteExpiresAt, grace))
	require.ErrorIs(t, err, rtr.ErrSessionNotFound, "no rotation past the absolute expiry")
}

func testSubjectsIsolated(t *testing.T, s rtr.Store) {
	ctx, at, base := context.Background(), now(), subject(t)
	subjects := []string{base, "{" + base + "}", base + "}:s:x", base + ":i", string(make([]byte, 200)) + base, "ü" + base}
	recs := make([]rtr.SessionRecord, len(subjects))
	for i, subj := range subjects {
		recs[i] = create(t, s, subj, at)
	}
	for i, subj := range subjects {
		list, err := s.List(ctx, subj, at)
		require.NoError(t, err)
		require.Len(t, list, 1, "subject %d sees only its own session", i)
		require.Equal(t, recs[i].ID, list[0].ID)
	}
	ids, err := s.RevokeAll(ctx, subjects[0])
	require.NoError(t, err)
	require.Equal(t, []string{recs[0].ID}, ids)
	for i := 1; i < len(subjects); i++ {
		_, err := s.Get(ctx, subjects[i], recs[i].ID, at)
		require.NoError(t, err, "subject %d untouched by another's RevokeAll", i)
	}
}

func testCancelledContext(t *testing.T, s rtr.Store) {
	at := now()
	r := create(t, s, subject(t), at)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Rotate(ctx, rotateReq(r, r.Current, 1, at, grace))
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable, "a cancelled call cannot tell; it is never not-found")
	require.NotErrorIs(t, err, rtr.ErrSessionNotFound)
	_, err = s.Get(ctx, r.Subject, r.ID, at)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	_, err = s.Create(ctx, newRecord(r.Subject, at), 3)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	// Nothing happened to the session.
	got, err := s.Get(context.Background(), r.Subject, r.ID, at)
	require.NoError(t, err)
	requireSameRecord(t, r, got)
}

// testLateRotation: a rotation that reaches the store after its caller's
// deadline must not commit, or the client (who never got the new token)
// would be taken for a thief on its retry.
func testLateRotation(t *testing.T, s rtr.Store) {
	ctx, at := context.Background(), now()
	r := create(t, s, subject(t), at)
	req := rotateReq(r, r.Current, 1, at, grace)
	req.Deadline = time.Now().Add(-time.Second)
	_, err := s.Rotate(ctx, req)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	got, err := s.Get(ctx, r.Subject, r.ID, at)
	require.NoError(t, err)
	requireSameRecord(t, r, got)

	req.Deadline = time.Now().Add(time.Minute)
	res, err := s.Rotate(ctx, req)
	require.NoError(t, err, "a deadline still ahead does not get in the way")
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)
}

// testRepeatedRequest: a client library that lost the reply to a rotation
// may send the very same request again. It must get the same answer, even
// with a strict grace, not be taken for a replay.
func testRepeatedRequest(t *testing.T, s rtr.Store) {
	ctx, at := context.Background(), now()
	r := create(t, s, subject(t), at)
	req := rotateReq(r, r.Current, 1, at, 0)
	first, err := s.Rotate(ctx, req)
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, first.Outcome)
	req.Now = at.Add(time.Second)
	again, err := s.Rotate(ctx, req)
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, again.Outcome)
	requireSameRecord(t, first.Session, again.Session)
	got, err := s.Get(ctx, r.Subject, r.ID, at)
	require.NoError(t, err)
	requireSameRecord(t, first.Session, got)

	// Another request with the same spent token is still a replay.
	_, err = s.Rotate(ctx, rotateReq(r, r.Current, 1, at.Add(time.Second), 0))
	require.NoError(t, err)
	requireGone(t, s, r, at)
}

// testTokenAheadOfStore: a token newer than the store's generation means
// the store lost a rotation (failover, crash): the session ends as not
// found, not as theft.
func testTokenAheadOfStore(t *testing.T, s rtr.Store) {
	ctx, at := context.Background(), now()
	r := create(t, s, subject(t), at)
	_, err := s.Rotate(ctx, rotateReq(r, id(), 2, at, grace))
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	requireGone(t, s, r, at)
}

// testConcurrentRotation races 64 rotations of one token: exactly one may
// rotate. With a grace the others are retries that see the winner's token;
// without one they are reuse and the session ends.
func testConcurrentRotation(t *testing.T, s rtr.Store, g time.Duration) {
	const n = 64
	at := now()
	r := create(t, s, subject(t), at)
	results := make([]rtr.RotateResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.Rotate(context.Background(), rotateReq(r, r.Current, 1, at, g))
		}()
	}
	close(start)
	wg.Wait()

	var rotated, retried, reused, notFound int
	var winner string
	for i := range n {
		switch {
		case errors.Is(errs[i], rtr.ErrSessionNotFound):
			notFound++
		case errs[i] != nil:
			require.NoError(t, errs[i])
		case results[i].Outcome == rtr.OutcomeRotated:
			rotated++
			winner = results[i].Session.Current
		case results[i].Outcome == rtr.OutcomeRetried:
			retried++
		case results[i].Outcome == rtr.OutcomeReuseDetected:
			reused++
		}
	}
	require.Equal(t, 1, rotated, "exactly one rotation wins")
	if g > 0 {
		require.Equal(t, n-1, retried, "every loser is a retry")
		for i := range n {
			require.Equal(t, winner, results[i].Session.Current, "everyone converges on the winner's token")
			require.Equal(t, uint64(2), results[i].Session.Generation)
		}
		got, err := s.Get(context.Background(), r.Subject, r.ID, at)
		require.NoError(t, err)
		require.Equal(t, winner, got.Current)
		return
	}
	require.GreaterOrEqual(t, reused, 1, "a strict store treats the first loser as reuse")
	require.Equal(t, n-1, reused+notFound)
	requireGone(t, s, r, at)
}

func testInvalidRecord(t *testing.T, s rtr.Store) {
	ctx, subj, at := context.Background(), subject(t), now()
	for _, c := range []struct {
		name string
		edit func(r *rtr.SessionRecord)
	}{
		{"EmptySubject", func(r *rtr.SessionRecord) { r.Subject = "" }},
		{"EmptyID", func(r *rtr.SessionRecord) { r.ID = "" }},
		{"EmptyCurrent", func(r *rtr.SessionRecord) { r.Current = "" }},
		{"GenerationZero", func(r *rtr.SessionRecord) { r.Generation = 0 }},
		{"SubjectTooLong", func(r *rtr.SessionRecord) { r.Subject = subj + string(make([]byte, rtr.MaxSubjectLen)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRecord(subj, at)
			c.edit(&r)
			for _, max := range []int{0, 1} {
				evicted, err := s.Create(ctx, r, max)
				require.ErrorIs(t, err, rtr.ErrInvalidSessionRecord)
				require.NotErrorIs(t, err, rtr.ErrStoreUnavailable)
				require.Empty(t, evicted)
			}
			if r.Subject != "" {
				list, err := s.List(ctx, r.Subject, at)
				require.NoError(t, err)
				require.Empty(t, list, "nothing stored")
			}
		})
	}
	// An invalid record changes nothing, not even by the cap.
	keep := create(t, s, subj, at)
	bad := newRecord(subj, at)
	bad.Current = ""
	_, err := s.Create(ctx, bad, 1)
	require.ErrorIs(t, err, rtr.ErrInvalidSessionRecord)
	_, err = s.Get(ctx, subj, keep.ID, at)
	require.NoError(t, err)
}

// usedAt returns a record of subj created at created and last rotated at
// rotated.
func usedAt(subj string, created, rotated time.Time) rtr.SessionRecord {
	r := newRecord(subj, created)
	r.LastUsedAt = rotated
	return r
}

func requireListed(t *testing.T, s rtr.Store, subj string, at time.Time, want ...string) {
	t.Helper()
	list, err := s.List(context.Background(), subj, at)
	require.NoError(t, err)
	got := make([]string, len(list))
	for i, r := range list {
		got[i] = r.ID
	}
	require.ElementsMatch(t, want, got)
}

// testCapLRU: the session ended to make room is the one used least
// recently, whatever the login order, and a rotation counts as a use.
func testCapLRU(t *testing.T, s rtr.Store) {
	ctx, subj, at := context.Background(), subject(t), now()
	a := create(t, s, subj, at)
	b := create(t, s, subj, at.Add(time.Second))
	c := create(t, s, subj, at.Add(2*time.Second))
	// a, the oldest login, is used now: b becomes the least recently used.
	res, err := s.Rotate(ctx, rotateReq(a, a.Current, 1, at.Add(3*time.Second), grace))
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)

	d := newRecord(subj, at.Add(4*time.Second))
	require.Equal(t, []string{b.ID}, createCapped(t, s, d, 3))
	requireListed(t, s, subj, d.CreatedAt, a.ID, c.ID, d.ID)
	requireGone(t, s, b, d.CreatedAt)

	// Two more logins under a cap of 2 end c, then a (rotated at +3s) and
	// d (+4s), least recently used first.
	e := newRecord(subj, at.Add(5*time.Second))
	require.Equal(t, []string{c.ID, a.ID}, createCapped(t, s, e, 2))
	requireListed(t, s, subj, e.CreatedAt, d.ID, e.ID)

	// A cap of 1 keeps only the new session.
	f := newRecord(subj, at.Add(6*time.Second))
	require.Equal(t, []string{d.ID, e.ID}, createCapped(t, s, f, 1))
	requireListed(t, s, subj, f.CreatedAt, f.ID)

	// Other subjects are not counted.
	other := subject(t)
	create(t, s, other, at)
	require.Empty(t, createCapped(t, s, newRecord(subj, at.Add(7*time.Second)), 2))
}

// testCapTies: equal last use is ordered by login, then by session id.
func testCapTies(t *testing.T, s rtr.Store) {
	subj, at := subject(t), now()
	used := at.Add(time.Minute)
	late := usedAt(subj, at.Add(time.Second), used)
	early := usedAt(subj, at, used)
	x, y := usedAt(subj, at, used), usedAt(subj, at, used)
	// Byte order '0' < 'A' < 'B' < 'a': by id alone late would go first.
	late.ID, x.ID, early.ID, y.ID = "0"+late.ID[1:], "A"+x.ID[1:], "B"+early.ID[1:], "a"+y.ID[1:]
	for _, r := range []rtr.SessionRecord{late, y, early, x} {
		require.Empty(t, createCapped(t, s, r, 0))
	}
	next := newRecord(subj, used.Add(time.Second))
	evicted := createCapped(t, s, next, 2)
	require.Equal(t, []string{x.ID, early.ID, y.ID}, evicted)
	requireListed(t, s, subj, next.CreatedAt, late.ID, next.ID)
}

// testCapExactly: a login that brings the subject to exactly the cap ends
// nothing; the next one ends one.
func testCapExactly(t *testing.T, s rtr.Store) {
	subj, at := subject(t), now()
	const max = 4
	var ids []string
	for i := range max {
		r := newRecord(subj, at.Add(time.Duration(i)*time.Second))
		require.Empty(t, createCapped(t, s, r, max), "login %d of %d", i+1, max)
		ids = append(ids, r.ID)
	}
	requireListed(t, s, subj, at.Add(max*time.Second), ids...)
	r := newRecord(subj, at.Add(max*time.Second))
	require.Equal(t, []string{ids[0]}, createCapped(t, s, r, max))
	requireListed(t, s, subj, r.CreatedAt, append(ids[1:], r.ID)...)
}

// testCapExpired: expired sessions make room without being reported, and
// are not counted.
func testCapExpired(t *testing.T, s rtr.Store) {
	subj, at := subject(t), now()
	old := newRecord(subj, at.Add(-2*idle))
	old.IdleExpiresAt = at.Add(-time.Second)
	old.AbsoluteExpiresAt = at.Add(time.Hour) // the store keeps the key
	_, err := s.Create(context.Background(), old, 0)
	require.NoError(t, err)
	live := create(t, s, subj, at)
	r := newRecord(subj, at.Add(time.Second))
	require.Empty(t, createCapped(t, s, r, 2), "the expired session made room")
	requireListed(t, s, subj, r.CreatedAt, live.ID, r.ID)
	requireGone(t, s, old, r.CreatedAt)
}

// testCapShrinks: a subject that has more sessions than the cap (created
// with none) is brought back to the cap by its next capped login.
func testCapShrinks(t *testing.T, s rtr.Store) {
	subj, at := subject(t), now()
	var ids []string
	for i := range 9 {
		r := newRecord(subj, at.Add(time.Duration(i)*time.Millisecond))
		require.Empty(t, createCapped(t, s, r, 0))
		ids = append(ids, r.ID)
	}
	r := newRecord(subj, at.Add(time.Second))
	require.Equal(t, ids[:7], createCapped(t, s, r, 3))
	requireListed(t, s, subj, r.CreatedAt, ids[7], ids[8], r.ID)
}

// testCapConcurrent: concurrent logins never leave more sessions than the
// cap, and every session ended is reported exactly once.
func testCapConcurrent(t *testing.T, s rtr.Store) {
	const n, max = 48, 5
	subj, at := subject(t), now()
	recs := make([]rtr.SessionRecord, n)
	evicted := make([][]string, n)
	errs := make([]error, n)
	for i := range recs {
		recs[i] = newRecord(subj, at.Add(time.Duration(i)*time.Millisecond))
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			evicted[i], errs[i] = s.Create(context.Background(), recs[i], max)
		}()
	}
	close(start)
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		require.NoError(t, errs[i])
		for _, id := range evicted[i] {
			require.False(t, seen[id], "session %s ended twice", id)
			seen[id] = true
		}
	}
	list, err := s.List(context.Background(), subj, at.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, list, max)
	require.Len(t, seen, n-max, "every session ended is reported")
	for _, r := range list {
		require.False(t, seen[r.ID], "a reported session is still listed")
	}
}
