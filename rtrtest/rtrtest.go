// Package rtrtest helps applications test their own code that uses rtr:
// a settable [Clock] to share between the issuer and its store, an issuer
// preset for tests ([NewIssuer]), a browser-like HTTP client with a cookie
// jar of its own ([NewBrowser]), and genuine [rtr.Claims] for handler
// unit tests ([NewClaims], [WithClaims]).
//
// It depends on the standard library and rtr only, so importing it from
// your tests adds nothing to your module's dependencies.
//
// # The clock
//
// [rtr.Config.Now] is the one clock of an issuer: minting, verifying and
// the store all read it. Give it a [Clock] and a test can expire an access
// token, outlive the reuse grace or end a session by calling
// [Clock.Advance], without sleeping. Both of rtr's stores judge expiry by
// the times the issuer hands them, which come from this clock, so
// advancing it ends sessions on [rtr.MemoryStore] and on [rtr.RedisStore]
// over miniredis or a real Redis alike (Redis itself forgets the keys
// later, by its own time).
//
// # Cookies and the shared-jar trap
//
// [httptest.Server.Client] returns the same *http.Client on every call.
// Setting its Jar makes every "user" of the test share one cookie jar: the
// second user's login overwrites the first one's cookies, and a test of
// two sessions quietly tests one. [NewBrowser] returns a new client with a
// jar of its own each time it is called.
//
// rtr's cookies are Secure, with the __Host- prefix, by default; a cookie
// jar sends those over HTTPS only. Test a cookie-mode app on
// [httptest.NewTLSServer] (whose client trusts its certificate), or on
// [httptest.NewServer] with [rtr.WithInsecureCookies]. The jar expires
// cookies by real time while rtr judges tokens by its clock, so after
// [Clock.Advance] the browser still sends its access cookie and the
// middleware finds it expired and refreshes, as a real browser whose
// cookie outlived its token would.
package rtrtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// Clock is a settable clock for [rtr.Config.Now]. It stands still until
// it is moved with [Clock.Set] or [Clock.Advance]. It is safe for
// concurrent use: handlers served by an [httptest.Server] read it while
// the test moves it.
type Clock struct {
	c testkit.Clock
}

// NewClock returns a clock that stands at the current time, to the second.
// It starts at the real time, not at a fixed date, because cookie jars and
// Redis expire what they hold by real time: cookies and keys with
// lifetimes counted from a clock in the past would be gone at once.
func NewClock() *Clock {
	c := &Clock{}
	c.c.Set(time.Now().Truncate(time.Second))
	return c
}

// Now returns the clock's time. Pass the method value, clock.Now, as
// [rtr.Config.Now].
func (c *Clock) Now() time.Time { return c.c.Now() }

// Set moves the clock to t (forwards or backwards). The monotonic reading
// of t is dropped: the clock is wall-clock only.
func (c *Clock) Set(t time.Time) { c.c.Set(t) }

// Advance moves the clock on by d (back for a negative d).
func (c *Clock) Advance(d time.Duration) { c.c.Advance(d) }

// Config returns the preset [NewIssuer] starts from: a fresh
// [rtr.MemoryStore], a random 32-byte secret, [rtr.RecommendedReuseGrace]
// (which cookie mode needs) and clock as [rtr.Config.Now] (nil: the real
// time). The lifetimes are rtr's defaults ([rtr.DefaultAccessTTL] and so
// on), so a test runs with what production runs with unless it says
// otherwise. Use it to build an issuer yourself, on another store.
func Config(clock *Clock) rtr.Config {
	cfg := rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     secret(),
		ReuseGrace: rtr.RecommendedReuseGrace,
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	return cfg
}

// secret returns 32 random bytes.
func secret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// NewIssuer returns an issuer on the [Config] preset, after the adjust
// functions have changed what the test needs (a shorter AccessTTL, a
// Claims callback, an OnEvent recorder, a miniredis store). It fails the
// test if [rtr.NewIssuer] refuses the result.
func NewIssuer(t testing.TB, clock *Clock, adjust ...func(*rtr.Config)) *rtr.Issuer {
	t.Helper()
	cfg := Config(clock)
	for _, f := range adjust {
		f(&cfg)
	}
	iss, err := rtr.NewIssuer(cfg)
	if err != nil {
		t.Fatalf("rtrtest.NewIssuer: %v", err)
	}
	return iss
}

// NewBrowser returns an HTTP client for srv with a cookie jar of its own,
// like one browser: every call returns a new client, so two browsers
// never share cookies (see the package documentation for the trap of
// [httptest.Server.Client]). The client uses srv's transport, which trusts
// the certificate of an [httptest.NewTLSServer], and follows redirects as
// http.Client does. It sends no Origin or Sec-Fetch-Site header, so rtr's
// cross-origin protection treats its requests as same-origin; set the
// headers on a request to test a cross-origin one.
func NewBrowser(t testing.TB, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("rtrtest.NewBrowser: %v", err)
	}
	c := *srv.Client() // a copy: the client itself is shared
	c.Jar = jar
	t.Cleanup(c.CloseIdleConnections)
	return &c
}

// NewClaims returns claims for subject, with extra as the claims from
// [rtr.Config.Claims], as [rtr.ClaimsFromContext] would return them to a
// handler behind [rtr.HTTPAuth.Require]. They are genuine: an issuer of
// its own with a random secret mints an access token and verifies it, so
// [rtr.Claims.Get], [rtr.Claims.Decode] and [rtr.Claims.Extra] answer as
// in production (numbers decode as float64). The token expires
// [rtr.DefaultAccessTTL] from now, and the session id is a fresh one.
//
// Like [httptest.NewRequest], NewClaims panics on arguments that are a bug
// in the test: an empty or oversized subject, an extra claim that rtr
// reserves (see [rtr.ErrReservedClaim]), a value that does not encode as
// JSON.
func NewClaims(subject string, extra map[string]any) *rtr.Claims {
	cfg := Config(nil)
	cfg.Claims = func(context.Context, string) (map[string]any, error) { return extra, nil }
	iss, err := rtr.NewIssuer(cfg)
	if err != nil {
		panic(fmt.Sprintf("rtrtest.NewClaims: %v", err))
	}
	ctx := context.Background()
	p, err := iss.Issue(ctx, subject)
	if err != nil {
		panic(fmt.Sprintf("rtrtest.NewClaims: %v", err))
	}
	c, err := iss.Verifier().Verify(ctx, p.AccessToken)
	if err != nil {
		panic(fmt.Sprintf("rtrtest.NewClaims: %v", err))
	}
	return c
}

// WithClaims returns a shallow copy of r whose context carries
// [NewClaims](subject, extra), for a unit test of a handler that sits
// behind [rtr.HTTPAuth.Require]: the handler finds the identity with
// [rtr.ClaimsFromContext] and no token, cookie or middleware is involved.
// It panics as NewClaims does.
func WithClaims(r *http.Request, subject string, extra map[string]any) *http.Request {
	return r.WithContext(rtr.ContextWithClaims(r.Context(), NewClaims(subject, extra)))
}
