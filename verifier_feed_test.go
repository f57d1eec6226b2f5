package rtr_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
)

// TestNewVerifierFollowsRevocationFeed: a verify-only service given the
// store's revocation feed refuses the access tokens of sessions that an
// issuer in another process ended, without holding the store or a signing
// key.
func TestNewVerifierFollowsRevocationFeed(t *testing.T) {
	ctx := context.Background()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, sp := range storePairs {
		t.Run(sp.name, func(t *testing.T) {
			s1, s2 := sp.new(t)
			iss := newRevocationIssuer(t, s1, func(c *rtr.Config) { c.SigningKey = key })
			v, err := rtr.NewVerifier(rtr.VerifierConfig{
				PublicKeys:     []crypto.PublicKey{key.Public()},
				Issuer:         "https://auth.example",
				RevocationFeed: s2.(rtr.RevocationFeed),
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = v.Close() })
			issuertest.WaitFeedInSync(t, v)

			p, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			other, err := iss.Issue(ctx, "alice")
			require.NoError(t, err)
			_, err = v.Verify(ctx, p.AccessToken)
			require.NoError(t, err)

			require.NoError(t, iss.Revoke(ctx, p.RefreshToken))
			issuertest.WaitRevoked(t, v, p.AccessToken)
			_, err = v.Verify(ctx, other.AccessToken)
			require.NoError(t, err, "the subject's other session is untouched")
			require.True(t, v.RevocationStatus().Enabled)
		})
	}
}

// TestNewVerifierRevocationConfig: the feed's settings are checked like
// the issuer's.
func TestNewVerifierRevocationConfig(t *testing.T) {
	store := rtr.NewMemoryStore()
	for name, cfg := range map[string]rtr.VerifierConfig{
		"negative max entries": {Secret: testSecret, RevocationFeed: store, RevocationMaxEntries: -1},
		"negative max lag":     {Secret: testSecret, RevocationFeed: store, RevocationMaxLag: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rtr.NewVerifier(cfg)
			require.ErrorIs(t, err, rtr.ErrInvalidConfig)
		})
	}
	v, err := rtr.NewVerifier(rtr.VerifierConfig{Secret: testSecret})
	require.NoError(t, err)
	require.False(t, v.RevocationStatus().Enabled, "no feed, no revocation check")
}
