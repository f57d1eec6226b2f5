package faults_test

// Fault tests at the Issuer level against a real redis-server process
// owned by the test (see helpers_test.go; run with RTR_FAULTS=1),
// numbered as cases below: 1 the server killed while refreshes flow, 2 a
// lost reply, 3 a slow or hung server, 4 a flushed script cache, 5 a
// restart without persistence. The point of each: a fault is
// ErrStoreUnavailable ("cannot tell now"), never a logout or a false theft
// alarm. The HTTP side of cases 1, 3 and 5 is in http_test.go.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/faultproxy"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/internal/testredis"
)

// classify classifies the result of a call for the assertions.
func classify(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, rtr.ErrStoreUnavailable):
		return "unavailable"
	case errors.Is(err, rtr.ErrTokenReused):
		return "reused"
	case errors.Is(err, rtr.ErrSessionNotFound):
		return "not-found"
	case errors.Is(err, rtr.ErrTokenExpired):
		return "expired"
	case errors.Is(err, rtr.ErrInvalidToken):
		return "invalid"
	}
	return "other: " + err.Error()
}

// Case 1: the server is killed while refreshes flow. Every refresh started
// during the outage fails with ErrStoreUnavailable within its context
// deadline; access tokens keep verifying (no store I/O); when the server is
// back (same data: it runs with appendfsync always) rotation works again
// on the same Issuer and client, and no session is lost or forked.
func TestFaultStoreDownWhileRequestsFlow(t *testing.T) {
	bin := requireFaults(t)
	srv := startRedis(t, bin, "--appendonly", "yes", "--appendfsync", "always")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	store := rtr.NewRedisStore(client)
	events := &issuertest.EventLog{}
	// A grace longer than the outage: a rotation the server committed just
	// before the crash, whose reply was lost, converges on the retry.
	iss := newIssuer(t, store, time.Minute, nil, events)
	ctx := context.Background()

	const devices = 8
	const deadline = time.Second
	type device struct {
		subject string
		pair    rtr.Pair
	}
	devs := make([]*device, devices)
	for i := range devs {
		subj := fmt.Sprintf("user-%d", i%2)
		p, err := iss.Issue(ctx, subj)
		require.NoError(t, err)
		devs[i] = &device{subject: subj, pair: p}
	}

	type result struct {
		dev          int
		start, end   time.Time
		outcome      string
		verifyFailed bool
	}
	var (
		mu      sync.Mutex
		results []result
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				_, verr := iss.Verifier().Verify(ctx, d.pair.AccessToken)
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				p, err := iss.Refresh(cctx, d.pair.RefreshToken)
				end := time.Now()
				cancel()
				if err == nil {
					d.pair = p
				}
				mu.Lock()
				results = append(results, result{i, start, end, classify(err), verr != nil})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	downAt := time.Now()
	cctx, cancel := context.WithTimeout(ctx, deadline)
	_, issueErr := iss.Issue(cctx, "user-new")
	cancel()
	time.Sleep(time.Second)
	upAt := time.Now()
	srv.Restart()
	readyAt := time.Now()
	// Every device must get rotations through again, without a new Issuer
	// or client.
	okAfter := func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[int]bool{}
		for _, r := range results {
			if r.start.After(readyAt) && r.outcome == "ok" {
				seen[r.dev] = true
			}
		}
		return len(seen) == devices
	}
	recovered := waitFor(15*time.Second, okAfter)
	// go-redis may answer a new dial with the last dial error for up to a
	// second after a run of failed dials (its pool re-dials in the
	// background), so "works again" is asserted from readyAt+settle on.
	const settle = 2 * time.Second
	time.Sleep(time.Until(readyAt.Add(settle + 500*time.Millisecond)))
	stop.Store(true)
	wg.Wait()

	require.True(t, recovered, "every device rotates again once the server is back")
	require.ErrorIs(t, issueErr, rtr.ErrStoreUnavailable, "a login during the outage")

	downCalls := make([]int, devices)
	settled := make([]int, devices)
	for _, r := range results {
		require.False(t, r.verifyFailed, "access tokens verify during and after the outage (no store I/O)")
		require.Contains(t, []string{"ok", "unavailable"}, r.outcome, "device %d: a legitimate refresh is either served or 'cannot tell now'", r.dev)
		if r.outcome == "unavailable" {
			require.Less(t, r.end.Sub(r.start), deadline+2*time.Second, "returns within the caller's deadline (loose bound)")
		}
		if r.start.After(downAt) && r.end.Before(upAt) {
			require.Equal(t, "unavailable", r.outcome, "refresh while the server is down")
			downCalls[r.dev]++
		}
		if r.start.After(readyAt.Add(settle)) {
			require.Equal(t, "ok", r.outcome, "device %d: once recovered, rotation keeps working", r.dev)
			settled[r.dev]++
		}
	}
	for i := range settled {
		require.Positive(t, settled[i], "device %d rotated after the recovery", i)
	}
	for i, n := range downCalls {
		require.Positive(t, n, "device %d made refresh calls during the outage", i)
	}

	// No session lost, none forked: each subject still has its devices,
	// and each session's generation is the one of the device's token.
	for _, subj := range []string{"user-0", "user-1"} {
		ss, err := sessionRecords(ctx, iss, subj)
		require.NoError(t, err)
		require.Len(t, ss, devices/2, "sessions of %s after the outage", subj)
		for _, d := range devs {
			if d.subject != subj {
				continue
			}
			ids := testkit.IDs(t, d.pair.RefreshToken)
			gen, sid := ids.Gen, ids.SID
			var found bool
			for _, s := range ss {
				if s.ID == sid {
					found = true
					require.Equal(t, gen, s.Generation, "the device holds the current generation")
				}
			}
			require.True(t, found, "session of a device survives the outage")
			_, err := iss.Refresh(ctx, d.pair.RefreshToken)
			require.NoError(t, err)
		}
	}
	require.Zero(t, events.Count(rtr.EventReuseDetected), "an outage is never taken for theft")
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// Case 2: the proxy swallows the reply to a rotation the server executed.
func TestFaultLostReply(t *testing.T) {
	bin := requireFaults(t)
	srv := startRedis(t, bin)
	const grace = 10 * time.Second

	// newRig puts a proxy in front of the server and an issuer with an
	// injected clock behind it. retries is go-redis's MaxRetries (-1: the
	// client sees the lost reply; 0: the go-redis default of 3 retries).
	newRig := func(t *testing.T, retries int, grace time.Duration) (*rtr.Issuer, *faultproxy.Proxy, *testkit.Clock, *issuertest.EventLog) {
		px, err := faultproxy.New(srv.Addr())
		require.NoError(t, err)
		t.Cleanup(func() { _ = px.Close() })
		c := redis.NewClient(&redis.Options{Addr: px.Addr(), MaxRetries: retries})
		t.Cleanup(func() { _ = c.Close() })
		clk := testkit.NewClock(time.Now())
		ev := &issuertest.EventLog{}
		return newIssuer(t, rtr.NewRedisStore(c, rtr.WithKeyPrefix(keyPrefix())), grace, clk.Now, ev), px, clk, ev
	}
	// loseReply logs in, warms the script cache, and rotates once with the
	// reply lost; it returns the login pair and the error of that refresh.
	loseReply := func(t *testing.T, iss *rtr.Issuer, px *faultproxy.Proxy, subject string) (rtr.Pair, error) {
		ctx := context.Background()
		warm, err := iss.Issue(ctx, subject+"-warm")
		require.NoError(t, err)
		_, err = iss.Refresh(ctx, warm.RefreshToken) // EVALSHA now hits the cache
		require.NoError(t, err)
		p, err := iss.Issue(ctx, subject)
		require.NoError(t, err)
		done := px.CutReplyOnce([]byte(p.SessionID))
		_, err = iss.Refresh(ctx, p.RefreshToken)
		<-done
		require.EqualValues(t, 1, px.Cuts(), "the reply was cut after the server answered")
		return p, err
	}
	sessionGen := func(t *testing.T, iss *rtr.Issuer, subject, sid string) (uint64, bool) {
		ss, err := sessionRecords(context.Background(), iss, subject)
		require.NoError(t, err)
		for _, s := range ss {
			if s.ID == sid {
				return s.Generation, true
			}
		}
		return 0, false
	}

	t.Run("client retry inside the grace gets the current generation", func(t *testing.T) {
		iss, px, clk, ev := newRig(t, -1, grace)
		p, err := loseReply(t, iss, px, "lost-inside")
		require.ErrorIs(t, err, rtr.ErrStoreUnavailable, "the client cannot tell whether it rotated")
		gen, ok := sessionGen(t, iss, "lost-inside", p.SessionID)
		require.True(t, ok)
		require.EqualValues(t, 2, gen, "the server did rotate")

		clk.Advance(grace - time.Second)
		p2, err := iss.Refresh(context.Background(), p.RefreshToken)
		require.NoError(t, err, "retry with the same token inside the grace")
		ids := testkit.IDs(t, p2.RefreshToken)
		g2, sid2 := ids.Gen, ids.SID
		require.EqualValues(t, 2, g2, "the retry answers the current generation")
		require.Equal(t, p.SessionID, sid2)
		require.Equal(t, 1, ev.Count(rtr.EventRetried))

		p3, err := iss.Refresh(context.Background(), p2.RefreshToken)
		require.NoError(t, err, "the session was not revoked: the new token rotates")
		g3 := testkit.IDs(t, p3.RefreshToken).Gen
		require.EqualValues(t, 3, g3)
		require.Zero(t, ev.Count(rtr.EventReuseDetected))
	})

	t.Run("client retry outside the grace is reuse", func(t *testing.T) {
		iss, px, clk, ev := newRig(t, -1, grace)
		p, err := loseReply(t, iss, px, "lost-outside")
		require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
		clk.Advance(grace) // the window is [rotation, rotation+grace)
		_, err = iss.Refresh(context.Background(), p.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrTokenReused)
		_, ok := sessionGen(t, iss, "lost-outside", p.SessionID)
		require.False(t, ok, "the session is revoked")
		require.Equal(t, 1, ev.Count(rtr.EventReuseDetected))
	})

	t.Run("the driver retries the lost reply itself inside the grace", func(t *testing.T) {
		iss, px, _, ev := newRig(t, 0, grace)
		p, err := loseReply(t, iss, px, "lost-transparent")
		require.NoError(t, err, "the driver's retry lands inside the grace and converges")
		gen, ok := sessionGen(t, iss, "lost-transparent", p.SessionID)
		require.True(t, ok)
		require.EqualValues(t, 2, gen)
		require.Zero(t, ev.Count(rtr.EventReuseDetected))
	})

	t.Run("the driver retries the lost reply itself with a strict grace", func(t *testing.T) {
		iss, px, _, ev := newRig(t, 0, 0)
		p, err := loseReply(t, iss, px, "lost-strict")
		require.NotErrorIs(t, err, rtr.ErrTokenReused, "a transport retry is not a replay by the client")
		_, ok := sessionGen(t, iss, "lost-strict", p.SessionID)
		require.True(t, ok, "the session survives a lost reply")
		require.Zero(t, ev.Count(rtr.EventReuseDetected), "no false theft alarm")
	})
}

// keyPrefix is a key prefix unique to one test.
func keyPrefix() string { return testredis.Prefix() }

// Case 3: the server answers too slowly, or not at all. Each call returns
// ErrStoreUnavailable within the caller's deadline (plus a loose 2 s bound
// for scheduling; this is a correctness bound, not a speed assertion), no
// goroutine is left behind, and once the fault clears the client's retry
// with the same refresh token converges.
//
// This needs a go-redis client built with ContextTimeoutEnabled: true;
// without it go-redis reads with its own ReadTimeout and ignores the
// context deadline (TestFaultSlowStoreDefaultClient).
func TestFaultSlowStore(t *testing.T) {
	bin := requireFaults(t)
	const deadline = 300 * time.Millisecond
	const grace = 10 * time.Second

	faults := []struct {
		name        string
		inject, fix func(px *faultproxy.Proxy, srv *redisServer)
	}{
		{"latency past the deadline",
			func(px *faultproxy.Proxy, _ *redisServer) { px.SetLatency(3 * time.Second) },
			func(px *faultproxy.Proxy, _ *redisServer) { px.SetLatency(0) }},
		{"network drops everything",
			func(px *faultproxy.Proxy, _ *redisServer) { px.SetBlackhole(true) },
			func(px *faultproxy.Proxy, _ *redisServer) { px.SetBlackhole(false); px.ResetAll() }},
		{"server hung (SIGSTOP)",
			func(_ *faultproxy.Proxy, srv *redisServer) { srv.Pause() },
			func(_ *faultproxy.Proxy, srv *redisServer) { srv.Resume() }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			srv := startRedis(t, bin)
			px, err := faultproxy.New(srv.Addr())
			require.NoError(t, err)
			defer px.Close()
			client := redis.NewClient(&redis.Options{Addr: px.Addr(), ContextTimeoutEnabled: true})
			defer client.Close()
			clk := testkit.NewClock(time.Now())
			iss := newIssuer(t, rtr.NewRedisStore(client), grace, clk.Now, nil)
			ctx := context.Background()

			p, err := iss.Issue(ctx, "slow")
			require.NoError(t, err)
			_, err = iss.Sessions(ctx, "slow") // warm every script and the pool
			require.NoError(t, err)
			before := goroutineStacks()

			f.inject(px, srv)
			ops := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"Refresh", func(ctx context.Context) error { _, err := iss.Refresh(ctx, p.RefreshToken); return err }},
				{"Issue", func(ctx context.Context) error { _, err := iss.Issue(ctx, "slow"); return err }},
				{"Sessions", func(ctx context.Context) error { _, err := iss.Sessions(ctx, "slow"); return err }},
				{"Revoke", func(ctx context.Context) error { return iss.RevokeSession(ctx, "slow", "no-such-session") }},
				{"RevokeAll", func(ctx context.Context) error { return iss.RevokeAll(ctx, "slow-other") }},
			}
			type res struct {
				name    string
				err     error
				elapsed time.Duration
			}
			var got []res
			for _, op := range ops {
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				err := op.call(cctx)
				got = append(got, res{op.name, err, time.Since(start)})
				cancel()
			}
			f.fix(px, srv)
			for _, r := range got {
				require.ErrorIs(t, r.err, rtr.ErrStoreUnavailable, "%s during the fault", r.name)
				require.Less(t, r.elapsed, deadline+2*time.Second, "%s returns on time", r.name)
			}
			requireNoNewGoroutines(t, before, "faultproxy")

			// Afterwards the same Issuer and client work, and the retry of the
			// refresh that timed out converges whether or not the server ran it.
			p2, err := iss.Refresh(ctx, p.RefreshToken)
			require.NoError(t, err)
			p3, err := iss.Refresh(ctx, p2.RefreshToken)
			require.NoError(t, err)
			gen := testkit.IDs(t, p3.RefreshToken).Gen
			require.GreaterOrEqual(t, gen, uint64(3))
		})
	}
}

