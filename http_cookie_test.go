package rtr_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

func TestCookieLoginSetsHardenedCookies(t *testing.T) {
	f := newHTTPFixture(t, nil)
	req := newRequest(http.MethodPost, "/login?user=alice", nil)
	req.Header.Set("User-Agent", "test-agent/1.0")
	resp := serve(f.loginHandler(), req)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Contains(t, resp.Header.Values("Vary"), "Cookie")

	c := setCookies(resp)
	require.Len(t, c, 2)
	for name, maxAge := range map[string]int{accessCookieName: int(httpAccessTTL.Seconds()), refreshCookieName: int(httpRefreshTTL.Seconds())} {
		ck := c[name]
		require.NotNil(t, ck, name)
		assert.True(t, ck.HttpOnly, name)
		assert.True(t, ck.Secure, name)
		assert.Equal(t, http.SameSiteLaxMode, ck.SameSite, name)
		assert.Equal(t, "/", ck.Path, name)
		assert.Empty(t, ck.Domain, name)
		assert.Equal(t, maxAge, ck.MaxAge, name)
	}
	assert.Equal(t, "at+jwt", headerTyp(t, c[accessCookieName].Value))
	assert.Equal(t, "rt+jwt", headerTyp(t, c[refreshCookieName].Value))

	sessions, err := f.iss.Sessions(t.Context(), "alice")
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	assert.Equal(t, "test-agent/1.0", sessions[0].Meta["user_agent"])
	assert.Equal(t, "192.0.2.1", sessions[0].Meta["ip"]) // httptest's RemoteAddr
}

func TestCookieOptions(t *testing.T) {
	t.Run("insecure for local HTTP", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithInsecureCookies())
		assert.Equal(t, "rtr_access", f.auth.AccessCookieName())
		assert.Equal(t, "rtr_refresh", f.auth.RefreshCookieName())
		a, r := f.cookieLogin("alice")
		assert.False(t, a.Secure)
		assert.False(t, r.Secure)
		assert.True(t, a.HttpOnly)
		assert.True(t, r.HttpOnly)
	})
	t.Run("custom names, domain and SameSite", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithCookies(rtr.CookieOptions{
			AccessName: "at", RefreshName: "rt", Domain: "example.com", SameSite: http.SameSiteStrictMode,
		}))
		a, r := f.cookieLogin("alice")
		// A Domain attribute rules out __Host-; __Secure- still applies.
		assert.Equal(t, "__Secure-at", a.Name)
		assert.Equal(t, "__Secure-rt", r.Name)
		assert.Equal(t, "example.com", a.Domain)
		assert.Equal(t, http.SameSiteStrictMode, r.SameSite)
	})
	bad := map[string][]rtr.HTTPOption{
		"prefixed base name":    {rtr.WithCookies(rtr.CookieOptions{AccessName: "__Host-x"})},
		"invalid name":          {rtr.WithCookies(rtr.CookieOptions{RefreshName: "a b"})},
		"same names":            {rtr.WithCookies(rtr.CookieOptions{AccessName: "x", RefreshName: "x"})},
		"SameSite=None on HTTP": {rtr.WithInsecureCookies(), rtr.WithCookies(rtr.CookieOptions{SameSite: http.SameSiteNoneMode})},
		"refresh cookie path":   {rtr.WithRefreshCookie("/auth/")},
		"reuse status 400":      {rtr.WithReuseStatus(400)},
		"unknown mode":          {rtr.WithMode(rtr.Mode(9))},
		"no token source":       {rtr.WithTokenLocations()},
		"realm with a quote":    {rtr.WithMode(rtr.BearerMode), rtr.WithRealm(`a"b`)},
	}
	for name, opts := range bad {
		t.Run(name, func(t *testing.T) {
			iss, err := rtr.NewIssuer(rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret, ReuseGrace: httpGrace})
			require.NoError(t, err)
			_, err = rtr.NewHTTPAuth(iss, opts...)
			require.ErrorIs(t, err, rtr.ErrInvalidConfig)
		})
	}
}

func TestCookieModeNeedsGrace(t *testing.T) {
	iss, err := rtr.NewIssuer(rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret})
	require.NoError(t, err)
	_, err = rtr.NewHTTPAuth(iss)
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	_, err = rtr.NewHTTPAuth(iss, rtr.WithMode(rtr.BearerMode)) // bearer mode does not refresh by itself
	require.NoError(t, err)
	_, err = rtr.NewHTTPAuth(nil)
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
}

