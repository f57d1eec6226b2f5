package rtr_test

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// jwksServer serves an issuer's JWKS and counts the fetches; fail makes
// it answer 500, body replaces the document.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu   sync.Mutex
	h    http.Handler
	fail bool
	body string
}

func newJWKSServer(t *testing.T, iss *rtr.Issuer) *jwksServer {
	s := &jwksServer{h: iss.JWKSHandler()}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		h, fail, body := s.h, s.fail, s.body
		s.mu.Unlock()
		switch {
		case fail:
			http.Error(w, "down", http.StatusInternalServerError)
		case body != "":
			_, _ = w.Write([]byte(body))
		default:
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// remoteFixture is an issuer with a signing key, a JWKS server for it and
// a verifier fed from that server, all on one clock.
type remoteFixture struct {
	fixture
	srv *jwksServer
	v   *rtr.Verifier
}

func newRemoteFixture(t *testing.T, key crypto.Signer, previous ...crypto.PublicKey) remoteFixture {
	long := func(c *rtr.Config) { c.AccessTTL = time.Hour }
	f := remoteFixture{fixture: newFixture(t, rtr.NewMemoryStore(), long, withSigningKey(key, previous...))}
	f.srv = newJWKSServer(t, f.iss)
	v, err := rtr.NewVerifier(rtr.VerifierConfig{
		JWKSURL:    f.srv.URL + "/.well-known/jwks.json",
		HTTPClient: f.srv.Client(),
		Issuer:     "https://auth.example",
		Audience:   []string{"api"},
		Now:        f.clock.Now,
	})
	require.NoError(t, err)
	f.v = v
	return f
}

// waitFetches waits for a background refresh to have reached the server,
// and then for it to finish (a Verify with an unknown kid waits for it).
func (f *remoteFixture) waitFetches(t *testing.T, n int32) {
	t.Helper()
	require.Eventually(t, func() bool { return f.srv.fetches.Load() >= n }, 5*time.Second, time.Millisecond)
}

func TestRemoteVerifierEachAlg(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			f := newRemoteFixture(t, testKeys()[alg][0])
			p, err := f.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			c, err := f.v.Verify(ctx, p.AccessToken)
			require.NoError(t, err)
			require.Equal(t, "alice", c.Subject)
			_, err = f.v.Verify(ctx, p.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrInvalidToken)
			_, err = f.v.Verify(ctx, testkit.Tamper(t, p.AccessToken))
			require.ErrorIs(t, err, rtr.ErrInvalidToken)
			f.clock.Advance(time.Hour + time.Second)
			_, err = f.v.Verify(ctx, p.AccessToken)
			require.ErrorIs(t, err, rtr.ErrTokenExpired)
		})
	}
}

func TestRemoteVerifierCaching(t *testing.T) {
	ctx := context.Background()
	f := newRemoteFixture(t, testKeys()[rtr.AlgEdDSA][0])
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	for range 10 {
		_, err := f.v.Verify(ctx, p.AccessToken)
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, f.srv.fetches.Load(), "one fetch serves many verifications")

	// Past the cache lifetime the set is fetched again, in the background.
	f.clock.Advance(rtr.JWKSCacheLifetime)
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	f.waitFetches(t, 2)
	for range 5 {
		_, err := f.v.Verify(ctx, p.AccessToken)
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, f.srv.fetches.Load())
}

func TestRemoteVerifierUnknownKidRefetchLimited(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := testKeys()[rtr.AlgES256][0], testKeys()[rtr.AlgES256][1]
	f := newRemoteFixture(t, oldKey)
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.NoError(t, err)

	// A token under a key the set does not have (yet): one refetch, then
	// none for JWKSMinRefreshInterval however many such tokens come.
	stranger := newFixture(t, rtr.NewMemoryStore(), withSigningKey(newKey))
	sp, err := stranger.iss.Issue(ctx, "mallory")
	require.NoError(t, err)
	_, err = f.v.Verify(ctx, sp.AccessToken)
	require.ErrorIs(t, err, rtr.ErrInvalidToken)
	require.EqualValues(t, 1, f.srv.fetches.Load(), "fetched just now: no refetch")
	f.clock.Advance(rtr.DefaultJWKSMinRefreshInterval)
	for range 20 {
		_, err := f.v.Verify(ctx, sp.AccessToken)
		require.ErrorIs(t, err, rtr.ErrInvalidToken)
	}
	require.EqualValues(t, 2, f.srv.fetches.Load())

	// The issuer rotates to the new key and publishes it; after the
	// interval the unknown kid is fetched and verifies.
	rotated := newFixture(t, rtr.NewMemoryStore(), withSigningKey(newKey, oldKey.Public()))
	f.srv.set(func(s *jwksServer) { s.h = rotated.iss.JWKSHandler() })
	f.clock.Advance(rtr.DefaultJWKSMinRefreshInterval)
	_, err = f.v.Verify(ctx, sp.AccessToken)
	require.NoError(t, err)
	require.EqualValues(t, 3, f.srv.fetches.Load())
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.NoError(t, err, "the previous key still verifies")
}

