package rtr

import (
	"context"
	"fmt"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks access tokens statelessly: signature, algorithm, typ,
// key id, expiry, issuer and audience, with no store I/O. Get one from
// [Issuer.Verifier]; it is safe for concurrent use.
type Verifier struct {
	keys      *keyRing
	parser    *jwt.Parser
	validator *jwt.Validator // parser's claim checks, for the fast path
	keyFn     jwt.Keyfunc

	rev       *revocations // nil unless following a revocation feed
	closeOnce sync.Once
}

func newVerifier(cfg *Config, keys *keyRing) *Verifier {
	opts := parserOptions(cfg)
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	v := &Verifier{keys: keys, parser: jwt.NewParser(opts...), validator: jwt.NewValidator(opts...)}
	v.keyFn = func(t *jwt.Token) (any, error) {
		if err := checkHeader(t, AccessTokenType); err != nil {
			return nil, err
		}
		ks, err := keys.lookup(t.Header)
		if err != nil {
			return nil, err
		}
		return ks.access, nil
	}
	return v
}

// Verify checks an access token and returns its claims. A malformed,
// oversized, badly signed or wrongly typed token (a refresh token, say) is
// [ErrInvalidToken]; a correctly signed one past its expiry is
// [ErrTokenExpired]. With [Config.InstantRevocation], a token of an ended
// session is [ErrTokenRevoked], and [ErrStoreUnavailable] means the
// verifier cannot tell now (see [Config.RevocationFailClosed] and
// [Config.RevocationMaxEntries]). The context is accepted for symmetry and
// future use; Verify does no I/O.
func (v *Verifier) Verify(ctx context.Context, accessToken string) (*Claims, error) {
	if accessToken == "" || tooLarge(accessToken) {
		return nil, ErrInvalidToken
	}
	c, err := v.verifyMinted(accessToken)
	if c == nil && err == nil {
		c = new(Claims)
		if _, err := v.parser.ParseWithClaims(accessToken, c, v.keyFn); err != nil {
			return nil, mapParseError(err)
		}
	}
	if err != nil {
		return nil, err
	}
	if c.Subject == "" || c.SessionID == "" {
		return nil, fmt.Errorf("%w: missing sub or sid", ErrInvalidToken)
	}
	if v.rev != nil {
		if err := v.rev.check(c.Subject, c.SessionID); err != nil {
			return nil, err
		}
	}
	c.payload = payloadSegment(accessToken)
	return c, nil
}

// verifyMinted is the fast path of Verify, for tokens in the form rtr
// mints (see keyRing.verifyMinted): the same answer as the golang-jwt
// parser, or nil, nil when the token is not in that form.
func (v *Verifier) verifyMinted(token string) (*Claims, error) {
	payload, ok := v.keys.verifyMinted(token, false)
	if !ok {
		return nil, nil
	}
	p, ok := decodeSegment(payload)
	if !ok {
		return nil, nil
	}
	m := new(mintedAccess)
	if !m.decode(p) {
		return nil, nil
	}
	if err := v.validator.Validate(&m.claims); err != nil {
		// As jwt.Parser.ParseWithClaims wraps it.
		return nil, mapParseError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	return &m.claims, nil
}
