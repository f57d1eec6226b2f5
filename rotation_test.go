package rtr_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

func TestIssueVerifyRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		p, err := f.iss.Issue(ctx, "alice", rtr.WithMeta("ua", "test-browser"))
		require.NoError(t, err)
		require.NotEmpty(t, p.SessionID)
		require.Equal(t, f.clock.Now().Add(5*time.Minute), p.AccessExpiresAt)
		require.Equal(t, f.clock.Now().Add(time.Hour), p.RefreshExpiresAt)
		require.Equal(t, 1, f.events.Count(rtr.EventIssued))

		c, err := f.iss.Verifier().Verify(ctx, p.AccessToken)
		require.NoError(t, err)
		require.Equal(t, "alice", c.Subject)
		require.Equal(t, p.SessionID, c.SessionID)
		require.Equal(t, "https://auth.example", c.Issuer)
		require.Equal(t, []string{"api"}, []string(c.Audience))
		require.NotEmpty(t, c.ID)

		f.clock.Advance(time.Minute)
		p2, err := f.iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)
		require.Equal(t, p.SessionID, p2.SessionID)
		require.NotEqual(t, p.RefreshToken, p2.RefreshToken)
		require.NotEqual(t, p.AccessToken, p2.AccessToken)
		require.Equal(t, f.clock.Now().Add(time.Hour), p2.RefreshExpiresAt, "idle expiry slides")
		require.Equal(t, 1, f.events.Count(rtr.EventRotated))
		require.Equal(t, uint64(2), f.events.Last().Generation)

		sessions, err := f.iss.Sessions(ctx, "alice")
		require.NoError(t, err)
		require.Len(t, sessions, 1)
		require.Equal(t, p.SessionID, sessions[0].ID)
		require.Equal(t, "test-browser", sessions[0].Meta["ua"])
		require.True(t, sessions[0].LastUsedAt.Equal(f.clock.Now().Truncate(time.Minute)))
		recs, err := rtr.ListRecords(ctx, f.iss, "alice")
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, uint64(2), recs[0].Generation)
	})
}

func TestGraceRetryReturnsCurrentToken(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		p, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		rotated, err := f.iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)

		// A second tab (or a client whose response was lost) presents the
		// old token again: it converges on the very same refresh token.
		f.clock.Advance(9 * time.Second)
		retry, err := f.iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)
		require.Equal(t, rotated.RefreshToken, retry.RefreshToken)
		require.Equal(t, rotated.RefreshExpiresAt, retry.RefreshExpiresAt)
		require.Equal(t, 1, f.events.Count(rtr.EventRetried))
		_, err = f.iss.Verifier().Verify(ctx, retry.AccessToken)
		require.NoError(t, err)

		// The window is anchored at the rotation: retries do not extend it.
		f.clock.Advance(time.Second)
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrTokenReused)
		_, err = f.iss.Refresh(ctx, rotated.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound, "reuse revoked the whole session")
	})
}

func TestReuseRevokesSessionForEveryHolder(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		p, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		other, err := f.iss.Issue(ctx, "alice") // another device
		require.NoError(t, err)
		stolen := p.RefreshToken

		legit, err := f.iss.Refresh(ctx, p.RefreshToken) // the user moves on
		require.NoError(t, err)
		f.clock.Advance(time.Minute)

		_, err = f.iss.Refresh(ctx, stolen) // the thief replays
		require.ErrorIs(t, err, rtr.ErrTokenReused)
		require.Equal(t, 1, f.events.Count(rtr.EventReuseDetected))
		ev := f.events.Last()
		require.Equal(t, rtr.EventReuseDetected, ev.Type)
		require.Equal(t, "alice", ev.Subject)
		require.Equal(t, p.SessionID, ev.SessionID)

		_, err = f.iss.Refresh(ctx, legit.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound, "the legitimate holder is logged out too")
		_, err = f.iss.Refresh(ctx, stolen)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)

		// The other device's session is independent.
		_, err = f.iss.Refresh(ctx, other.RefreshToken)
		require.NoError(t, err)
		sessions, err := f.iss.Sessions(ctx, "alice")
		require.NoError(t, err)
		require.Len(t, sessions, 1)
		require.Equal(t, other.SessionID, sessions[0].ID)
	})
}

