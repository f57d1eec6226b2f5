package rtr

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/internal/token"
	"github.com/stretchr/testify/require"
)

var internalSecret = []byte("internal-test-secret-0123456789abcdef")

func newTestIssuer(t *testing.T, mod ...func(*Config)) *Issuer {
	t.Helper()
	cfg := Config{Store: NewMemoryStore(), Secret: internalSecret, Issuer: "iss", Audience: []string{"api"}, ReuseGrace: RecommendedReuseGrace}
	for _, m := range mod {
		m(&cfg)
	}
	iss, err := NewIssuer(cfg)
	require.NoError(t, err)
	return iss
}

// forge signs claims with an arbitrary header using golang-jwt.
func forge(t *testing.T, method jwt.SigningMethod, header map[string]any, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// claimsOf decodes a token's payload, unverified, as jwt.MapClaims.
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	return testkit.Payload(t, token)
}

// TestHostileTokens feeds Verify and Refresh everything an attacker might
// try: each must be ErrInvalidToken, never a panic, never accepted, and the
// error text must not echo the token.
func TestHostileTokens(t *testing.T) {
	ctx := context.Background()
	iss := newTestIssuer(t)
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	ks := iss.testKeys()
	ac, rc := claimsOf(t, p.AccessToken), claimsOf(t, p.RefreshToken)
	hdr := func(typ string) map[string]any { return map[string]any{"typ": typ, "kid": ks.Kid} }

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	other := newTestIssuer(t, func(c *Config) { c.Secret = []byte("another-secret-another-secret-another") })
	op, err := other.Issue(ctx, "alice")
	require.NoError(t, err)

	type forged struct{ access, refresh string }
	both := func(f func(key []byte, typ string, c jwt.MapClaims) string) forged {
		return forged{f(ks.Access, AccessTokenType, ac), f(ks.Refresh, RefreshTokenType, rc)}
	}
	cases := map[string]forged{
		"Empty":   {"", ""},
		"Garbage": {"not a token", "a.b.c"},
		"Oversize": both(func(key []byte, typ string, c jwt.MapClaims) string {
			c2 := jwt.MapClaims{}
			for k, v := range c {
				c2[k] = v
			}
			c2["pad"] = strings.Repeat("x", MaxTokenLen)
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c2, key)
		}),
		"AlgNone": both(func(_ []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodNone, hdr(typ), c, jwt.UnsafeAllowNoneSignatureType)
		}),
		"RS256": both(func(_ []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodRS256, hdr(typ), c, rsaKey)
		}),
		"HS256WithPublicKeyAsSecret": both(func(_ []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c, pubPEM)
		}),
		"HS512RightKey": both(func(key []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS512, hdr(typ), c, key)
		}),
		"WrongSecret": {op.AccessToken, op.RefreshToken},
		"TypeSwapped": {p.RefreshToken, p.AccessToken},
		"TypJWT": both(func(key []byte, _ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, hdr("JWT"), c, key)
		}),
		"TypMissing": both(func(key []byte, _ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, map[string]any{"typ": nil, "kid": ks.Kid}, c, key)
		}),
		"RightTypOtherKindKey": both(func(key []byte, typ string, c jwt.MapClaims) string {
			// The other kind's key: domain separation must keep them apart.
			k := ks.Refresh
			if typ == RefreshTokenType {
				k = ks.Access
			}
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c, k)
		}),
		"RawSecretAsKey": both(func(_ []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c, internalSecret)
		}),
		"KidMissing": both(func(key []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, map[string]any{"typ": typ}, c, key)
		}),
		"KidInjection": both(func(key []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, map[string]any{"typ": typ, "kid": "../../etc/passwd' OR '1'='1"}, c, key)
		}),
		"CritHeader": both(func(key []byte, typ string, c jwt.MapClaims) string {
			return forge(t, jwt.SigningMethodHS256, map[string]any{"typ": typ, "kid": ks.Kid, "crit": []string{"exp"}}, c, key)
		}),
		"TamperedSubject": {
			testkit.EditPayload(t, p.AccessToken, func(m map[string]any) { m["sub"] = "mallory" }),
			testkit.EditPayload(t, p.RefreshToken, func(m map[string]any) { m["sub"] = "mallory" }),
		},
		"TamperedGeneration": {
			testkit.EditPayload(t, p.AccessToken, func(m map[string]any) { m["exp"] = 1e12 }),
			testkit.EditPayload(t, p.RefreshToken, func(m map[string]any) { m["gen"] = 2 }),
		},
		"NoExp": both(func(key []byte, typ string, c jwt.MapClaims) string {
			c2 := jwt.MapClaims{}
			for k, v := range c {
				if k != "exp" {
					c2[k] = v
				}
			}
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c2, key)
		}),
		"HugeExp": both(func(key []byte, typ string, c jwt.MapClaims) string {
			raw := `{"sub":"alice","sid":"s","jti":"j","gen":1,"exp":1e400,"iss":"iss","aud":"api"}`
			return keyHeader(ks, typ) + "." + base64.RawURLEncoding.EncodeToString([]byte(raw)) + ".sig"
		}),
		"WrongIssuer": both(func(key []byte, typ string, c jwt.MapClaims) string {
			c2 := jwt.MapClaims{}
			for k, v := range c {
				c2[k] = v
			}
			c2["iss"] = "evil"
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c2, key)
		}),
		"MissingSessionID": both(func(key []byte, typ string, c jwt.MapClaims) string {
			c2 := jwt.MapClaims{}
			for k, v := range c {
				if k != "sid" {
					c2[k] = v
				}
			}
			return forge(t, jwt.SigningMethodHS256, hdr(typ), c2, key)
		}),
	}
	// Both kinds carry and check their audience.
	cases["WrongAudience"] = forged{
		access: forge(t, jwt.SigningMethodHS256, hdr(AccessTokenType), jwt.MapClaims{
			"sub": "alice", "sid": ac["sid"], "exp": ac["exp"], "iss": "iss", "aud": "other",
		}, ks.Access),
		refresh: forge(t, jwt.SigningMethodHS256, hdr(RefreshTokenType), jwt.MapClaims{
			"sub": "alice", "sid": rc["sid"], "jti": rc["jti"], "gen": rc["gen"], "exp": rc["exp"], "iss": "iss", "aud": "other",
		}, ks.Refresh),
	}

	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := iss.Refresh(ctx, c.refresh)
			require.ErrorIs(t, err, ErrInvalidToken, "refresh")
			requireNoEcho(t, err, c.refresh)
			require.ErrorIs(t, iss.Revoke(ctx, c.refresh), ErrInvalidToken, "revoke")
			_, err = iss.Verifier().Verify(ctx, c.access)
			require.ErrorIs(t, err, ErrInvalidToken, "verify")
			requireNoEcho(t, err, c.access)
		})
	}

	// None of that touched the real session.
	_, err = iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)
}

