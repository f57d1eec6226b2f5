package rtr_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// testKeys are generated once per test binary (RSA keys take a while).
var testKeys = sync.OnceValue(func() map[string][]crypto.Signer {
	m := map[string][]crypto.Signer{}
	for range 2 {
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		rs, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		m[rtr.AlgEdDSA] = append(m[rtr.AlgEdDSA], ed)
		m[rtr.AlgES256] = append(m[rtr.AlgES256], ec)
		m[rtr.AlgRS256] = append(m[rtr.AlgRS256], rs)
	}
	return m
})

var asymmetricAlgs = []string{rtr.AlgEdDSA, rtr.AlgES256, rtr.AlgRS256}

func withSigningKey(k crypto.Signer, previous ...crypto.PublicKey) func(*rtr.Config) {
	return func(c *rtr.Config) {
		c.SigningKey = k
		c.PreviousPublicKeys = previous
	}
}

// fetchJWKS reads the issuer's JWKS document.
func fetchJWKS(t *testing.T, iss *rtr.Issuer) (http.Header, []map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.NotNil(t, doc.Keys)
	return rec.Header(), doc.Keys
}

func TestAsymmetricRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[alg][0]))
			p, err := f.iss.Issue(ctx, "alice", rtr.WithClientID("mobile-app"))
			require.NoError(t, err)
			h := testkit.Header(t, p.AccessToken)
			require.Equal(t, alg, h["alg"])
			require.Equal(t, rtr.AccessTokenType, h["typ"])
			_, keys := fetchJWKS(t, f.iss)
			require.Len(t, keys, 1)
			require.Equal(t, keys[0]["kid"], h["kid"])
			require.Equal(t, alg, keys[0]["alg"])
			require.Equal(t, "sig", keys[0]["use"])

			c, err := f.iss.Verifier().Verify(ctx, p.AccessToken)
			require.NoError(t, err)
			require.Equal(t, "alice", c.Subject)
			require.Equal(t, p.SessionID, c.SessionID)
			require.Equal(t, "mobile-app", c.ClientID())

			// Refresh tokens stay HMAC; the client id survives rotation.
			require.Equal(t, "HS256", testkit.Header(t, p.RefreshToken)["alg"])
			p2, err := f.iss.Refresh(ctx, p.RefreshToken)
			require.NoError(t, err)
			c2, err := f.iss.Verifier().Verify(ctx, p2.AccessToken)
			require.NoError(t, err)
			require.Equal(t, "mobile-app", c2.ClientID())

			// A refresh token is never an access token.
			_, err = f.iss.Verifier().Verify(ctx, p.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrInvalidToken)

			// Expiry is as with HS256.
			f.clock.Advance(6 * time.Minute)
			_, err = f.iss.Verifier().Verify(ctx, p2.AccessToken)
			require.ErrorIs(t, err, rtr.ErrTokenExpired)
		})
	}
}

func TestClientIDOnHS256(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, rtr.NewMemoryStore(), func(c *rtr.Config) {
		c.Claims = func(context.Context, string) (map[string]any, error) { return map[string]any{"role": "admin"}, nil }
	})
	p, err := f.iss.Issue(ctx, "alice", rtr.WithClientID("web"))
	require.NoError(t, err)
	c, err := f.iss.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	require.Equal(t, "web", c.ClientID())
	role, _ := c.Get("role")
	require.Equal(t, "admin", role)
	require.NotContains(t, c.Extra(), "client_id")

	p, err = f.iss.Issue(ctx, "bob")
	require.NoError(t, err)
	c, err = f.iss.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err)
	require.Empty(t, c.ClientID())

	for _, bad := range []string{"", "tab\tin", strings.Repeat("x", rtr.MaxMetaValueLen+1), "ü"} {
		_, err := f.iss.Issue(ctx, "alice", rtr.WithClientID(bad))
		require.Error(t, err, "%q", bad)
	}

	// client_id is rtr's: the claims callback cannot set it.
	g := newFixture(t, rtr.NewMemoryStore(), func(c *rtr.Config) {
		c.Claims = func(context.Context, string) (map[string]any, error) { return map[string]any{"client_id": "x"}, nil }
	})
	_, err = g.iss.Issue(ctx, "alice")
	require.ErrorIs(t, err, rtr.ErrReservedClaim)
}

func TestSigningKeyRefused(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	ed := testKeys()[rtr.AlgEdDSA][0]
	for name, mod := range map[string]func(*rtr.Config){
		"RSA 1024":                   withSigningKey(small),
		"ECDSA P-384":                withSigningKey(p384),
		"previous RSA 1024":          withSigningKey(ed, small.Public()),
		"previous P-384":             withSigningKey(ed, p384.Public()),
		"previous private key":       withSigningKey(ed, ed),
		"previous keys, no key":      withSigningKey(nil, ed.Public()),
		"a signer of another type":   withSigningKey(otherSigner{ed}),
		"RSA signer not *PrivateKey": withSigningKey(otherSigner{testKeys()[rtr.AlgRS256][0]}),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret}
			mod(&cfg)
			_, err := rtr.NewIssuer(cfg)
			if name == "a signer of another type" { // Ed25519 signers of any type are fine
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, rtr.ErrInvalidConfig)
		})
	}
}

