package rtr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/internal/testredis"
	"github.com/rtr-go/rtr/rtrtest"
)

func TestInstantRevocation(t *testing.T) {
	ctx := context.Background()
	for _, sp := range storePairs {
		t.Run(sp.name, func(t *testing.T) {
			s1, s2 := sp.new(t)
			a, b := newRevocationIssuer(t, s1), newRevocationIssuer(t, s2)

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
				issuertest.WaitRevoked(t, b.Verifier(), p.AccessToken)
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
					issuertest.WaitRevoked(t, b.Verifier(), p.AccessToken)
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
				issuertest.WaitRevoked(t, b.Verifier(), thief.AccessToken)
				issuertest.WaitRevoked(t, a.Verifier(), thief.AccessToken)
			})

			t.Run("VerifierStartedAfter", func(t *testing.T) {
				p, err := a.Issue(ctx, "erin")
				require.NoError(t, err)
				require.NoError(t, a.Revoke(ctx, p.RefreshToken))
				c := newRevocationIssuer(t, s2)
				issuertest.WaitRevoked(t, c.Verifier(), p.AccessToken)
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
				issuertest.WaitRevoked(t, b.Verifier(), p.AccessToken)
			})

			t.Run("OtherSubjectsSessionIDRevokesNothing", func(t *testing.T) {
				p, err := a.Issue(ctx, "grace")
				require.NoError(t, err)
				require.NoError(t, a.RevokeSession(ctx, "mallory", p.SessionID))
				marker, err := a.Issue(ctx, "grace")
				require.NoError(t, err)
				require.NoError(t, a.Revoke(ctx, marker.RefreshToken))
				issuertest.WaitRevoked(t, b.Verifier(), marker.AccessToken) // published after mallory's
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
	clock := testkit.NewClock(time.Now())
	store := rtr.NewMemoryStore()
	iss := newRevocationIssuer(t, store, func(c *rtr.Config) { c.Now = clock.Now; c.Leeway = 10 * time.Second })
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
	late := newRevocationIssuer(t, store, func(c *rtr.Config) { c.Now = clock.Now })
	require.Zero(t, late.Verifier().RevocationStatus().Entries)
}

func TestInstantRevocationConfig(t *testing.T) {
	_, err := rtr.NewIssuer(rtr.Config{Store: storeWithoutFeed{rtr.NewMemoryStore()}, Secret: testSecret, InstantRevocation: true})
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	_, err = rtr.NewIssuer(rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret, InstantRevocation: true, RevocationMaxEntries: -1})
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	iss, err := rtr.NewIssuer(rtr.Config{Store: storeWithoutFeed{rtr.NewMemoryStore()}, Secret: testSecret})
	require.NoError(t, err)
	require.False(t, iss.Verifier().RevocationStatus().Enabled)
	require.NoError(t, iss.Close())
}

// storeWithoutFeed hides a store's revocation feed.
type storeWithoutFeed struct{ rtr.Store }

// switchableFeedStore is a memory store whose publishing can be switched off.
type switchableFeedStore struct {
	*rtr.MemoryStore
	fail bool
}

func (s *switchableFeedStore) PublishRevocations(ctx context.Context, now time.Time, revs []rtr.Revocation) error {
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
	store := &switchableFeedStore{MemoryStore: mem}
	a := newRevocationIssuer(t, store)
	b := newRevocationIssuer(t, mem)
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
			iss := newRevocationIssuer(t, store, func(c *rtr.Config) { c.ReuseGrace = httpGrace })
			auth, err := rtr.NewHTTPAuth(iss, rtr.WithMode(mode))
			require.NoError(t, err)
			p, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			require.NoError(t, iss.RevokeSession(ctx, "alice", p.SessionID))
			r := newRequest("GET", "/", nil)
			if mode == rtr.BearerMode {
				r = withBearer(r, p.AccessToken)
			} else {
				r.AddCookie(&http.Cookie{Name: accessCookieName, Value: p.AccessToken})
				r.AddCookie(&http.Cookie{Name: refreshCookieName, Value: p.RefreshToken})
			}
			resp := serve(auth.Require(whoami), r)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			if mode == rtr.BearerMode {
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
				return
			}
			cookies := setCookies(resp)
			require.Contains(t, cookies, accessCookieName)
			require.Contains(t, cookies, refreshCookieName)
			require.Empty(t, cookies[accessCookieName].Value, "cleared")
			require.Empty(t, cookies[refreshCookieName].Value, "cleared")
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
			events := &issuertest.EventLog{}
			iss := newRevocationIssuer(t, rtr.NewRedisStore(c), func(cfg *rtr.Config) {
				cfg.RevocationMaxLag = 200 * time.Millisecond
				cfg.RevocationFailClosed = failClosed
				cfg.OnEvent = events.Record
			})
			p, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			m.Close() // Redis goes away
			require.Eventually(t, func() bool { return events.Count(rtr.EventFeedLagging) == 1 }, 10*time.Second, 10*time.Millisecond)
			require.False(t, iss.Verifier().RevocationStatus().InSync)
			_, err = iss.Verifier().Verify(ctx, p.AccessToken)
			if failClosed {
				require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
			} else {
				require.NoError(t, err)
			}
			require.NoError(t, m.Restart())
			require.Eventually(t, func() bool { return events.Count(rtr.EventFeedRecovered) == 1 }, 10*time.Second, 10*time.Millisecond)
			_, err = iss.Verifier().Verify(ctx, p.AccessToken)
			require.NoError(t, err)
			for _, e := range events.All() {
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
	for _, sp := range storePairs[1:3] { // Miniredis, RealRedis
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
			iss := newRevocationIssuer(t, s2)
			require.Equal(t, len(revs), iss.Verifier().RevocationStatus().Entries)
		})
	}
}

// TestInstantRevocationEviction: a login past the session cap ends the
// least recently used session, and its access token is refused by every
// process on the store, like any other session end.
func TestInstantRevocationEviction(t *testing.T) {
	ctx := context.Background()
	for _, sp := range storePairs {
		t.Run(sp.name, func(t *testing.T) {
			s1, s2 := sp.new(t)
			// One clock, moved between logins: stores keep milliseconds, and
			// the cap breaks ties within one at random.
			clock := rtrtest.NewClock()
			capped := func(c *rtr.Config) { c.MaxSessionsPerSubject = 2; c.Now = clock.Now }
			a, b := newRevocationIssuer(t, s1, capped), newRevocationIssuer(t, s2, capped)
			oldest, err := a.Issue(ctx, "frank")
			require.NoError(t, err)
			clock.Advance(time.Second)
			second, err := a.Issue(ctx, "frank")
			require.NoError(t, err)
			clock.Advance(time.Second)
			_, err = b.Verifier().Verify(ctx, oldest.AccessToken)
			require.NoError(t, err)

			third, err := a.Issue(ctx, "frank") // evicts the oldest
			require.NoError(t, err)
			issuertest.WaitRevoked(t, b.Verifier(), oldest.AccessToken)
			_, err = a.Verifier().Verify(ctx, oldest.AccessToken)
			require.ErrorIs(t, err, rtr.ErrTokenRevoked, "the evicting process refuses at once")
			for _, p := range []rtr.Pair{second, third} {
				_, err = b.Verifier().Verify(ctx, p.AccessToken)
				require.NoError(t, err, "the sessions kept by the cap still verify")
			}
		})
	}
}

// TestRevokeSessionMadeUpIDsPublishNothing: ids given to RevokeSession come
// from outside (a device-list form); ids of sessions the store does not
// have are not published, so nobody can fill every verifier's revocation
// set (past its bound every token would be refused).
func TestRevokeSessionMadeUpIDsPublishNothing(t *testing.T) {
	ctx := context.Background()
	iss := newRevocationIssuer(t, rtr.NewMemoryStore(), func(c *rtr.Config) { c.RevocationMaxEntries = 640 })
	victim, err := iss.Issue(ctx, "victim")
	require.NoError(t, err)
	for i := range 2000 {
		require.NoError(t, iss.RevokeSession(ctx, "mallory", fmt.Sprintf("made-up-%d", i)))
	}
	_, err = iss.Verifier().Verify(ctx, victim.AccessToken)
	require.NoError(t, err)
	require.Zero(t, iss.Verifier().RevocationStatus().Entries, "nothing was published")

	// A real session's end is still published.
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	require.NoError(t, iss.RevokeSession(ctx, "alice", p.SessionID))
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)
}

