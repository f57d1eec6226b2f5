package rtr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// Helpers of the HTTP-layer tests. Their names start with "h" so they never
// meet the core tests' helpers in package rtr_test. The clock and the
// token payload decoder are internal/testkit's; the event recorder
// (eventLog) is the shared one of helpers_test.go.

var hSecret = []byte("http-layer-test-secret-0123456789abcdef")

const (
	hAccessTTL  = time.Minute
	hRefreshTTL = time.Hour
	hGrace      = 10 * time.Second
)

// hSwitchStore is a test double around a real store that can be switched
// to fail every call with ErrStoreUnavailable, like a Redis that went away.
// (The outage is also tested against a real go-redis client that cannot
// connect; see http_outage_test.go.)
type hSwitchStore struct {
	rtr.Store
	down    atomic.Bool
	rotates atomic.Int64
}

func (s *hSwitchStore) err() error { return fmt.Errorf("%w: switched off", rtr.ErrStoreUnavailable) }

func (s *hSwitchStore) Create(ctx context.Context, r rtr.SessionRecord, maxSessions int) ([]string, error) {
	if s.down.Load() {
		return nil, s.err()
	}
	return s.Store.Create(ctx, r, maxSessions)
}

func (s *hSwitchStore) Rotate(ctx context.Context, req rtr.RotateRequest) (rtr.RotateResult, error) {
	s.rotates.Add(1)
	if s.down.Load() {
		return rtr.RotateResult{}, s.err()
	}
	return s.Store.Rotate(ctx, req)
}

func (s *hSwitchStore) Revoke(ctx context.Context, subject, sid string) (bool, error) {
	if s.down.Load() {
		return false, s.err()
	}
	return s.Store.Revoke(ctx, subject, sid)
}

func (s *hSwitchStore) RevokeAll(ctx context.Context, subject string) ([]string, error) {
	if s.down.Load() {
		return nil, s.err()
	}
	return s.Store.RevokeAll(ctx, subject)
}

func (s *hSwitchStore) List(ctx context.Context, subject string, now time.Time) ([]rtr.SessionRecord, error) {
	if s.down.Load() {
		return nil, s.err()
	}
	return s.Store.List(ctx, subject, now)
}

// hFix is an issuer plus its HTTP layer.
type hFix struct {
	t      *testing.T
	clock  *testkit.Clock
	store  *hSwitchStore
	events *eventLog
	iss    *rtr.Issuer
	auth   *rtr.HTTPAuth
}

// newHFix builds a fixture on a fresh memory store. cfg adjusts the issuer
// config before NewIssuer.
func newHFix(t *testing.T, cfg func(*rtr.Config), opts ...rtr.HTTPOption) *hFix {
	t.Helper()
	return newHFixOn(t, rtr.NewMemoryStore(), cfg, opts...)
}

func newHFixOn(t *testing.T, store rtr.Store, cfg func(*rtr.Config), opts ...rtr.HTTPOption) *hFix {
	t.Helper()
	f := &hFix{t: t, clock: testkit.NewClock(time.Unix(1_800_000_000, 0)), store: &hSwitchStore{Store: store}, events: &eventLog{}}
	c := rtr.Config{
		Store:      f.store,
		Secret:     hSecret,
		Issuer:     "https://rtr.test",
		AccessTTL:  hAccessTTL,
		RefreshTTL: hRefreshTTL,
		ReuseGrace: hGrace,
		Now:        f.clock.Now,
		OnEvent:    f.events.record,
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

// hWhoami answers 200 "alice sid" for an identity, 200 "anonymous"
// otherwise.
var hWhoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if c, ok := rtr.ClaimsFromContext(r.Context()); ok {
		fmt.Fprintf(w, "%s %s", c.Subject, c.SessionID)
		return
	}
	fmt.Fprint(w, "anonymous")
})

// hLoginHandler logs in the subject named by the "user" query parameter.
func (f *hFix) loginHandler() http.Handler {
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
func hServe(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// hReq builds a same-origin request carrying cookies.
func hReq(method, target string, body io.Reader, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(method, target, body)
	for _, c := range cookies {
		if c != nil && c.Value != "" {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

// hBody reads the response body.
func hBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// hCookies maps Set-Cookie headers by name.
func hCookies(resp *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		m[c.Name] = c
	}
	return m
}

// hJSONError decodes an OAuth-style error body.
func hJSONError(t *testing.T, resp *http.Response) (code, desc string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	require.NoError(t, json.Unmarshal([]byte(hBody(t, resp)), &e))
	return e.Error, e.Desc
}