// TestFaultSlowStoreDefaultClient: the same slow server behind a go-redis
// client with default options (ContextTimeoutEnabled false).
func TestFaultSlowStoreDefaultClient(t *testing.T) {
	bin := requireFaults(t)
	const deadline = 300 * time.Millisecond
	srv := startRedis(t, bin)
	px, err := faultproxy.New(srv.Addr())
	require.NoError(t, err)
	defer px.Close()
	client := redis.NewClient(&redis.Options{Addr: px.Addr()})
	defer client.Close()
	iss := newIssuer(t, rtr.NewRedisStore(client), 10*time.Second, nil, nil)
	ctx := context.Background()
	p, err := iss.Issue(ctx, "slow-default")
	require.NoError(t, err)
	store := rtr.NewRedisStore(client)

	for _, op := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"Refresh", func(ctx context.Context) error { _, err := iss.Refresh(ctx, p.RefreshToken); return err }},
		{"Issue", func(ctx context.Context) error { _, err := iss.Issue(ctx, "slow-default"); return err }},
		{"Revoke", func(ctx context.Context) error { return iss.Revoke(ctx, p.RefreshToken) }},
		{"RevokeAll", func(ctx context.Context) error { return iss.RevokeAll(ctx, "slow-default") }},
		{"Sessions", func(ctx context.Context) error { _, err := iss.Sessions(ctx, "slow-default"); return err }},
		{"Store.Get", func(ctx context.Context) error {
			_, err := store.Get(ctx, "slow-default", "some-session", time.Now())
			return err
		}},
	} {
		px.SetLatency(2 * time.Second)
		cctx, cancel := context.WithTimeout(ctx, deadline)
		start := time.Now()
		err := op.do(cctx)
		elapsed := time.Since(start)
		cancel()
		px.SetLatency(0)
		t.Logf("default client: %s with a %v deadline returned %q after %v", op.name, deadline, classify(err), elapsed.Round(time.Millisecond))
		require.ErrorIs(t, err, rtr.ErrStoreUnavailable, op.name)
		require.Less(t, elapsed, deadline+time.Second, "%s: the caller's deadline bounds the call", op.name)
	}
}

