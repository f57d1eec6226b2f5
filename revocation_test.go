package rtr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testredis"
)

// revStorePairs give two stores on the same data, standing for two
// processes: the same MemoryStore twice (one process), and two separate
// Redis clients (two processes) on miniredis, a real server and a real
// Cluster.
var revStorePairs = []struct {
	name string
	new  func(t *testing.T) (rtr.Store, rtr.Store)
}{
	{"Memory", func(t *testing.T) (rtr.Store, rtr.Store) { s := rtr.NewMemoryStore(); return s, s }},
	{"Miniredis", func(t *testing.T) (rtr.Store, rtr.Store) {
		m, c1 := testredis.Mini(t)
		c2 := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c2.Close() })
		return rtr.NewRedisStore(c1), rtr.NewRedisStore(c2)
	}},
	{"RealRedis", func(t *testing.T) (rtr.Store, rtr.Store) {
		p := testredis.Prefix()
		c1 := testredis.Standalone(t)
		c2 := testredis.Standalone(t)
		return rtr.NewRedisStore(c1, rtr.WithKeyPrefix(p)), rtr.NewRedisStore(c2, rtr.WithKeyPrefix(p))
	}},
	{"RealCluster", func(t *testing.T) (rtr.Store, rtr.Store) {
		p := testredis.Prefix()
		c1 := testredis.Cluster(t)
		c2 := testredis.Cluster(t)
		return rtr.NewRedisStore(c1, rtr.WithKeyPrefix(p)), rtr.NewRedisStore(c2, rtr.WithKeyPrefix(p))
	}},
}

// revIssuer builds an issuer with InstantRevocation on store, closed at
// the end of the test, and waits until its feed is in sync.
func revIssuer(t *testing.T, store rtr.Store, mod ...func(*rtr.Config)) *rtr.Issuer {
	t.Helper()
	cfg := rtr.Config{
		Store: store, Secret: testSecret, Issuer: "https://auth.example",
		AccessTTL: 5 * time.Minute, ReuseGrace: 0, InstantRevocation: true,
	}
	for _, m := range mod {
		m(&cfg)
	}
	iss, err := rtr.NewIssuer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = iss.Close() })
	revWaitInSync(t, iss.Verifier())
	return iss
}

func revWaitInSync(t *testing.T, v *rtr.Verifier) {
	t.Helper()
	require.Eventually(t, func() bool { return v.RevocationStatus().InSync }, 10*time.Second, 5*time.Millisecond,
		"revocation feed never got in sync")
}

// revRefused waits until v refuses tok with ErrTokenRevoked. Propagation
// is asynchronous between processes; the bound here is generous and is
// no timing assertion (BENCHMARKS.md has the measured figures).
func revRefused(t *testing.T, v *rtr.Verifier, tok string) {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		_, err = v.Verify(context.Background(), tok)
		return errors.Is(err, rtr.ErrTokenRevoked)
	}, 10*time.Second, 2*time.Millisecond, "token still accepted or refused for another reason: %v", err)
}

