package rtr_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// formRequest builds a form-encoded POST.
func formRequest(target string, vals url.Values, cookies ...*http.Cookie) *http.Request {
	r := newRequest(http.MethodPost, target, strings.NewReader(vals.Encode()), cookies...)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestBearerRefreshForm(t *testing.T) {
	basic := func(r *http.Request, id, secret string) *http.Request {
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r
	}
	cases := []struct {
		name    string
		prepare func(tr rtr.TokenResponse) *http.Request
		status  int
		code    string
	}{
		{"form", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		}, 200, ""},
		{"form with charset", func(tr rtr.TokenResponse) *http.Request {
			r := formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			return r
		}, 200, ""},
		{"form with client credentials in the body", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken},
				"client_id": {"app"}, "client_secret": {"whatever"}})
		}, 200, ""},
		{"form with HTTP Basic", func(tr rtr.TokenResponse) *http.Request {
			return basic(formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}), "app", "s:e/cret")
		}, 200, ""},
		{"JSON with client_id", func(tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"refresh_token": tr.RefreshToken, "client_id": "app"}))
		}, 200, ""},
		{"form without grant_type", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"refresh_token": {tr.RefreshToken}})
		}, 400, "invalid_request"},
		{"form with another grant", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"client_credentials"}, "refresh_token": {tr.RefreshToken}})
		}, 400, "unsupported_grant_type"},
		{"JSON with another grant", func(tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/token", jsonBody(map[string]string{"grant_type": "authorization_code", "refresh_token": tr.RefreshToken}))
		}, 400, "unsupported_grant_type"},
		{"form without refresh_token", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"refresh_token"}})
		}, 400, "invalid_request"},
		{"form with refresh_token twice", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken, tr.RefreshToken}})
		}, 400, "invalid_request"},
		{"malformed form", func(tr rtr.TokenResponse) *http.Request {
			r := newRequest(http.MethodPost, "/token", strings.NewReader("grant_type=refresh_token&refresh_token=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, "invalid_request"},
		{"form with a forged token", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"a.b.c"}})
		}, 400, "invalid_grant"},
		{"oversized form", func(tr rtr.TokenResponse) *http.Request {
			return formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("a", 64<<10)}})
		}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
			tr := f.bearerLogin("alice")
			resp := serve(f.auth.RefreshHandler(), tc.prepare(tr))
			require.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
			if tc.status != 200 {
				code, _ := oauthError(t, resp)
				assert.Equal(t, tc.code, code)
				return
			}
			assert.Equal(t, "no-cache", resp.Header.Get("Pragma"))
			var got rtr.TokenResponse
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			assert.NotEqual(t, tr.RefreshToken, got.RefreshToken)
			assert.EqualValues(t, 2, testkit.Claim(t, got.RefreshToken, "gen"))
		})
	}
}

