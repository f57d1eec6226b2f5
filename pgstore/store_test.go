package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/pgstore"
	"github.com/rtr-go/rtr/storetest"
)

func TestPostgresStoreConformance(t *testing.T) {
	s := newStore(t, nil)
	storetest.Run(t, func(t *testing.T) rtr.Store { return s })
}

func TestNewRefusesBadNames(t *testing.T) {
	for _, opt := range []pgstore.Option{
		pgstore.WithTablePrefix(`x"; DROP TABLE y; --`),
		pgstore.WithTablePrefix(""),
		pgstore.WithTablePrefix(strings.Repeat("a", 41)),
		pgstore.WithSchema("Public"),
		pgstore.WithSweep(-1),
	} {
		_, err := pgstore.New(&pgxpool.Pool{}, opt)
		require.Error(t, err)
	}
	_, err := pgstore.New(nil)
	require.Error(t, err)
}

func TestPostgresSchema(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, nil)
	s := newStore(t, pool)
	// Idempotent, also when several processes start at once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.EnsureSchema(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Contains(t, s.SchemaSQL(0), "CREATE TABLE IF NOT EXISTS")
	require.Empty(t, s.SchemaSQL(pgstore.SchemaVersion))

	// A database newer than the code is refused and left alone.
	st2 := newStore(t, pool, pgstore.WithSweep(0))
	table := tableOf(t, pool, st2)
	_, err := pool.Exec(ctx, `UPDATE `+table+`schema_version SET version = 99`)
	require.NoError(t, err)
	err = st2.EnsureSchema(ctx)
	require.ErrorContains(t, err, "newer")
}

// tableOf finds the table-name prefix of s by writing a session with a
// unique subject and looking for it.
func tableOf(t testing.TB, pool *pgxpool.Pool, s *pgstore.Store) string {
	t.Helper()
	ctx, subj := context.Background(), "probe-"+id()
	_, err := s.Create(ctx, record(subj, time.Now()), 0)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't%\_sessions'`)
	require.NoError(t, err)
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	for _, n := range names {
		var found bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.`+n+` WHERE subject = $1)`, subj).Scan(&found))
		if found {
			return "public." + strings.TrimSuffix(n, "sessions")
		}
	}
	t.Fatal("store table not found")
	return ""
}

func TestPostgresInvalidRecords(t *testing.T) {
	s := newStore(t, nil)
	at := time.Now()
	for name, mod := range map[string]func(*rtr.SessionRecord){
		"EmptySubject":   func(r *rtr.SessionRecord) { r.Subject = "" },
		"LongSubject":    func(r *rtr.SessionRecord) { r.Subject = strings.Repeat("s", rtr.MaxSubjectLen+1) },
		"EmptyID":        func(r *rtr.SessionRecord) { r.ID = "" },
		"EmptyCurrent":   func(r *rtr.SessionRecord) { r.Current = "" },
		"GenerationZero": func(r *rtr.SessionRecord) { r.Generation = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			r := record("invalid-"+id(), at)
			mod(&r)
			_, err := s.Create(context.Background(), r, 0)
			require.Error(t, err)
			require.NotErrorIs(t, err, rtr.ErrStoreUnavailable)
			require.ErrorIs(t, err, rtr.ErrInvalidSessionRecord)
		})
	}
}

func TestPostgresSessionCap(t *testing.T) {
	ctx, s, subj, at := context.Background(), newStore(t, nil), "cap-"+id(), time.Now().Truncate(time.Millisecond)
	var recs []rtr.SessionRecord
	for i := range 3 {
		r := record(subj, at.Add(time.Duration(i)*time.Second))
		ev, err := s.Create(ctx, r, 3)
		require.NoError(t, err)
		require.Empty(t, ev)
		recs = append(recs, r)
	}
	// Using the oldest login makes the second the least recently used.
	_, err := s.Rotate(ctx, rtr.RotateRequest{Subject: subj, SessionID: recs[0].ID, JTI: recs[0].Current, Generation: 1,
		NewJTI: id(), Now: at.Add(10 * time.Second), IdleTTL: time.Hour})
	require.NoError(t, err)

	// An expired session is removed on the way and not reported.
	dead := record(subj, at.Add(-2*time.Hour))
	dead.IdleExpiresAt = at.Add(5 * time.Second)
	_, err = s.Create(ctx, dead, 0)
	require.NoError(t, err)

	r4 := record(subj, at.Add(20*time.Second))
	ev, err := s.Create(ctx, r4, 3)
	require.NoError(t, err)
	require.Equal(t, []string{recs[1].ID}, ev)
	list, err := s.List(ctx, subj, at.Add(20*time.Second))
	require.NoError(t, err)
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	require.Equal(t, []string{recs[0].ID, recs[2].ID, r4.ID}, ids)

	// A cap of one leaves only the new session; ties of LastUsedAt go by
	// CreatedAt then ID.
	r5 := record(subj, at.Add(30*time.Second))
	ev, err = s.Create(ctx, r5, 1)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{recs[0].ID, recs[2].ID, r4.ID}, ev)
	// No limit.
	for range 5 {
		ev, err = s.Create(ctx, record(subj, at.Add(40*time.Second)), 0)
		require.NoError(t, err)
		require.Empty(t, ev)
	}
	list, err = s.List(ctx, subj, at.Add(40*time.Second))
	require.NoError(t, err)
	require.Len(t, list, 6)
}

