package rtrtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/rtrtest"
)

func TestClock(t *testing.T) {
	c := rtrtest.NewClock()
	start := c.Now()
	require.WithinDuration(t, time.Now(), start, 2*time.Second, "starts at the real time")
	require.Equal(t, start, start.Round(0), "no monotonic reading")
	require.Equal(t, start, c.Now(), "stands still")

	c.Advance(90 * time.Second)
	require.Equal(t, start.Add(90*time.Second), c.Now())
	c.Advance(-30 * time.Second)
	require.Equal(t, start.Add(time.Minute), c.Now())

	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Set(at)
	require.True(t, at.Equal(c.Now()))
}

func TestClockConcurrentUse(t *testing.T) {
	c := rtrtest.NewClock()
	start := c.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	require.Equal(t, start.Add(800*time.Second), c.Now())
}

func TestNewIssuerAdvancingTheClockExpiresAccessTokens(t *testing.T) {
	clock := rtrtest.NewClock()
	iss := rtrtest.NewIssuer(t, clock, func(c *rtr.Config) { c.AccessTTL = 30 * time.Second })
	p, err := iss.Issue(t.Context(), "alice")
	require.NoError(t, err)
	require.Equal(t, clock.Now().Add(30*time.Second), p.AccessExpiresAt, "the issuer mints by the clock")

	clock.Advance(29 * time.Second)
	c, err := iss.Verifier().Verify(t.Context(), p.AccessToken)
	require.NoError(t, err)
	require.Equal(t, "alice", c.Subject)

	clock.Advance(time.Second)
	_, err = iss.Verifier().Verify(t.Context(), p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenExpired)

	// The store reads the same clock: the session ends after RefreshTTL.
	clock.Advance(rtr.DefaultRefreshTTL)
	_, err = iss.Refresh(t.Context(), p.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrTokenExpired)
}

func TestNewIssuerPreset(t *testing.T) {
	// Two presets never share a secret or a store.
	a, b := rtrtest.Config(nil), rtrtest.Config(nil)
	require.Len(t, a.Secret, 32)
	require.NotEqual(t, a.Secret, b.Secret)
	require.NotSame(t, a.Store, b.Store)
	require.Nil(t, a.Now, "nil clock: real time")
	require.Equal(t, rtr.RecommendedReuseGrace, a.ReuseGrace)

	iss1, iss2 := rtrtest.NewIssuer(t, nil), rtrtest.NewIssuer(t, nil)
	p, err := iss1.Issue(t.Context(), "alice")
	require.NoError(t, err)
	_, err = iss2.Verifier().Verify(t.Context(), p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrInvalidToken)

	// The preset's grace is what cookie mode needs.
	_, err = rtr.NewHTTPAuth(iss1)
	require.NoError(t, err)
}

// TestHandlerTestInBothModes runs an app's handler test the way the
// package documentation suggests, in cookie and in bearer mode.
func TestHandlerTestInBothModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode rtr.Mode
		tls  bool
		opts []rtr.HTTPOption
	}{
		{"CookieTLS", rtr.CookieMode, true, nil},
		{"CookiePlainHTTP", rtr.CookieMode, false, []rtr.HTTPOption{rtr.WithInsecureCookies()}},
		{"Bearer", rtr.BearerMode, false, []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := rtrtest.NewClock()
			iss := rtrtest.NewIssuer(t, clock, func(c *rtr.Config) { c.AccessTTL = time.Minute })
			auth, err := rtr.NewHTTPAuth(iss, tc.opts...)
			require.NoError(t, err)
			srv := httptest.NewUnstartedServer(routes(auth))
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			b := rtrtest.NewBrowser(t, srv)

			var bearer string
			if tc.mode == rtr.CookieMode {
				post(t, b, srv.URL+"/login", url.Values{"user": {"alice"}})
			} else {
				p, err := iss.Issue(t.Context(), "alice")
				require.NoError(t, err)
				bearer = p.AccessToken
			}
			me := func() (int, string) {
				req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/me", nil)
				require.NoError(t, err)
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				resp, err := b.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				var body [64]byte
				n, _ := resp.Body.Read(body[:])
				return resp.StatusCode, string(body[:n])
			}
			code, body := me()
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "alice", body)

			clock.Advance(time.Minute)
			code, body = me()
			if tc.mode == rtr.CookieMode {
				require.Equal(t, http.StatusOK, code, "refreshed transparently")
				require.Equal(t, "alice", body)
			} else {
				require.Equal(t, http.StatusUnauthorized, code, "expired bearer token")
			}
		})
	}
}