func TestBearerClientAuthenticator(t *testing.T) {
	errNoClient := errors.New("unknown client")
	var seen []string
	auth := func(ctx context.Context, id, secret string) error {
		seen = append(seen, id+":"+secret)
		switch {
		case id == "conf" && secret == "s:e/cret":
			return nil
		case id == "public" && secret == "":
			return nil
		case id == "down":
			return fmt.Errorf("%w: client store", rtr.ErrStoreUnavailable)
		}
		return errNoClient
	}
	cases := []struct {
		name   string
		basic  []string   // HTTP Basic id and secret, as sent (already form-encoded)
		body   url.Values // extra body parameters
		status int
		code   string
		seen   string // what the authenticator was given
	}{
		{"basic", []string{"conf", url.QueryEscape("s:e/cret")}, nil, 200, "", "conf:s:e/cret"},
		{"body", nil, url.Values{"client_id": {"conf"}, "client_secret": {"s:e/cret"}}, 200, "", "conf:s:e/cret"},
		{"public client", nil, url.Values{"client_id": {"public"}}, 200, "", "public:"},
		{"wrong secret", []string{"conf", "nope"}, nil, 401, "invalid_client", "conf:nope"},
		{"no client", nil, nil, 401, "invalid_client", ":"},
		{"two methods", []string{"conf", "s%3Ae%2Fcret"}, url.Values{"client_id": {"conf"}}, 400, "invalid_request", ""},
		{"bad basic encoding", []string{"conf", "%zz"}, nil, 400, "invalid_request", ""},
		{"client store down", nil, url.Values{"client_id": {"down"}}, 503, "temporarily_unavailable", "down:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode), rtr.WithRealm("api"), rtr.WithClientAuthenticator(auth))
			tr := f.bearerLogin("alice")
			seen = nil
			body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
			for k, v := range tc.body {
				body[k] = v
			}
			r := formRequest("/token", body)
			if tc.basic != nil {
				r.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			resp := serve(f.auth.RefreshHandler(), r)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.seen != "" {
				assert.Equal(t, []string{tc.seen}, seen)
			}
			if tc.status == 200 {
				return
			}
			code, _ := oauthError(t, resp)
			assert.Equal(t, tc.code, code)
			if tc.code == "invalid_client" {
				assert.Equal(t, `Basic realm="api"`, resp.Header.Get("WWW-Authenticate"))
			}
			_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
			require.NoError(t, err, "a refused client rotates nothing")
		})
	}
	t.Run("revocation", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode), rtr.WithClientAuthenticator(auth))
		tr := f.bearerLogin("alice")
		resp := serve(f.auth.RevokeHandler(), formRequest("/revoke", url.Values{"token": {tr.RefreshToken}, "client_id": {"mallory"}}))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, `Basic realm="rtr"`, resp.Header.Get("WWW-Authenticate"))
		_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
		require.NoError(t, err)
	})
	t.Run("nil", func(t *testing.T) {
		_, err := rtr.NewHTTPAuth(newHTTPFixture(t, nil).iss, rtr.WithClientAuthenticator(nil))
		require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	})
}

