package faults_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/faultproxy"
	"github.com/rtr-go/rtr/internal/issuertest"
)

// Fault tests of the revocation feed (Config.InstantRevocation) on a
// server of the test's own: issuer a talks to it directly, issuer b
// through the fault proxy, standing for two processes.

func newRevocationIssuer(t *testing.T, store rtr.Store, events *issuertest.EventLog, mod ...func(*rtr.Config)) *rtr.Issuer {
	t.Helper()
	cfg := rtr.Config{Store: store, Secret: testSecret, Issuer: "rtr-faults", InstantRevocation: true}
	if events != nil {
		cfg.OnEvent = events.Record
	}
	for _, m := range mod {
		m(&cfg)
	}
	return issuertest.NewFollowing(t, cfg)
}

// TestFaultRevocationFeedCut: b's connection is cut (then refused, or
// silently swallowed) while a revokes sessions; once it is back, b has
// caught up and refuses every one of them, and nothing else.
func TestFaultRevocationFeedCut(t *testing.T) {
	bin := requireFaults(t)
	ctx := context.Background()
	for _, fault := range []string{"down", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			srv := startRedis(t, bin)
			px, err := faultproxy.New(srv.Addr())
			require.NoError(t, err)
			t.Cleanup(func() { _ = px.Close() })
			ca := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			cb := redis.NewClient(&redis.Options{Addr: px.Addr(), ReadTimeout: 500 * time.Millisecond})
			t.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
			a := newRevocationIssuer(t, rtr.NewRedisStore(ca), nil)
			b := newRevocationIssuer(t, rtr.NewRedisStore(cb), nil)

			before := issuertest.IssueMany(t, a, "alice", 5)
			require.NoError(t, a.Revoke(ctx, before[0].RefreshToken))
			issuertest.WaitRevoked(t, b.Verifier(), before[0].AccessToken)

			if fault == "down" {
				px.SetDown(true)
			} else {
				px.SetBlackhole(true)
			}
			require.Eventually(t, func() bool { return !b.Verifier().RevocationStatus().InSync }, 15*time.Second, 10*time.Millisecond,
				"b never noticed its feed was gone")
			during := issuertest.IssueMany(t, a, "bob", 20)
			for _, p := range during[:10] {
				require.NoError(t, a.Revoke(ctx, p.RefreshToken))
			}
			require.NoError(t, a.RevokeAll(ctx, "alice"))
			for _, p := range during {
				_, err := b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err, "b cannot know yet (fail-open by default)")
			}

			px.SetDown(false)
			px.SetBlackhole(false)
			issuertest.WaitFeedInSync(t, b.Verifier())
			for _, p := range slices.Concat(during[:10], before) {
				_, err := b.Verifier().Verify(ctx, p.AccessToken)
				require.ErrorIs(t, err, rtr.ErrTokenRevoked, "missed while disconnected, caught up after")
			}
			for _, p := range during[10:] {
				_, err := b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err)
			}
			// Pushes flow again.
			require.NoError(t, a.Revoke(ctx, during[10].RefreshToken))
			issuertest.WaitRevoked(t, b.Verifier(), during[10].AccessToken)
		})
	}
}

// TestFaultRevocationFeedRestart: the server restarts without
// persistence. What b held stays refused (a revoked session never comes
// back); the feed reconnects and later revocations propagate. A verifier
// started after the restart does not learn revocations made before it:
// the record was lost with the server (RELIABILITY.md).
func TestFaultRevocationFeedRestart(t *testing.T) {
	bin := requireFaults(t)
	ctx := context.Background()
	srv := startRedis(t, bin)
	ca := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	cb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
	a := newRevocationIssuer(t, rtr.NewRedisStore(ca), nil)
	b := newRevocationIssuer(t, rtr.NewRedisStore(cb), nil)

	old := issuertest.IssueMany(t, a, "alice", 2)
	require.NoError(t, a.Revoke(ctx, old[0].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), old[0].AccessToken)

	srv.Restart()
	require.Eventually(t, func() bool { return ca.Ping(ctx).Err() == nil }, 10*time.Second, 10*time.Millisecond)
	_, err := b.Verifier().Verify(ctx, old[0].AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked, "held in memory across the restart")
	issuertest.WaitFeedInSync(t, b.Verifier())
	_, err = b.Verifier().Verify(ctx, old[0].AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked, "a catch-up from an empty record forgets nothing")

	fresh := issuertest.IssueMany(t, a, "bob", 1)
	require.NoError(t, a.Revoke(ctx, fresh[0].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), fresh[0].AccessToken)
	cc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = cc.Close() })
	c := newRevocationIssuer(t, rtr.NewRedisStore(cc), nil)
	issuertest.WaitRevoked(t, c.Verifier(), fresh[0].AccessToken)
}