func TestBrowsersDoNotShareCookies(t *testing.T) {
	iss := rtrtest.NewIssuer(t, rtrtest.NewClock())
	auth, err := rtr.NewHTTPAuth(iss)
	require.NoError(t, err)
	srv := httptest.NewTLSServer(routes(auth))
	t.Cleanup(srv.Close)

	// The trap: srv.Client() is one client, so a jar set on it is shared.
	require.Same(t, srv.Client(), srv.Client())

	alice, bob := rtrtest.NewBrowser(t, srv), rtrtest.NewBrowser(t, srv)
	require.NotSame(t, alice, bob)
	require.NotSame(t, alice.Jar, bob.Jar)
	require.Nil(t, srv.Client().Jar, "the server's own client is left alone")

	post(t, alice, srv.URL+"/login", url.Values{"user": {"alice"}})
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	require.Len(t, alice.Jar.Cookies(u), 2, "alice has access and refresh cookies")
	require.Empty(t, bob.Jar.Cookies(u), "bob has none")
	code, _ := get(t, bob, srv.URL+"/me")
	require.Equal(t, http.StatusUnauthorized, code)

	post(t, bob, srv.URL+"/login", url.Values{"user": {"bob"}})
	for c, want := range map[*http.Client]string{alice: "alice", bob: "bob"} {
		code, body := get(t, c, srv.URL+"/me")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, want, body)
	}
	sessions, err := iss.Sessions(t.Context(), "alice")
	require.NoError(t, err)
	require.Len(t, sessions, 1, "bob's login did not touch alice's session")
}

func TestNewClaims(t *testing.T) {
	c := rtrtest.NewClaims("alice", map[string]any{"role": "admin", "level": 3})
	require.Equal(t, "alice", c.Subject)
	require.NotEmpty(t, c.SessionID)
	require.NotEmpty(t, c.ID)
	require.NotNil(t, c.ExpiresAt)
	var role string
	require.True(t, c.Decode("role", &role))
	require.Equal(t, "admin", role)
	level, ok := c.Get("level")
	require.True(t, ok)
	require.InDelta(t, 3.0, level, 0, "numbers decode as float64, as in production")
	require.Equal(t, map[string]any{"role": "admin", "level": 3.0}, c.Extra())

	require.Empty(t, rtrtest.NewClaims("bob", nil).Extra())
	require.NotEqual(t, c.SessionID, rtrtest.NewClaims("alice", nil).SessionID)
}

func TestNewClaimsPanicsOnBadArguments(t *testing.T) {
	for name, call := range map[string]func(){
		"EmptySubject":  func() { rtrtest.NewClaims("", nil) },
		"ReservedClaim": func() { rtrtest.NewClaims("alice", map[string]any{"sub": "mallory"}) },
		"NotJSON":       func() { rtrtest.NewClaims("alice", map[string]any{"f": func() {}}) },
	} {
		assert.Panics(t, call, name)
	}
}

func TestWithClaims(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r2 := rtrtest.WithClaims(r, "alice", map[string]any{"role": "admin"})
	_, ok := rtr.ClaimsFromContext(r.Context())
	require.False(t, ok, "the original request is untouched")
	c, ok := rtr.ClaimsFromContext(r2.Context())
	require.True(t, ok)
	require.Equal(t, "alice", c.Subject)

	// rtr.ContextWithClaims is the building block; nil is anonymous.
	ctx := rtr.ContextWithClaims(context.Background(), c)
	got, ok := rtr.ClaimsFromContext(ctx)
	require.True(t, ok)
	require.Same(t, c, got)
	_, ok = rtr.ClaimsFromContext(rtr.ContextWithClaims(ctx, nil))
	require.False(t, ok)
}

func TestWithClaimsDrivesAHandlerBehindRequire(t *testing.T) {
	rec := httptest.NewRecorder()
	me(rec, rtrtest.WithClaims(httptest.NewRequest("GET", "/me", nil), "carol", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "carol", rec.Body.String())
}