func TestInstantRevocation(t *testing.T) {
	ctx := context.Background()
	for _, sp := range revStorePairs {
		t.Run(sp.name, func(t *testing.T) {
			s1, s2 := sp.new(t)
			a, b := revIssuer(t, s1), revIssuer(t, s2)

			t.Run("Revoke", func(t *testing.T) {
				p, err := a.Issue(ctx, "alice")
				require.NoError(t, err)
				other, err := a.Issue(ctx, "alice")
				require.NoError(t, err)
				_, err = b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err)
				require.NoError(t, a.Revoke(ctx, p.RefreshToken))
				_, err = a.Verifier().Verify(ctx, p.AccessToken)
				require.ErrorIs(t, err, rtr.ErrTokenRevoked, "the revoking process refuses at once")
				revRefused(t, b.Verifier(), p.AccessToken)
				_, err = b.Verifier().Verify(ctx, other.AccessToken)
				require.NoError(t, err, "another session of the same subject is untouched")
			})

			t.Run("RevokeAll", func(t *testing.T) {
				var pairs []rtr.Pair
				for range 50 {
					p, err := b.Issue(ctx, "bob")
					require.NoError(t, err)
					pairs = append(pairs, p)
				}
				carol, err := b.Issue(ctx, "carol")
				require.NoError(t, err)
				require.NoError(t, a.RevokeAll(ctx, "bob"))
				for _, p := range pairs {
					revRefused(t, b.Verifier(), p.AccessToken)
				}
				_, err = b.Verifier().Verify(ctx, carol.AccessToken)
				require.NoError(t, err)
				// A new login after the logout everywhere works.
				p, err := a.Issue(ctx, "bob")
				require.NoError(t, err)
				_, err = b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err)
			})

			t.Run("ReuseDetection", func(t *testing.T) {
				stolen, err := a.Issue(ctx, "dave")
				require.NoError(t, err)
				victim, err := a.Refresh(ctx, stolen.RefreshToken) // the victim rotates
				require.NoError(t, err)
				thief, err := b.Refresh(ctx, victim.RefreshToken) // the thief got the newer one first
				require.NoError(t, err)
				_, err = a.Refresh(ctx, victim.RefreshToken) // the victim replays: theft
				require.ErrorIs(t, err, rtr.ErrTokenReused)
				revRefused(t, b.Verifier(), thief.AccessToken)
				revRefused(t, a.Verifier(), thief.AccessToken)
			})

			t.Run("VerifierStartedAfter", func(t *testing.T) {
				p, err := a.Issue(ctx, "erin")
				require.NoError(t, err)
				require.NoError(t, a.Revoke(ctx, p.RefreshToken))
				c := revIssuer(t, s2)
				revRefused(t, c.Verifier(), p.AccessToken)
			})

			t.Run("RevokeOfEndedSessionPublishesAgain", func(t *testing.T) {
				p, err := a.Issue(ctx, "frank")
				require.NoError(t, err)
				ok, err := s1.Revoke(ctx, "frank", p.SessionID) // deleted, never published
				require.NoError(t, err)
				require.True(t, ok)
				_, err = b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err)
				require.NoError(t, a.Revoke(ctx, p.RefreshToken))
				revRefused(t, b.Verifier(), p.AccessToken)
			})

			t.Run("OtherSubjectsSessionIDRevokesNothing", func(t *testing.T) {
				p, err := a.Issue(ctx, "grace")
				require.NoError(t, err)
				require.NoError(t, a.RevokeSession(ctx, "mallory", p.SessionID))
				marker, err := a.Issue(ctx, "grace")
				require.NoError(t, err)
				require.NoError(t, a.Revoke(ctx, marker.RefreshToken))
				revRefused(t, b.Verifier(), marker.AccessToken) // published after mallory's
				_, err = b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err)
			})
		})
	}
}

// TestInstantRevocationExpiry: an entry lives AccessTTL + Leeway +
// RevocationMargin; by then every token of the session has expired.
func TestInstantRevocationExpiry(t *testing.T) {
	ctx := context.Background()
	clock := newClock(time.Now())
	store := rtr.NewMemoryStore()
	iss := revIssuer(t, store, func(c *rtr.Config) { c.Now = clock.Now; c.Leeway = 10 * time.Second })
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	require.NoError(t, iss.Revoke(ctx, p.RefreshToken))
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)
	require.Equal(t, 1, iss.Verifier().RevocationStatus().Entries)

	clock.Advance(5*time.Minute + 10*time.Second - time.Second) // just before the token's exp + leeway
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)

	clock.Advance(time.Second + rtr.RevocationMargin)
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenExpired)

	// A verifier that starts now does not load it: nothing in force.
	late := revIssuer(t, store, func(c *rtr.Config) { c.Now = clock.Now })
	require.Zero(t, late.Verifier().RevocationStatus().Entries)
}

func TestInstantRevocationConfig(t *testing.T) {
	_, err := rtr.NewIssuer(rtr.Config{Store: revNoFeed{rtr.NewMemoryStore()}, Secret: testSecret, InstantRevocation: true})
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	_, err = rtr.NewIssuer(rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret, InstantRevocation: true, RevocationMaxEntries: -1})
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	iss, err := rtr.NewIssuer(rtr.Config{Store: revNoFeed{rtr.NewMemoryStore()}, Secret: testSecret})
	require.NoError(t, err)
	require.False(t, iss.Verifier().RevocationStatus().Enabled)
	require.NoError(t, iss.Close())
}