// TestCookieRequire walks every branch of the cookie-mode middleware.
func TestCookieRequire(t *testing.T) {
	type setup = cookieSetup
	cases := []struct {
		name    string
		opts    []rtr.HTTPOption
		prepare func(t *testing.T, s *setup) *http.Request
		status  int
		code    string
		// cookies the response must set (true) or delete (false); absent
		// names must not appear in Set-Cookie at all.
		cookies  map[string]bool
		rotated  bool // the request was served after a rotation
		identity string
		event    rtr.EventType
	}{
		{
			name:    "no cookies",
			prepare: func(t *testing.T, s *setup) *http.Request { return newRequest("GET", "/", nil) },
			status:  401, code: "unauthorized", cookies: map[string]bool{},
		},
		{
			name:    "valid access cookie",
			prepare: func(t *testing.T, s *setup) *http.Request { return newRequest("GET", "/", nil, s.access, s.refresh) },
			status:  200, cookies: map[string]bool{}, identity: "alice",
		},
		{
			name:    "valid access cookie, no refresh cookie",
			prepare: func(t *testing.T, s *setup) *http.Request { return newRequest("GET", "/", nil, s.access) },
			status:  200, cookies: map[string]bool{}, identity: "alice",
		},
		{
			name: "expired access cookie is refreshed",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.f.clock.Advance(httpAccessTTL + time.Second)
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 200, cookies: map[string]bool{accessCookieName: true, refreshCookieName: true},
			rotated: true, identity: "alice", event: rtr.EventRotated,
		},
		{
			name: "missing access cookie is refreshed",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.f.clock.Advance(httpAccessTTL + time.Second)
				return newRequest("GET", "/", nil, s.refresh)
			},
			status: 200, cookies: map[string]bool{accessCookieName: true, refreshCookieName: true},
			rotated: true, identity: "alice", event: rtr.EventRotated,
		},
		{
			name: "tampered access cookie is 401 at once, no refresh",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.access.Value = testkit.Tamper(t, s.access.Value)
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false},
		},
		{
			name: "refresh token in the access cookie is 401 at once",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.access.Value = s.refresh.Value
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false},
		},
		{
			name: "expired access cookie, no refresh cookie",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.f.clock.Advance(httpAccessTTL + time.Second)
				return newRequest("GET", "/", nil, s.access)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false},
		},
		{
			name: "tampered refresh cookie",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.refresh.Value = testkit.Tamper(t, s.refresh.Value)
				return newRequest("GET", "/", nil, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
		},
		{
			name: "access token in the refresh cookie",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.refresh.Value = s.access.Value
				return newRequest("GET", "/", nil, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
		},
		{
			name: "expired refresh cookie",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.f.clock.Advance(httpRefreshTTL + time.Second)
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
		},
		{
			name: "session revoked elsewhere",
			prepare: func(t *testing.T, s *setup) *http.Request {
				require.NoError(t, s.f.iss.RevokeAll(t.Context(), "alice"))
				s.f.clock.Advance(httpAccessTTL + time.Second)
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
		},
		{
			name: "expired access of another session",
			prepare: func(t *testing.T, s *setup) *http.Request {
				other, _ := s.f.cookieLogin("alice")
				s.f.clock.Advance(httpAccessTTL + time.Second)
				return newRequest("GET", "/", nil, other, s.refresh)
			},
			status: 401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
		},
		{
			name:    "reuse detected",
			prepare: replayStale,
			status:  401, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
			event: rtr.EventReuseDetected,
		},
		{
			name:    "reuse detected, 403 configured",
			opts:    []rtr.HTTPOption{rtr.WithReuseStatus(http.StatusForbidden)},
			prepare: replayStale,
			status:  403, code: "invalid_token", cookies: map[string]bool{accessCookieName: false, refreshCookieName: false},
			event: rtr.EventReuseDetected,
		},
		{
			name: "store outage while refreshing: 503, nothing cleared",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.f.store.down.Store(true)
				s.f.clock.Advance(httpAccessTTL + time.Second)
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 503, code: "temporarily_unavailable", cookies: map[string]bool{},
		},
		{
			name: "store outage with a valid access cookie: served",
			prepare: func(t *testing.T, s *setup) *http.Request {
				s.f.store.down.Store(true)
				return newRequest("GET", "/", nil, s.access, s.refresh)
			},
			status: 200, cookies: map[string]bool{}, identity: "alice",
		},
		{
			name: "cross-origin POST",
			prepare: func(t *testing.T, s *setup) *http.Request {
				r := newRequest("POST", "/", nil, s.access, s.refresh)
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				return r
			},
			status: 403, code: "cross_origin", cookies: map[string]bool{},
		},
		{
			name: "cross-origin POST from an old browser",
			prepare: func(t *testing.T, s *setup) *http.Request {
				r := newRequest("POST", "http://example.com/", nil, s.access, s.refresh)
				r.Header.Set("Origin", "https://evil.example")
				return r
			},
			status: 403, code: "cross_origin", cookies: map[string]bool{},
		},
		{
			name: "same-origin POST",
			prepare: func(t *testing.T, s *setup) *http.Request {
				r := newRequest("POST", "/", nil, s.access, s.refresh)
				r.Header.Set("Sec-Fetch-Site", "same-origin")
				return r
			},
			status: 200, cookies: map[string]bool{}, identity: "alice",
		},
		{
			name: "cross-site GET (a link) is served",
			prepare: func(t *testing.T, s *setup) *http.Request {
				r := newRequest("GET", "/", nil, s.access, s.refresh)
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				return r
			},
			status: 200, cookies: map[string]bool{}, identity: "alice",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil, tc.opts...)
			s := &setup{f: f}
			s.access, s.refresh = f.cookieLogin("alice")
			sid := testkit.Claim(t, s.refresh.Value, "sid").(string)
			req := tc.prepare(t, s)
			rotatedBefore := f.events.Count(rtr.EventRotated)
			reusedBefore := f.events.Count(rtr.EventReuseDetected)
			called := false
			h := f.auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				whoami.ServeHTTP(w, r)
			}))
			resp := serve(h, req)

			require.Equal(t, tc.status, resp.StatusCode)
			assert.Contains(t, resp.Header.Values("Vary"), "Cookie")
			assert.Empty(t, resp.Header.Get("WWW-Authenticate"), "no bearer challenge in cookie mode")
			set := setCookies(resp)
			assert.Len(t, set, len(tc.cookies), "Set-Cookie names: %v", set)
			for name, keep := range tc.cookies {
				c := set[name]
				require.NotNil(t, c, "Set-Cookie %s", name)
				assert.True(t, c.HttpOnly && c.Secure && c.Path == "/", "attributes of %s", name)
				if keep {
					assert.NotEmpty(t, c.Value, name)
					assert.Positive(t, c.MaxAge, name)
				} else {
					assert.Empty(t, c.Value, name)
					assert.Negative(t, c.MaxAge, name)
				}
			}
			if len(tc.cookies) > 0 {
				assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			}
			if tc.status == 200 {
				require.True(t, called)
				assert.Equal(t, tc.identity+" "+sid, readBody(t, resp))
			} else {
				require.False(t, called, "next must not run")
				code, desc := oauthError(t, resp)
				assert.Equal(t, tc.code, code)
				assert.NotEmpty(t, desc)
				assert.NotContains(t, desc, s.refresh.Value)
			}
			if tc.rotated {
				assert.NotEqual(t, s.refresh.Value, set[refreshCookieName].Value)
				assert.EqualValues(t, 2, testkit.Claim(t, set[refreshCookieName].Value, "gen"))
				assert.Equal(t, rotatedBefore+1, f.events.Count(rtr.EventRotated))
			} else {
				assert.Equal(t, rotatedBefore, f.events.Count(rtr.EventRotated), "no rotation")
			}
			if tc.event == rtr.EventReuseDetected {
				assert.Equal(t, reusedBefore+1, f.events.Count(rtr.EventReuseDetected))
			}
		})
	}
}