func TestOlderGenerationIsReuseEvenWithinGrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		p1, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		p2, err := f.iss.Refresh(ctx, p1.RefreshToken)
		require.NoError(t, err)
		_, err = f.iss.Refresh(ctx, p2.RefreshToken)
		require.NoError(t, err)
		_, err = f.iss.Refresh(ctx, p1.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrTokenReused)
	})
}

// TestConcurrentRefresh races 64 goroutines on one refresh token.
func TestConcurrentRefresh(t *testing.T) {
	const n = 64
	race := func(t *testing.T, iss *rtr.Issuer, token string) ([]rtr.Pair, []error) {
		pairs, errs := make([]rtr.Pair, n), make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				pairs[i], errs[i] = iss.Refresh(context.Background(), token)
			}()
		}
		close(start)
		wg.Wait()
		return pairs, errs
	}

	t.Run("Strict", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, store rtr.Store) {
			f := newFixture(t, store, strict)
			p, err := f.iss.Issue(context.Background(), "alice")
			require.NoError(t, err)
			pairs, errs := race(t, f.iss, p.RefreshToken)
			wins, reused := 0, 0
			var winner rtr.Pair
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
					winner = pairs[i]
				case errors.Is(err, rtr.ErrTokenReused):
					reused++
				default:
					require.ErrorIs(t, err, rtr.ErrSessionNotFound)
				}
			}
			require.Equal(t, 1, wins, "exactly one refresh succeeds")
			require.GreaterOrEqual(t, reused, 1)
			_, err = f.iss.Refresh(context.Background(), winner.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrSessionNotFound, "the session was revoked by the replays")
		})
	})
	t.Run("Grace", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, store rtr.Store) {
			f := newFixture(t, store)
			p, err := f.iss.Issue(context.Background(), "alice")
			require.NoError(t, err)
			pairs, errs := race(t, f.iss, p.RefreshToken)
			for i := range n {
				require.NoError(t, errs[i])
				require.Equal(t, pairs[0].RefreshToken, pairs[i].RefreshToken, "all converge on one token")
			}
			require.Equal(t, 1, f.events.Count(rtr.EventRotated))
			require.Equal(t, n-1, f.events.Count(rtr.EventRetried))
			_, err = f.iss.Refresh(context.Background(), pairs[0].RefreshToken)
			require.NoError(t, err, "the converged token is the live one")
		})
	})
}

func TestExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store, func(c *rtr.Config) { c.MaxSessionAge = 150 * time.Minute })
		p, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)

		// Leeway 0: a token is expired from its exp second on.
		f.clock.Advance(5*time.Minute - time.Second)
		_, err = f.iss.Verifier().Verify(ctx, p.AccessToken)
		require.NoError(t, err)
		f.clock.Advance(time.Second)
		_, err = f.iss.Verifier().Verify(ctx, p.AccessToken)
		require.ErrorIs(t, err, rtr.ErrTokenExpired)

		// Idle: sliding by RefreshTTL with each rotation ...
		f.clock.Advance(55 * time.Minute) // t = 60m
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrTokenExpired, "unused for RefreshTTL")

		p, err = f.iss.Issue(ctx, "alice") // t = 60m, absolute end at 210m
		require.NoError(t, err)
		for range 2 {
			f.clock.Advance(50 * time.Minute)
			p, err = f.iss.Refresh(ctx, p.RefreshToken)
			require.NoError(t, err)
		}
		// ... but never past MaxSessionAge from login.
		require.Equal(t, f.clock.Now().Add(50*time.Minute), p.RefreshExpiresAt, "capped at the absolute expiry")
		f.clock.Advance(50 * time.Minute)
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrTokenExpired)
	})
}

func TestClaimsCallback(t *testing.T) {
	ctx := context.Background()
	roles := []string{"reader"}
	var mu sync.Mutex
	f := newFixture(t, rtr.NewMemoryStore(), func(c *rtr.Config) {
		c.Claims = func(_ context.Context, subject string) (map[string]any, error) {
			mu.Lock()
			defer mu.Unlock()
			return map[string]any{"roles": roles, "tenant": "t-" + subject}, nil
		}
	})
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	c, err := f.iss.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	var got []string
	require.True(t, c.Decode("roles", &got))
	require.Equal(t, []string{"reader"}, got)
	tenant, ok := c.Get("tenant")
	require.True(t, ok)
	require.Equal(t, "t-alice", tenant)
	require.Equal(t, map[string]any{"roles": []any{"reader"}, "tenant": "t-alice"}, c.Extra())

	mu.Lock()
	roles = []string{"reader", "admin"} // changed in the application database
	mu.Unlock()
	p, err = f.iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)
	c, err = f.iss.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	require.True(t, c.Decode("roles", &got))
	require.Equal(t, []string{"reader", "admin"}, got, "new roles take effect at the next refresh")
}