func TestRemoteVerifierOutage(t *testing.T) {
	ctx := context.Background()
	key := testKeys()[rtr.AlgRS256][0]
	f := newRemoteFixture(t, key)
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	stranger := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[rtr.AlgRS256][1]))
	sp, err := stranger.iss.Issue(ctx, "bob")
	require.NoError(t, err)

	// Down from the start: nothing known, every token "cannot tell now".
	f.srv.set(func(s *jwksServer) { s.fail = true })
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrKeyUnavailable)
	require.NotErrorIs(t, err, rtr.ErrInvalidToken)

	// Up: the known kid verifies.
	f.srv.set(func(s *jwksServer) { s.fail = false })
	f.clock.Advance(rtr.DefaultJWKSMinRefreshInterval)
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.NoError(t, err)

	// Down again, past the cache lifetime: the known kid still verifies,
	// an unknown one is ErrKeyUnavailable, not ErrInvalidToken.
	f.srv.set(func(s *jwksServer) { s.fail = true })
	f.clock.Advance(rtr.JWKSCacheLifetime + time.Second)
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	f.waitFetches(t, 3)
	_, err = f.v.Verify(ctx, sp.AccessToken)
	require.ErrorIs(t, err, rtr.ErrKeyUnavailable)
	_, err = f.v.Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	// A forged token under the known kid is still invalid, outage or not.
	_, err = f.v.Verify(ctx, testkit.Tamper(t, p.AccessToken))
	require.ErrorIs(t, err, rtr.ErrInvalidToken)
}

func TestRemoteVerifierRefusesBadDocuments(t *testing.T) {
	ctx := context.Background()
	ed := `{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},`
	for name, body := range map[string]string{
		"oversize":      `{"keys":[],"pad":"` + strings.Repeat("x", rtr.MaxJWKSBytes) + `"}`,
		"too many keys": `{"keys":[` + strings.Repeat(ed, rtr.MaxJWKSKeys) + ed[:len(ed)-1] + `]}`,
		"not a JWKS":    `<html>`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newRemoteFixture(t, testKeys()[rtr.AlgEdDSA][0])
			p, err := f.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			f.srv.set(func(s *jwksServer) { s.body = body })
			_, err = f.v.Verify(ctx, p.AccessToken)
			require.ErrorIs(t, err, rtr.ErrKeyUnavailable)

			// The real set replaces it at the next allowed fetch.
			f.srv.set(func(s *jwksServer) { s.body = "" })
			f.clock.Advance(rtr.DefaultJWKSMinRefreshInterval)
			_, err = f.v.Verify(ctx, p.AccessToken)
			require.NoError(t, err)
		})
	}
}

