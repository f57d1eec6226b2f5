package rtr

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
	"github.com/stretchr/testify/require"
)

// TestPublicFastPathMatchesJWT checks verifyMintedPublic the way
// compareAccess checks the HS256 fast path: for every token it
// recognises, the same claims or the same error as golang-jwt.
func TestPublicFastPathMatchesJWT(t *testing.T) {
	ctx := context.Background()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for _, key := range []crypto.Signer{ed, ec, rs} {
		clock := &fastClock{t: time.Unix(1_800_000_000, 0)}
		iss := newTestIssuer(t, func(c *Config) {
			c.SigningKey, c.Now = key, clock.now
			c.Claims = func(context.Context, string) (map[string]any, error) {
				return map[string]any{"roles": []string{"a"}}, nil
			}
		})
		v := iss.Verifier()
		p, err := iss.Issue(ctx, "alice", WithClientID("c"))
		require.NoError(t, err)
		parts := strings.Split(p.AccessToken, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[0] ^= 1
		badSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

		compare := func(token string) bool {
			fast, fastErr := v.verifyMinted(token)
			if fast == nil && fastErr == nil {
				return false
			}
			slow := new(Claims)
			_, slowErr := v.parser.ParseWithClaims(token, slow, v.keyFunc(ctx))
			if slowErr != nil {
				require.Error(t, fastErr, "golang-jwt: %v", slowErr)
				require.Equal(t, mapParseError(slowErr).Error(), fastErr.Error())
				for _, target := range []error{jwt.ErrTokenExpired, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenInvalidAudience} {
					require.Equal(t, errors.Is(slowErr, target), errors.Is(fastErr, target))
				}
				return true
			}
			require.NoError(t, fastErr)
			require.Equal(t, slow, fast)
			return true
		}
		require.True(t, compare(p.AccessToken), "genuine tokens take the fast path")
		require.True(t, compare(badSig))
		require.False(t, compare(p.AccessToken+"="), "non-canonical signatures are left to golang-jwt")
		require.False(t, compare(tamperedHeader(p.AccessToken)))
		clock.t = clock.t.Add(time.Hour)
		require.True(t, compare(p.AccessToken))
	}
}

// tamperedHeader re-encodes the header with a space: the same JSON
// meaning, another segment.
func tamperedHeader(token string) string {
	h, rest, _ := strings.Cut(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	return base64.RawURLEncoding.EncodeToString(append([]byte(" "), b...)) + "." + rest
}
