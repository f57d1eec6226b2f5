package rtr

import (
	"context"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtr-go/rtr/internal/token"
)

// Issuer logs users in, rotates their refresh tokens, detects replayed
// ones and ends sessions. Create one with [NewIssuer] and share it: it is
// safe for concurrent use.
type Issuer struct {
	cfg      Config
	keys     keyRing
	signer   *accessSigner // nil: access tokens are HS256 under keys
	jwks     []byte        // the JWKS document JWKSHandler serves
	verifier *Verifier

	refreshParser    *jwt.Parser    // full validation
	refreshSigParser *jwt.Parser    // signature only, for logout with an expired token
	refreshValidator *jwt.Validator // refreshParser's claim checks, for the fast path
	refreshKeyFn     jwt.Keyfunc

	feed RevocationFeed // the store's, when InstantRevocation is on
}

// NewIssuer checks cfg, fills in defaults and derives the keys. It fails
// with [ErrInvalidConfig], and a reason, for a config that cannot be used
// safely: no store; a secret shorter than [MinSecretLen] bytes or clearly
// not random; a previous secret equal to the current one; a negative
// duration; lifetimes that do not nest (ReuseGrace <= AccessTTL <=
// RefreshTTL <= MaxSessionAge, see [Config]); a [Config.SigningKey] or
// [Config.PreviousPublicKeys] entry rtr does not sign or verify with.
func NewIssuer(cfg Config) (*Issuer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	iss := &Issuer{cfg: cfg, keys: newKeyRing(cfg.Secret, cfg.PreviousSecrets)}
	pub, err := iss.setSigningKey()
	if err != nil {
		return nil, err
	}
	iss.verifier = newVerifier(&iss.cfg, &iss.keys, pub)
	if cfg.InstantRevocation {
		iss.feed = cfg.Store.(RevocationFeed)
		iss.verifier.followRevocations(iss.feed, revocationOptions{
			now: iss.cfg.Now, maxLag: iss.cfg.RevocationMaxLag, failClosed: iss.cfg.RevocationFailClosed,
			maxEntries: iss.cfg.RevocationMaxEntries, emit: iss.emitFeed,
		})
	}
	iss.refreshParser = jwt.NewParser(parserOptions(&iss.cfg)...)
	iss.refreshValidator = jwt.NewValidator(parserOptions(&iss.cfg)...)
	iss.refreshSigParser = sigOnlyParser()
	iss.refreshKeyFn = func(t *jwt.Token) (any, error) {
		if err := checkHeader(t, RefreshTokenType); err != nil {
			return nil, err
		}
		ks, err := iss.keys.lookup(t.Header)
		if err != nil {
			return nil, err
		}
		return ks.refresh, nil
	}
	return iss, nil
}

// Verifier returns the access-token verifier that shares this issuer's keys
// and settings.
func (iss *Issuer) Verifier() *Verifier { return iss.verifier }

// parseRefresh verifies a refresh token, which must name exactly this
// issuer's audience. With checkExpiry false only the signature, header,
// issuer, audience and a bound on the age are checked (for logout; see
// checkSignatureOnly).
func (iss *Issuer) parseRefresh(tok string, checkExpiry bool) (*refreshClaims, error) {
	if tok == "" || tooLarge(tok) {
		return nil, ErrInvalidToken
	}
	c, err := iss.parseMintedRefresh(tok, checkExpiry)
	if c == nil && err == nil {
		c, err = iss.parseRefreshJWT(tok, checkExpiry)
	}
	if err != nil {
		return nil, err
	}
	if !checkExpiry {
		// Signature-only parsing skipped the claim checks: bound them.
		if err := iss.cfg.checkSignatureOnly(&c.RegisteredClaims, false); err != nil {
			return nil, err
		}
	}
	if !token.AudienceEqual(c.Audience, iss.cfg.Audience) {
		return nil, fmt.Errorf("%w: refresh tok issued for another audience", ErrInvalidToken)
	}
	if c.Subject == "" || len(c.Subject) > MaxSubjectLen || c.SessionID == "" || c.ID == "" || c.Generation == 0 {
		return nil, fmt.Errorf("%w: incomplete refresh tok", ErrInvalidToken)
	}
	return c, nil
}

