package rtr_test

// Fuzz targets for the HTTP layer's parsers of outside input: the
// Authorization header (bearer mode), the Cookie header (cookie mode) and
// the refresh endpoint's JSON body plus refresh cookie (bearer mode).
//
// Each iteration builds a fresh issuer on a memory store with a fixed
// clock, so iterations never influence each other and a crasher replays
// alone. Genuine tokens cannot be committed to a corpus (session ids are
// random), so inputs name them with placeholders that the target replaces
// before building the request:
//
//	$ACCESS    alice's current access token
//	$EXPIRED   alice's previous access token, expired
//	$REFRESH   alice's current refresh token
//	$OLDREFRESH alice's previous refresh token (rotated within the grace)
//	$MACCESS   mallory's access token      $MREFRESH mallory's refresh token
//
// Invariants checked on every response:
//   - no panic, no 5xx (the memory store is never unavailable);
//   - a request is authenticated only as a subject whose genuine token it
//     carries (never as the wrong subject, never from a forged token);
//   - every Set-Cookie is one of rtr's cookies, HttpOnly, Secure,
//     SameSite=Lax, Path=/ (or the refresh path), and holds either nothing
//     (deletion) or a token rtr minted: input never reaches a cookie's
//     attributes;
//   - an error response never echoes the input.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtr-go/rtr"
)