// TestRevocationCoversFollowerLeeway: a verifier that allows more clock
// skew than the issuer keeps refusing a revoked session's token for as
// long as that token verifies there.
func TestRevocationCoversFollowerLeeway(t *testing.T) {
	ctx := context.Background()
	store := rtr.NewMemoryStore()
	clock := rtrtest.NewClock()
	iss := newRevocationIssuer(t, store, func(c *rtr.Config) { c.AccessTTL = time.Minute; c.Now = clock.Now })
	v, err := rtr.NewVerifier(rtr.VerifierConfig{Secret: testSecret, Issuer: "https://auth.example",
		Leeway: 2 * time.Minute, Now: clock.Now, RevocationFeed: store})
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	issuertest.WaitFeedInSync(t, v)
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	require.NoError(t, iss.Revoke(ctx, p.RefreshToken))
	clock.Advance(time.Minute + 10*time.Second) // past the issuer's AccessTTL + margin, within exp + the verifier's leeway
	_, err = v.Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenRevoked)
}

// feedDown is a memory store whose revocation feed can be made to fail.
type feedDown struct {
	*rtr.MemoryStore
	fail atomic.Bool
}

func (s *feedDown) PublishRevocations(ctx context.Context, now time.Time, revs []rtr.Revocation) error {
	if s.fail.Load() {
		return fmt.Errorf("%w: feed down", rtr.ErrStoreUnavailable)
	}
	return s.MemoryStore.PublishRevocations(ctx, now, revs)
}