func TestClaimsCallbackFailureDoesNotSpendToken(t *testing.T) {
	ctx := context.Background()
	fail := false
	f := newFixture(t, rtr.NewMemoryStore(), strict, func(c *rtr.Config) {
		c.Claims = func(context.Context, string) (map[string]any, error) {
			if fail {
				return nil, errors.New("database down")
			}
			return nil, nil
		}
	})
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	fail = true
	_, err = f.iss.Refresh(ctx, p.RefreshToken)
	require.Error(t, err)
	fail = false
	_, err = f.iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err, "a failed callback must not rotate (strict mode would call the retry a theft)")
}

func TestReservedClaimsRefused(t *testing.T) {
	for _, name := range []string{"sub", "sid", "exp", "iss", "aud", "jti", "iat", "nbf"} {
		f := newFixture(t, rtr.NewMemoryStore(), func(c *rtr.Config) {
			c.Claims = func(context.Context, string) (map[string]any, error) { return map[string]any{name: "x"}, nil }
		})
		_, err := f.iss.Issue(context.Background(), "alice")
		require.ErrorIs(t, err, rtr.ErrReservedClaim, name)
	}
}

func TestRevoke(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		a, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		b, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)

		require.NoError(t, f.iss.Revoke(ctx, a.RefreshToken))
		require.Equal(t, 1, f.events.Count(rtr.EventRevoked))
		require.NoError(t, f.iss.Revoke(ctx, a.RefreshToken), "idempotent")
		require.Equal(t, 1, f.events.Count(rtr.EventRevoked), "nothing revoked the second time")
		_, err = f.iss.Refresh(ctx, a.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
		require.ErrorIs(t, f.iss.Revoke(ctx, a.AccessToken), rtr.ErrInvalidToken, "an access token is not a refresh token")

		// An expired refresh token still logs its session out.
		f.clock.Advance(2 * time.Hour)
		require.NoError(t, f.iss.Revoke(ctx, b.RefreshToken))

		// Logout everywhere.
		var live []rtr.Pair
		for range 3 {
			p, err := f.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			live = append(live, p)
		}
		bob, err := f.iss.Issue(ctx, "bob")
		require.NoError(t, err)
		before := f.events.Count(rtr.EventRevoked)
		require.NoError(t, f.iss.RevokeAll(ctx, "alice"))
		require.Equal(t, before+3, f.events.Count(rtr.EventRevoked))
		for _, p := range live {
			_, err := f.iss.Refresh(ctx, p.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrSessionNotFound)
		}
		_, err = f.iss.Refresh(ctx, bob.RefreshToken)
		require.NoError(t, err, "other subjects are untouched")

		// RevokeSession, by id, for a device list.
		p, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		require.NoError(t, f.iss.RevokeSession(ctx, "alice", p.SessionID))
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	})
}

func TestSessionsOfOneUserAreIndependent(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		laptop, err := f.iss.Issue(ctx, "alice", rtr.WithMeta("device", "laptop"))
		require.NoError(t, err)
		f.clock.Advance(time.Second)
		phone, err := f.iss.Issue(ctx, "alice", rtr.WithMeta("device", "phone"))
		require.NoError(t, err)
		require.NotEqual(t, laptop.SessionID, phone.SessionID)

		list, err := f.iss.Sessions(ctx, "alice")
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, "laptop", list[0].Meta["device"], "oldest first")
		require.Equal(t, "phone", list[1].Meta["device"])

		_, err = f.iss.Refresh(ctx, phone.RefreshToken)
		require.NoError(t, err)
		_, err = f.iss.Refresh(ctx, laptop.RefreshToken)
		require.NoError(t, err, "logging in on the phone did not log out the laptop")
	})
}

func TestInvalidSubject(t *testing.T) {
	f := newFixture(t, rtr.NewMemoryStore())
	for _, s := range []string{"", string(make([]byte, rtr.MaxSubjectLen+1))} {
		_, err := f.iss.Issue(context.Background(), s)
		require.ErrorIs(t, err, rtr.ErrInvalidSubject)
	}
}
