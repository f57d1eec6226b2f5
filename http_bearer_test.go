package rtr_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

func TestBearerLoginResponse(t *testing.T) {
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
	resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/login?user=alice", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", resp.Header.Get("Pragma"))
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Cookies())
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	assert.Equal(t, "Bearer", m["token_type"])
	assert.EqualValues(t, httpAccessTTL.Seconds(), m["expires_in"])
	assert.NotEmpty(t, m["access_token"])
	assert.NotEmpty(t, m["refresh_token"])
	assert.Len(t, m, 4)
}

func TestBearerRequire(t *testing.T) {
	cases := []struct {
		name      string
		opts      []rtr.HTTPOption
		prepare   func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request
		status    int
		challenge string // WWW-Authenticate
	}{
		{"valid token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return withBearer(newRequest("GET", "/", nil), tr.AccessToken)
		}, 200, ""},
		{"lower-case scheme", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			r := newRequest("GET", "/", nil)
			r.Header.Set("Authorization", "bearer "+tr.AccessToken)
			return r
		}, 200, ""},
		{"valid token during a store outage", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.store.down.Store(true)
			return withBearer(newRequest("GET", "/", nil), tr.AccessToken)
		}, 200, ""},
		{"no token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("GET", "/", nil)
		}, 401, `Bearer`},
		{"no token, with realm", []rtr.HTTPOption{rtr.WithRealm("api")}, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("GET", "/", nil)
		}, 401, `Bearer realm="api"`},
		{"basic auth is no token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			r := newRequest("GET", "/", nil)
			r.SetBasicAuth("alice", "password")
			return r
		}, 401, `Bearer`},
		{"expired token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.clock.Advance(httpAccessTTL + time.Second)
			return withBearer(newRequest("GET", "/", nil), tr.AccessToken)
		}, 401, `Bearer error="invalid_token", error_description="the token expired"`},
		{"tampered token", []rtr.HTTPOption{rtr.WithRealm("api")}, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return withBearer(newRequest("GET", "/", nil), testkit.Tamper(t, tr.AccessToken))
		}, 401, `Bearer realm="api", error="invalid_token", error_description="the token is invalid"`},
		{"refresh token as access token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return withBearer(newRequest("GET", "/", nil), tr.RefreshToken)
		}, 401, `Bearer error="invalid_token", error_description="the token is invalid"`},
		{"garbage token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return withBearer(newRequest("GET", "/", nil), "abc")
		}, 401, `Bearer error="invalid_token", error_description="the token is invalid"`},
		{"custom header source", []rtr.HTTPOption{rtr.WithTokenLocations(rtr.FromHeader("X-Token"), rtr.FromAuthorization())},
			func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
				r := newRequest("POST", "/", nil)
				r.Header.Set("X-Token", tr.AccessToken)
				r.Header.Set("Sec-Fetch-Site", "cross-site") // headers are not ambient: no CSRF check
				return r
			}, 200, ""},
		{"cookie source is checked for cross-origin requests", []rtr.HTTPOption{rtr.WithTokenLocations(rtr.FromCookie("at"))},
			func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
				r := newRequest("POST", "/", nil, &http.Cookie{Name: "at", Value: tr.AccessToken})
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				return r
			}, 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil, append([]rtr.HTTPOption{rtr.WithMode(rtr.BearerMode)}, tc.opts...)...)
			tr := f.bearerLogin("alice")
			resp := serve(f.auth.Require(whoami), tc.prepare(t, f, tr))
			require.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"))
			assert.Empty(t, resp.Cookies())
			assert.Empty(t, resp.Header.Values("Vary"))
			if tc.status == 200 {
				assert.True(t, strings.HasPrefix(readBody(t, resp), "alice "))
			} else {
				code, _ := oauthError(t, resp)
				assert.NotEmpty(t, code)
			}
		})
	}
}