// cookieSetup is a logged-in cookie-mode fixture.
type cookieSetup struct {
	f               *httpFixture
	access, refresh *http.Cookie
}

// replayStale rotates once, lets the grace pass and returns a request with
// the first, now stale, refresh token.
func replayStale(t *testing.T, s *cookieSetup) *http.Request {
	_, err := s.f.iss.Refresh(t.Context(), s.refresh.Value)
	require.NoError(t, err)
	s.f.clock.Advance(httpAccessTTL + time.Second)
	return newRequest("GET", "/", nil, s.access, s.refresh)
}

func TestCookieReuseRevokesSession(t *testing.T) {
	f := newHTTPFixture(t, nil)
	access, refresh := f.cookieLogin("alice")
	p, err := f.iss.Refresh(t.Context(), refresh.Value) // the thief rotates first
	require.NoError(t, err)
	f.clock.Advance(httpAccessTTL + time.Second)
	resp := serve(f.auth.Require(whoami), newRequest("GET", "/", nil, access, refresh))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// The thief's token is dead too.
	_, err = f.iss.Refresh(t.Context(), p.RefreshToken)
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
}

func TestCookieOptional(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, f *httpFixture, access, refresh *http.Cookie) *http.Request
		status  int
		body    string // "alice" for the identity
		clears  int    // cookies deleted
	}{
		{"anonymous", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			return newRequest("GET", "/", nil)
		}, 200, "anonymous", 0},
		{"logged in", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			return newRequest("GET", "/", nil, a, r)
		}, 200, "alice", 0},
		{"refreshed", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			f.clock.Advance(httpAccessTTL + time.Second)
			return newRequest("GET", "/", nil, a, r)
		}, 200, "alice", 0},
		{"tampered access goes on anonymously", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			a.Value = testkit.Tamper(t, a.Value)
			return newRequest("GET", "/", nil, a, r)
		}, 200, "anonymous", 1},
		{"ended session goes on anonymously", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			require.NoError(t, f.iss.RevokeAll(t.Context(), "alice"))
			f.clock.Advance(httpAccessTTL + time.Second)
			return newRequest("GET", "/", nil, a, r)
		}, 200, "anonymous", 2},
		{"reuse is still refused", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			_, err := f.iss.Refresh(t.Context(), r.Value)
			require.NoError(t, err)
			f.clock.Advance(httpAccessTTL + time.Second)
			return newRequest("GET", "/", nil, a, r)
		}, 401, "", 2},
		{"store outage is still 503", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			f.store.down.Store(true)
			f.clock.Advance(httpAccessTTL + time.Second)
			return newRequest("GET", "/", nil, a, r)
		}, 503, "", 0},
		{"cross-origin POST is still refused", func(t *testing.T, f *httpFixture, a, r *http.Cookie) *http.Request {
			req := newRequest("POST", "/", nil)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			return req
		}, 403, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil)
			a, r := f.cookieLogin("alice")
			resp := serve(f.auth.Optional(whoami), tc.prepare(t, f, a, r))
			require.Equal(t, tc.status, resp.StatusCode)
			body := readBody(t, resp)
			if tc.status == 200 {
				assert.True(t, strings.HasPrefix(body, tc.body), body)
			}
			cleared := 0
			for _, c := range resp.Cookies() {
				if c.MaxAge < 0 {
					cleared++
				}
			}
			assert.Equal(t, tc.clears, cleared)
		})
	}
}