// otherSigner hides the concrete type of a key.
type otherSigner struct{ crypto.Signer }

func TestKeyRotationPreviousKeyVerifies(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			oldKey, newKey := testKeys()[alg][0], testKeys()[alg][1]
			old := newFixture(t, rtr.NewMemoryStore(), withSigningKey(oldKey))
			p, err := old.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			oldKid := testkit.Header(t, p.AccessToken)["kid"]

			rotated := newFixture(t, rtr.NewMemoryStore(), withSigningKey(newKey, oldKey.Public()))
			_, err = rotated.iss.Verifier().Verify(ctx, p.AccessToken)
			require.NoError(t, err)
			_, keys := fetchJWKS(t, rotated.iss)
			require.Len(t, keys, 2)
			require.Equal(t, oldKid, keys[1]["kid"], "current key first, then previous")
			p2, err := rotated.iss.Issue(ctx, "bob")
			require.NoError(t, err)
			require.Equal(t, keys[0]["kid"], testkit.Header(t, p2.AccessToken)["kid"])

			// Published ahead: the old issuer already verifies the new key.
			ahead := newFixture(t, rtr.NewMemoryStore(), withSigningKey(oldKey, newKey.Public()))
			_, err = ahead.iss.Verifier().Verify(ctx, p2.AccessToken)
			require.NoError(t, err)

			// Without the previous key, the old token is refused.
			dropped := newFixture(t, rtr.NewMemoryStore(), withSigningKey(newKey))
			_, err = dropped.iss.Verifier().Verify(ctx, p.AccessToken)
			require.ErrorIs(t, err, rtr.ErrInvalidToken)
		})
	}
}

// resign replaces a token's header and signs header.payload with method
// and key (nil: no signature).
func resign(t *testing.T, token string, header map[string]any, method jwt.SigningMethod, key any) string {
	t.Helper()
	hb, err := json.Marshal(header)
	require.NoError(t, err)
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + payload
	if method == nil {
		return signing + "."
	}
	sig, err := method.Sign(signing, key)
	require.NoError(t, err)
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestAlgorithmConfusionRefused(t *testing.T) {
	ctx := context.Background()
	rsKey := testKeys()[rtr.AlgRS256][0].(*rsa.PrivateKey)
	pubDER, err := x509.MarshalPKIXPublicKey(rsKey.Public())
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	edKey := testKeys()[rtr.AlgEdDSA][0].(ed25519.PrivateKey)
	otherRS := testKeys()[rtr.AlgRS256][1]

	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			key := testKeys()[alg][0]
			f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(key))
			p, err := f.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			kid := testkit.Header(t, p.AccessToken)["kid"]
			hdr := func(alg string) map[string]any {
				return map[string]any{"alg": alg, "kid": kid, "typ": rtr.AccessTokenType}
			}
			pubBytes := pubPEM
			if alg == rtr.AlgEdDSA {
				pubBytes = edKey.Public().(ed25519.PublicKey)
			}
			hsTok := newFixture(t, rtr.NewMemoryStore())
			hsPair, err := hsTok.iss.Issue(ctx, "alice")
			require.NoError(t, err)

			for name, tok := range map[string]string{
				"HS256 with the public key as secret": resign(t, p.AccessToken, hdr("HS256"), jwt.SigningMethodHS256, pubBytes),
				"HS256 with the PEM as secret":        resign(t, p.AccessToken, hdr("HS256"), jwt.SigningMethodHS256, pubPEM),
				"alg none":                            resign(t, p.AccessToken, hdr("none"), nil, nil),
				"the same signature, header RS256":    swapHeader(p.AccessToken, hdr(rtr.AlgRS256)),
				"the same signature, header EdDSA":    swapHeader(p.AccessToken, hdr(rtr.AlgEdDSA)),
				"the same signature, header ES256":    swapHeader(p.AccessToken, hdr(rtr.AlgES256)),
				"the same signature, header PS256":    swapHeader(p.AccessToken, hdr("PS256")),
				"RS256 under another key, this kid":   resign(t, p.AccessToken, hdr(rtr.AlgRS256), jwt.SigningMethodRS256, otherRS),
				"EdDSA under another key, this kid":   resign(t, p.AccessToken, hdr(rtr.AlgEdDSA), jwt.SigningMethodEdDSA, testKeys()[rtr.AlgEdDSA][1]),
				"an HS256 token of the same secret":   hsPair.AccessToken,
				"typ JWT":                             resign(t, p.AccessToken, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}, methodOf(alg), key),
				"no kid":                              resign(t, p.AccessToken, map[string]any{"alg": alg, "typ": rtr.AccessTokenType}, methodOf(alg), key),
				"tampered payload":                    testkit.Tamper(t, p.AccessToken),
			} {
				if strings.HasSuffix(name, "header "+alg) {
					continue // that one is the genuine token
				}
				_, err := f.iss.Verifier().Verify(ctx, tok)
				require.ErrorIs(t, err, rtr.ErrInvalidToken, name)
			}
		})
	}
}

