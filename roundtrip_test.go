package rtr_test

// Every state change on the Redis store is exactly one round trip: that
// is what keeps a rotation atomic and a login cheap, and a second round
// trip slipping in would go unnoticed by every other test. A go-redis
// hook (testkit.RoundTrips) counts what is sent; a pipeline counts once,
// as it is one round trip. The scripts are cached first: Script.Run sends
// EVALSHA and falls back to EVAL on NOSCRIPT, which costs a second round
// trip only after a SCRIPT FLUSH or a server restart.

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/internal/testredis"
)

func TestRedisRoundTripsPerOperation(t *testing.T) {
	sleep := func(d time.Duration) { time.Sleep(d) }
	// Miniredis moves its clock and the issuers' by hand; a real server
	// and the issuers both follow the wall clock.
	var clock *testkit.Clock
	now := func() time.Time {
		if clock != nil {
			return clock.Now()
		}
		return time.Now()
	}
	for _, tc := range []struct {
		name     string
		fakeTime bool // the test moves the clocks by hand
		client   func(t *testing.T, h *testkit.RoundTrips) (redis.UniversalClient, func(time.Duration))
	}{
		{"Miniredis", true, func(t *testing.T, h *testkit.RoundTrips) (redis.UniversalClient, func(time.Duration)) {
			m, c := testredis.Mini(t)
			c.AddHook(h)
			m.SetTime(clock.Now())
			return c, func(d time.Duration) { clock.Advance(d); m.FastForward(d) }
		}},
		{"RealRedis", false, func(t *testing.T, h *testkit.RoundTrips) (redis.UniversalClient, func(time.Duration)) {
			c := testredis.Standalone(t)
			c.AddHook(h)
			return c, sleep
		}},
		{"RealCluster", false, func(t *testing.T, h *testkit.RoundTrips) (redis.UniversalClient, func(time.Duration)) {
			addrs := os.Getenv(testredis.EnvClusterAddrs)
			if addrs == "" {
				t.Skip(testredis.EnvClusterAddrs + " not set: no real Redis Cluster")
			}
			// Hooks on the node clients count what goes over the wire,
			// redirections included; the cluster client's own hook would
			// count a redirected command once.
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
			c.OnNewNode(func(node *redis.Client) { node.AddHook(h) })
			t.Cleanup(func() { _ = c.Close() })
			require.NoError(t, c.Ping(context.Background()).Err())
			return c, sleep
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := &testkit.RoundTrips{}
			clock = nil
			if tc.fakeTime {
				clock = testkit.NewClock(time.Now())
			}
			c, advance := tc.client(t, h)
			store := rtr.NewRedisStore(c, rtr.WithKeyPrefix(testredis.Prefix()))
			iss, err := rtr.NewIssuer(rtr.Config{
				Store:      store,
				Secret:     []byte("round-trip-test-secret-0123456789abcdef"),
				ReuseGrace: rtr.RecommendedReuseGrace,
				Now:        now,
			})
			require.NoError(t, err)

			// Warm-up on the subject measured below (one cluster slot):
			// every script once, so each is cached where it runs.
			const subject = "user-123456"
			p, err := iss.Issue(ctx, subject)
			require.NoError(t, err)
			p, err = iss.Refresh(ctx, p.RefreshToken)
			require.NoError(t, err)
			require.NoError(t, iss.Revoke(ctx, p.RefreshToken))
			require.NoError(t, iss.RevokeAll(ctx, subject))
			_, err = iss.Sessions(ctx, subject)
			require.NoError(t, err)

			one := func(op string, fn func()) {
				t.Helper()
				n, cmds := h.Count(fn)
				require.EqualValues(t, 1, n, "%s: round trips (commands sent: %v)", op, cmds)
			}
			var first, retried rtr.Pair
			one("Issue", func() { first, err = iss.Issue(ctx, subject); require.NoError(t, err) })
			one("Refresh (rotation)", func() { p, err = iss.Refresh(ctx, first.RefreshToken); require.NoError(t, err) })
			one("Refresh (retry within the grace)", func() { retried, err = iss.Refresh(ctx, first.RefreshToken); require.NoError(t, err) })
			require.Equal(t, p.RefreshToken, retried.RefreshToken)
			one("Revoke", func() { require.NoError(t, iss.Revoke(ctx, p.RefreshToken)) })
			one("Refresh (session gone)", func() {
				_, err = iss.Refresh(ctx, p.RefreshToken)
				require.ErrorIs(t, err, rtr.ErrSessionNotFound)
			})

			stale, err := iss.Issue(ctx, subject)
			require.NoError(t, err)
			next, err := iss.Refresh(ctx, stale.RefreshToken)
			require.NoError(t, err)
			_, err = iss.Refresh(ctx, next.RefreshToken)
			require.NoError(t, err)
			one("Refresh (reuse detected)", func() {
				_, err = iss.Refresh(ctx, stale.RefreshToken) // two generations behind
				require.ErrorIs(t, err, rtr.ErrTokenReused)
			})
			for range 5 {
				_, err := iss.Issue(ctx, subject)
				require.NoError(t, err)
			}
			var listed []rtr.Session
			one("Sessions", func() { listed, err = iss.Sessions(ctx, subject); require.NoError(t, err) })
			require.Len(t, listed, 5)
			one("RevokeAll (5 sessions)", func() { require.NoError(t, iss.RevokeAll(ctx, subject)) })
			listed, err = iss.Sessions(ctx, subject)
			require.NoError(t, err)
			require.Empty(t, listed)

			// A subject whose other session expired (still in the
			// subject's hash until a script prunes it) costs one round
			// trip too.
			brief, err := rtr.NewIssuer(rtr.Config{
				Store:      store,
				Secret:     []byte("round-trip-test-secret-0123456789abcdef"),
				RefreshTTL: 200 * time.Millisecond,
				Now:        now,
			})
			require.NoError(t, err)
			_, err = iss.Issue(ctx, subject)
			require.NoError(t, err)
			_, err = brief.Issue(ctx, subject)
			require.NoError(t, err)
			advance(400 * time.Millisecond)
			one("Sessions (one session expired)", func() { listed, err = iss.Sessions(ctx, subject); require.NoError(t, err) })
			require.Len(t, listed, 1)
			_, err = brief.Issue(ctx, subject)
			require.NoError(t, err)
			advance(400 * time.Millisecond)
			one("RevokeAll (one session expired)", func() { require.NoError(t, iss.RevokeAll(ctx, subject)) })
		})
	}
}