func TestCookieRefreshHandler(t *testing.T) {
	f := newHTTPFixture(t, nil)
	access, refresh := f.cookieLogin("alice")
	h := f.auth.RefreshHandler()

	resp := serve(h, newRequest("POST", "/refresh", nil, access, refresh))
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	set := setCookies(resp)
	require.NotNil(t, set[accessCookieName])
	require.NotNil(t, set[refreshCookieName])
	assert.EqualValues(t, 2, testkit.Claim(t, set[refreshCookieName].Value, "gen"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	resp = serve(h, newRequest("GET", "/refresh", nil, access, refresh))
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))

	resp = serve(h, newRequest("POST", "/refresh", nil))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	code, _ := oauthError(t, resp)
	assert.Equal(t, "invalid_grant", code)

	cross := newRequest("POST", "/refresh", nil, set[accessCookieName], set[refreshCookieName])
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	resp = serve(h, cross)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, resp.Cookies())

	// The stale generation-1 cookie after the grace: reuse, both cleared.
	f.clock.Advance(httpGrace + time.Second)
	resp = serve(h, newRequest("POST", "/refresh", nil, refresh))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Len(t, resp.Cookies(), 2)
	assert.Equal(t, 1, f.events.Count(rtr.EventReuseDetected))
}

func TestCookieLogout(t *testing.T) {
	t.Run("this session", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		access, refresh := f.cookieLogin("alice")
		_, other := f.cookieLogin("alice")
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", nil, access, refresh))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		set := setCookies(resp)
		require.Len(t, set, 2)
		for _, c := range set {
			assert.Negative(t, c.MaxAge)
		}
		_, err := f.iss.Refresh(t.Context(), refresh.Value)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
		_, err = f.iss.Refresh(t.Context(), other.Value)
		require.NoError(t, err, "other sessions stay")
	})
	t.Run("with next and an expired access cookie only", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		access, refresh := f.cookieLogin("alice")
		f.clock.Advance(httpAccessTTL + time.Second)
		resp := serve(f.auth.LogoutHandler(http.RedirectHandler("/", http.StatusSeeOther)), newRequest("POST", "/logout", nil, access))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, err := f.iss.Refresh(t.Context(), refresh.Value)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	})
	t.Run("without cookies is success", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", nil))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	})
	t.Run("store outage: 503, nothing cleared", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		access, refresh := f.cookieLogin("alice")
		f.store.down.Store(true)
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", nil, access, refresh))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Empty(t, resp.Cookies())
		f.store.down.Store(false)
		_, err := f.iss.Refresh(t.Context(), refresh.Value)
		require.NoError(t, err, "the session is still there")
	})
	t.Run("cross-origin", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		access, refresh := f.cookieLogin("alice")
		req := newRequest("POST", "/logout", nil, access, refresh)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp := serve(f.auth.LogoutHandler(nil), req)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		_, err := f.iss.Refresh(t.Context(), refresh.Value)
		require.NoError(t, err)
	})
	t.Run("GET is refused", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		access, refresh := f.cookieLogin("alice")
		resp := serve(f.auth.LogoutHandler(nil), newRequest("GET", "/logout", nil, access, refresh))
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
}

