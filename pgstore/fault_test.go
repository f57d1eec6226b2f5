package pgstore_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// Fault tests. They need RTR_POSTGRES_URL; the restart test also needs
// RTR_POSTGRES_RESTART, a shell command that restarts that server (the CI
// step sets it to a pg_ctl restart of its throwaway cluster).

// TestFaultPostgresBackendKilled: the backend running a rotation is killed
// with pg_terminate_backend while the rotation waits on the session's row
// lock. The store repeats the call on a fresh connection: exactly one
// rotation, and the client's token works.
func TestFaultPostgresBackendKilled(t *testing.T) {
	ctx, pool := context.Background(), newPool(t, nil)
	admin := newPool(t, nil)
	s := newStore(t, pool)
	table := tableOf(t, pool, s)
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		r := record("kill-"+id(), time.Now())
		_, err := s.Create(ctx, r, 0)
		require.NoError(t, err)

		tx, err := admin.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `SELECT 1 FROM `+table+`sessions WHERE subject = $1 FOR UPDATE`, r.Subject)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }() // on failure; a no-op after the Rollback below

		req := rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1, NewJTI: id(),
			Now: time.Now(), IdleTTL: time.Hour, Grace: grace, Deadline: time.Now().Add(30 * time.Second)}
		ch := rotateAsync(ctx, s, req)
		// Wait for the rotation's backend to block on the lock, then kill it.
		var killed bool
		for deadline := time.Now().Add(20 * time.Second); !killed && time.Now().Before(deadline); {
			err := admin.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%SET prev = s.cur, cur = $5::text%' AND pid <> pg_backend_pid()`).Scan(&killed)
			require.NoError(t, err)
			if !killed {
				time.Sleep(10 * time.Millisecond)
			}
		}
		require.True(t, killed, "the rotation never waited on the lock")
		time.Sleep(50 * time.Millisecond) // let the retry queue up behind the lock
		require.NoError(t, tx.Rollback(ctx))

		a := <-ch
		require.NoError(t, a.err)
		require.Equal(t, rtr.OutcomeRotated, a.res.Outcome)
		require.Equal(t, req.NewJTI, a.res.Session.Current)
		got, err := s.Get(ctx, r.Subject, r.ID, time.Now())
		require.NoError(t, err)
		require.Equal(t, uint64(2), got.Generation, "exactly one rotation")
		require.Equal(t, req.NewJTI, got.Current)
	}
}

// TestFaultPostgresPoolExhausted: with every connection held, calls fail
// as unavailable when their context ends, never as not-found, and nothing
// changes; once a connection is free, the session rotates.
func TestFaultPostgresPoolExhausted(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 2 })
	s := newStore(t, pool)
	c := testkit.NewClock(time.Now())
	iss, err := rtr.NewIssuer(rtr.Config{Store: s, Secret: secret, Now: c.Now})
	require.NoError(t, err)
	p, err := iss.Issue(ctx, "pool-"+id())
	require.NoError(t, err)

	var held []*pgxpool.Conn
	for range 2 {
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		held = append(held, conn)
	}
	// While the pool is exhausted, each call waits as long as its context
	// allows and is then unavailable, never "not found".
	short := func() context.Context {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		t.Cleanup(cancel)
		return sctx
	}
	_, err = iss.Refresh(short(), p.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	require.NotErrorIs(t, err, rtr.ErrSessionNotFound)
	_, err = iss.Issue(short(), "pool-"+id())
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	_, err = iss.Sessions(short(), "pool-"+id())
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	for _, conn := range held {
		conn.Release()
	}
	_, err = iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err, "the session survived the outage")
}

// TestFaultPostgresRestart: clients refresh in a loop while the server is
// restarted. Calls during the outage are unavailable (the client keeps its
// token and tries again); afterwards every client goes on. Nothing is lost
// and nobody is taken for a thief.
func TestFaultPostgresRestart(t *testing.T) {
	restart := os.Getenv("RTR_POSTGRES_RESTART")
	if restart == "" {
		t.Skip("RTR_POSTGRES_RESTART not set: PostgreSQL restart fault test skipped")
	}
	ctx := context.Background()
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 4 })
	s := newStore(t, pool)
	var reuse atomic.Int64
	iss, err := rtr.NewIssuer(rtr.Config{Store: s, Secret: secret, ReuseGrace: time.Minute,
		StoreTimeout: 2 * time.Second,
		OnEvent: func(_ context.Context, e rtr.Event) {
			if e.Type == rtr.EventReuseDetected {
				reuse.Add(1)
			}
		}})
	require.NoError(t, err)

	const clients = 8
	var restarted atomic.Bool
	var unavailable, after atomic.Int64
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		p, err := iss.Issue(ctx, "restart-"+id())
		require.NoError(t, err)
		wg.Go(func() {
			tok := p.RefreshToken
			deadline := time.Now().Add(60 * time.Second)
			for okAfter := 0; okAfter < 20; {
				if time.Now().After(deadline) {
					errs[i] = errors.New("no progress after the restart")
					return
				}
				np, err := iss.Refresh(ctx, tok)
				switch {
				case err == nil:
					tok = np.RefreshToken
					if restarted.Load() {
						okAfter++
						after.Add(1)
					}
				case errors.Is(err, rtr.ErrStoreUnavailable):
					unavailable.Add(1)
					time.Sleep(50 * time.Millisecond)
				default:
					errs[i] = err
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	out, err := exec.Command("sh", "-c", restart).CombinedOutput()
	require.NoError(t, err, "restart: %s", out)
	restarted.Store(true)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "client %d", i)
	}
	require.Zero(t, reuse.Load(), "no false theft")
	t.Logf("refreshes refused as unavailable during the restart: %d; after it: %d ok", unavailable.Load(), after.Load())
}