func TestBearerOptional(t *testing.T) {
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
	tr := f.bearerLogin("alice")
	h := f.auth.Optional(whoami)

	resp := serve(h, newRequest("GET", "/", nil))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "anonymous", readBody(t, resp))

	resp = serve(h, withBearer(newRequest("GET", "/", nil), tr.AccessToken))
	require.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(readBody(t, resp), "alice "))

	// A token that was sent must be good: the client has to learn to refresh.
	f.clock.Advance(httpAccessTTL + time.Second)
	resp = serve(h, withBearer(newRequest("GET", "/", nil), tr.AccessToken))
	require.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
}

func TestBearerRefreshHandler(t *testing.T) {
	cases := []struct {
		name    string
		opts    []rtr.HTTPOption
		prepare func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request
		status  int
		code    string
		event   rtr.EventType
	}{
		{"JSON body", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 200, "", rtr.EventRotated},
		{"JSON body with grant_type", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"grant_type": "refresh_token", "refresh_token": tr.RefreshToken}))
		}, 200, "", rtr.EventRotated},
		{"matching expired access token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.clock.Advance(httpAccessTTL + time.Second)
			return withBearer(newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})), tr.AccessToken)
		}, 200, "", rtr.EventRotated},
		{"access token of another session", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			other := f.bearerLogin("alice")
			return withBearer(newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})), other.AccessToken)
		}, 400, "invalid_grant", ""},
		{"access token of another user", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			bob := f.bearerLogin("bob")
			return withBearer(newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})), bob.AccessToken)
		}, 400, "invalid_grant", ""},
		{"tampered access token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return withBearer(newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})), testkit.Tamper(t, tr.AccessToken))
		}, 400, "invalid_grant", ""},
		{"no token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", nil)
		}, 400, "invalid_request", ""},
		{"empty JSON", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", strings.NewReader(`{}`))
		}, 400, "invalid_request", ""},
		{"malformed JSON", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", strings.NewReader(`{"refresh_token":`))
		}, 400, "invalid_request", ""},
		{"oversized body", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": strings.Repeat("a", 64<<10)}))
		}, 400, "invalid_request", ""},
		{"wrong grant_type", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"grant_type": "password", "refresh_token": tr.RefreshToken}))
		}, 400, "unsupported_grant_type", ""},
		{"tampered refresh token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": testkit.Tamper(t, tr.RefreshToken)}))
		}, 400, "invalid_grant", ""},
		{"access token as refresh token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.AccessToken}))
		}, 400, "invalid_grant", ""},
		{"expired refresh token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.clock.Advance(httpRefreshTTL + time.Second)
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 400, "invalid_grant", ""},
		{"logged out", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			require.NoError(t, f.iss.Revoke(t.Context(), tr.RefreshToken))
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 400, "invalid_grant", ""},
		{"grace retry", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
			require.NoError(t, err)
			f.clock.Advance(httpGrace / 2)
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 200, "", rtr.EventRetried},
		{"reuse", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
			require.NoError(t, err)
			f.clock.Advance(httpGrace + time.Second)
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 400, "invalid_grant", rtr.EventReuseDetected},
		{"reuse, 403 configured for the middleware", []rtr.HTTPOption{rtr.WithReuseStatus(403)}, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
			require.NoError(t, err)
			f.clock.Advance(httpGrace + time.Second)
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 400, "invalid_grant", rtr.EventReuseDetected},
		{"store outage", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.store.down.Store(true)
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
		}, 503, "temporarily_unavailable", ""},
		{"GET", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("GET", "/token", nil)
		}, 405, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil, append([]rtr.HTTPOption{rtr.WithMode(rtr.BearerMode)}, tc.opts...)...)
			tr := f.bearerLogin("alice")
			req := tc.prepare(t, f, tr)
			before := 0
			if tc.event != "" {
				before = f.events.Count(tc.event)
			}
			resp := serve(f.auth.RefreshHandler(), req)
			require.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Empty(t, resp.Cookies())
			assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
			if tc.status == 200 {
				var got map[string]any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
				assert.Equal(t, "Bearer", got["token_type"])
				assert.EqualValues(t, httpAccessTTL.Seconds(), got["expires_in"])
				assert.NotEmpty(t, got["access_token"])
				require.NotEmpty(t, got["refresh_token"])
				assert.EqualValues(t, 2, testkit.Claim(t, got["refresh_token"].(string), "gen"))
			} else {
				code, desc := oauthError(t, resp)
				assert.Equal(t, tc.code, code)
				assert.NotEmpty(t, desc)
			}
			if tc.event != "" {
				assert.Equal(t, before+1, f.events.Count(tc.event))
			}
		})
	}
}