// TestPostgresSessionCapConcurrent: logins racing on one subject never go
// past the cap, and every session that is gone was reported once.
func TestPostgresSessionCapConcurrent(t *testing.T) {
	ctx, s, subj, at := context.Background(), newStore(t, nil), "capc-"+id(), time.Now()
	const n, limit = 32, 5
	var mu sync.Mutex
	created, evicted := map[string]bool{}, map[string]int{}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r := record(subj, at.Add(time.Duration(i)*time.Millisecond))
			ev, err := s.Create(ctx, r, limit)
			errs[i] = err
			mu.Lock()
			defer mu.Unlock()
			created[r.ID] = true
			for _, e := range ev {
				evicted[e]++
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	list, err := s.List(ctx, subj, at)
	require.NoError(t, err)
	require.Len(t, list, limit)
	require.Len(t, evicted, n-limit)
	for id, c := range evicted {
		require.Equal(t, 1, c)
		require.True(t, created[id])
	}
}

func TestPostgresCleanup(t *testing.T) {
	ctx, s, at := context.Background(), newStore(t, nil, pgstore.WithSweep(0)), time.Now()
	live := record("live-"+id(), at)
	_, err := s.Create(ctx, live, 0)
	require.NoError(t, err)
	for i := range 5 {
		r := record("dead-"+id(), at)
		r.IdleExpiresAt = at.Add(time.Duration(i+1) * time.Minute)
		_, err := s.Create(ctx, r, 0)
		require.NoError(t, err)
	}
	later := at.Add(10 * time.Minute)
	n, err := s.Cleanup(ctx, later, 3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = s.Cleanup(ctx, later, 3)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = s.Cleanup(ctx, later, 3)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = s.Get(ctx, live.Subject, live.ID, later)
	require.NoError(t, err)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Cleanup(cctx, later, 3)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
}

// TestPostgresSweepOnCreate: logins delete a bounded number of other
// subjects' expired sessions.
func TestPostgresSweepOnCreate(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	s := newStore(t, pool, pgstore.WithSweep(2))
	at := time.Now()
	for range 3 {
		r := record("old-"+id(), at)
		r.IdleExpiresAt = at.Add(time.Minute)
		_, err := s.Create(ctx, r, 0)
		require.NoError(t, err)
	}
	later := at.Add(time.Hour / 2)
	_, err := s.Create(ctx, record("new-"+id(), later), 0)
	require.NoError(t, err)
	n, err := s.Cleanup(ctx, later, 10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the login swept two of the three")
}

// TestPostgresStoresNoToken: a dump of the table holds ids, never a token.
func TestPostgresStoresNoToken(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	s := newStore(t, pool, pgstore.WithSweep(0))
	iss, err := rtr.NewIssuer(rtr.Config{Store: s, Secret: secret})
	require.NoError(t, err)
	p, err := iss.Issue(ctx, "dump-"+id())
	require.NoError(t, err)
	p2, err := iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)
	table := tableOf(t, pool, s)
	var dump string
	require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(row_to_json(s)::text, ',') FROM `+table+`sessions s`).Scan(&dump))
	for _, tok := range []string{p.RefreshToken, p.AccessToken, p2.RefreshToken, p2.AccessToken} {
		require.NotContains(t, dump, tok)
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		require.NotContains(t, dump, sig)
	}
	require.Contains(t, dump, p.SessionID)
}

// Issuer-level policy on a real PostgreSQL.

func newIssuer(t *testing.T, s *pgstore.Store, grace time.Duration, c *testkit.Clock, events *[]rtr.Event, mu *sync.Mutex) *rtr.Issuer {
	t.Helper()
	cfg := rtr.Config{Store: s, Secret: secret, ReuseGrace: grace}
	if c != nil {
		cfg.Now = c.Now
	}
	if events != nil {
		cfg.OnEvent = func(_ context.Context, e rtr.Event) {
			mu.Lock()
			defer mu.Unlock()
			*events = append(*events, e)
		}
	}
	iss, err := rtr.NewIssuer(cfg)
	require.NoError(t, err)
	return iss
}

func count(events []rtr.Event, typ rtr.EventType) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestPostgresIssuerConcurrentRefresh(t *testing.T) {
	s := newStore(t, newPool(t, func(c *pgxpool.Config) { c.MaxConns = 8 }))
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"Grace", 30 * time.Second}, {"Strict", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var mu sync.Mutex
			var events []rtr.Event
			iss := newIssuer(t, s, tc.grace, nil, &events, &mu)
			p, err := iss.Issue(ctx, "conc-"+id())
			require.NoError(t, err)
			const n = 64
			pairs, errs := make([]rtr.Pair, n), make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					pairs[i], errs[i] = iss.Refresh(ctx, p.RefreshToken)
				})
			}
			close(start)
			wg.Wait()
			var ok, reused, gone int
			for i := range n {
				switch {
				case errs[i] == nil:
					ok++
				case errors.Is(errs[i], rtr.ErrTokenReused):
					reused++
				case errors.Is(errs[i], rtr.ErrSessionNotFound):
					gone++
				default:
					require.NoError(t, errs[i])
				}
			}
			mu.Lock()
			rotated, retried, theft := count(events, rtr.EventRotated), count(events, rtr.EventRetried), count(events, rtr.EventReuseDetected)
			mu.Unlock()
			require.Equal(t, 1, rotated, "exactly one rotation")
			if tc.grace > 0 {
				require.Equal(t, n, ok)
				require.Equal(t, n-1, retried)
				require.Zero(t, theft)
				// Everyone holds the one current token: it rotates.
				_, err := iss.Refresh(ctx, pairs[n-1].RefreshToken)
				require.NoError(t, err)
				return
			}
			require.Equal(t, 1, ok)
			require.GreaterOrEqual(t, reused, 1)
			require.Equal(t, n-1, reused+gone)
		})
	}
}

func TestPostgresIssuerGraceReuseExpiry(t *testing.T) {
	ctx, s := context.Background(), newStore(t, nil)
	c := testkit.NewClock(time.Now())
	var mu sync.Mutex
	var events []rtr.Event
	iss := newIssuer(t, s, 10*time.Second, c, &events, &mu)

	p1, err := iss.Issue(ctx, "policy-"+id())
	require.NoError(t, err)
	c.Advance(time.Minute)
	p2, err := iss.Refresh(ctx, p1.RefreshToken)
	require.NoError(t, err)

	// Within the grace: the same generation again.
	c.Advance(5 * time.Second)
	p2b, err := iss.Refresh(ctx, p1.RefreshToken)
	require.NoError(t, err)
	require.Equal(t, p2.SessionID, p2b.SessionID)
	claims2, err := iss.Verifier().Verify(ctx, p2.AccessToken)
	require.NoError(t, err)
	require.Equal(t, p1.SessionID, claims2.SessionID)

	// After the grace: theft; the whole session ends.
	c.Advance(10 * time.Second)
	_, err = iss.Refresh(ctx, p1.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrTokenReused)
	_, err = iss.Refresh(ctx, p2.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	mu.Lock()
	require.Equal(t, 1, count(events, rtr.EventReuseDetected))
	mu.Unlock()

	// Expiry by the injected clock: idle lifetime past, the session is gone.
	p3, err := iss.Issue(ctx, "expiry-"+id())
	require.NoError(t, err)
	c.Advance(rtr.DefaultRefreshTTL + time.Second)
	_, err = iss.Refresh(ctx, p3.RefreshToken)
	require.True(t, errors.Is(err, rtr.ErrTokenExpired) || errors.Is(err, rtr.ErrSessionNotFound), "got %v", err)
	list, err := iss.Sessions(ctx, "expiry-"+id())
	require.NoError(t, err)
	require.Empty(t, list)
}

// TestPostgresCancelledNeverNotFound: a context that ends while the call
// waits on the session's row lock is "unavailable", and nothing changed.
func TestPostgresCancelledNeverNotFound(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	s := newStore(t, pool)
	table := tableOf(t, pool, s)
	r := record("lock-"+id(), time.Now())
	_, err := s.Create(ctx, r, 0)
	require.NoError(t, err)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM `+table+`sessions WHERE subject = $1 FOR UPDATE`, r.Subject)
	require.NoError(t, err)
	var done atomic.Bool
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req := rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1, NewJTI: id(),
		Now: time.Now(), IdleTTL: time.Hour}
	if dl, ok := tctx.Deadline(); ok {
		req.Deadline = dl
	}
	_, err = s.Rotate(tctx, req)
	done.Store(true)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	require.NotErrorIs(t, err, rtr.ErrSessionNotFound)
	require.NoError(t, tx.Rollback(ctx))

	got, err := s.Get(ctx, r.Subject, r.ID, time.Now())
	require.NoError(t, err)
	require.Equal(t, uint64(1), got.Generation, "the late rotation committed nothing")
	require.Equal(t, r.Current, got.Current)
}