func TestRevokeHandler(t *testing.T) {
	cases := []struct {
		name    string
		opts    []rtr.HTTPOption
		prepare func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request
		status  int
		code    string
		ended   bool // the session of tr has ended
	}{
		{"refresh token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken}})
		}, 200, "", true},
		{"refresh token with hint", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"refresh_token"}})
		}, 200, "", true},
		{"refresh token with a wrong hint", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"access_token"}})
		}, 200, "", true},
		{"expired refresh token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.clock.Advance(httpAccessTTL + time.Second)
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken}})
		}, 200, "", true},
		{"JSON", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("POST", "/revoke", jsonBody(map[string]string{"token": tr.RefreshToken}))
		}, 200, "", true},
		{"access token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {tr.AccessToken}})
		}, 200, "", false},
		{"forged token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {testkit.Tamper(t, tr.RefreshToken)}})
		}, 200, "", false},
		{"garbage", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {"not a token"}})
		}, 200, "", false},
		{"ended session", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			require.NoError(t, f.iss.Revoke(t.Context(), tr.RefreshToken))
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken}})
		}, 200, "", true},
		{"no token", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token_type_hint": {"refresh_token"}})
		}, 400, "invalid_request", false},
		{"token twice", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken, "x"}})
		}, 400, "invalid_request", false},
		{"store outage", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			f.store.down.Store(true)
			return formRequest("/revoke", url.Values{"token": {tr.RefreshToken}})
		}, 503, "temporarily_unavailable", false},
		{"GET", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			return newRequest("GET", "/revoke?token="+tr.RefreshToken, nil)
		}, 405, "invalid_request", false},
		{"cross-origin with a refresh cookie", []rtr.HTTPOption{rtr.WithRefreshCookie("/auth/")}, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			r := formRequest("/auth/revoke", url.Values{"token": {"x"}})
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}, 403, "cross_origin", false},
		{"cross-origin without cookies", nil, func(t *testing.T, f *httpFixture, tr rtr.TokenResponse) *http.Request {
			r := formRequest("/revoke", url.Values{"token": {tr.RefreshToken}})
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}, 200, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newHTTPFixture(t, nil, append([]rtr.HTTPOption{rtr.WithMode(rtr.BearerMode)}, tc.opts...)...)
			tr := f.bearerLogin("alice")
			if tr.RefreshToken == "" { // refresh cookie: rotate through the issuer for a token
				p, err := f.iss.Issue(t.Context(), "alice")
				require.NoError(t, err)
				tr.RefreshToken, tr.AccessToken = p.RefreshToken, p.AccessToken
			}
			resp := serve(f.auth.RevokeHandler(), tc.prepare(t, f, tr))
			require.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Empty(t, resp.Cookies())
			if tc.status == 200 {
				assert.Empty(t, readBody(t, resp))
			} else {
				code, _ := oauthError(t, resp)
				assert.Equal(t, tc.code, code)
			}
			f.store.down.Store(false)
			_, err := f.iss.Refresh(t.Context(), tr.RefreshToken)
			if tc.ended {
				require.ErrorIs(t, err, rtr.ErrSessionNotFound)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// TestLogoutCSRFWithRefreshCookie: a cross-site text/plain form whose body
// looks like JSON with a token must not clear the refresh cookie.
func TestLogoutCSRFWithRefreshCookie(t *testing.T) {
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/auth/"))
	resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/auth/login?user=alice", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c := setCookies(resp)[f.auth.RefreshCookieName()]
	require.NotNil(t, c)

	for _, body := range []string{`{"refresh_token":"x.y.z"}`, `{"refresh_token":"` + c.Value + `"}`, "refresh_token=x"} {
		r := newRequest(http.MethodPost, "/auth/logout", strings.NewReader(body), c)
		r.Header.Set("Content-Type", "text/plain")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		resp = serve(f.auth.LogoutHandler(nil), r)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
		assert.Empty(t, resp.Cookies(), "no cookie cleared")
	}
	_, err := f.iss.Refresh(t.Context(), c.Value)
	require.NoError(t, err, "the session lives")
}

// TestCrossOriginRule: one rule for every handler, checked before the
// body is read.
func TestCrossOriginRule(t *testing.T) {
	type handler struct {
		name string
		h    func(a *rtr.HTTPAuth, f *httpFixture) http.Handler
	}
	handlers := []handler{
		{"login", func(a *rtr.HTTPAuth, f *httpFixture) http.Handler { return f.loginHandler() }},
		{"refresh", func(a *rtr.HTTPAuth, f *httpFixture) http.Handler { return a.RefreshHandler() }},
		{"logout", func(a *rtr.HTTPAuth, f *httpFixture) http.Handler { return a.LogoutHandler(nil) }},
		{"logout-all", func(a *rtr.HTTPAuth, f *httpFixture) http.Handler { return a.LogoutAllHandler(nil) }},
		{"revoke", func(a *rtr.HTTPAuth, f *httpFixture) http.Handler { return a.RevokeHandler() }},
		{"require", func(a *rtr.HTTPAuth, f *httpFixture) http.Handler { return a.Require(whoami) }},
	}
	setups := []struct {
		name    string
		opts    []rtr.HTTPOption
		refused map[string]bool // handlers that refuse a cross-site POST
	}{
		{"cookie mode", nil, map[string]bool{"login": true, "refresh": true, "logout": true, "logout-all": true, "revoke": true, "require": true}},
		{"bearer", []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode)}, map[string]bool{}},
		{"bearer with refresh cookie", []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/")},
			map[string]bool{"login": true, "refresh": true, "logout": true, "logout-all": true, "revoke": true}},
	}
	for _, s := range setups {
		for _, h := range handlers {
			t.Run(s.name+"/"+h.name, func(t *testing.T) {
				f := newHTTPFixture(t, nil, s.opts...)
				r := newRequest(http.MethodPost, "/x?user=alice", strings.NewReader(`{`))
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				resp := serve(h.h(f.auth, f), r)
				if s.refused[h.name] {
					require.Equal(t, http.StatusForbidden, resp.StatusCode)
					assert.Empty(t, resp.Cookies())
				} else {
					require.NotEqual(t, http.StatusForbidden, resp.StatusCode)
				}
			})
		}
	}
	t.Run("ambient access token in bearer mode", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode), rtr.WithTokenLocations(rtr.FromCookie("at")))
		for _, h := range handlers {
			r := newRequest(http.MethodPost, "/x?user=alice", nil, &http.Cookie{Name: "at", Value: "x.y.z"})
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			resp := serve(h.h(f.auth, f), r)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, h.name)
		}
	})
}

