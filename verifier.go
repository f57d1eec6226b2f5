package rtr

import (
	"context"
	"sync"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtr-go/rtr/internal/token"
)

// Verifier checks access tokens statelessly: signature, algorithm, typ,
// key id, expiry, issuer and audience, with no store I/O. Get one from
// [Issuer.Verifier], or from [NewVerifier] in a service that only
// verifies; it is safe for concurrent use.
type Verifier struct {
	codec *token.Codec

	rev       *revocations // nil unless following a revocation feed
	closeOnce sync.Once
}

// verifiedClaims holds Claims and the dates they point to in one
// allocation; it is what the codec fills.
type verifiedClaims struct {
	Claims
	exp, iat jwt.NumericDate
}

// Fields implements token.AccessClaims.
func (c *verifiedClaims) Fields() (*jwt.RegisteredClaims, *string, *jwt.NumericDate, *jwt.NumericDate) {
	return &c.RegisteredClaims, &c.SessionID, &c.exp, &c.iat
}

// Verify checks an access token and returns its claims. A malformed,
// oversized, badly signed or wrongly typed token (a refresh token, say) is
// [ErrInvalidToken]; a correctly signed one past its expiry is
// [ErrTokenExpired]. A verifier fed from a JWKS URL may fetch the key set
// (bounded by ctx) and answers [ErrKeyUnavailable] for a key id it cannot
// look up now; other verifiers do no I/O. With
// [Config.InstantRevocation], a token of an ended session is
// [ErrTokenRevoked], and [ErrStoreUnavailable] means the verifier cannot
// tell now (see [Config.RevocationFailClosed] and
// [Config.RevocationMaxEntries]). Every error wraps one of these five
// sentinels; the HTTP layer maps them to statuses and would answer any
// other error with 500.
func (v *Verifier) Verify(ctx context.Context, accessToken string) (*Claims, error) {
	vc := new(verifiedClaims)
	if err := v.codec.ParseAccess(ctx, accessToken, vc); err != nil {
		return nil, err
	}
	c := &vc.Claims
	if v.rev != nil {
		if err := v.rev.check(c.Subject, c.SessionID); err != nil {
			return nil, err
		}
	}
	c.payload = token.PayloadSegment(accessToken)
	return c, nil
}