// TestLoginAtCapWithFeedDown: a login at the cap whose eviction cannot be
// published hands out no token and ends its new session again, so the
// retry during the outage finds room and evicts no further real session.
func TestLoginAtCapWithFeedDown(t *testing.T) {
	ctx := context.Background()
	store := &feedDown{MemoryStore: rtr.NewMemoryStore()}
	clock := rtrtest.NewClock()
	iss := newRevocationIssuer(t, store, func(c *rtr.Config) { c.MaxSessionsPerSubject = 3; c.Now = clock.Now })
	var first []string
	for range 3 {
		clock.Advance(time.Second)
		p, err := iss.Issue(ctx, "alice")
		require.NoError(t, err)
		first = append(first, p.SessionID)
	}
	store.fail.Store(true)
	clock.Advance(time.Second)
	_, err := iss.Issue(ctx, "alice")
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable, "the eviction could not be published")
	sessions, err := iss.Sessions(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, sessions, 2, "the oldest was evicted, and the new session did not stay behind")

	clock.Advance(time.Second)
	retry, err := iss.Issue(ctx, "alice")
	require.NoError(t, err, "the retry finds room: nothing to evict, nothing to publish")
	sessions, err = iss.Sessions(ctx, "alice")
	require.NoError(t, err)
	var ids []string
	for _, s := range sessions {
		ids = append(ids, s.ID)
	}
	require.ElementsMatch(t, []string{first[1], first[2], retry.SessionID}, ids)
}

// TestRedisCatchUpSurvivesExpiryBetweenPages: members that expire (and are
// removed by another process's publish) while a follower pages through
// the record do not make it skip revocations still in force. Real Redis:
// miniredis pages ZSCAN by offset.
func TestRedisCatchUpSurvivesExpiryBetweenPages(t *testing.T) {
	c := testredis.Standalone(t)
	p := testredis.Prefix()
	s := rtr.NewRedisStore(c, rtr.WithKeyPrefix(p))
	ctx := context.Background()
	now := time.Now()
	var revs []rtr.Revocation
	for i := range 5000 { // one RevokeAll: one Until for all
		revs = append(revs, rtr.Revocation{Subject: "a", SessionID: fmt.Sprintf("a%05d", i), Until: now.Add(2 * time.Second)})
	}
	for i := range 100 {
		revs = append(revs, rtr.Revocation{Subject: "b", SessionID: fmt.Sprintf("b%05d", i), Until: now.Add(time.Hour)})
	}
	require.NoError(t, s.PublishRevocations(ctx, now, revs))
	key := p + "{:revocations}"
	c.AddHook(&afterFirstRead{do: func() {
		// Another process's publish, later, removes the expired members.
		_ = c.ZRemRangeByScore(context.Background(), key, "-inf", fmt.Sprint(now.Add(3*time.Second).UnixMilli())).Err()
	}})
	f := &revCollector{got: map[string]bool{}, up: make(chan struct{})}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.FollowRevocations(fctx, func() time.Time { return now }, f) }()
	select {
	case <-f.up:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never caught up")
	}
	cancel()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range 100 {
		require.True(t, f.got[fmt.Sprintf("b/b%05d", i)], "revocation b%05d in force was never delivered", i)
	}
}

// afterFirstRead runs do once, after the first command that reads the
// revocation record.
type afterFirstRead struct {
	once sync.Once
	do   func()
}

func (h *afterFirstRead) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *afterFirstRead) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *afterFirstRead) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if n := cmd.Name(); n == "zscan" || n == "zrangebyscore" {
			h.once.Do(h.do)
		}
		return err
	}
}

// revCollector is a RevocationFollower that records what it was told.
type revCollector struct {
	mu   sync.Mutex
	got  map[string]bool
	up   chan struct{}
	once sync.Once
}

func (c *revCollector) Revoked(revs []rtr.Revocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range revs {
		c.got[r.Subject+"/"+r.SessionID] = true
	}
}
func (c *revCollector) FeedUp()        { c.once.Do(func() { close(c.up) }) }
func (c *revCollector) FeedDown(error) {}
