package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestPublicFastPathMatchesJWT checks the public-key fast path the way
// compareAccess checks the HS256 fast path: for every token it
// recognises, the same claims or the same error as golang-jwt.
func TestPublicFastPathMatchesJWT(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for _, key := range []crypto.Signer{ed, ec, rs} {
		clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
		cfg := testConfig("", nil, 0, clock.Now)
		cfg.Signer = key
		v, err := New(cfg)
		require.NoError(t, err)
		var p struct{ AccessToken string }
		p.AccessToken, err = v.MintAccess(NewAccess{Subject: "alice", SessionID: "s", ID: "j", IssuedAt: clock.Now(), ExpiresAt: clock.Now().Add(accessTTL)}, []byte(`{"client_id":"c","roles":["a"]}`))
		require.NoError(t, err)
		parts := strings.Split(p.AccessToken, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[0] ^= 1
		badSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

		compare := func(token string) bool { return comparePublic(t, v, token) }
		require.True(t, compare(p.AccessToken), "genuine tokens take the fast path")
		require.True(t, compare(badSig))
		require.False(t, compare(p.AccessToken+"="), "non-canonical signatures are left to golang-jwt")
		require.False(t, compare(tamperedHeader(p.AccessToken)))
		clock.Advance(time.Hour)
		require.True(t, compare(p.AccessToken))
	}
}

// comparePublic checks the public-key fast path against golang-jwt for one
// token; it reports whether the fast path recognised the token.
func comparePublic(t *testing.T, v *Codec, token string) bool {
	ctx := context.Background()
	fast := new(testClaims)
	recognised, fastErr := v.parseMintedAccess(token, fast)
	if !recognised {
		return false
	}
	slow := new(testClaims)
	_, slowErr := v.accessParser.ParseWithClaims(token, slow, v.accessKeyFunc(ctx))
	if slowErr != nil {
		require.Error(t, fastErr, "golang-jwt: %v", slowErr)
		require.Equal(t, v.mapParseError(slowErr).Error(), fastErr.Error())
		for _, target := range []error{jwt.ErrTokenExpired, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenInvalidAudience} {
			require.Equal(t, errors.Is(slowErr, target), errors.Is(fastErr, target))
		}
		return true
	}
	require.NoError(t, fastErr)
	require.Equal(t, slow.RegisteredClaims, fast.RegisteredClaims)
	require.Equal(t, slow.SessionID, fast.SessionID)
	return true
}

// tamperedHeader re-encodes the header with a space: the same JSON
// meaning, another segment.
func tamperedHeader(token string) string {
	h, rest, _ := strings.Cut(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	return base64.RawURLEncoding.EncodeToString(append([]byte(" "), b...)) + "." + rest
}

// FuzzVerifyPublic feeds arbitrary tokens to a verifier of Ed25519 and
// RSA public keys: it must never panic, must answer as golang-jwt does for
// every token its fast path recognises, and must accept only tokens that
// verify under one of its keys with that key's algorithm.
func FuzzVerifyPublic(f *testing.F) {
	ed := ed25519.NewKeyFromSeed([]byte("fuzz-ed25519-seed-fuzz-ed25519-s"))
	// As rtr's fuzz issuer: the same secret, issuer, audience and clock.
	fuzzNow := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := testConfig("iss", []string{"api"}, 0, func() time.Time { return fuzzNow })
	cfg.Secret, cfg.PreviousSecrets, cfg.Signer = []byte("fuzz-secret-fuzz-secret-fuzz-secret!"), nil, ed
	v, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	var p struct{ AccessToken, RefreshToken string }
	p.AccessToken, err = v.MintAccess(NewAccess{Subject: "alice", SessionID: "s", ID: "j", IssuedAt: fuzzNow, ExpiresAt: fuzzNow.Add(accessTTL)}, []byte(`{"client_id":"c"}`))
	if err != nil {
		f.Fatal(err)
	}
	p.RefreshToken = v.MintRefresh(NewRefresh{Subject: "alice", SessionID: "s", ID: "r", Generation: 1, IssuedAt: fuzzNow, ExpiresAt: fuzzNow.Add(refreshTTL)})
	kid := v.pub.Snapshot()[0].kid
	f.Add(p.AccessToken)
	f.Add(p.RefreshToken)
	f.Add(tamperedHeader(p.AccessToken))
	_, rest, _ := strings.Cut(p.AccessToken, ".")
	for _, h := range []string{
		`{"alg":"HS256","kid":"` + kid + `","typ":"at+jwt"}`,
		`{"alg":"none","kid":"` + kid + `","typ":"at+jwt"}`,
		`{"alg":"RS256","kid":"` + kid + `","typ":"at+jwt"}`,
		`{"alg":"EdDSA","kid":"` + kid + `","typ":"at+jwt","crit":["b64"]}`,
		`{"alg":"EdDSA","kid":"` + kid + `","typ":"JWT"}`,
		`{"alg":"EdDSA","typ":"at+jwt"}`,
	} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + rest)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if !v.tooLarge(token) {
			comparePublic(t, v, token)
		}
		c := new(testClaims)
		err := v.ParseAccess(context.Background(), token, c)
		if err != nil {
			require.True(t, errors.Is(err, v.errs.Invalid) || errors.Is(err, v.errs.Expired), "%v", err)
			return
		}
		require.NotEmpty(t, c.Subject)
		parts := strings.Split(token, ".")
		require.Len(t, parts, 3)
		h, err := base64.RawURLEncoding.DecodeString(parts[0])
		require.NoError(t, err)
		require.Contains(t, string(h), `"EdDSA"`)
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		require.NoError(t, err)
		require.True(t, ed25519.Verify(ed.Public().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig))
	})
}