func requireNoEcho(t *testing.T, err error, token string) {
	t.Helper()
	if len(token) < 8 {
		return
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 {
			require.NotContains(t, err.Error(), part, "error text must not echo the token")
		}
	}
}

// keyHeader returns the precomputed header segment of ks for typ.
func keyHeader(ks token.KeySet, typ string) string {
	if typ == AccessTokenType {
		return ks.AccessHeader
	}
	return ks.RefreshHeader
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	oldSecret := []byte("the-old-secret-the-old-secret-the-old")
	before := newTestIssuer(t, func(c *Config) { c.Store, c.Secret = store, oldSecret })
	p, err := before.Issue(ctx, "alice")
	require.NoError(t, err)

	after := newTestIssuer(t, func(c *Config) { c.Store, c.PreviousSecrets = store, [][]byte{oldSecret} })
	_, err = after.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err, "old access tokens verify during the rotation")
	p2, err := after.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err, "old refresh tokens still rotate")
	h := strings.Split(p2.AccessToken, ".")[0]
	require.Equal(t, after.testKeys().AccessHeader, h, "new tokens are signed with the new secret")

	dropped := newTestIssuer(t, func(c *Config) { c.Store = store })
	_, err = dropped.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, ErrInvalidToken, "a dropped secret no longer verifies")
}

func TestLeeway(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	iss := newTestIssuer(t, func(c *Config) { c.Now, c.Leeway, c.AccessTTL = clock, 30*time.Second, time.Minute })
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	now = now.Add(time.Minute + 29*time.Second)
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err, "within the leeway")
	now = now.Add(time.Second)
	_, err = iss.Verifier().Verify(ctx, p.AccessToken)
	require.ErrorIs(t, err, ErrTokenExpired)
}

// TestFastPathKnowsEveryClaimsField fails when a field is added to Claims
// without teaching the token engine's fast path about it.
func TestFastPathKnowsEveryClaimsField(t *testing.T) {
	require.ElementsMatch(t, token.AccessFields[:], testkit.JSONNames(reflect.TypeOf(Claims{})))
}

// resign signs payload with the header and key rtr would use.
func resign(header string, key []byte, payload string) string {
	s := header + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return s + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestEngineConstants: rtr's exported constants are the token engine's.
func TestEngineConstants(t *testing.T) {
	require.Equal(t, token.AccessType, AccessTokenType)
	require.Equal(t, token.RefreshType, RefreshTokenType)
	require.Equal(t, token.MinRSABits, MinRSABits)
	require.Equal(t, []string{token.AlgEdDSA, token.AlgES256, token.AlgRS256}, []string{AlgEdDSA, AlgES256, AlgRS256})
	require.Equal(t, token.MaxJWKSBytes, MaxJWKSBytes)
	require.Equal(t, token.MaxJWKSKeys, MaxJWKSKeys)
}