// Case 4: the server's script cache is flushed between calls (SCRIPT
// FLUSH, as after a restart or a failover to a replica that never loaded
// the scripts). Every operation still succeeds: go-redis falls back from
// EVALSHA to EVAL on NOSCRIPT.
func TestFaultScriptFlush(t *testing.T) {
	bin := requireFaults(t)
	srv := startRedis(t, bin)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	iss := newIssuer(t, rtr.NewRedisStore(client), 10*time.Second, nil, nil)
	ctx := context.Background()
	flush := func() { require.NoError(t, client.ScriptFlush(ctx).Err()) }

	var p rtr.Pair
	steps := []struct {
		name string
		do   func() error
	}{
		{"Issue", func() (err error) { p, err = iss.Issue(ctx, "flushed"); return err }},
		{"Refresh", func() (err error) { p, err = iss.Refresh(ctx, p.RefreshToken); return err }},
		{"Refresh again", func() (err error) { p, err = iss.Refresh(ctx, p.RefreshToken); return err }},
		{"Sessions", func() error {
			ss, err := sessionRecords(ctx, iss, "flushed")
			if err == nil && (len(ss) != 1 || ss[0].Generation != 3) {
				err = fmt.Errorf("want one session at generation 3, got %d sessions", len(ss))
			}
			return err
		}},
		{"Revoke", func() error { return iss.Revoke(ctx, p.RefreshToken) }},
		{"Issue after revoke", func() (err error) { p, err = iss.Issue(ctx, "flushed"); return err }},
		{"RevokeAll", func() error { return iss.RevokeAll(ctx, "flushed") }},
	}
	for _, s := range steps {
		flush()
		require.NoError(t, s.do(), "%s right after SCRIPT FLUSH", s.name)
	}
	_, err := iss.Refresh(ctx, p.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrSessionNotFound, "RevokeAll after a flush really revoked")
}