// logRecords is a slog handler that keeps the records it is given.
type logRecords struct {
	records *[]slog.Record
}

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	*h.records = append(*h.records, r.Clone())
	return nil
}
func (h logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecords) WithGroup(string) slog.Handler      { return h }

func TestPlainHTTPCookieWarning(t *testing.T) {
	cases := []struct {
		name   string
		opts   []rtr.HTTPOption
		host   string
		tls    bool
		header map[string]string
		warn   bool
	}{
		{"LAN address", nil, "192.168.1.20:8080", false, nil, true},
		{"compose host name", nil, "app", false, nil, true},
		{"bearer refresh cookie", []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/")}, "app.internal", false, nil, true},
		{"proxy says http", nil, "example.com", false, map[string]string{"X-Forwarded-Proto": "http"}, true},
		{"TLS", nil, "example.com", true, nil, false},
		{"behind a TLS proxy", nil, "example.com", false, map[string]string{"X-Forwarded-Proto": "HTTPS"}, false},
		{"localhost", nil, "localhost:8080", false, nil, false},
		{"localhost subdomain", nil, "app.localhost", false, nil, false},
		{"127.0.0.2", nil, "127.0.0.2:80", false, nil, false},
		{"::1", nil, "[::1]:8080", false, nil, false},
		{"insecure cookies", []rtr.HTTPOption{rtr.WithInsecureCookies()}, "192.168.1.20", false, nil, false},
		{"bearer without cookies", []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode)}, "192.168.1.20", false, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var records []slog.Record
			log := slog.New(logRecords{&records})
			f := newHTTPFixture(t, nil, append([]rtr.HTTPOption{rtr.WithLogger(log)}, tc.opts...)...)
			var tokens []string
			for range 3 { // said once, however often it happens
				r := newRequest(http.MethodPost, "/login?user=alice", nil)
				r.Host = tc.host
				if tc.tls {
					r.TLS = &tls.ConnectionState{}
				}
				for k, v := range tc.header {
					r.Header.Set(k, v)
				}
				resp := serve(f.loginHandler(), r)
				require.Less(t, resp.StatusCode, 300)
				for _, c := range resp.Cookies() {
					tokens = append(tokens, c.Value)
				}
			}
			if !tc.warn {
				assert.Empty(t, records)
				return
			}
			require.Len(t, records, 1)
			rec := records[0]
			assert.Equal(t, slog.LevelWarn, rec.Level)
			assert.Contains(t, rec.Message, "plain-HTTP")
			var text strings.Builder
			text.WriteString(rec.Message)
			rec.Attrs(func(a slog.Attr) bool {
				text.WriteString(" " + a.String())
				return true
			})
			require.NotEmpty(t, tokens)
			for _, tok := range tokens {
				assert.NotContains(t, text.String(), tok, "no token in the log")
			}
		})
	}
	t.Run("transparent refresh", func(t *testing.T) {
		var records []slog.Record
		f := newHTTPFixture(t, nil, rtr.WithLogger(slog.New(logRecords{&records})))
		p, err := f.iss.Issue(t.Context(), "alice")
		require.NoError(t, err)
		r := newRequest(http.MethodGet, "/page", nil, &http.Cookie{Name: f.auth.RefreshCookieName(), Value: p.RefreshToken})
		r.Host = "10.0.0.5"
		resp := serve(f.auth.Require(whoami), r)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Len(t, records, 1)
	})
	t.Run("nil logger", func(t *testing.T) {
		_, err := rtr.NewHTTPAuth(newHTTPFixture(t, nil).iss, rtr.WithLogger(nil))
		require.ErrorIs(t, err, rtr.ErrInvalidConfig)
	})
}