// TestPostgresStrictNeverShares: without a grace, the predecessor is
// reuse even when the request's clock reading is older than the rotation
// (two racing requests whose clocks were read in the other order).
func TestPostgresStrictNeverShares(t *testing.T) {
	ctx, s, at := context.Background(), newStore(t, nil), time.Now()
	r := record("strict-"+id(), at)
	_, err := s.Create(ctx, r, 0)
	require.NoError(t, err)
	req := rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1, NewJTI: id(),
		Now: at.Add(time.Second), IdleTTL: time.Hour}
	res, err := s.Rotate(ctx, req)
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeRotated, res.Outcome)
	req.NewJTI, req.Now = id(), at
	res, err = s.Rotate(ctx, req)
	require.NoError(t, err)
	require.Equal(t, rtr.OutcomeReuseDetected, res.Outcome)
}

// TestPostgresLateAfterLockWait: a rotation of the current token, or a
// replay of its predecessor, that waited on the session's row lock past
// its deadline (its context still alive) fails as unavailable and changes
// nothing; within its deadline, after the same wait, it rotates or ends
// the session as reuse.
func TestPostgresLateAfterLockWait(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	s := newStore(t, pool)
	table := tableOf(t, pool, s)
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		late     bool
		reuse    bool // present the predecessor, without a grace: reuse if in time
	}{
		{"Late", 150 * time.Millisecond, true, false}, {"InTime", 30 * time.Second, false, false},
		{"LateReuse", 150 * time.Millisecond, true, true}, {"InTimeReuse", 30 * time.Second, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := record("wait-"+id(), time.Now())
			_, err := s.Create(ctx, r, 0)
			require.NoError(t, err)
			jti, gen := r.Current, uint64(1)
			if tc.reuse {
				_, err := s.Rotate(ctx, rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1,
					NewJTI: id(), Now: time.Now(), IdleTTL: time.Hour})
				require.NoError(t, err)
			}
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, `SELECT 1 FROM `+table+`sessions WHERE subject = $1 FOR UPDATE`, r.Subject)
			require.NoError(t, err)
			req := rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: jti, Generation: gen, NewJTI: id(),
				Now: time.Now(), IdleTTL: time.Hour, Deadline: time.Now().Add(tc.deadline)}
			ch := rotateAsync(ctx, s, req)
			time.Sleep(300 * time.Millisecond) // past the short deadline, while the lock is held
			require.NoError(t, tx.Rollback(ctx))
			a := <-ch
			got, gerr := s.Get(ctx, r.Subject, r.ID, time.Now())
			switch {
			case tc.late:
				require.ErrorIs(t, a.err, rtr.ErrStoreUnavailable)
				require.ErrorContains(t, a.err, "after the caller's deadline")
				require.NoError(t, gerr, "the late call deleted nothing")
				want := uint64(1)
				if tc.reuse {
					want = 2
				}
				require.Equal(t, want, got.Generation, "the late call changed nothing")
			case tc.reuse:
				require.NoError(t, a.err)
				require.Equal(t, rtr.OutcomeReuseDetected, a.res.Outcome)
				require.ErrorIs(t, gerr, rtr.ErrSessionNotFound, "reuse ends the session")
			default:
				require.NoError(t, a.err)
				require.NoError(t, gerr)
				require.Equal(t, uint64(2), got.Generation)
			}
		})
	}
}
