package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr/examples/internal/demo/demotest"
)

// server starts the app over TLS with Secure __Host- cookies, the
// production setting, and a fake clock.
func server(t *testing.T) (*httptest.Server, *demotest.Clock) {
	t.Helper()
	clk := demotest.NewClock()
	a, err := newApp(appOptions{Config: demotest.Config(clk), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewTLSServer(a.routes())
	t.Cleanup(srv.Close)
	return srv, clk
}

// browser is a client with its own cookie jar.
func browser(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := *srv.Client() // a copy: srv.Client() is shared
	c.Jar = jar
	return &c
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func login(t *testing.T, c *http.Client, srv *httptest.Server, user, password string) (int, string) {
	t.Helper()
	return post(t, c, srv.URL+"/login", url.Values{"username": {user}, "password": {password}})
}

func TestCookieExampleFlow(t *testing.T) {
	srv, clk := server(t)
	b := browser(t, srv)

	status, body := get(t, b, srv.URL+"/")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `id="login-form"`)

	status, body = login(t, b, srv, "alice", "wrong")
	require.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body, "Wrong username or password")
	u, _ := url.Parse(srv.URL)
	assert.Empty(t, b.Jar.Cookies(u), "no token for a wrong password")

	status, _ = login(t, b, srv, "nobody", "password")
	require.Equal(t, http.StatusUnauthorized, status)

	status, body = login(t, b, srv, "alice", "password") // follows the 303 to /
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "alice")
	assert.Contains(t, body, `id="logout"`)
	assert.Contains(t, body, `id="logout-all"`)
	assert.Contains(t, body, "(this device)")
	names := []string{}
	for _, c := range b.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	assert.ElementsMatch(t, []string{"__Host-rtr_access", "__Host-rtr_refresh"}, names)

	status, body = get(t, b, srv.URL+"/api/me")
	require.Equal(t, http.StatusOK, status)
	var me struct {
		Subject   string `json:"subject"`
		SessionID string `json:"session_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &me))
	assert.Equal(t, "alice", me.Subject)
	assert.NotEmpty(t, me.SessionID)

	// Past the access expiry: transparently refreshed, same session.
	clk.Advance(2 * time.Minute)
	status, body = get(t, b, srv.URL+"/api/me")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, me.SessionID)

	status, body = post(t, b, srv.URL+"/logout", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `id="login-form"`)
	status, _ = get(t, b, srv.URL+"/api/me")
	require.Equal(t, http.StatusUnauthorized, status)
}

func TestCookieExampleLogoutEverywhere(t *testing.T) {
	srv, clk := server(t)
	laptop, phone := browser(t, srv), browser(t, srv)
	for _, c := range []*http.Client{laptop, phone} {
		status, _ := login(t, c, srv, "bob", "password")
		require.Equal(t, http.StatusOK, status)
	}
	_, body := get(t, laptop, srv.URL+"/")
	assert.Equal(t, 2, strings.Count(body, "<code>"), "two sessions listed")

	status, body := post(t, laptop, srv.URL+"/logout-all", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `id="login-form"`)

	clk.Advance(2 * time.Minute) // the phone's access token expires; its session is gone
	status, _ = get(t, phone, srv.URL+"/api/me")
	require.Equal(t, http.StatusUnauthorized, status)
	status, body = get(t, phone, srv.URL+"/")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `id="login-form"`)
}

func TestCookieExampleRefusesCrossOriginPosts(t *testing.T) {
	srv, _ := server(t)
	b := browser(t, srv)
	login(t, b, srv, "alice", "password")
	for _, path := range []string{"/logout", "/logout-all", "/login"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("username=alice&password=password"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := b.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	status, _ := get(t, b, srv.URL+"/api/me")
	require.Equal(t, http.StatusOK, status, "still logged in")
}

func TestRunPrintsListening(t *testing.T) {
	base, stop := demotest.Run(t, run, "-addr", "127.0.0.1:0", "-access-ttl", "2s", "-insecure-cookies")
	resp, err := http.Get(base + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, stop())
}

func TestRunRejectsBadFlags(t *testing.T) {
	env := func(string) string { return "" }
	require.Error(t, run(context.Background(), []string{"-grace", "0", "-addr", "127.0.0.1:0"}, io.Discard, env), "cookie mode needs a grace")
	require.Error(t, run(context.Background(), []string{"extra"}, io.Discard, env))
	require.Error(t, run(context.Background(), []string{"-addr", "127.0.0.1:0"}, io.Discard, func(k string) string {
		if k == "RTR_SECRET" {
			return "short"
		}
		return ""
	}))
	require.Error(t, run(context.Background(), []string{"-addr", "127.0.0.1:0"}, io.Discard, func(k string) string {
		if k == "REDIS_URL" {
			return "not a url"
		}
		return ""
	}))
}