func TestNewVerifierStaticKeysAndSecret(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			oldKey, key := testKeys()[alg][0], testKeys()[alg][1]
			f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(key))
			old := newFixture(t, rtr.NewMemoryStore(), withSigningKey(oldKey))
			v, err := rtr.NewVerifier(rtr.VerifierConfig{
				PublicKeys: []crypto.PublicKey{key.Public(), oldKey.Public()},
				Issuer:     "https://auth.example", Audience: []string{"api"}, Now: f.clock.Now,
			})
			require.NoError(t, err)
			for _, iss := range []*rtr.Issuer{f.iss, old.iss} {
				p, err := iss.Issue(ctx, "alice")
				require.NoError(t, err)
				_, err = v.Verify(ctx, p.AccessToken)
				require.NoError(t, err)
			}
			other := newFixture(t, rtr.NewMemoryStore(), func(c *rtr.Config) { c.Audience = []string{"elsewhere"} }, withSigningKey(key))
			p, err := other.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			_, err = v.Verify(ctx, p.AccessToken)
			require.ErrorIs(t, err, rtr.ErrInvalidToken, "audience is checked")
		})
	}
	t.Run("secret", func(t *testing.T) {
		f := newFixture(t, rtr.NewMemoryStore())
		old := newFixture(t, rtr.NewMemoryStore(), func(c *rtr.Config) { c.Secret = []byte("an older secret, also 32 bytes or more") })
		v, err := rtr.NewVerifier(rtr.VerifierConfig{
			Secret: testSecret, PreviousSecrets: [][]byte{[]byte("an older secret, also 32 bytes or more")},
			Issuer: "https://auth.example", Audience: []string{"api"}, Now: f.clock.Now,
		})
		require.NoError(t, err)
		for _, iss := range []*rtr.Issuer{f.iss, old.iss} {
			p, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			_, err = v.Verify(ctx, p.AccessToken)
			require.NoError(t, err)
			_, err = v.Verify(ctx, p.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrInvalidToken)
		}
		// An asymmetric token to an HS256 verifier is refused.
		a := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[rtr.AlgEdDSA][0]))
		p, err := a.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		_, err = v.Verify(ctx, p.AccessToken)
		require.ErrorIs(t, err, rtr.ErrInvalidToken)
	})
}

func TestNewVerifierConfigRefused(t *testing.T) {
	pub := testKeys()[rtr.AlgEdDSA][0].Public()
	for name, cfg := range map[string]rtr.VerifierConfig{
		"nothing":              {},
		"two sources":          {Secret: testSecret, PublicKeys: []crypto.PublicKey{pub}},
		"short secret":         {Secret: []byte("short")},
		"short previous":       {Secret: testSecret, PreviousSecrets: [][]byte{[]byte("short")}},
		"placeholder secret":   {Secret: make([]byte, 32)},
		"placeholder previous": {Secret: testSecret, PreviousSecrets: [][]byte{make([]byte, 32)}},
		"private key":          {PublicKeys: []crypto.PublicKey{testKeys()[rtr.AlgEdDSA][0]}},
		"plain http":           {JWKSURL: "http://auth.example/jwks.json"},
		"relative URL":         {JWKSURL: "/jwks.json"},
		"negative leeway":      {Secret: testSecret, Leeway: -time.Second},
		"negative min refresh": {JWKSURL: "https://auth.example/jwks.json", JWKSMinRefreshInterval: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rtr.NewVerifier(cfg)
			require.ErrorIs(t, err, rtr.ErrInvalidConfig)
		})
	}
	for _, u := range []string{"https://auth.example/jwks.json", "http://127.0.0.1:8080/jwks.json", "http://localhost/jwks.json", "http://[::1]/jwks.json"} {
		_, err := rtr.NewVerifier(rtr.VerifierConfig{JWKSURL: u})
		require.NoError(t, err, u)
	}
}

func TestNewVerifierLeeway(t *testing.T) {
	ctx := context.Background()
	key := testKeys()[rtr.AlgEdDSA][0]
	f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(key))
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	v, err := rtr.NewVerifier(rtr.VerifierConfig{PublicKeys: []crypto.PublicKey{key.Public()}, Leeway: 10 * time.Second, Now: f.clock.Now})
	require.NoError(t, err)
	f.clock.Advance(5*time.Minute + 5*time.Second) // 5 s past exp
	_, err = v.Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	f.clock.Advance(10 * time.Second)
	_, err = v.Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, rtr.ErrTokenExpired)
}

// TestRemoteVerifierFetchBoundedByCaller: a Verify that must wait for a
// key-set fetch waits only as long as its context allows, and is then
// "cannot tell now", not invalid.
func TestRemoteVerifierFetchBoundedByCaller(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	v, err := rtr.NewVerifier(rtr.VerifierConfig{JWKSURL: srv.URL, HTTPClient: srv.Client()})
	require.NoError(t, err)
	f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[rtr.AlgEdDSA][0]))
	p, err := f.iss.Issue(context.Background(), "alice")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, p.AccessToken); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, rtr.ErrKeyUnavailable)
	case <-time.After(3 * time.Second):
		t.Fatal("Verify waited for the fetch past its context's deadline")
	}
}