var (
	fuzzWorldSecret = []byte("fuzz-http-secret-0123456789abcdefgh")
	fuzzWorldStart  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// fuzzWorld is one iteration's issuer, HTTP layer and tokens.
type fuzzWorld struct {
	iss    *rtr.Issuer
	auth   *rtr.HTTPAuth
	tokens map[string]string // placeholder -> token
	owner  map[string]string // token -> subject
}

// fuzzWorldTemplate holds the tokens and store records every world starts from:
// they are minted once per process, and each world copies the records into
// a fresh memory store (tokens stay valid: same secret, same clock, same
// records).
var fuzzWorldTemplate struct {
	once    sync.Once
	records []rtr.SessionRecord
	tokens  map[string]string
	owner   map[string]string
}

func fuzzWorldNow() time.Time { return fuzzWorldStart.Add(2 * time.Minute) }

func newFuzzWorldIssuer(store rtr.Store, now func() time.Time) (*rtr.Issuer, error) {
	return rtr.NewIssuer(rtr.Config{
		Store: store, Secret: fuzzWorldSecret, Issuer: "fuzz",
		AccessTTL: time.Minute, ReuseGrace: 10 * time.Second, Now: now,
	})
}

func buildFuzzWorldTemplate() {
	now := fuzzWorldStart
	store := rtr.NewMemoryStore()
	iss, err := newFuzzWorldIssuer(store, func() time.Time { return now })
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	must := func(p rtr.Pair, err error) rtr.Pair {
		if err != nil {
			panic(err)
		}
		return p
	}
	a1 := must(iss.Issue(ctx, "alice"))
	m1 := must(iss.Issue(ctx, "mallory"))
	now = fuzzWorldNow() // a1's and m1's access tokens have expired
	a2 := must(iss.Refresh(ctx, a1.RefreshToken))
	m2 := must(iss.Refresh(ctx, m1.RefreshToken))
	for _, p := range []struct{ subj, sid string }{{"alice", a2.SessionID}, {"mallory", m2.SessionID}} {
		rec, err := store.Get(ctx, p.subj, p.sid, now)
		if err != nil {
			panic(err)
		}
		fuzzWorldTemplate.records = append(fuzzWorldTemplate.records, rec)
	}
	fuzzWorldTemplate.tokens = map[string]string{
		"$OLDREFRESH": a1.RefreshToken,
		"$MREFRESH":   m2.RefreshToken,
		"$MACCESS":    m2.AccessToken,
		"$EXPIRED":    a1.AccessToken,
		"$REFRESH":    a2.RefreshToken,
		"$ACCESS":     a2.AccessToken,
	}
	fuzzWorldTemplate.owner = map[string]string{}
	for _, p := range []rtr.Pair{a1, a2} {
		fuzzWorldTemplate.owner[p.AccessToken], fuzzWorldTemplate.owner[p.RefreshToken] = "alice", "alice"
	}
	for _, p := range []rtr.Pair{m1, m2} {
		fuzzWorldTemplate.owner[p.AccessToken], fuzzWorldTemplate.owner[p.RefreshToken] = "mallory", "mallory"
	}
}

func newFuzzWorld(t *testing.T, opts ...rtr.HTTPOption) *fuzzWorld {
	fuzzWorldTemplate.once.Do(buildFuzzWorldTemplate)
	store := rtr.NewMemoryStore()
	for _, rec := range fuzzWorldTemplate.records {
		if _, err := store.Create(context.Background(), rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	iss, err := newFuzzWorldIssuer(store, fuzzWorldNow)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := rtr.NewHTTPAuth(iss, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzWorld{iss: iss, auth: auth, tokens: fuzzWorldTemplate.tokens, owner: fuzzWorldTemplate.owner}
}

var fuzzPlaceholders = []string{"$OLDREFRESH", "$MREFRESH", "$MACCESS", "$EXPIRED", "$REFRESH", "$ACCESS"}

// expand replaces the placeholders in s.
func (w *fuzzWorld) expand(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	for _, p := range fuzzPlaceholders {
		s = strings.ReplaceAll(s, p, w.tokens[p])
	}
	return s
}

// carries reports whether input holds a genuine token of subject.
func (w *fuzzWorld) carries(input, subject string) bool {
	for tok, subj := range w.owner {
		if subj == subject && strings.Contains(input, tok) {
			return true
		}
	}
	return false
}

// minted reports whether tok is a token this world's issuer minted:
// known, or verifiable as an access token, or a refresh token the issuer
// hands back (checked by shape: signed header of this issuer).
func (w *fuzzWorld) minted(tok string) bool {
	if _, ok := w.owner[tok]; ok {
		return true
	}
	if _, err := w.iss.Verifier().Verify(context.Background(), tok); err == nil {
		return true
	}
	// A refresh token minted during this request: same header segment as
	// the known refresh tokens.
	hdr, _, _ := strings.Cut(w.tokens["$REFRESH"], ".")
	return strings.HasPrefix(tok, hdr+".") && strings.Count(tok, ".") == 2
}

// check applies the invariants to one response. input is the expanded
// outside input; who is the subject the handler saw, "" if none.
func (w *fuzzWorld) check(t *testing.T, input string, resp *http.Response, body, who string, refreshPath string) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d on a memory store (input len %d): %s", resp.StatusCode, len(input), body)
	}
	if who != "" && !w.carries(input, who) {
		t.Fatalf("authenticated as %q without a genuine token of %q (input len %d)", who, who, len(input))
	}
	for _, line := range resp.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("unparsable Set-Cookie (%v)", err)
		}
		if c.Name != w.auth.AccessCookieName() && c.Name != w.auth.RefreshCookieName() {
			t.Fatalf("unexpected cookie name %q", c.Name)
		}
		wantPath := "/"
		if c.Name == w.auth.RefreshCookieName() && refreshPath != "" {
			wantPath = refreshPath
		}
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != wantPath || c.Domain != "" {
			t.Fatalf("cookie %q with wrong attributes: HttpOnly=%v Secure=%v SameSite=%v Path=%q Domain=%q",
				c.Name, c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain)
		}
		if c.Value != "" && !w.minted(c.Value) {
			t.Fatalf("cookie %q holds something rtr did not mint (len %d)", c.Name, len(c.Value))
		}
	}
	if resp.StatusCode >= 400 && len(input) >= 16 && strings.Contains(body, input) {
		t.Fatal("error response echoes the input")
	}
}

// recordSubject reports the subject the middleware put in the context.
func recordSubject(who *string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if c, ok := rtr.ClaimsFromContext(r.Context()); ok {
			*who = c.Subject
		}
		rw.WriteHeader(http.StatusOK)
	})
}