// TestFaultRevocationFeedDownPastBound: the server is unreachable for
// longer than RevocationMaxLag: EventFeedLagging; fail-open keeps
// serving, fail-closed refuses with ErrStoreUnavailable; both recover
// with EventFeedRecovered and catch up on what was revoked meanwhile.
func TestFaultRevocationFeedDownPastBound(t *testing.T) {
	bin := requireFaults(t)
	ctx := context.Background()
	for _, failClosed := range []bool{false, true} {
		name := "failOpen"
		if failClosed {
			name = "failClosed"
		}
		t.Run(name, func(t *testing.T) {
			srv := startRedis(t, bin)
			px, err := faultproxy.New(srv.Addr())
			require.NoError(t, err)
			t.Cleanup(func() { _ = px.Close() })
			ca := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			cb := redis.NewClient(&redis.Options{Addr: px.Addr()})
			t.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
			events := &issuertest.EventLog{}
			a := newRevocationIssuer(t, rtr.NewRedisStore(ca), nil)
			b := newRevocationIssuer(t, rtr.NewRedisStore(cb), events, func(c *rtr.Config) {
				c.RevocationMaxLag = 300 * time.Millisecond
				c.RevocationFailClosed = failClosed
			})
			ps := issuertest.IssueMany(t, a, "alice", 2)

			px.SetDown(true)
			require.Eventually(t, func() bool { return events.Count(rtr.EventFeedLagging) == 1 }, 15*time.Second, 10*time.Millisecond)
			require.NoError(t, a.Revoke(ctx, ps[0].RefreshToken))
			for _, p := range ps {
				_, err := b.Verifier().Verify(ctx, p.AccessToken)
				if failClosed {
					require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
				} else {
					require.NoError(t, err)
				}
			}
			px.SetDown(false)
			require.Eventually(t, func() bool { return events.Count(rtr.EventFeedRecovered) == 1 }, 15*time.Second, 10*time.Millisecond)
			_, err = b.Verifier().Verify(ctx, ps[0].AccessToken)
			require.ErrorIs(t, err, rtr.ErrTokenRevoked)
			_, err = b.Verifier().Verify(ctx, ps[1].AccessToken)
			require.NoError(t, err)
			require.Equal(t, 1, events.Count(rtr.EventFeedLagging))
		})
	}
}

// TestFaultRevocationFeedShardRestart: on a three-master cluster of the
// test's own, the node that holds the feed's slot (record and sharded
// channel) restarts without persistence. Followers' sharded subscriptions
// reconnect by themselves; what they held stays refused; later
// revocations propagate again.
func TestFaultRevocationFeedShardRestart(t *testing.T) {
	bin := requireFaults(t)
	ctx := context.Background()
	tc := startCluster(t, bin)
	newClient := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tc.addrs()})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ca, cb := newClient(), newClient()
	a := newRevocationIssuer(t, rtr.NewRedisStore(ca), nil)
	b := newRevocationIssuer(t, rtr.NewRedisStore(cb), nil)

	old := issuertest.IssueMany(t, a, "alice", 1)
	require.NoError(t, a.Revoke(ctx, old[0].RefreshToken))
	issuertest.WaitRevoked(t, b.Verifier(), old[0].AccessToken)

	slot, err := ca.ClusterKeySlot(ctx, rtr.DefaultRedisKeyPrefix+"{:revocations}").Result()
	require.NoError(t, err)
	tc.nodes[tc.ownerOf(t, int(slot))].Restart()
	require.Eventually(t, tc.ok, 30*time.Second, 100*time.Millisecond, "cluster did not recover")
	_, err = b.Verifier().Verify(ctx, old[0].AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked, "held in memory across the restart")

	// The restarted node may take a moment to serve its slot again; the
	// revoking call says so rather than claiming success.
	fresh := issuertest.IssueMany(t, a, "bob", 1)
	require.Eventually(t, func() bool { return a.Revoke(ctx, fresh[0].RefreshToken) == nil }, 30*time.Second, 50*time.Millisecond)
	issuertest.WaitRevoked(t, b.Verifier(), fresh[0].AccessToken)
	issuertest.WaitFeedInSync(t, b.Verifier())
	_, err = b.Verifier().Verify(ctx, old[0].AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)
}
