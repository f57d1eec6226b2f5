package rtr_test

// Attack tests: hostile subjects that try to reach another
// subject's Redis keys, a thief who replays a stolen refresh token inside
// the grace window, and a dump of the store. Hostile token and HTTP input
// is in the fuzz targets (fuzz_test.go, fuzz_http_test.go) and replays
// under load in cmd/rtrload.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testredis"
)

// hostileSubjects try to break out of their hash tag or to collide with
// another subject's keys (subjects often are user-chosen names).
var hostileSubjects = []string{
	"alice", "{alice}", "alice}", "{alice", "alice}:s:", "alice}:i", "alice:i", "a{b}c", "{}", "}{",
	"#", "#alice", "rtr:{alice}:i", "*", "alice*", "\x00alice", "alice\r\nFLUSHALL", "ålice", " alice",
	strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("{", 256),
}

// Every hostile subject gets sessions of its own: logging one out
// everywhere never touches another's, and its device list holds only its
// own sessions.
func TestAttackSubjectKeyInjection(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		iss := newFixture(t, store).iss
		pairs := map[string][]rtr.Pair{}
		for _, s := range hostileSubjects {
			for range 2 {
				p, err := iss.Issue(ctx, s)
				require.NoError(t, err, "subject of %d bytes", len(s))
				pairs[s] = append(pairs[s], p)
			}
		}
		for i, s := range hostileSubjects {
			require.NoError(t, iss.RevokeAll(ctx, s))
			ss, err := iss.Sessions(ctx, s)
			require.NoError(t, err)
			require.Empty(t, ss, "subject %d logged out everywhere", i)
			for _, p := range pairs[s] {
				_, err := iss.Refresh(ctx, p.RefreshToken)
				require.ErrorIs(t, err, rtr.ErrSessionNotFound)
			}
			for j, other := range hostileSubjects[i+1:] {
				ss, err := iss.Sessions(ctx, other)
				require.NoError(t, err)
				require.Len(t, ss, 2, "subject %d untouched by the logout of subject %d", i+1+j, i)
				for _, sess := range ss {
					require.Equal(t, other, sess.Subject)
				}
			}
			// The sessions left still rotate.
			if i+1 < len(hostileSubjects) {
				next := hostileSubjects[i+1]
				p, err := iss.Refresh(ctx, pairs[next][0].RefreshToken)
				require.NoError(t, err)
				pairs[next][0] = p
			}
		}
	})
}

// A thief who replays a stolen refresh token inside the grace window is
// answered with the current token: the accepted risk of ReuseGrace. The
// theft is still caught as soon as victim and thief have both used the
// session outside the grace, whoever rotates first, and then neither of
// them has a session any more.
func TestAttackThiefInsideTheGrace(t *testing.T) {
	const grace = 10 * time.Second
	for _, thiefFirst := range []bool{false, true} {
		name := "victim rotates first"
		if thiefFirst {
			name = "thief rotates first"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, c := testredis.Mini(t)
			f := newFixture(t, rtr.NewRedisStore(c), func(c *rtr.Config) { c.ReuseGrace = grace })
			iss, clk, events := f.iss, f.clock, f.events

			login, err := iss.Issue(ctx, "victim")
			require.NoError(t, err)
			stolen := login.RefreshToken
			victim, err := iss.Refresh(ctx, login.RefreshToken)
			require.NoError(t, err)

			clk.Advance(grace / 2)
			thief, err := iss.Refresh(ctx, stolen)
			require.NoError(t, err, "inside the grace the thief is answered")
			require.Equal(t, victim.RefreshToken, thief.RefreshToken, "with the one current token: no fork")

			clk.Advance(grace)
			first, second := victim, thief
			if thiefFirst {
				first, second = thief, victim
			}
			_, err = iss.Refresh(ctx, first.RefreshToken)
			require.NoError(t, err)
			clk.Advance(grace)
			_, err = iss.Refresh(ctx, second.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrTokenReused, "the second holder's use is reuse")
			require.Equal(t, 1, events.Count(rtr.EventReuseDetected))
			ss, err := iss.Sessions(ctx, "victim")
			require.NoError(t, err)
			require.Empty(t, ss, "the session is revoked for both")
		})
	}
}

// An attacker with a dump of Redis (a backup, a replica, a leaked RDB
// file) holds no usable token: every key, field, value and member of the
// dump is refused as a refresh token and as an access token.
func TestAttackStoreDumpHoldsNoUsableToken(t *testing.T) {
	ctx := context.Background()
	_, c := testredis.Mini(t)
	iss := newFixture(t, rtr.NewRedisStore(c)).iss
	p, err := iss.Issue(ctx, "dumped")
	require.NoError(t, err)
	p, err = iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)

	// Everything an attacker with a dump of Redis knows, tried as a token.
	var found []string
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		found = append(found, k)
		require.Equal(t, "hash", c.Type(ctx, k).Val())
		for f, v := range c.HGetAll(ctx, k).Val() {
			found = append(found, f, v)
		}
	}
	require.NotEmpty(t, found)
	for _, v := range found {
		require.NotContains(t, v, p.RefreshToken)
		require.NotContains(t, v, p.AccessToken)
		_, err := iss.Refresh(ctx, v)
		require.ErrorIs(t, err, rtr.ErrInvalidToken, "a stored value of %d bytes is no refresh token", len(v))
		_, err = iss.Verifier().Verify(ctx, v)
		require.ErrorIs(t, err, rtr.ErrInvalidToken)
	}
}