func serveFuzz(h http.Handler, r *http.Request) (*http.Response, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// bigFuzzSeeds are seeds just over the token size limit. Inputs of a MiB
// are not seeded (the fuzzing engine slows to a crawl on them); the unit
// test TestFuzzHTTPSeedOutcomes sends them once instead.
func bigFuzzSeeds(prefix string) []string {
	return []string{
		prefix + "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("e", rtr.MaxTokenLen) + ".sig",
		prefix + "$ACCESS" + strings.Repeat("A", rtr.MaxTokenLen),
	}
}

// FuzzHTTPBearerHeader: the Authorization header of a bearer-mode request
// to a Require-protected handler, and to Optional.
func FuzzHTTPBearerHeader(f *testing.F) {
	for _, s := range []string{"Bearer $ACCESS", "Bearer $MACCESS", "Bearer $EXPIRED", "Bearer $REFRESH"} {
		f.Add(s)
	}
	for _, s := range bigFuzzSeeds("Bearer ") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		w := newFuzzWorld(t, rtr.WithMode(rtr.BearerMode))
		in := w.expand(header)
		for _, optional := range []bool{false, true} {
			var who string
			h := w.auth.Require(recordSubject(&who))
			if optional {
				h = w.auth.Optional(recordSubject(&who))
			}
			r := httptest.NewRequest("GET", "/api", nil)
			r.Header["Authorization"] = []string{in} // raw: no wire validation
			resp, body := serveFuzz(h, r)
			w.check(t, in, resp, body, who, "")
			switch resp.StatusCode {
			case http.StatusOK:
				if !optional && who == "" {
					t.Fatal("Require served a request without an identity")
				}
			case http.StatusUnauthorized:
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatal("401 without a Bearer challenge")
				}
			default:
				t.Fatalf("unexpected status %d", resp.StatusCode)
			}
			if len(resp.Header.Values("Set-Cookie")) > 0 {
				t.Fatal("bearer mode set a cookie")
			}
		}
	})
}

// FuzzHTTPCookieHeader: the raw Cookie header of a cookie-mode request
// (default, production cookie settings), through Require and through the
// refresh endpoint.
func FuzzHTTPCookieHeader(f *testing.F) {
	for _, s := range []string{
		"__Host-rtr_access=$ACCESS",
		"__Host-rtr_access=$EXPIRED; __Host-rtr_refresh=$REFRESH",
		"__Host-rtr_refresh=$OLDREFRESH",
	} {
		f.Add(s)
	}
	for _, s := range bigFuzzSeeds("__Host-rtr_refresh=") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		w := newFuzzWorld(t)
		in := w.expand(cookie)
		for _, target := range []string{"page", "refresh"} {
			var who string
			var h http.Handler
			r := httptest.NewRequest("GET", "/page", nil)
			if target == "page" {
				h = w.auth.Require(recordSubject(&who))
			} else {
				h = w.auth.RefreshHandler()
				r = httptest.NewRequest("POST", "/auth/refresh", nil)
			}
			r.Header["Cookie"] = []string{in}
			resp, body := serveFuzz(h, r)
			if target == "refresh" && resp.StatusCode == http.StatusNoContent {
				// The endpoint does not say whom it refreshed: read the new cookie.
				for _, c := range resp.Cookies() {
					if c.Name == w.auth.AccessCookieName() && c.Value != "" {
						cl, err := w.iss.Verifier().Verify(context.Background(), c.Value)
						if err != nil {
							t.Fatalf("refresh endpoint set an access cookie that does not verify: %v", err)
						}
						who = cl.Subject
					}
				}
				if who == "" {
					t.Fatal("204 from the refresh endpoint without a new access cookie")
				}
			}
			w.check(t, in, resp, body, who, "")
			switch resp.StatusCode {
			case http.StatusOK, http.StatusNoContent, http.StatusUnauthorized:
			default:
				t.Fatalf("unexpected status %d (%s)", resp.StatusCode, target)
			}
		}
	})
}

// FuzzHTTPRefreshBody: the refresh endpoint of bearer mode with the
// refresh cookie option, given a JSON body and a Cookie header.
func FuzzHTTPRefreshBody(f *testing.F) {
	f.Add(`{"refresh_token":"$REFRESH"}`, "")
	f.Add(``, "__Secure-rtr_refresh=$REFRESH")
	f.Add(`{"grant_type":"refresh_token","refresh_token":"$MREFRESH"}`, "")
	f.Add(`{"refresh_token":"`+strings.Repeat("A", rtr.MaxTokenLen+1)+`"}`, "")
	f.Fuzz(func(t *testing.T, body, cookie string) {
		w := newFuzzWorld(t, rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/auth/"))
		inBody, inCookie := w.expand(body), w.expand(cookie)
		r := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(inBody))
		r.Header.Set("Content-Type", "application/json")
		if inCookie != "" {
			r.Header["Cookie"] = []string{inCookie}
		}
		resp, rb := serveFuzz(w.auth.RefreshHandler(), r)
		var who string
		if resp.StatusCode == http.StatusOK {
			var tr rtr.TokenResponse
			if err := json.Unmarshal([]byte(rb), &tr); err != nil {
				t.Fatalf("200 without a token response: %v", err)
			}
			c, err := w.iss.Verifier().Verify(context.Background(), tr.AccessToken)
			if err != nil || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
				t.Fatalf("200 with an unusable token response (err %v)", err)
			}
			who = c.Subject
			if tr.RefreshToken == "" && len(resp.Header.Values("Set-Cookie")) == 0 {
				t.Fatal("200 without a refresh token anywhere")
			}
		}
		in := inBody + "\n" + inCookie
		w.check(t, in, resp, rb, who, "/auth/")
		switch resp.StatusCode {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	})
}

