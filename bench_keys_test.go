package rtr_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtr-go/rtr"
)

// BenchmarkVerifyAsymmetric is BenchmarkVerify for access tokens signed
// with Config.SigningKey: rtr's Verify (the issuer's verifier, and one
// built by NewVerifier from a JWKS) against golang-jwt parsing the same
// token into the same claims with the same options and public key.
// Signature checking dominates both.
func BenchmarkVerifyAsymmetric(b *testing.B) {
	ctx := context.Background()
	for _, alg := range []string{rtr.AlgEdDSA, rtr.AlgES256, rtr.AlgRS256} {
		var key crypto.Signer
		var err error
		switch alg {
		case rtr.AlgEdDSA:
			_, key, err = ed25519.GenerateKey(rand.Reader)
		case rtr.AlgES256:
			key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case rtr.AlgRS256:
			key, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			b.Fatal(err)
		}
		cfg := benchConfig(rtr.NewMemoryStore())
		cfg.SigningKey = key
		iss, err := rtr.NewIssuer(cfg)
		if err != nil {
			b.Fatal(err)
		}
		p, err := iss.Issue(ctx, benchSubject)
		if err != nil {
			b.Fatal(err)
		}
		token := p.AccessToken
		static, err := rtr.NewVerifier(rtr.VerifierConfig{
			PublicKeys: []crypto.PublicKey{key.Public()}, Issuer: benchIssuer, Audience: benchAudience,
		})
		if err != nil {
			b.Fatal(err)
		}

		verify := func(v *rtr.Verifier) func(b *testing.B) {
			return func(b *testing.B) {
				b.ReportAllocs()
				defer benchCPU(b)()
				for b.Loop() {
					c, err := v.Verify(ctx, token)
					if err != nil {
						b.Fatal(err)
					}
					benchSinkClaims = c
				}
			}
		}
		b.Run(alg+"/rtr", verify(iss.Verifier()))
		b.Run(alg+"/rtr-public-keys", verify(static))
		b.Run(alg+"/baseline=jwt-parse", func(b *testing.B) {
			parser := jwt.NewParser(
				jwt.WithValidMethods([]string{alg}),
				jwt.WithExpirationRequired(),
				jwt.WithLeeway(0),
				jwt.WithTimeFunc(time.Now),
				jwt.WithIssuer(benchIssuer),
				jwt.WithAudience(benchAudience...),
			)
			pub := key.Public()
			keyFn := func(*jwt.Token) (any, error) { return pub, nil }
			b.ReportAllocs()
			defer benchCPU(b)()
			for b.Loop() {
				c := &rtr.Claims{}
				if _, err := parser.ParseWithClaims(token, c, keyFn); err != nil {
					b.Fatal(err)
				}
				benchSinkClaims = c
			}
		})
	}
}
