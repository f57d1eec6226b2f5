package rtr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
)

// Helpers shared by the HTTP-layer tests (http_*_test.go): the fixture
// (an issuer plus its HTTP layer), store doubles, request builders and
// response readers. The clock and the token payload decoder are
// internal/testkit's, the event recorder internal/issuertest's, and the
// core fixture helpers_test.go's.

const (
	httpAccessTTL  = time.Minute
	httpRefreshTTL = time.Hour
	httpGrace      = 10 * time.Second
)

// switchStore is a test double around a real store that can be switched
// to fail every call with ErrStoreUnavailable, like a Redis that went away.
// (The outage is also tested against a real go-redis client that cannot
// connect; see http_outage_test.go.)
type switchStore struct {
	rtr.Store
	down    atomic.Bool
	rotates atomic.Int64
}

func (s *switchStore) err() error { return fmt.Errorf("%w: switched off", rtr.ErrStoreUnavailable) }

func (s *switchStore) Create(ctx context.Context, r rtr.SessionRecord, maxSessions int) ([]string, error) {
	if s.down.Load() {
		return nil, s.err()
	}
	return s.Store.Create(ctx, r, maxSessions)
}

func (s *switchStore) Rotate(ctx context.Context, req rtr.RotateRequest) (rtr.RotateResult, error) {
	s.rotates.Add(1)
	if s.down.Load() {
		return rtr.RotateResult{}, s.err()
	}
	return s.Store.Rotate(ctx, req)
}

func (s *switchStore) Revoke(ctx context.Context, subject, sid string) (bool, error) {
	if s.down.Load() {
		return false, s.err()
	}
	return s.Store.Revoke(ctx, subject, sid)
}

func (s *switchStore) RevokeAll(ctx context.Context, subject string) ([]string, error) {
	if s.down.Load() {
		return nil, s.err()
	}
	return s.Store.RevokeAll(ctx, subject)
}

func (s *switchStore) List(ctx context.Context, subject string, now time.Time) ([]rtr.SessionRecord, error) {
	if s.down.Load() {
		return nil, s.err()
	}
	return s.Store.List(ctx, subject, now)
}

// httpFixture is an issuer plus its HTTP layer.
type httpFixture struct {
	t      *testing.T
	clock  *testkit.Clock
	store  *switchStore
	events *issuertest.EventLog
	iss    *rtr.Issuer
	auth   *rtr.HTTPAuth
}

// newHTTPFixture builds a fixture on a fresh memory store. cfg adjusts the issuer
// config before NewIssuer.
func newHTTPFixture(t *testing.T, cfg func(*rtr.Config), opts ...rtr.HTTPOption) *httpFixture {
	t.Helper()
	return newHTTPFixtureOn(t, rtr.NewMemoryStore(), cfg, opts...)
}

func newHTTPFixtureOn(t *testing.T, store rtr.Store, cfg func(*rtr.Config), opts ...rtr.HTTPOption) *httpFixture {
	t.Helper()
	f := &httpFixture{t: t, clock: testkit.NewClock(time.Unix(1_800_000_000, 0)), store: &switchStore{Store: store}, events: &issuertest.EventLog{}}
	c := rtr.Config{
		Store:      f.store,
		Secret:     testSecret,
		Issuer:     "https://rtr.test",
		AccessTTL:  httpAccessTTL,
		RefreshTTL: httpRefreshTTL,
		ReuseGrace: httpGrace,
		Now:        f.clock.Now,
		OnEvent:    f.events.Record,
	}
	if cfg != nil {
		cfg(&c)
	}
	iss, err := rtr.NewIssuer(c)
	require.NoError(t, err)
	f.iss = iss
	f.auth, err = rtr.NewHTTPAuth(iss, opts...)
	require.NoError(t, err)
	return f
}

// whoami answers 200 "alice sid" for an identity, 200 "anonymous"
// otherwise.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if c, ok := rtr.ClaimsFromContext(r.Context()); ok {
		fmt.Fprintf(w, "%s %s", c.Subject, c.SessionID)
		return
	}
	fmt.Fprint(w, "anonymous")
})

// loginHandler logs in the subject named by the "user" query parameter.
func (f *httpFixture) loginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := f.auth.Login(w, r, r.URL.Query().Get("user"))
		if err != nil {
			f.auth.WriteError(w, r, err)
			return
		}
		f.auth.WriteTokenResponse(w, p)
	})
}

// serve runs one request through h.
func serve(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// newRequest builds a same-origin request carrying cookies.
func newRequest(method, target string, body io.Reader, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(method, target, body)
	for _, c := range cookies {
		if c != nil && c.Value != "" {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

// readBody reads the response body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// setCookies maps Set-Cookie headers by name.
func setCookies(resp *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		m[c.Name] = c
	}
	return m
}

// oauthError decodes an OAuth-style error body.
func oauthError(t *testing.T, resp *http.Response) (code, desc string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	require.NoError(t, json.Unmarshal([]byte(readBody(t, resp)), &e))
	return e.Error, e.Desc
}

// The cookie names of cookie mode's defaults (the __Host- prefix).
const (
	accessCookieName  = "__Host-rtr_access"
	refreshCookieName = "__Host-rtr_refresh"
)

// bearerLogin logs user in and decodes the token response.
func (f *httpFixture) bearerLogin(user string) rtr.TokenResponse {
	f.t.Helper()
	resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/login?user="+user, nil))
	require.Equal(f.t, http.StatusOK, resp.StatusCode)
	var tr rtr.TokenResponse
	require.NoError(f.t, json.NewDecoder(resp.Body).Decode(&tr))
	return tr
}

// withBearer sets r's Authorization header to a bearer token.
func withBearer(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// jsonBody encodes v as a JSON request body.
func jsonBody(v any) *strings.Reader {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b))
}

// cookieLogin logs user in through Login and returns the two cookies.
func (f *httpFixture) cookieLogin(user string) (access, refresh *http.Cookie) {
	f.t.Helper()
	resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/login?user="+user, nil))
	require.Equal(f.t, http.StatusNoContent, resp.StatusCode)
	c := setCookies(resp)
	access, refresh = c[f.auth.AccessCookieName()], c[f.auth.RefreshCookieName()]
	require.NotNil(f.t, access)
	require.NotNil(f.t, refresh)
	return access, refresh
}

// mustHTTP builds the HTTP layer of iss.
func mustHTTP(t *testing.T, iss *rtr.Issuer, opts ...rtr.HTTPOption) *rtr.HTTPAuth {
	t.Helper()
	a, err := rtr.NewHTTPAuth(iss, opts...)
	require.NoError(t, err)
	return a
}

// gateStore holds every Rotate until the gate opens and counts the calls.
type gateStore struct {
	rtr.Store
	gate  chan struct{}
	calls atomic.Int64
}

func (s *gateStore) Rotate(ctx context.Context, req rtr.RotateRequest) (rtr.RotateResult, error) {
	s.calls.Add(1)
	<-s.gate
	return s.Store.Rotate(ctx, req)
}