// parseRefreshJWT is the general path of parseRefresh: golang-jwt.
func (iss *Issuer) parseRefreshJWT(tok string, checkExpiry bool) (*refreshClaims, error) {
	if err := token.CheckGeneralToken(tok); err != nil {
		return nil, err
	}
	p := iss.refreshParser
	if !checkExpiry {
		p = iss.refreshSigParser
	}
	c := new(refreshClaims)
	if _, err := p.ParseWithClaims(tok, c, iss.refreshKeyFn); err != nil {
		return nil, mapParseError(err)
	}
	return c, nil
}

// parseMintedRefresh is the fast path of parseRefresh, for tokens in the
// form rtr mints (see verifyMinted): the same answer as parseRefreshJWT,
// or nil, nil when the token is not in that form.
func (iss *Issuer) parseMintedRefresh(token string, checkExpiry bool) (*refreshClaims, error) {
	payload, ok := iss.keys.verifyMinted(token, true)
	if !ok {
		return nil, nil
	}
	p, ok := decodeSegment(payload)
	if !ok {
		return nil, nil
	}
	m := new(mintedRefresh)
	if !m.decode(p) {
		return nil, nil
	}
	if checkExpiry {
		if err := iss.refreshValidator.Validate(&m.claims); err != nil {
			// As jwt.Parser.ParseWithClaims wraps it.
			return nil, mapParseError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
		}
	}
	return &m.claims, nil
}

// extraClaims calls [Config.Claims] and encodes the result.
func (iss *Issuer) extraClaims(ctx context.Context, subject string) ([]byte, error) {
	if iss.cfg.Claims == nil {
		return nil, nil
	}
	extra, err := iss.cfg.Claims(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("rtr: claims callback: %w", err)
	}
	return encodeExtra(extra)
}

// pair mints an access token and (re-)signs the current refresh token of rec.
func (iss *Issuer) pair(rec *SessionRecord, extra []byte) (Pair, error) {
	now := iss.cfg.Now()
	exp := unixTime(now.Add(iss.cfg.AccessTTL))
	extra = withClientID(extra, rec.Meta)
	at, err := iss.mintAccess(accessPayload{
		Issuer:    iss.cfg.Issuer,
		Subject:   rec.Subject,
		Audience:  iss.cfg.Audience,
		ExpiresAt: exp.Unix(),
		IssuedAt:  now.Unix(),
		ID:        newID(),
		SessionID: rec.ID,
	}, extra)
	if err != nil {
		return Pair{}, fmt.Errorf("rtr: minting access token: %w", err)
	}
	rt, err := iss.keys.mintRefresh(iss.cfg.Issuer, iss.cfg.Audience, rec)
	if err != nil {
		return Pair{}, fmt.Errorf("rtr: minting refresh token: %w", err)
	}
	return Pair{
		AccessToken:      at,
		RefreshToken:     rt,
		AccessExpiresAt:  exp,
		RefreshExpiresAt: unixTime(rec.ExpiresAt()),
		SessionID:        rec.ID,
	}, nil
}

func (iss *Issuer) emit(ctx context.Context, t EventType, subject, sid string, gen uint64) {
	if iss.cfg.OnEvent != nil {
		iss.cfg.OnEvent(ctx, Event{Type: t, Subject: subject, SessionID: sid, Generation: gen, Time: iss.cfg.Now()})
	}
}

// emitFeed reports a revocation-feed event (no subject, no session).
func (iss *Issuer) emitFeed(t EventType) { iss.emit(context.Background(), t, "", "", 0) }
