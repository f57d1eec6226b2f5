package rtr

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtr-go/rtr/internal/token"
)

// Verifier checks access tokens statelessly: signature, algorithm, typ,
// key id, expiry, issuer and audience, with no store I/O. Get one from
// [Issuer.Verifier], or from [NewVerifier] in a service that only
// verifies; it is safe for concurrent use.
type Verifier struct {
	keys      *keyRing  // HS256: the keys derived from the secrets; nil with pub
	pub       keySource // asymmetric keys; nil for HS256
	methods   []string  // the algorithms the parser accepts at all
	parser    *jwt.Parser
	validator *jwt.Validator // parser's claim checks, for the fast path
	keyFn     jwt.Keyfunc    // HS256 only; see keyFunc

	rev       *revocations // nil unless following a revocation feed
	closeOnce sync.Once
}

// newVerifier builds a verifier for the settings in cfg (Issuer, Audience,
// Leeway, Now) with either the HS256 keys or a source of public keys.
func newVerifier(cfg *Config, keys *keyRing, pub keySource) *Verifier {
	v := &Verifier{keys: keys, pub: pub, methods: []string{signingAlg}}
	if pub != nil {
		v.keys, v.methods = nil, publicAlgs
	}
	opts := append(parserOptions(cfg), jwt.WithValidMethods(v.methods)) // the last one wins
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	v.parser, v.validator = jwt.NewParser(opts...), jwt.NewValidator(opts...)
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

// keyFunc returns the golang-jwt key function for one parse. With public
// keys the key named by the token's kid pins the algorithm: a token whose
// header names another one is refused, whatever its signature.
func (v *Verifier) keyFunc(ctx context.Context) jwt.Keyfunc {
	if v.pub == nil {
		return v.keyFn
	}
	return func(t *jwt.Token) (any, error) {
		if err := checkTypeAndCrit(t, AccessTokenType); err != nil {
			return nil, err
		}
		kid, _ := t.Header["kid"].(string)
		k, err := v.pub.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		if t.Method.Alg() != k.method.Alg() {
			return nil, errors.New("algorithm does not match the key")
		}
		return k.key, nil
	}
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
// [Config.RevocationMaxEntries]).
func (v *Verifier) Verify(ctx context.Context, accessToken string) (*Claims, error) {
	if accessToken == "" || tooLarge(accessToken) {
		return nil, ErrInvalidToken
	}
	c, err := v.verifyMinted(accessToken)
	if c == nil && err == nil {
		if err := token.CheckGeneralToken(accessToken); err != nil {
			return nil, err
		}
		c = new(Claims)
		if _, err := v.parser.ParseWithClaims(accessToken, c, v.keyFunc(ctx)); err != nil {
			return nil, mapVerifyError(err)
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
	c.payload = token.PayloadSegment(accessToken)
	return c, nil
}

// mapVerifyError is mapParseError, except that a key set that cannot be
// fetched stays "cannot tell now".
func mapVerifyError(err error) error {
	if errors.Is(err, ErrKeyUnavailable) {
		return ErrKeyUnavailable
	}
	return mapParseError(err)
}

// verifyMinted is the fast path of Verify, for tokens in the form rtr
// mints (see keyRing.verifyMinted and mintedPublic): the same answer as
// the golang-jwt parser, or nil, nil when the token is not in that form.
func (v *Verifier) verifyMinted(token string) (*Claims, error) {
	var payload string
	var pub *mintedPublic
	if v.pub != nil {
		pub = new(mintedPublic)
		if !pub.find(v.pub.snapshot(), token) {
			return nil, nil
		}
		payload = pub.payload
	} else {
		var ok bool
		if payload, ok = v.keys.verifyMinted(token, false); !ok {
			return nil, nil
		}
	}
	p, ok := decodeSegment(payload)
	if !ok {
		return nil, nil
	}
	m := new(mintedAccess)
	if !m.decode(p) {
		return nil, nil
	}
	if pub != nil {
		if err := pub.verify(); err != nil {
			return nil, err
		}
	}
	if err := v.validator.Validate(&m.claims); err != nil {
		// As jwt.Parser.ParseWithClaims wraps it.
		return nil, mapParseError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	return &m.claims, nil
}
