package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/pgstore"
)

// storePair returns two stores on one schema (one table prefix) through
// two separate pools: two processes on one database.
func storePair(t *testing.T) (a, b *pgstore.Store) {
	t.Helper()
	prefix := randomPrefix()
	a, err := pgstore.New(newPool(t, nil), pgstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	require.NoError(t, a.EnsureSchema(context.Background()))
	t.Cleanup(func() { dropSchema(t, prefix) })
	b, err = pgstore.New(newPool(t, nil), pgstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	require.NoError(t, b.EnsureSchema(context.Background()))
	return a, b
}

// revIssuer is an issuer with InstantRevocation on s, closed at the end
// of t.
func revIssuer(t *testing.T, s *pgstore.Store) *rtr.Issuer {
	t.Helper()
	return issuertest.NewFollowing(t, rtr.Config{Store: s, Secret: secret, InstantRevocation: true})
}

// TestPostgresInstantRevocation: two issuers on two pools (two processes)
// on one database; what one ends, the other's verifier refuses.
func TestPostgresInstantRevocation(t *testing.T) {
	ctx := context.Background()
	s1, s2 := storePair(t)
	a, b := revIssuer(t, s1), revIssuer(t, s2)

	t.Run("Revoke", func(t *testing.T) {
		ps := issuertest.IssueMany(t, a, "alice-"+id(), 2)
		_, err := b.Verifier().Verify(ctx, ps[0].AccessToken)
		require.NoError(t, err)
		require.NoError(t, a.Revoke(ctx, ps[0].RefreshToken))
		_, err = a.Verifier().Verify(ctx, ps[0].AccessToken)
		require.ErrorIs(t, err, rtr.ErrTokenRevoked, "the revoking process refuses at once")
		issuertest.WaitRevoked(t, b.Verifier(), ps[0].AccessToken)
		_, err = b.Verifier().Verify(ctx, ps[1].AccessToken)
		require.NoError(t, err, "another session of the same subject is untouched")
	})
	t.Run("RevokeAll", func(t *testing.T) {
		bob := "bob-" + id()
		pairs := issuertest.IssueMany(t, b, bob, 50)
		carol := issuertest.IssueMany(t, b, "carol-"+id(), 1)[0]
		require.NoError(t, a.RevokeAll(ctx, bob))
		for _, p := range pairs {
			issuertest.WaitRevoked(t, b.Verifier(), p.AccessToken)
		}
		_, err := b.Verifier().Verify(ctx, carol.AccessToken)
		require.NoError(t, err)
	})
	t.Run("ReuseDetection", func(t *testing.T) {
		stolen := issuertest.IssueMany(t, a, "dave-"+id(), 1)[0]
		victim, err := a.Refresh(ctx, stolen.RefreshToken)
		require.NoError(t, err)
		thief, err := b.Refresh(ctx, victim.RefreshToken)
		require.NoError(t, err)
		_, err = a.Refresh(ctx, victim.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrTokenReused)
		issuertest.WaitRevoked(t, b.Verifier(), thief.AccessToken)
		issuertest.WaitRevoked(t, a.Verifier(), thief.AccessToken)
	})
	t.Run("VerifierStartedAfter", func(t *testing.T) {
		p := issuertest.IssueMany(t, a, "erin-"+id(), 1)[0]
		require.NoError(t, a.Revoke(ctx, p.RefreshToken))
		c := revIssuer(t, s2)
		_, err := c.Verifier().Verify(ctx, p.AccessToken)
		require.ErrorIs(t, err, rtr.ErrTokenRevoked, "caught up before FeedUp")
	})
}

// TestPostgresFeedPayloadChunks: a batch far larger than one NOTIFY
// payload, with the longest subjects, reaches a follower by push, and a
// duplicate in the batch keeps the later Until.
func TestPostgresFeedPayloadChunks(t *testing.T) {
	ctx := context.Background()
	s1, s2 := storePair(t)
	b := revIssuer(t, s2)
	subj := strings.Repeat("\xff", rtr.MaxSubjectLen) // not text: subjects are bytes
	now := time.Now()
	revs := make([]rtr.Revocation, 300)
	for i := range revs {
		revs[i] = rtr.Revocation{Subject: subj, SessionID: id(), Until: now.Add(time.Hour)}
	}
	revs = append(revs, rtr.Revocation{Subject: subj, SessionID: revs[0].SessionID, Until: now.Add(time.Minute)})
	require.NoError(t, s1.PublishRevocations(ctx, now, revs))
	require.Eventually(t, func() bool { return b.Verifier().RevocationStatus().Entries >= 300 }, 15*time.Second, 5*time.Millisecond)
	require.True(t, b.Verifier().RevocationStatus().InSync, "no malformed push")

	err := s1.PublishRevocations(ctx, now, []rtr.Revocation{{Subject: "", SessionID: id(), Until: now.Add(time.Hour)}})
	require.Error(t, err)
	require.NotErrorIs(t, err, rtr.ErrStoreUnavailable)
}

// TestPostgresFeedExpiredRowsDeleted: each publish deletes expired rows
// (a bounded batch), never the ones it is recording.
func TestPostgresFeedExpiredRowsDeleted(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	s := newStore(t, pool)
	table := tableOf(t, pool, s)
	t0 := time.Now()
	subj := "exp-" + id()
	var old []rtr.Revocation
	for range 150 {
		old = append(old, rtr.Revocation{Subject: subj, SessionID: id(), Until: t0.Add(time.Second)})
	}
	require.NoError(t, s.PublishRevocations(ctx, t0, old))
	rows := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+table+`revocations`).Scan(&n))
		return n
	}
	require.Equal(t, 150, rows())
	// Later: old[0] is published again (revoked anew) while expired.
	later := t0.Add(time.Minute)
	again := rtr.Revocation{Subject: subj, SessionID: old[0].SessionID, Until: later.Add(time.Hour)}
	require.NoError(t, s.PublishRevocations(ctx, later, []rtr.Revocation{again}))
	require.Equal(t, 150-100, rows(), "a bounded batch of expired rows deleted; the republished one kept")
	require.NoError(t, s.PublishRevocations(ctx, later, []rtr.Revocation{{Subject: subj, SessionID: id(), Until: later.Add(time.Hour)}}))
	require.Equal(t, 2, rows())
	var until time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT until FROM `+table+`revocations WHERE id = $1`, again.SessionID).Scan(&until))
	require.True(t, until.Equal(again.Until.Truncate(time.Microsecond)))
}

// TestPostgresSchemaUpgrade: a database at version 1 (before the feed) is
// brought to the current version, its sessions kept.
func TestPostgresSchemaUpgrade(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	prefix := randomPrefix()
	s, err := pgstore.New(pool, pgstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	t.Cleanup(func() { dropSchema(t, prefix) })
	v1 := s.SchemaSQL(0)
	v1 = v1[:strings.Index(v1, "-- rtr pgstore schema step 2")]
	_, err = pool.Exec(ctx, v1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE TABLE public.`+prefix+`schema_version (version int NOT NULL); INSERT INTO public.`+prefix+`schema_version VALUES (1)`)
	require.NoError(t, err)
	r := record("upgrade-"+id(), time.Now())
	_, err = s.Create(ctx, r, 0)
	require.NoError(t, err)
	require.Error(t, s.PublishRevocations(ctx, time.Now(), []rtr.Revocation{{Subject: r.Subject, SessionID: r.ID, Until: time.Now().Add(time.Hour)}}))

	require.NoError(t, s.EnsureSchema(ctx))
	var v int
	require.NoError(t, pool.QueryRow(ctx, `SELECT version FROM public.`+prefix+`schema_version`).Scan(&v))
	require.Equal(t, pgstore.SchemaVersion, v)
	_, err = s.Get(ctx, r.Subject, r.ID, time.Now())
	require.NoError(t, err, "sessions survive the upgrade")
	require.NoError(t, s.PublishRevocations(ctx, time.Now(), []rtr.Revocation{{Subject: r.Subject, SessionID: r.ID, Until: time.Now().Add(time.Hour)}}))
}

