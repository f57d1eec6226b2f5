package rtr_test

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
)

func TestBearerMiddleware(t *testing.T) {
	ctx := context.Background()
	key := testKeys()[rtr.AlgEdDSA][0]
	f := newRemoteFixture(t, key)
	m, err := rtr.NewBearerMiddleware(f.v, rtr.WithRealm("api"))
	require.NoError(t, err)
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := rtr.ClaimsFromContext(r.Context())
		if !ok {
			_, _ = w.Write([]byte("anonymous"))
			return
		}
		_, _ = w.Write([]byte(c.Subject))
	})
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	stranger := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[rtr.AlgEdDSA][1]))
	sp, err := stranger.iss.Issue(ctx, "bob")
	require.NoError(t, err)

	do := func(h http.Handler, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for _, tc := range []struct {
		name      string
		optional  bool
		token     string
		outage    bool
		status    int
		body      string
		challenge string
	}{
		{name: "valid", token: p.AccessToken, status: 200, body: "alice"},
		{name: "no token", status: 401, challenge: `Bearer realm="api"`},
		{name: "no token, optional", optional: true, status: 200, body: "anonymous"},
		{name: "tampered", token: testkit.Tamper(t, p.AccessToken), status: 401,
			challenge: `Bearer realm="api", error="invalid_token", error_description="the token is invalid"`},
		{name: "tampered, optional", optional: true, token: testkit.Tamper(t, p.AccessToken), status: 401},
		{name: "refresh token", token: p.RefreshToken, status: 401},
		{name: "unknown kid", token: sp.AccessToken, status: 401},
		{name: "unknown kid, set unavailable", token: sp.AccessToken, outage: true, status: 503},
		{name: "known kid, set unavailable", token: p.AccessToken, outage: true, status: 200, body: "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.srv.set(func(s *jwksServer) { s.fail = tc.outage })
			f.clock.Advance(rtr.DefaultJWKSMinRefreshInterval) // let an unknown kid refetch
			h := m.Require(me)
			if tc.optional {
				h = m.Optional(me)
			}
			rec := do(h, tc.token)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.body != "" {
				require.Equal(t, tc.body, rec.Body.String())
			}
			if tc.challenge != "" {
				require.Equal(t, tc.challenge, rec.Header().Get("WWW-Authenticate"))
			}
			if tc.status == 401 {
				require.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
			}
			if tc.status == 503 {
				require.Contains(t, rec.Body.String(), "temporarily_unavailable")
				require.Empty(t, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestBearerMiddlewareOptions(t *testing.T) {
	v, err := rtr.NewVerifier(rtr.VerifierConfig{PublicKeys: []crypto.PublicKey{testKeys()[rtr.AlgEdDSA][0].Public()}})
	require.NoError(t, err)
	_, err = rtr.NewBearerMiddleware(nil)
	require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	for name, opt := range map[string]rtr.HTTPOption{
		"cookie mode":    rtr.WithMode(rtr.CookieMode),
		"cookies":        rtr.WithCookies(rtr.CookieOptions{AccessName: "a"}),
		"insecure":       rtr.WithInsecureCookies(),
		"refresh cookie": rtr.WithRefreshCookie("/auth/"),
		"reuse status":   rtr.WithReuseStatus(http.StatusForbidden),
	} {
		_, err := rtr.NewBearerMiddleware(v, opt)
		require.ErrorIs(t, err, rtr.ErrInvalidConfig, name)
	}
	_, err = rtr.NewBearerMiddleware(v, rtr.WithMode(rtr.BearerMode), rtr.WithTokenLocations(rtr.FromHeader("X-Token")),
		rtr.WithErrorHandler(rtr.DefaultErrorHandler), rtr.WithCrossOriginProtection(http.NewCrossOriginProtection()))
	require.NoError(t, err)

	// A token from a cookie is checked for cross-origin unsafe requests.
	f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[rtr.AlgEdDSA][0]))
	p, err := f.iss.Issue(context.Background(), "alice")
	require.NoError(t, err)
	v, err = rtr.NewVerifier(rtr.VerifierConfig{PublicKeys: []crypto.PublicKey{testKeys()[rtr.AlgEdDSA][0].Public()}, Now: f.clock.Now})
	require.NoError(t, err)
	m, err := rtr.NewBearerMiddleware(v, rtr.WithTokenLocations(rtr.FromCookie("at")))
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "https://api.example/x", nil)
	r.AddCookie(&http.Cookie{Name: "at", Value: p.AccessToken})
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	m.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
	require.Equal(t, http.StatusForbidden, rec.Code)
}

// Cookie mode matches an expired access cookie to the refresh cookie on
// its signature: that works with every algorithm.
func TestCookieModeAsymmetric(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[alg][0]))
			a, err := rtr.NewHTTPAuth(f.iss, rtr.WithInsecureCookies())
			require.NoError(t, err)
			p, err := f.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			f.clock.Advance(6 * time.Minute) // the access token expired
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: a.AccessCookieName(), Value: p.AccessToken})
			r.AddCookie(&http.Cookie{Name: a.RefreshCookieName(), Value: p.RefreshToken})
			rec := httptest.NewRecorder()
			a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _ := rtr.ClaimsFromContext(r.Context())
				_, _ = w.Write([]byte(c.Subject))
			})).ServeHTTP(rec, r)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Equal(t, "alice", rec.Body.String())
		})
	}
}