// TestFuzzHTTPSeedOutcomes pins the outcome of the most telling attack
// seeds, so that the fuzz targets above are known to reach the
// authenticated paths (a harness that only ever sees 401 proves nothing),
// and sends the inputs too large to seed (1 MiB).
func TestFuzzHTTPSeedOutcomes(t *testing.T) {
	big := strings.Repeat("A", 1<<20)
	cases := []struct {
		name, surface, input, cookie string
		status                       int
		who                          string
	}{
		{"bearer valid", "bearer", "Bearer $ACCESS", "", 200, "alice"},
		{"bearer lowercase scheme", "bearer", "bearer $ACCESS", "", 200, "alice"},
		{"bearer refresh as access", "bearer", "Bearer $REFRESH", "", 401, ""},
		{"bearer expired", "bearer", "Bearer $EXPIRED", "", 401, ""},
		{"bearer two tokens", "bearer", "Bearer $MACCESS, Bearer $ACCESS", "", 401, ""},
		{"bearer CRLF", "bearer", "Bearer $ACCESS\r\nX-Subject: mallory", "", 401, ""},
		{"bearer 1 MiB", "bearer", "Bearer " + big, "", 401, ""},
		{"cookie valid", "cookie", "__Host-rtr_access=$ACCESS", "", 200, "alice"},
		{"cookie expired plus refresh", "cookie", "__Host-rtr_access=$EXPIRED; __Host-rtr_refresh=$REFRESH", "", 200, "alice"},
		{"cookie retry within grace", "cookie", "__Host-rtr_refresh=$OLDREFRESH", "", 200, "alice"},
		{"cookie injected attributes", "cookie", "__Host-rtr_refresh=$REFRESH; Path=/; Domain=evil.example; HttpOnly", "", 200, "alice"},
		{"cookie mismatched subjects", "cookie", "__Host-rtr_access=$MACCESS; __Host-rtr_refresh=$REFRESH", "", 200, "mallory"},
		{"cookie expired of other subject", "cookie", "__Host-rtr_access=$EXPIRED; __Host-rtr_refresh=$MREFRESH", "", 401, ""},
		{"cookie refresh as access", "cookie", "__Host-rtr_access=$REFRESH", "", 401, ""},
		{"cookie unprefixed names", "cookie", "rtr_access=$ACCESS; rtr_refresh=$REFRESH", "", 401, ""},
		{"cookie 1 MiB", "cookie", "__Host-rtr_refresh=" + big, "", 401, ""},
		{"body valid", "body", `{"refresh_token":"$REFRESH"}`, "", 200, "alice"},
		{"body dup keys, last wins", "body", `{"refresh_token":"$MREFRESH","refresh_token":"$REFRESH"}`, "", 200, "alice"},
		{"body trailing data", "body", `{"refresh_token":"$REFRESH"}{"refresh_token":"$MREFRESH"}`, "", 400, ""},
		{"body wrong grant", "body", `{"grant_type":"password","refresh_token":"$REFRESH"}`, "", 400, ""},
		{"body access as refresh", "body", `{"refresh_token":"$ACCESS"}`, "", 400, ""},
		{"body 1 MiB", "body", `{"refresh_token":"` + big + `"}`, "", 400, ""},
		{"cookie on refresh path", "body", ``, "__Secure-rtr_refresh=$REFRESH", 200, "alice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var who string
			var resp *http.Response
			var body string
			switch c.surface {
			case "bearer":
				w := newFuzzWorld(t, rtr.WithMode(rtr.BearerMode))
				r := httptest.NewRequest("GET", "/api", nil)
				r.Header["Authorization"] = []string{w.expand(c.input)}
				resp, body = serveFuzz(w.auth.Require(recordSubject(&who)), r)
				w.check(t, w.expand(c.input), resp, body, who, "")
			case "cookie":
				w := newFuzzWorld(t)
				r := httptest.NewRequest("GET", "/page", nil)
				r.Header["Cookie"] = []string{w.expand(c.input)}
				resp, body = serveFuzz(w.auth.Require(recordSubject(&who)), r)
				w.check(t, w.expand(c.input), resp, body, who, "")
			case "body":
				w := newFuzzWorld(t, rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/auth/"))
				r := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(w.expand(c.input)))
				if c.cookie != "" {
					r.Header["Cookie"] = []string{w.expand(c.cookie)}
				}
				resp, body = serveFuzz(w.auth.RefreshHandler(), r)
				if resp.StatusCode == 200 {
					var tr rtr.TokenResponse
					if err := json.Unmarshal([]byte(body), &tr); err != nil {
						t.Fatal(err)
					}
					cl, err := w.iss.Verifier().Verify(context.Background(), tr.AccessToken)
					if err != nil {
						t.Fatal(err)
					}
					who = cl.Subject
				}
				w.check(t, w.expand(c.input)+"\n"+w.expand(c.cookie), resp, body, who, "/auth/")
			}
			if resp.StatusCode != c.status || who != c.who {
				t.Fatalf("got %d as %q, want %d as %q", resp.StatusCode, who, c.status, c.who)
			}
		})
	}
}