// revNoFeed hides a store's revocation feed.
type revNoFeed struct{ rtr.Store }

// revFailingFeed is a memory store whose publishing can be switched off.
type revFailingFeed struct {
	*rtr.MemoryStore
	fail bool
}

func (s *revFailingFeed) PublishRevocations(ctx context.Context, now time.Time, revs []rtr.Revocation) error {
	if s.fail {
		return fmt.Errorf("%w: switched off", rtr.ErrStoreUnavailable)
	}
	return s.MemoryStore.PublishRevocations(ctx, now, revs)
}

// TestInstantRevocationPublishFails: the revoking call says so, this
// process refuses anyway, and a retry of Revoke publishes.
func TestInstantRevocationPublishFails(t *testing.T) {
	ctx := context.Background()
	mem := rtr.NewMemoryStore()
	store := &revFailingFeed{MemoryStore: mem}
	a := revIssuer(t, store)
	b := revIssuer(t, mem)
	p, err := a.Issue(ctx, "alice")
	require.NoError(t, err)
	store.fail = true
	require.ErrorIs(t, a.Revoke(ctx, p.RefreshToken), rtr.ErrStoreUnavailable)
	_, err = a.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)
	_, err = b.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err, "not published")
	store.fail = false
	require.NoError(t, a.Revoke(ctx, p.RefreshToken))
	_, err = b.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)

	// Reuse detection: the theft answer stands, and says it was not published.
	q, err := a.Issue(ctx, "bob")
	require.NoError(t, err)
	_, err = a.Refresh(ctx, q.RefreshToken)
	require.NoError(t, err)
	store.fail = true
	_, err = a.Refresh(ctx, q.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrTokenReused)
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
}

func TestInstantRevocationHTTP(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []rtr.Mode{rtr.BearerMode, rtr.CookieMode} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			store := rtr.NewMemoryStore()
			iss := revIssuer(t, store, func(c *rtr.Config) { c.ReuseGrace = hGrace })
			auth, err := rtr.NewHTTP(iss, rtr.WithMode(mode))
			require.NoError(t, err)
			p, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			require.NoError(t, iss.RevokeSession(ctx, "alice", p.SessionID))
			r := hReq("GET", "/", nil)
			if mode == rtr.BearerMode {
				r = hBearer(r, p.AccessToken)
			} else {
				r.AddCookie(&http.Cookie{Name: hAccessName, Value: p.AccessToken})
				r.AddCookie(&http.Cookie{Name: hRefreshName, Value: p.RefreshToken})
			}
			resp := hServe(auth.Require(hWhoami), r)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			if mode == rtr.BearerMode {
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
				return
			}
			cookies := hCookies(resp)
			require.Contains(t, cookies, hAccessName)
			require.Contains(t, cookies, hRefreshName)
			require.Empty(t, cookies[hAccessName].Value, "cleared")
			require.Empty(t, cookies[hRefreshName].Value, "cleared")
		})
	}
}

// TestInstantRevocationFailClosed: past RevocationMaxLag out of sync, a
// fail-closed verifier refuses every token with ErrStoreUnavailable, a
// fail-open one keeps serving and reports the lag; both recover.
func TestInstantRevocationFailClosed(t *testing.T) {
	ctx := context.Background()
	for _, failClosed := range []bool{false, true} {
		t.Run(fmt.Sprint("failClosed=", failClosed), func(t *testing.T) {
			m, c := testredis.Mini(t)
			events := &eventLog{}
			iss := revIssuer(t, rtr.NewRedisStore(c), func(cfg *rtr.Config) {
				cfg.RevocationMaxLag = 200 * time.Millisecond
				cfg.RevocationFailClosed = failClosed
				cfg.OnEvent = events.record
			})
			p, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			m.Close() // Redis goes away
			require.Eventually(t, func() bool { return events.count(rtr.EventFeedLagging) == 1 }, 10*time.Second, 10*time.Millisecond)
			require.False(t, iss.Verifier().RevocationStatus().InSync)
			_, err = iss.Verifier().Verify(ctx, p.AccessToken)
			if failClosed {
				require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
			} else {
				require.NoError(t, err)
			}
			require.NoError(t, m.Restart())
			require.Eventually(t, func() bool { return events.count(rtr.EventFeedRecovered) == 1 }, 10*time.Second, 10*time.Millisecond)
			_, err = iss.Verifier().Verify(ctx, p.AccessToken)
			require.NoError(t, err)
			for _, e := range events.events {
				if strings.HasPrefix(string(e.Type), "feed_") {
					require.Empty(t, e.Subject)
					require.Empty(t, e.SessionID)
				}
			}
		})
	}
}