func TestCookieLogoutAll(t *testing.T) {
	t.Run("every session", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		_, r1 := f.cookieLogin("alice")
		a2, r2 := f.cookieLogin("alice")
		_, bob := f.cookieLogin("bob")
		resp := serve(f.auth.LogoutAllHandler(nil), newRequest("POST", "/logout-all", nil, a2, r2))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Len(t, resp.Cookies(), 2)
		for _, r := range []*http.Cookie{r1, r2} {
			_, err := f.iss.Refresh(t.Context(), r.Value)
			require.ErrorIs(t, err, rtr.ErrSessionNotFound)
		}
		_, err := f.iss.Refresh(t.Context(), bob.Value)
		require.NoError(t, err)
		assert.Equal(t, 2, f.events.Count(rtr.EventRevoked))
	})
	t.Run("after a transparent refresh", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		a, r := f.cookieLogin("alice")
		f.clock.Advance(httpAccessTTL + time.Second)
		resp := serve(f.auth.LogoutAllHandler(http.RedirectHandler("/", http.StatusSeeOther)), newRequest("POST", "/logout-all", nil, a, r))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		for _, c := range resp.Cookies() {
			assert.Empty(t, c.Value, "only deletions: %s", c.Name)
		}
		sessions, err := f.iss.Sessions(t.Context(), "alice")
		require.NoError(t, err)
		assert.Empty(t, sessions)
	})
	t.Run("anonymous", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		resp := serve(f.auth.LogoutAllHandler(nil), newRequest("POST", "/logout-all", nil))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("store outage after a refresh: 503, new cookies kept", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		a, r := f.cookieLogin("alice")
		f.clock.Advance(httpAccessTTL + time.Second)
		// Rotation works, RevokeAll fails: the store goes down in between.
		f.auth = mustHTTP(t, f.iss)
		h := f.auth.Require(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			f.store.down.Store(true)
			f.auth.LogoutAllHandler(nil).ServeHTTP(w, req)
		}))
		resp := serve(h, newRequest("POST", "/logout-all", nil, a, r))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		for _, c := range resp.Cookies() {
			assert.NotEmpty(t, c.Value, "nothing deleted: %s", c.Name)
		}
	})
}