// Case 5: the server restarts without persistence. Every session is gone:
// refresh tokens are ErrSessionNotFound (401 over HTTP; this is the
// documented consequence of running Redis without AOF or RDB), logout is
// still a success, nothing panics, and new logins work at once on the same
// Issuer. Access tokens already issued stay valid until they expire
// (they are checked without the store).
func TestFaultRestartWithoutPersistence(t *testing.T) {
	bin := requireFaults(t)
	srv := startRedis(t, bin) // --save '' --appendonly no
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	events := &issuertest.EventLog{}
	iss := newIssuer(t, rtr.NewRedisStore(client), 10*time.Second, nil, events)
	ctx := context.Background()

	var pairs []rtr.Pair
	for i := range 3 {
		p, err := iss.Issue(ctx, "amnesia")
		require.NoError(t, err)
		if i == 0 {
			p, err = iss.Refresh(ctx, p.RefreshToken)
			require.NoError(t, err)
		}
		pairs = append(pairs, p)
	}

	srv.Restart()

	for _, p := range pairs {
		_, err := iss.Refresh(ctx, p.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound, "sessions are gone after a restart without persistence")
		_, err = iss.Verifier().Verify(ctx, p.AccessToken)
		require.NoError(t, err, "access tokens stay valid until they expire")
		require.NoError(t, iss.Revoke(ctx, p.RefreshToken), "logout stays idempotent")
	}
	ss, err := iss.Sessions(ctx, "amnesia")
	require.NoError(t, err)
	require.Empty(t, ss)
	require.NoError(t, iss.RevokeAll(ctx, "amnesia"))
	require.Zero(t, events.Count(rtr.EventReuseDetected), "a lost session is not theft")

	p, err := iss.Issue(ctx, "amnesia")
	require.NoError(t, err, "a new login works at once")
	_, err = iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)
}