// TestFaultPostgresFeedBackendKilled: the follower's backend is killed
// with pg_terminate_backend, again and again, while revocations happen.
// Once the kills stop, the follower has caught up: none missed, none
// invented, and pushes flow again.
func TestFaultPostgresFeedBackendKilled(t *testing.T) {
	ctx := context.Background()
	s1, s2 := storePair(t)
	admin := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 2 })
	a, b := revIssuer(t, s1), revIssuer(t, s2)
	before := issuertest.IssueMany(t, a, "kb-"+id(), 3)
	require.NoError(t, a.Revoke(ctx, before[0].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), before[0].AccessToken)

	var kills, seenDown atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var killErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			var n int64
			err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1`, pgstore.FeedApplicationName).Scan(&n)
			if err != nil {
				killErr = err
				return
			}
			kills.Add(n)
			if !b.Verifier().RevocationStatus().InSync {
				seenDown.Add(1)
			}
		}
	})
	subj := "kd-" + id()
	during := issuertest.IssueMany(t, a, subj, 40)
	for _, p := range during[:20] {
		require.NoError(t, a.Revoke(ctx, p.RefreshToken))
		time.Sleep(20 * time.Millisecond) // spread over several kills and reconnects
	}
	require.Eventually(t, func() bool { return kills.Load() >= 4 }, 15*time.Second, 5*time.Millisecond, "the feed's backend was never killed")
	close(stop)
	wg.Wait()
	require.NoError(t, killErr)
	require.NotZero(t, seenDown.Load(), "the follower never reported the loss")
	issuertest.WaitFeedInSync(t, b.Verifier())
	for _, p := range slices.Concat(during[:20], before[:1]) {
		_, err := b.Verifier().Verify(ctx, p.AccessToken)
		require.ErrorIs(t, err, rtr.ErrTokenRevoked, "missed while the backend was gone, caught up after")
	}
	for _, p := range slices.Concat(during[20:], before[1:]) {
		_, err := b.Verifier().Verify(ctx, p.AccessToken)
		require.NoError(t, err)
	}
	require.NoError(t, a.Revoke(ctx, during[20].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), during[20].AccessToken)
	t.Logf("feed backends killed: %d", kills.Load())
}

// TestFaultPostgresFeedRestart: the server restarts (RTR_POSTGRES_RESTART)
// with revocations made before, during and after. The record is a table,
// so it survives: the follower reconnects and catches up, pushes flow
// again, and a verifier started afterwards learns every revocation still
// in force.
func TestFaultPostgresFeedRestart(t *testing.T) {
	restart := os.Getenv("RTR_POSTGRES_RESTART")
	if restart == "" {
		t.Skip("RTR_POSTGRES_RESTART not set: PostgreSQL restart fault test skipped")
	}
	ctx := context.Background()
	s1, s2 := storePair(t)
	a, b := revIssuer(t, s1), revIssuer(t, s2)
	subj := "rs-" + id()
	ps := issuertest.IssueMany(t, a, subj, 12)
	require.NoError(t, a.Revoke(ctx, ps[0].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), ps[0].AccessToken)

	done := make(chan error, 1)
	go func() {
		out, err := exec.Command("sh", "-c", restart).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("restart: %w: %s", err, out)
		}
		done <- err
	}()
	// Revocations while the server goes down and comes back: some fail as
	// unavailable (and are repeated), none is lost once they succeed.
	for _, p := range ps[1:6] {
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := a.Revoke(ctx, p.RefreshToken)
			if err == nil {
				break
			}
			require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
			require.True(t, time.Now().Before(deadline), "no revoke succeeded after the restart: %v", err)
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.NoError(t, <-done)
	issuertest.WaitFeedInSync(t, b.Verifier())
	for _, p := range ps[:6] {
		issuertest.WaitRevoked(t, b.Verifier(), p.AccessToken)
	}
	require.NoError(t, a.Revoke(ctx, ps[6].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), ps[6].AccessToken)
	c := revIssuer(t, s2)
	for _, p := range ps[:7] {
		_, err := c.Verifier().Verify(ctx, p.AccessToken)
		require.ErrorIs(t, err, rtr.ErrTokenRevoked, "the record survived the restart")
	}
	for _, p := range ps[7:] {
		_, err := b.Verifier().Verify(ctx, p.AccessToken)
		require.NoError(t, err)
	}
}
