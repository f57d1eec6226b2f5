package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo/demotest"
)

func server(t *testing.T, refreshCookie bool) (*httptest.Server, *demotest.Clock) {
	t.Helper()
	clk := demotest.NewClock()
	a, err := newApp(appOptions{
		Config:        demotest.Config(clk),
		RefreshCookie: refreshCookie,
		Logger:        slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewTLSServer(a.routes())
	t.Cleanup(srv.Close)
	return srv, clk
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends a request with an optional JSON body and bearer token.
func call(t *testing.T, c *http.Client, method, u string, body any, token string) reply {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out.body), "body %q", raw)
	}
	return out
}

func str(r reply, k string) string { s, _ := r.body[k].(string); return s }

func TestBearerExampleFlow(t *testing.T) {
	srv, clk := server(t, false)
	c := srv.Client()

	r := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "alice", "password": "nope"}, "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, "invalid_grant", str(r, "error"))
	assert.NotContains(t, r.raw, "access_token")

	r = call(t, c, "POST", srv.URL+"/login", "not an object", "")
	require.Equal(t, http.StatusBadRequest, r.status)

	login := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "alice", "password": "password"}, "")
	require.Equal(t, http.StatusOK, login.status)
	assert.Equal(t, "no-store", login.header.Get("Cache-Control"))
	assert.Equal(t, "Bearer", str(login, "token_type"))
	assert.EqualValues(t, 60, login.body["expires_in"])
	access, refresh := str(login, "access_token"), str(login, "refresh_token")
	require.NotEmpty(t, access)
	require.NotEmpty(t, refresh)

	r = call(t, c, "GET", srv.URL+"/api/me", nil, access)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "alice", str(r, "subject"))
	sid := str(r, "session_id")

	r = call(t, c, "GET", srv.URL+"/api/me", nil, "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, `Bearer realm="rtr-example"`, r.header.Get("WWW-Authenticate"))

	clk.Advance(2 * time.Minute)
	r = call(t, c, "GET", srv.URL+"/api/me", nil, access)
	require.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, r.header.Get("WWW-Authenticate"), `error="invalid_token"`)

	fresh := call(t, c, "POST", srv.URL+"/token/refresh", map[string]string{"refresh_token": refresh}, access)
	require.Equal(t, http.StatusOK, fresh.status, fresh.raw)
	assert.NotEqual(t, refresh, str(fresh, "refresh_token"))
	r = call(t, c, "GET", srv.URL+"/api/me", nil, str(fresh, "access_token"))
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, sid, str(r, "session_id"))

	r = call(t, c, "GET", srv.URL+"/api/sessions", nil, str(fresh, "access_token"))
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, r.body["sessions"], 1)

	// The old token after the grace: theft, the session is gone.
	clk.Advance(rtr.RecommendedReuseGrace + time.Second)
	r = call(t, c, "POST", srv.URL+"/token/refresh", map[string]string{"refresh_token": refresh}, "")
	require.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_grant", str(r, "error"))
	r = call(t, c, "POST", srv.URL+"/token/refresh", map[string]string{"refresh_token": str(fresh, "refresh_token")}, "")
	require.Equal(t, http.StatusBadRequest, r.status)
}

func TestBearerExampleLogout(t *testing.T) {
	srv, _ := server(t, false)
	c := srv.Client()
	one := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "bob", "password": "password"}, "")
	two := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "bob", "password": "password"}, "")
	three := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "bob", "password": "password"}, "")

	r := call(t, c, "POST", srv.URL+"/logout", map[string]string{"refresh_token": str(one, "refresh_token")}, "")
	require.Equal(t, http.StatusNoContent, r.status)
	r = call(t, c, "POST", srv.URL+"/token/refresh", map[string]string{"refresh_token": str(one, "refresh_token")}, "")
	require.Equal(t, http.StatusBadRequest, r.status)

	r = call(t, c, "POST", srv.URL+"/logout-all", nil, str(two, "access_token"))
	require.Equal(t, http.StatusNoContent, r.status)
	r = call(t, c, "POST", srv.URL+"/token/refresh", map[string]string{"refresh_token": str(three, "refresh_token")}, "")
	require.Equal(t, http.StatusBadRequest, r.status)
}

// form posts an application/x-www-form-urlencoded body.
func form(t *testing.T, c *http.Client, u string, vals url.Values) reply {
	t.Helper()
	resp, err := c.PostForm(u, vals)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out.body), "body %q", raw)
	}
	return out
}

func TestBearerExampleFormRefreshAndRevoke(t *testing.T) {
	srv, _ := server(t, false)
	c := srv.Client()
	login := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "alice", "password": "password"}, "")
	require.Equal(t, http.StatusOK, login.status)

	fresh := form(t, c, srv.URL+"/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(login, "refresh_token")}})
	require.Equal(t, http.StatusOK, fresh.status, fresh.raw)
	assert.Equal(t, "no-store", fresh.header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", fresh.header.Get("Pragma"))
	refresh := str(fresh, "refresh_token")
	require.NotEmpty(t, refresh)

	r := form(t, c, srv.URL+"/token/refresh", url.Values{"refresh_token": {refresh}})
	require.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_request", str(r, "error"))
	r = form(t, c, srv.URL+"/token/refresh", url.Values{"grant_type": {"password"}})
	require.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "unsupported_grant_type", str(r, "error"))

	// Revocation: an access token or garbage changes nothing, the refresh
	// token ends the session.
	for _, tok := range []string{str(fresh, "access_token"), "garbage"} {
		r = form(t, c, srv.URL+"/token/revoke", url.Values{"token": {tok}})
		require.Equal(t, http.StatusOK, r.status)
	}
	r = call(t, c, "GET", srv.URL+"/api/me", nil, str(fresh, "access_token"))
	require.Equal(t, http.StatusOK, r.status)
	r = form(t, c, srv.URL+"/token/revoke", url.Values{"token": {refresh}, "token_type_hint": {"refresh_token"}})
	require.Equal(t, http.StatusOK, r.status)
	assert.Empty(t, r.raw)
	r = form(t, c, srv.URL+"/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	require.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_grant", str(r, "error"))
	r = form(t, c, srv.URL+"/token/revoke", url.Values{"token": {refresh}})
	require.Equal(t, http.StatusOK, r.status, "revocation is idempotent")
}

func TestBearerExampleRefreshCookie(t *testing.T) {
	srv, _ := server(t, true)
	c := srv.Client()
	login := call(t, c, "POST", srv.URL+"/login", map[string]string{"username": "alice", "password": "password"}, "")
	require.Equal(t, http.StatusOK, login.status)
	assert.Empty(t, str(login, "refresh_token"), "the refresh token is in the cookie only")
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: login.header}).Cookies() {
		cookie = ck
	}
	require.NotNil(t, cookie)
	assert.Equal(t, "__Host-rtr_refresh", cookie.Name)
	assert.True(t, cookie.HttpOnly)

	req, err := http.NewRequest("POST", srv.URL+"/token/refresh", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, resp.Cookies(), 1)
}

func TestRunPrintsListening(t *testing.T) {
	base, stop := demotest.Run(t, run, "-addr", "127.0.0.1:0", "-access-ttl", "2s", "-grace", "0")
	resp, err := http.Post(base+"/login", "application/json", strings.NewReader(`{"username":"alice","password":"password"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, stop())
}
