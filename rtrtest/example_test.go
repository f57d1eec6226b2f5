package rtrtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/rtrtest"
)

// A clock shared by the issuer and its store expires tokens without
// sleeping.
func ExampleClock() {
	clock := rtrtest.NewClock()
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:     rtr.NewMemoryStore(),
		Secret:    []byte("example-secret-0123456789abcdefghij"),
		AccessTTL: time.Minute,
		Now:       clock.Now, // the one clock: minting, verifying, the store
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	p, err := iss.Issue(ctx, "alice")
	if err != nil {
		panic(err)
	}
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	fmt.Println("at once, valid:", err == nil)

	clock.Advance(time.Minute)
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	fmt.Println("a minute later, expired:", errors.Is(err, rtr.ErrTokenExpired))
	// Output:
	// at once, valid: true
	// a minute later, expired: true
}

// A unit test of a handler that sits behind Require: the request carries
// an identity, and no token, cookie or middleware is involved.
func ExampleWithClaims() {
	admin := func(w http.ResponseWriter, r *http.Request) {
		c, _ := rtr.ClaimsFromContext(r.Context())
		var role string
		c.Decode("role", &role)
		fmt.Fprintf(w, "%s is %s", c.Subject, role)
	}

	req := rtrtest.WithClaims(httptest.NewRequest("GET", "/admin", nil), "alice", map[string]any{"role": "admin"})
	rec := httptest.NewRecorder()
	admin(rec, req)
	fmt.Println(rec.Code, rec.Body)
	// Output: 200 alice is admin
}

// The test of a cookie-mode app: each user gets a browser of their own.
// (In a test function; t is its *testing.T.)
func ExampleNewBrowser() {
	var t *testing.T // func TestApp(t *testing.T) {

	iss := rtrtest.NewIssuer(t, rtrtest.NewClock())
	auth, err := rtr.NewHTTPAuth(iss)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(routes(auth)) // your app's handler
	defer srv.Close()

	alice, bob := rtrtest.NewBrowser(t, srv), rtrtest.NewBrowser(t, srv)
	_, _ = alice.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}})
	resp, _ := bob.Get(srv.URL + "/me") // bob has no cookies: 401
	resp.Body.Close()
}

// An issuer for a test with one setting changed, on the test's clock.
// (In a test function; t is its *testing.T.)
func ExampleNewIssuer() {
	var t *testing.T // func TestRefresh(t *testing.T) {

	clock := rtrtest.NewClock()
	iss := rtrtest.NewIssuer(t, clock, func(c *rtr.Config) { c.AccessTTL = time.Minute })
	p, err := iss.Issue(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := iss.Verifier().Verify(t.Context(), p.AccessToken); err == nil {
		t.Fatal("the access token should have expired")
	}
}