// FuzzHTTPTokenRequest: the body, Content-Type and Authorization header of
// a bearer-mode request to the refresh endpoint (RFC 6749 §6, form or
// JSON) and to the revocation endpoint (RFC 7009), with a client
// authenticator that accepts the client "app" with the secret "s3cret"
// and public clients.
func FuzzHTTPTokenRequest(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	f.Add("grant_type=refresh_token&refresh_token=$REFRESH", form, "")
	f.Add("grant_type=refresh_token&refresh_token=$REFRESH&client_id=app&client_secret=s3cret", form, "")
	f.Add("grant_type=refresh_token&refresh_token=$MREFRESH", form+"; charset=utf-8", "Basic YXBwOnMzY3JldA==")
	f.Add("grant_type=refresh_token&refresh_token=$REFRESH&refresh_token=$MREFRESH", form, "")
	f.Add("refresh_token=$REFRESH", form, "")
	f.Add("grant_type=password&username=alice", form, "")
	f.Add("token=$REFRESH&token_type_hint=refresh_token", form, "")
	f.Add(`{"grant_type":"refresh_token","refresh_token":"$REFRESH"}`, "application/json", "Bearer $EXPIRED")
	f.Add(`{"refresh_token":"$OLDREFRESH","client_id":"app"}`, "", "")
	f.Fuzz(func(t *testing.T, body, contentType, authz string) {
		w := newFuzzWorld(t, rtr.WithMode(rtr.BearerMode), rtr.WithClientAuthenticator(
			func(_ context.Context, id, secret string) error {
				if (id == "app" && secret == "s3cret") || secret == "" {
					return nil
				}
				return errors.New("unknown client")
			}))
		inBody, inAuthz := w.expand(body), w.expand(authz)
		for _, target := range []string{"refresh", "revoke"} {
			r := httptest.NewRequest("POST", "/token", strings.NewReader(inBody))
			r.Header["Content-Type"] = []string{contentType}
			if inAuthz != "" {
				r.Header["Authorization"] = []string{inAuthz}
			}
			h := w.auth.RefreshHandler()
			if target == "revoke" {
				h = w.auth.RevokeHandler()
			}
			resp, rb := serveFuzz(h, r)
			var who string
			if target == "refresh" && resp.StatusCode == http.StatusOK {
				var tr rtr.TokenResponse
				if err := json.Unmarshal([]byte(rb), &tr); err != nil {
					t.Fatalf("200 without a token response: %v", err)
				}
				c, err := w.iss.Verifier().Verify(context.Background(), tr.AccessToken)
				if err != nil || tr.RefreshToken == "" {
					t.Fatalf("200 with an unusable token response (err %v)", err)
				}
				who = c.Subject
				if resp.Header.Get("Pragma") != "no-cache" {
					t.Fatal("token response without Pragma: no-cache")
				}
			}
			w.check(t, inBody+"\n"+inAuthz, resp, rb, who, "")
			switch resp.StatusCode {
			case http.StatusOK, http.StatusBadRequest:
			case http.StatusUnauthorized:
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Fatal("401 without a Basic challenge")
				}
			default:
				t.Fatalf("unexpected status %d (%s)", resp.StatusCode, target)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s answer without Cache-Control: no-store", target)
			}
		}
	})
}
