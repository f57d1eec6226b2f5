package rtr_test

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// deadRedisClient returns a go-redis client pointed at a loopback port nobody
// listens on: every command fails with "connection refused".
func deadRedisClient(t *testing.T) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestOutageRedisRefusesConnections: tokens minted while Redis was up are
// presented to a server whose Redis refuses connections.
func TestOutageRedisRefusesConnections(t *testing.T) {
	for _, mode := range []rtr.Mode{rtr.CookieMode, rtr.BearerMode} {
		t.Run(mode.String(), func(t *testing.T) {
			up := newHTTPFixture(t, nil, rtr.WithMode(mode))
			// The same keys and clock, on a Redis that is down.
			down := newHTTPFixtureOn(t, rtr.NewRedisStore(deadRedisClient(t)), func(c *rtr.Config) { c.Now = up.clock.Now }, rtr.WithMode(mode))

			var access, refresh *http.Cookie
			var tr rtr.TokenResponse
			withAccess := func(r *http.Request) *http.Request {
				if mode == rtr.BearerMode {
					return withBearer(r, tr.AccessToken)
				}
				r.AddCookie(access)
				r.AddCookie(refresh)
				return r
			}
			if mode == rtr.CookieMode {
				access, refresh = up.cookieLogin("alice")
			} else {
				tr = up.bearerLogin("alice")
			}

			// A valid access token needs no store.
			resp := serve(down.auth.Require(whoami), withAccess(newRequest("GET", "/", nil)))
			require.Equal(t, http.StatusOK, resp.StatusCode)

			// Login cannot create a session: 503, no token handed out.
			resp = serve(down.loginHandler(), newRequest("POST", "/login?user=bob", nil))
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Empty(t, resp.Cookies())

			up.clock.Advance(httpAccessTTL + time.Second)
			if mode == rtr.CookieMode {
				resp = serve(down.auth.Require(whoami), withAccess(newRequest("GET", "/", nil)))
			} else {
				resp = serve(down.auth.RefreshHandler(), newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken})))
			}
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Empty(t, resp.Cookies(), "nothing is cleared")
			code, _ := oauthError(t, resp)
			assert.Equal(t, "temporarily_unavailable", code)

			// Logout cannot revoke: 503, nothing cleared, so the user can retry.
			resp = serve(down.auth.LogoutHandler(nil), withAccess(newRequest("POST", "/logout", nil)))
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Empty(t, resp.Cookies())
		})
	}
}

// TestOutageMiniredisClosed: Redis goes away under a logged-in user and
// comes back with its data; the user is never logged out.
func TestOutageMiniredisClosed(t *testing.T) {
	mr := miniredis.NewMiniRedis()
	require.NoError(t, mr.Start())
	t.Cleanup(mr.Close)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	f := newHTTPFixtureOn(t, rtr.NewRedisStore(client), nil)
	mr.SetTime(f.clock.Now())
	access, refresh := f.cookieLogin("alice")
	h := f.auth.Require(whoami)

	mr.Close()
	resp := serve(h, newRequest("GET", "/", nil, access, refresh))
	require.Equal(t, http.StatusOK, resp.StatusCode, "a valid access cookie needs no store")

	f.clock.Advance(httpAccessTTL + time.Second)
	resp = serve(h, newRequest("GET", "/", nil, access, refresh))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Empty(t, resp.Cookies())

	require.NoError(t, mr.Restart())
	resp = serve(h, newRequest("GET", "/", nil, access, refresh))
	require.Equal(t, http.StatusOK, resp.StatusCode, "back after the outage, still logged in")
	set := setCookies(resp)
	require.NotNil(t, set[refreshCookieName])
	assert.EqualValues(t, 2, testkit.Claim(t, set[refreshCookieName].Value, "gen"))
}

// TestOutageBearerRefreshBodyKeepsToken: a bearer client that met a 503
// keeps its refresh token and succeeds once the store is back.
func TestOutageBearerRefreshBodyKeepsToken(t *testing.T) {
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
	tr := f.bearerLogin("alice")
	body := func() *http.Request {
		return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken}))
	}
	f.store.down.Store(true)
	resp := serve(f.auth.RefreshHandler(), body())
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	f.store.down.Store(false)
	resp = serve(f.auth.RefreshHandler(), body())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got rtr.TokenResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.EqualValues(t, 2, testkit.Claim(t, got.RefreshToken, "gen"))
}