func TestCookieLogin(t *testing.T) {
	t.Run("replaces the browser's earlier session", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		a, r := f.cookieLogin("alice")
		resp := serve(f.loginHandler(), newRequest("POST", "/login?user=bob", nil, a, r))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		_, err := f.iss.Refresh(t.Context(), r.Value)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	})
	t.Run("cross-origin is refused", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		req := newRequest("POST", "/login?user=alice", nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		_, err := f.auth.Login(rec, req, "alice")
		require.ErrorIs(t, err, rtr.ErrCrossOrigin)
		assert.Empty(t, rec.Result().Cookies())
		f.auth.WriteError(rec, req, err)
		assert.Equal(t, http.StatusForbidden, rec.Code)
	})
	t.Run("store outage", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		f.store.down.Store(true)
		resp := serve(f.loginHandler(), newRequest("POST", "/login?user=alice", nil))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Empty(t, resp.Cookies())
	})
	t.Run("invalid subject", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		resp := serve(f.loginHandler(), newRequest("POST", "/login?user=", nil))
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	})
}

func TestErrorHandlerHook(t *testing.T) {
	var got *rtr.HTTPError
	f := newHTTPFixture(t, nil, rtr.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, e *rtr.HTTPError) {
		got = e
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}))
	a, r := f.cookieLogin("alice")
	_, err := f.iss.Refresh(t.Context(), r.Value)
	require.NoError(t, err)
	f.clock.Advance(httpAccessTTL + time.Second)
	resp := serve(f.auth.Require(whoami), newRequest("GET", "/", nil, a, r))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NotNil(t, got)
	assert.Equal(t, http.StatusUnauthorized, got.Status)
	assert.True(t, errors.Is(got, rtr.ErrTokenReused))
	assert.Len(t, resp.Cookies(), 2, "the cookies are deleted before the hook runs")
	assert.NotContains(t, got.Error(), r.Value)
}

func TestClaimsFromContext(t *testing.T) {
	_, ok := rtr.ClaimsFromContext(t.Context())
	assert.False(t, ok)
}

// headerTyp returns a JWT's typ header.
func headerTyp(t *testing.T, token string) string {
	t.Helper()
	h, _, ok := strings.Cut(token, ".")
	require.True(t, ok)
	return testkit.Claim(t, h+"."+h+".x", "typ").(string)
}

// TestMiddlewareKeepsServeMuxPathValues: the middleware passes the request
// on with the claims added and Go 1.22 path values intact, also after a
// transparent refresh.
func TestMiddlewareKeepsServeMuxPathValues(t *testing.T) {
	f := newHTTPFixture(t, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", f.auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := rtr.ClaimsFromContext(r.Context())
		_, _ = w.Write([]byte(c.Subject + ":" + r.PathValue("id")))
	})))
	a, r := f.cookieLogin("alice")
	resp := serve(mux, newRequest("GET", "/items/42", nil, a, r))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "alice:42", readBody(t, resp))
	f.clock.Advance(httpAccessTTL + time.Second)
	resp = serve(mux, newRequest("GET", "/items/43", nil, a, r))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "alice:43", readBody(t, resp))
	assert.Len(t, resp.Cookies(), 2)
}

func TestCookieLoginRefusesTokensTooLargeForACookie(t *testing.T) {
	f := newHTTPFixture(t, func(c *rtr.Config) {
		c.Claims = func(context.Context, string) (map[string]any, error) {
			return map[string]any{"roles": strings.Repeat("r", 5000)}, nil
		}
	})
	rec := httptest.NewRecorder()
	_, err := f.auth.Login(rec, newRequest("POST", "/login", nil), "alice")
	require.Error(t, err)
	assert.Empty(t, rec.Result().Cookies())
	sessions, err := f.iss.Sessions(t.Context(), "alice")
	require.NoError(t, err)
	assert.Empty(t, sessions, "no session left behind")
}

func TestCookieModeWithExtraTokenLocation(t *testing.T) {
	f := newHTTPFixture(t, nil, rtr.WithTokenLocations(rtr.FromAuthorization()))
	a, r := f.cookieLogin("alice")
	resp := serve(f.auth.Require(whoami), newRequest("GET", "/", nil, a, r))
	require.Equal(t, http.StatusOK, resp.StatusCode, "the access cookie is still read first")
	req := newRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+a.Value)
	resp = serve(f.auth.Require(whoami), req)
	require.Equal(t, http.StatusOK, resp.StatusCode, "and the header after it")
}