// A failover to a replica that missed the last writes (asynchronous
// replication), or a restart with appendfsync everysec after a crash,
// loses the most recent rotations: the store is one generation behind a
// client that did receive its new token. That client is no thief: its
// token is genuine and newer than anything the store knows. It should be
// asked to log in again (ErrSessionNotFound), without a theft alarm.
func TestFaultLostWriteIsNotTheft(t *testing.T) {
	bin := requireFaults(t)
	srv := startRedis(t, bin)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	events := &issuertest.EventLog{}
	iss := newIssuer(t, rtr.NewRedisStore(client, rtr.WithKeyPrefix("lost:")), 10*time.Second, nil, events)
	ctx := context.Background()

	p, err := iss.Issue(ctx, "failover")
	require.NoError(t, err)
	// Snapshot the subject's keys: what the replica has.
	keys, err := client.Keys(ctx, "lost:*").Result()
	require.NoError(t, err)
	snap := map[string]string{}
	for _, k := range keys {
		snap[k], err = client.Dump(ctx, k).Result()
		require.NoError(t, err)
	}
	p2, err := iss.Refresh(ctx, p.RefreshToken) // committed and answered...
	require.NoError(t, err)
	for k, v := range snap { // ...then lost: the replica takes over
		require.NoError(t, client.RestoreReplace(ctx, k, 0, v).Err())
	}

	_, err = iss.Refresh(ctx, p2.RefreshToken)
	require.NotErrorIs(t, err, rtr.ErrTokenReused, "a genuine token newer than the store is not a replay")
	require.Zero(t, events.Count(rtr.EventReuseDetected), "no theft alarm")
}
