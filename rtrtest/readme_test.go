package rtrtest_test

// The code of README.md's "Testing your app" section, block by block and
// verbatim, so that it keeps compiling and passing (TestReadmeInSync
// checks that every Go block of that section is in this file). Change
// both together.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/rtrtest"
)

// routes stands for your application's handler, built on the HTTPAuth
// the test hands it.
func routes(auth *rtr.HTTPAuth) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the password first, then:
		p, err := auth.Login(w, r, r.FormValue("user"))
		if err != nil {
			auth.WriteError(w, r, err)
			return
		}
		auth.WriteTokenResponse(w, p) // 204 in cookie mode, the token JSON in bearer mode
	})
	mux.Handle("GET /me", auth.Require(http.HandlerFunc(me)))
	mux.Handle("GET /admin", auth.Require(http.HandlerFunc(adminOnly)))
	return mux
}

func me(w http.ResponseWriter, r *http.Request) {
	c, _ := rtr.ClaimsFromContext(r.Context())
	fmt.Fprint(w, c.Subject)
}

func adminOnly(w http.ResponseWriter, r *http.Request) {
	c, ok := rtr.ClaimsFromContext(r.Context())
	var role string
	if !ok || !c.Decode("role", &role) || role != "admin" {
		http.Error(w, "admins only", http.StatusForbidden)
		return
	}
	fmt.Fprint(w, "welcome, ", c.Subject)
}

func TestCookieMode(t *testing.T) {
	clock := rtrtest.NewClock()
	iss := rtrtest.NewIssuer(t, clock) // memory store, random secret, recommended grace
	auth, err := rtr.NewHTTPAuth(iss)  // cookie mode: Secure __Host- cookies
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(routes(auth)) // a jar sends Secure cookies over HTTPS only
	defer srv.Close()

	// One browser per user. Not srv.Client(): it is one shared client, and
	// a jar set on it would give alice and bob the same cookies.
	alice, bob := rtrtest.NewBrowser(t, srv), rtrtest.NewBrowser(t, srv)
	post(t, alice, srv.URL+"/login", url.Values{"user": {"alice"}})
	post(t, bob, srv.URL+"/login", url.Values{"user": {"bob"}})
	if code, body := get(t, alice, srv.URL+"/me"); code != http.StatusOK || body != "alice" {
		t.Fatalf("alice: %d %q", code, body)
	}
	if code, body := get(t, bob, srv.URL+"/me"); code != http.StatusOK || body != "bob" {
		t.Fatalf("bob: %d %q", code, body)
	}

	// The access token expires: the middleware refreshes transparently.
	clock.Advance(rtr.DefaultAccessTTL)
	if code, body := get(t, alice, srv.URL+"/me"); code != http.StatusOK || body != "alice" {
		t.Fatalf("after expiry: %d %q", code, body)
	}

	// Idle for longer than RefreshTTL: the session is over.
	clock.Advance(rtr.DefaultRefreshTTL)
	if code, _ := get(t, alice, srv.URL+"/me"); code != http.StatusUnauthorized {
		t.Fatalf("after the idle lifetime: %d", code)
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, url string, form url.Values) {
	t.Helper()
	resp, err := c.PostForm(url, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
}

func TestBearerMode(t *testing.T) {
	clock := rtrtest.NewClock()
	iss := rtrtest.NewIssuer(t, clock, func(c *rtr.Config) { c.AccessTTL = time.Minute })
	auth, err := rtr.NewHTTPAuth(iss, rtr.WithMode(rtr.BearerMode))
	if err != nil {
		t.Fatal(err)
	}
	h := routes(auth)

	pair, err := iss.Issue(t.Context(), "alice") // what POST /login hands the client
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/me", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "alice" {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}

	clock.Advance(time.Minute) // a token is expired from its exp on
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("expired: %d %q", rec.Code, rec.Header())
	}
}

func TestAdminOnly(t *testing.T) {
	for role, want := range map[string]int{"admin": http.StatusOK, "guest": http.StatusForbidden} {
		req := rtrtest.WithClaims(httptest.NewRequest("GET", "/admin", nil), "alice", map[string]any{"role": role})
		rec := httptest.NewRecorder()
		adminOnly(rec, req) // no token, cookie or middleware involved
		if rec.Code != want {
			t.Errorf("role %s: %d, want %d", role, rec.Code, want)
		}
	}
}

func TestOnRedis(t *testing.T) {
	mr := miniredis.RunT(t) // an in-process Redis
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	clock := rtrtest.NewClock()
	iss := rtrtest.NewIssuer(t, clock, func(c *rtr.Config) { c.Store = rtr.NewRedisStore(client) })

	pair, err := iss.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	next, err := iss.Refresh(t.Context(), pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// The spent token replayed after the grace is theft: the session ends.
	clock.Advance(rtr.RecommendedReuseGrace)
	if _, err := iss.Refresh(t.Context(), pair.RefreshToken); !errors.Is(err, rtr.ErrTokenReused) {
		t.Fatalf("replay: %v", err)
	}
	if _, err := iss.Refresh(t.Context(), next.RefreshToken); !errors.Is(err, rtr.ErrSessionNotFound) {
		t.Fatalf("after theft: %v", err)
	}
}