// With InstantRevocation, an access token dies with its session: here in
// the same process; on a Redis store, in every process on it.
func ExampleConfig_instantRevocation() {
	ctx := context.Background()
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:             rtr.NewMemoryStore(),
		Secret:            []byte("an example secret of at least 32 bytes"),
		InstantRevocation: true,
	})
	if err != nil {
		panic(err)
	}
	defer iss.Close()

	p, _ := iss.Issue(ctx, "alice")
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	fmt.Println("before logout:", err)
	_ = iss.Revoke(ctx, p.RefreshToken)
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	fmt.Println("after logout:", errors.Is(err, rtr.ErrTokenRevoked))
	// Output:
	// before logout: <nil>
	// after logout: true
}

// TestInstantRevocationLongCatchUp: a catch-up of more revocations than
// one page, many of them with the same Until (a RevokeAll), delivers each.
func TestInstantRevocationLongCatchUp(t *testing.T) {
	ctx := context.Background()
	for _, sp := range revStorePairs[1:3] { // Miniredis, RealRedis
		t.Run(sp.name, func(t *testing.T) {
			s1, s2 := sp.new(t)
			feed := s1.(rtr.RevocationFeed)
			now := time.Now()
			var revs []rtr.Revocation
			for i := range 12_000 {
				until := now.Add(time.Hour)
				if i%3 == 0 {
					until = until.Add(time.Duration(i) * time.Millisecond)
				}
				revs = append(revs, rtr.Revocation{Subject: "bulk", SessionID: fmt.Sprint("s", i), Until: until})
			}
			require.NoError(t, feed.PublishRevocations(ctx, now, revs))
			iss := revIssuer(t, s2)
			require.Equal(t, len(revs), iss.Verifier().RevocationStatus().Entries)
		})
	}
}

// TestInstantRevocationEviction: a login past the session cap ends the
// least recently used session, and its access token is refused by every
// process on the store, like any other session end.
func TestInstantRevocationEviction(t *testing.T) {
	ctx := context.Background()
	for _, sp := range revStorePairs {
		t.Run(sp.name, func(t *testing.T) {
			s1, s2 := sp.new(t)
			// One clock, a millisecond between the logins: a store keeps
			// milliseconds, and logins in one millisecond would tie for
			// least recently used (broken by the random session id).
			clock := newClock(time.Now())
			capped := func(c *rtr.Config) { c.MaxSessionsPerSubject, c.Now = 2, clock.Now }
			a, b := revIssuer(t, s1, capped), revIssuer(t, s2, capped)
			oldest, err := a.Issue(ctx, "frank")
			require.NoError(t, err)
			clock.Advance(time.Millisecond)
			second, err := a.Issue(ctx, "frank")
			require.NoError(t, err)
			clock.Advance(time.Millisecond)
			_, err = b.Verifier().Verify(ctx, oldest.AccessToken)
			require.NoError(t, err)

			third, err := a.Issue(ctx, "frank") // evicts the oldest
			require.NoError(t, err)
			revRefused(t, b.Verifier(), oldest.AccessToken)
			_, err = a.Verifier().Verify(ctx, oldest.AccessToken)
			require.ErrorIs(t, err, rtr.ErrTokenRevoked, "the evicting process refuses at once")
			for _, p := range []rtr.Pair{second, third} {
				_, err = b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err, "the sessions kept by the cap still verify")
			}
		})
	}
}