// TestBearerRefreshCookie covers bearer mode with the refresh token in an
// HttpOnly cookie scoped to the auth routes.
func TestBearerRefreshCookie(t *testing.T) {
	const name = "__Secure-rtr_refresh"
	newF := func(t *testing.T, opts ...rtr.HTTPOption) *httpFixture {
		return newHTTPFixture(t, nil, append([]rtr.HTTPOption{rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/auth/")}, opts...)...)
	}
	login := func(t *testing.T, f *httpFixture) (rtr.TokenResponse, *http.Cookie) {
		resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/auth/login?user=alice", nil))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var tr rtr.TokenResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
		c := setCookies(resp)[name]
		require.NotNil(t, c)
		return tr, c
	}

	t.Run("login", func(t *testing.T) {
		f := newF(t)
		assert.Equal(t, name, f.auth.RefreshCookieName())
		assert.Empty(t, f.auth.AccessCookieName())
		tr, c := login(t, f)
		assert.Empty(t, tr.RefreshToken, "the refresh token is not in the body")
		assert.NotEmpty(t, tr.AccessToken)
		assert.Equal(t, "/auth/", c.Path)
		assert.True(t, c.HttpOnly)
		assert.True(t, c.Secure)
		assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
		assert.Equal(t, int(httpRefreshTTL.Seconds()), c.MaxAge)
	})
	t.Run("refresh", func(t *testing.T) {
		f := newF(t)
		tr, c := login(t, f)
		resp := serve(f.auth.RefreshHandler(), withBearer(newRequest("POST", "/auth/refresh", nil, c), tr.AccessToken))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var got rtr.TokenResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		assert.Empty(t, got.RefreshToken)
		nc := setCookies(resp)[name]
		require.NotNil(t, nc)
		assert.EqualValues(t, 2, testkit.Claim(t, nc.Value, "gen"))
	})
	t.Run("cross-origin refresh", func(t *testing.T) {
		f := newF(t)
		_, c := login(t, f)
		req := newRequest("POST", "/auth/refresh", nil, c)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp := serve(f.auth.RefreshHandler(), req)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Empty(t, resp.Cookies())
	})
	t.Run("reuse clears the cookie", func(t *testing.T) {
		f := newF(t)
		_, c := login(t, f)
		_, err := f.iss.Refresh(t.Context(), c.Value)
		require.NoError(t, err)
		f.clock.Advance(httpGrace + time.Second)
		resp := serve(f.auth.RefreshHandler(), newRequest("POST", "/auth/refresh", nil, c))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		nc := setCookies(resp)[name]
		require.NotNil(t, nc)
		assert.Negative(t, nc.MaxAge)
		assert.Equal(t, "/auth/", nc.Path)
	})
	t.Run("outage keeps the cookie", func(t *testing.T) {
		f := newF(t)
		_, c := login(t, f)
		f.store.down.Store(true)
		resp := serve(f.auth.RefreshHandler(), newRequest("POST", "/auth/refresh", nil, c))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Empty(t, resp.Cookies())
	})
	t.Run("logout", func(t *testing.T) {
		f := newF(t)
		_, c := login(t, f)
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/auth/logout", nil, c))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.NotNil(t, setCookies(resp)[name])
		_, err := f.iss.Refresh(t.Context(), c.Value)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	})
	t.Run("login CSRF", func(t *testing.T) {
		f := newF(t)
		req := newRequest(http.MethodPost, "/auth/login?user=alice", nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp := serve(f.loginHandler(), req)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Empty(t, resp.Cookies())
	})
}

func TestBearerLogout(t *testing.T) {
	t.Run("refresh token in the body", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		tr := f.bearerLogin("alice")
		other := f.bearerLogin("alice")
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Empty(t, resp.Cookies())
		_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
		_, err = f.iss.Refresh(t.Context(), other.RefreshToken)
		require.NoError(t, err)
	})
	t.Run("expired access token only", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		tr := f.bearerLogin("alice")
		f.clock.Advance(httpAccessTTL + time.Second)
		resp := serve(f.auth.LogoutHandler(nil), withBearer(newRequest("POST", "/logout", nil), tr.AccessToken))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	})
	t.Run("invalid or missing token is success", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		tr := f.bearerLogin("alice")
		for _, body := range []string{"", `{}`, `{"refresh_token":"x.y.z"}`} {
			resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", strings.NewReader(body)))
			require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
		}
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", jsonBody(map[string]string{"refresh_token": testkit.Tamper(t, tr.RefreshToken)})))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
		require.NoError(t, err, "a forged token logs nobody out")
	})
	t.Run("malformed body", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", strings.NewReader(`nope`)))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("JSON sent as a form", func(t *testing.T) {
		// curl -d without a Content-Type: the JSON would read as a form
		// naming no parameter, and the logout would succeed, ending nothing.
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		tr := f.bearerLogin("alice")
		req := newRequest("POST", "/logout", strings.NewReader(`{"refresh_token":"`+tr.RefreshToken+`"}`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp := serve(f.auth.LogoutHandler(nil), req)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		code, _ := oauthError(t, resp)
		assert.Equal(t, "invalid_request", code)
		_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
		require.NoError(t, err, "nothing ended")
	})
	t.Run("store outage", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		tr := f.bearerLogin("alice")
		f.store.down.Store(true)
		resp := serve(f.auth.LogoutHandler(nil), newRequest("POST", "/logout", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		code, _ := oauthError(t, resp)
		assert.Equal(t, "temporarily_unavailable", code)
	})
}

func TestBearerLogoutAll(t *testing.T) {
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
	a := f.bearerLogin("alice")
	b := f.bearerLogin("alice")
	h := f.auth.LogoutAllHandler(nil)

	resp := serve(h, newRequest("POST", "/logout-all", nil))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))

	f.store.down.Store(true)
	resp = serve(h, withBearer(newRequest("POST", "/logout-all", nil), a.AccessToken))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	f.store.down.Store(false)

	resp = serve(h, withBearer(newRequest("POST", "/logout-all", nil), a.AccessToken))
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	for _, tr := range []rtr.TokenResponse{a, b} {
		_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	}
}

// TestTokenLocationFuncCalledOncePerRequest: the middleware looks the
// access token up once per request, also when the cross-origin guard needs
// to know whether it came from an ambient source: a TokenLocationFunc is
// the user's code, and may be costly or count what it sees.
func TestTokenLocationFuncCalledOncePerRequest(t *testing.T) {
	var calls atomic.Int32
	loc := rtr.TokenLocationFunc(func(r *http.Request) string {
		calls.Add(1)
		return r.URL.Query().Get("token")
	})
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode), rtr.WithTokenLocations(loc))
	tok := f.bearerLogin("alice").AccessToken
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"valid", tok, http.StatusOK},
		{"invalid", "x" + tok, http.StatusUnauthorized},
		{"none", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			resp := serve(f.auth.Require(whoami), newRequest(http.MethodGet, "/me?token="+tc.token, nil))
			require.Equal(t, tc.status, resp.StatusCode, readBody(t, resp))
			require.Equal(t, int32(1), calls.Load())
		})
	}
}