// TestBearerMiddlewareAnswersAsHTTPAuth: a resource server on the
// issuer's verifier and the issuer's own middleware give the same status,
// challenge and body for the same token, ended sessions included.
func TestBearerMiddlewareAnswersAsHTTPAuth(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NowClock()
	iss := newRevocationIssuer(t, rtr.NewMemoryStore(), func(c *rtr.Config) { c.Now = clock.Now })
	auth, err := rtr.NewHTTPAuth(iss, rtr.WithMode(rtr.BearerMode), rtr.WithRealm("api"))
	require.NoError(t, err)
	res, err := rtr.NewBearerMiddleware(iss.Verifier(), rtr.WithRealm("api"))
	require.NoError(t, err)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })

	old, err := iss.Issue(ctx, "carol")
	require.NoError(t, err)
	clock.Advance(time.Hour) // old's access token has expired
	live, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	ended, err := iss.Issue(ctx, "bob")
	require.NoError(t, err)
	require.NoError(t, iss.Revoke(ctx, ended.RefreshToken))
	issuertest.WaitRevoked(t, iss.Verifier(), ended.AccessToken)

	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"valid", live.AccessToken, 200},
		{"no token", "", 401},
		{"expired", old.AccessToken, 401},
		{"tampered", testkit.Tamper(t, live.AccessToken), 401},
		{"refresh token", live.RefreshToken, 401},
		{"ended session", ended.AccessToken, 401},
	} {
		for _, optional := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/optional=%v", tc.name, optional), func(t *testing.T) {
				answer := func(h http.Handler) *httptest.ResponseRecorder {
					r := httptest.NewRequest(http.MethodGet, "/me", nil)
					if tc.token != "" {
						r.Header.Set("Authorization", "Bearer "+tc.token)
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					return rec
				}
				want, got := answer(auth.Require(ok)), answer(res.Require(ok))
				if optional {
					want, got = answer(auth.Optional(ok)), answer(res.Optional(ok))
				}
				status := tc.status
				if optional && tc.token == "" {
					status = 200 // anonymous
				}
				require.Equal(t, status, want.Code, want.Body.String())
				require.Equal(t, want.Code, got.Code)
				require.Equal(t, want.Header().Get("WWW-Authenticate"), got.Header().Get("WWW-Authenticate"))
				require.Equal(t, want.Body.String(), got.Body.String())
			})
		}
	}
}