func methodOf(alg string) jwt.SigningMethod { return jwt.GetSigningMethod(alg) }

func swapHeader(token string, header map[string]any) string {
	hb, _ := json.Marshal(header)
	_, rest, _ := strings.Cut(token, ".")
	return base64.RawURLEncoding.EncodeToString(hb) + "." + rest
}

func TestJWKSHandler(t *testing.T) {
	t.Run("HS256: empty set", func(t *testing.T) {
		f := newFixture(t, rtr.NewMemoryStore())
		h, keys := fetchJWKS(t, f.iss)
		require.Empty(t, keys)
		require.Equal(t, "application/json", h.Get("Content-Type"))
	})
	t.Run("members", func(t *testing.T) {
		ed, ec, rs := testKeys()[rtr.AlgEdDSA][0], testKeys()[rtr.AlgES256][0], testKeys()[rtr.AlgRS256][0]
		f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(ed, ec.Public(), rs.Public(), ed.Public()))
		h, keys := fetchJWKS(t, f.iss)
		require.Equal(t, "application/json", h.Get("Content-Type"))
		require.Contains(t, h.Get("Cache-Control"), "max-age=300")
		require.Len(t, keys, 3, "the current key is not repeated")
		members := func(k map[string]any) []string {
			var out []string
			for name := range k {
				out = append(out, name)
			}
			return out
		}
		require.ElementsMatch(t, []string{"kty", "crv", "x", "kid", "alg", "use"}, members(keys[0]))
		require.Equal(t, "OKP", keys[0]["kty"])
		require.Equal(t, "Ed25519", keys[0]["crv"])
		require.ElementsMatch(t, []string{"kty", "crv", "x", "y", "kid", "alg", "use"}, members(keys[1]))
		require.Equal(t, "P-256", keys[1]["crv"])
		require.ElementsMatch(t, []string{"kty", "n", "e", "kid", "alg", "use"}, members(keys[2]))
		require.Equal(t, "AQAB", keys[2]["e"])
	})
	t.Run("methods", func(t *testing.T) {
		f := newFixture(t, rtr.NewMemoryStore())
		rec := httptest.NewRecorder()
		f.iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		rec = httptest.NewRecorder()
		f.iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		require.Empty(t, rec.Body.String())
	})
}

// The client id lives in the session record: every store gives it back on
// rotation and on a grace retry.
func TestClientIDSurvivesRefreshInEveryStore(t *testing.T) {
	ctx := context.Background()
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		f := newFixture(t, store, withSigningKey(testKeys()[rtr.AlgEdDSA][0]))
		p, err := f.iss.Issue(ctx, "alice", rtr.WithClientID("cli"), rtr.WithMeta("ua", "test"))
		require.NoError(t, err)
		p2, err := f.iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)
		p3, err := f.iss.Refresh(ctx, p.RefreshToken) // grace retry
		require.NoError(t, err)
		for _, tok := range []string{p.AccessToken, p2.AccessToken, p3.AccessToken} {
			c, err := f.iss.Verifier().Verify(ctx, tok)
			require.NoError(t, err)
			require.Equal(t, "cli", c.ClientID())
		}
		list, err := f.iss.Sessions(ctx, "alice")
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "cli", list[0].Meta[rtr.MetaClientID])
	})
}

// TestAsymmetricSignatureLineBreakRefused: strict base64 skips CR and LF;
// a token with one inside its signature is a second spelling of the same
// token and verifies on no path.
func TestAsymmetricSignatureLineBreakRefused(t *testing.T) {
	ctx := context.Background()
	for _, alg := range asymmetricAlgs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, rtr.NewMemoryStore(), withSigningKey(testKeys()[alg][0]))
			p, err := f.iss.Issue(ctx, "alice")
			require.NoError(t, err)
			i := strings.LastIndexByte(p.AccessToken, '.') + 4
			for _, lb := range []string{"\n", "\r", "\r\n"} {
				_, err := f.iss.Verifier().Verify(ctx, p.AccessToken[:i]+lb+p.AccessToken[i:])
				require.ErrorIs(t, err, rtr.ErrInvalidToken, "%q in the signature", lb)
			}
		})
	}
}