// TestRefreshTokenBoundToClient: with a ClientAuthenticator, a refresh
// token issued with WithClientID is redeemed and revoked only by that
// client (RFC 6749 §6, RFC 7009 §2.1); tokens issued to no named client
// stay usable by any client the authenticator accepts.
func TestRefreshTokenBoundToClient(t *testing.T) {
	auth := func(_ context.Context, id, secret string) error {
		if (id == "conf" && secret == "s3cret") || (id == "other" && secret == "0ther") || (id == "public" && secret == "") {
			return nil
		}
		return errors.New("unknown client")
	}
	f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode), rtr.WithClientAuthenticator(auth))
	issue := func(opts ...rtr.IssueOption) rtr.Pair {
		p, err := f.iss.Issue(t.Context(), "alice", opts...)
		require.NoError(t, err)
		return p
	}
	refresh := func(token, id, secret string) *http.Response {
		r := formRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
		r.SetBasicAuth(id, secret)
		return serve(f.auth.RefreshHandler(), r)
	}
	bound := issue(rtr.WithClientID("conf"))
	for name, creds := range map[string][2]string{"another client": {"other", "0ther"}, "a public client": {"public", ""}} {
		resp := refresh(bound.RefreshToken, creds[0], creds[1])
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		code, _ := oauthError(t, resp)
		require.Equal(t, "invalid_grant", code, name)
	}
	r := formRequest("/revoke", url.Values{"token": {bound.RefreshToken}})
	r.SetBasicAuth("other", "0ther")
	resp := serve(f.auth.RevokeHandler(), r)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "another client cannot revoke it")

	resp = refresh(bound.RefreshToken, "conf", "s3cret")
	require.Equal(t, http.StatusOK, resp.StatusCode, "its own client refreshes it")
	var tr rtr.TokenResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
	resp = refresh(tr.RefreshToken, "other", "0ther")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "the rotated token stays bound")

	unbound := issue()
	resp = refresh(unbound.RefreshToken, "public", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a token of no named client is not bound")
}

// TestRefreshWithAccessTokenOfClientSession: a refresh that also sends the
// session's access token works for a session issued to a named client
// (the two tokens are matched by subject and session only), in bearer mode
// and in cookie mode's transparent refresh.
func TestRefreshWithAccessTokenOfClientSession(t *testing.T) {
	t.Run("bearer", func(t *testing.T) {
		f := newHTTPFixture(t, nil, rtr.WithMode(rtr.BearerMode))
		p, err := f.iss.Issue(t.Context(), "alice", rtr.WithClientID("app1"))
		require.NoError(t, err)
		r := newRequest(http.MethodPost, "/token", jsonBody(map[string]string{"refresh_token": p.RefreshToken}))
		r.Header.Set("Authorization", "Bearer "+p.AccessToken)
		resp := serve(f.auth.RefreshHandler(), r)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("cookie", func(t *testing.T) {
		f := newHTTPFixture(t, nil)
		p, err := f.iss.Issue(t.Context(), "alice", rtr.WithClientID("app1"))
		require.NoError(t, err)
		f.clock.Advance(httpAccessTTL + time.Second) // the access cookie's token has expired: the middleware refreshes
		access := &http.Cookie{Name: f.auth.AccessCookieName(), Value: p.AccessToken}
		refresh := &http.Cookie{Name: f.auth.RefreshCookieName(), Value: p.RefreshToken}
		resp := serve(f.auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
		})), newRequest(http.MethodGet, "/", nil, access, refresh))
		require.Equal(t, http.StatusOK, resp.StatusCode, "not logged out")
	})
}
