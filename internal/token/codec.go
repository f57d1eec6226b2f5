// Package token is rtr's token engine: it mints and parses the access and
// refresh JWTs, behind one type, [Codec].
//
// Minting writes the payload without reflection, exactly as json.Marshal
// would. Parsing has two routes with one answer: a fast path for tokens in
// the exact form the codec mints (a byte comparison of the header, one
// pooled HMAC or a public-key check, a small scanner), and golang-jwt for
// everything else, after the hygiene checks (canonical base64url, no
// member that folds to a reserved claim). "Not in the minted form" is the
// fast path's own business: callers only see (claims, error).
package token

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT "typ" header values, checked on every parse (RFC 8725 §3.11, RFC
// 9068 §2.1).
const (
	AccessType  = "at+jwt"
	RefreshType = "rt+jwt"
)

const signingAlg = "HS256"

// Config configures a [Codec].
type Config struct {
	// Secret and PreviousSecrets give the HS256 keys (derived with domain
	// separation): refresh tokens always, access tokens unless Signer or
	// PublicKeys is set. Tokens under a previous secret still verify. A
	// codec without a Secret (a verifier of public keys) mints nothing
	// and parses no refresh token.
	Secret          []byte
	PreviousSecrets [][]byte

	// Signer signs access tokens (EdDSA, ES256 or RS256); its public key
	// and PreviousPublicKeys verify them and make up [Codec.JWKS].
	Signer             crypto.Signer
	PreviousPublicKeys []crypto.PublicKey

	// PublicKeys verifies asymmetric access tokens for a codec that does
	// not sign them (a verify-only service). Ignored with Signer.
	PublicKeys KeySource

	// Issuer and Audience are minted into every token and checked on
	// every parse when set.
	Issuer   string
	Audience []string

	// Leeway is the clock skew allowed on exp and nbf; Now is the clock.
	Leeway time.Duration
	Now    func() time.Time

	// MaxAge bounds the signature-only parses: a token whose exp is older
	// than MaxAge (plus Leeway) is refused by IdentifyAccess and
	// IdentifyRefresh.
	MaxAge time.Duration

	// MaxLen is the size limit of a token, checked before any parsing;
	// MaxSubjectLen the longest subject a refresh token may carry.
	MaxLen        int
	MaxSubjectLen int

	// Errors are the sentinels the codec's errors wrap.
	Errors Errors
}

// AccessClaims is the caller's struct that [Codec.ParseAccess] fills: it
// embeds jwt.RegisteredClaims and has the session id as "sid" (no other
// JSON fields), so that golang-jwt can decode into it.
type AccessClaims interface {
	jwt.Claims
	// Fields returns the struct's registered claims and session id, and
	// two dates that exp and iat may be made to point to (kept in the same
	// allocation as the struct, so a parse allocates once).
	Fields() (rc *jwt.RegisteredClaims, sid *string, exp, iat *jwt.NumericDate)
}

// Refresh is the payload of a refresh token.
type Refresh struct {
	jwt.RegisteredClaims
	SessionID  string `json:"sid"`
	Generation uint64 `json:"gen"`
	ClientID   string `json:"client_id,omitempty"`
}

// Identity is whom a token names, as the signature-only parses find it.
type Identity struct{ Subject, SessionID, ClientID string }

// NewAccess is what an access token is minted for; the issuer and
// audience are the codec's.
type NewAccess struct {
	Subject, SessionID, ID string
	IssuedAt, ExpiresAt    time.Time
}

// NewRefresh is what a refresh token is minted for; the issuer and
// audience are the codec's.
type NewRefresh struct {
	Subject, SessionID, ID string
	Generation             uint64
	IssuedAt, ExpiresAt    time.Time
	ClientID               string // "" for a session issued to no named client
}

// Codec mints and parses access and refresh tokens. It is safe for
// concurrent use.
type Codec struct {
	cfg    Config
	errs   Errors
	ring   keyRing
	signer *accessSigner // nil: access tokens are HS256 under ring
	pub    KeySource     // nil: access tokens are HS256
	jwks   []byte

	accessParser    *jwt.Parser    // full validation
	accessSigParser *jwt.Parser    // signature, alg and header only
	accessValidator *jwt.Validator // accessParser's claim checks, for the fast path
	accessKeyFn     jwt.Keyfunc    // HS256 only; see accessKeyFunc

	refreshParser    *jwt.Parser
	refreshSigParser *jwt.Parser
	refreshValidator *jwt.Validator
	refreshKeyFn     jwt.Keyfunc
}

// New builds a codec. It fails only for a Signer or PreviousPublicKeys
// entry it does not sign or verify with; the error says which.
func New(cfg Config) (*Codec, error) {
	cfg.Audience = append([]string(nil), cfg.Audience...)
	c := &Codec{cfg: cfg, errs: cfg.Errors.withDefaults(), jwks: []byte(`{"keys":[]}`)}
	if len(cfg.Secret) > 0 {
		c.ring = newKeyRing(cfg.Secret, cfg.PreviousSecrets)
	}
	switch {
	case cfg.Signer != nil:
		s, err := newAccessSigner(cfg.Signer)
		if err != nil {
			return nil, err
		}
		prev, err := newPublicKeys(cfg.PreviousPublicKeys)
		if err != nil {
			return nil, fmt.Errorf("PreviousPublicKeys: %w", err)
		}
		keys := &publicKeys{list: []*PublicKey{s.pub}}
		for _, k := range prev.list {
			keys.add(k)
		}
		doc := jwkSet{Keys: make([]jwk, len(keys.list))}
		for i, k := range keys.list {
			doc.Keys[i] = k.jwk
		}
		c.jwks, _ = json.Marshal(doc) // strings only: cannot fail
		c.signer, c.pub = s, keys
	case cfg.PublicKeys != nil:
		c.pub = cfg.PublicKeys
	}

	methods := []string{signingAlg}
	if c.pub != nil {
		methods = publicAlgs
	}
	opts := append(c.parserOptions(), jwt.WithValidMethods(methods)) // the last one wins
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	c.accessParser, c.accessValidator = jwt.NewParser(opts...), jwt.NewValidator(opts...)
	c.accessSigParser = jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	c.accessKeyFn = func(t *jwt.Token) (any, error) {
		if err := checkHeader(t, AccessType); err != nil {
			return nil, err
		}
		ks, err := c.ring.lookup(t.Header)
		if err != nil {
			return nil, err
		}
		return ks.Access, nil
	}

	c.refreshParser = jwt.NewParser(c.parserOptions()...)
	c.refreshValidator = jwt.NewValidator(c.parserOptions()...)
	c.refreshSigParser = jwt.NewParser(jwt.WithValidMethods([]string{signingAlg}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	c.refreshKeyFn = func(t *jwt.Token) (any, error) {
		if err := checkHeader(t, RefreshType); err != nil {
			return nil, err
		}
		ks, err := c.ring.lookup(t.Header)
		if err != nil {
			return nil, err
		}
		return ks.Refresh, nil
	}
	return c, nil
}

// parserOptions are the options shared by the access and refresh parsers.
func (c *Codec) parserOptions() []jwt.ParserOption {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{signingAlg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(c.cfg.Leeway),
		jwt.WithTimeFunc(c.cfg.Now),
		jwt.WithStrictDecoding(),
	}
	if c.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.cfg.Issuer))
	}
	return opts
}

// JWKS is the RFC 7517 JWK Set of the keys that verify the codec's access
// tokens: the Signer's first, then PreviousPublicKeys; empty for HS256.
func (c *Codec) JWKS() []byte { return c.jwks }

// tooLarge reports whether a token is empty or over the size limit; it is
// checked before any parsing.
func (c *Codec) tooLarge(tok string) bool { return tok == "" || len(tok) > c.cfg.MaxLen }

// MintAccess signs an access token. extra holds the already-encoded extra
// claims as a JSON object (or nil; see [Codec.EncodeExtra]). It fails only when
// the Signer does.
func (c *Codec) MintAccess(a NewAccess, extra []byte) (string, error) {
	p := accessPayload{
		Issuer:    c.cfg.Issuer,
		Subject:   a.Subject,
		Audience:  c.cfg.Audience,
		ExpiresAt: a.ExpiresAt.Unix(),
		IssuedAt:  a.IssuedAt.Unix(),
		ID:        a.ID,
		SessionID: a.SessionID,
	}
	if c.signer != nil {
		return c.signer.mint(p, extra)
	}
	return c.ring.mintAccess(p, extra), nil
}

// MintRefresh signs a refresh token (HS256 under the current secret). The
// result depends only on r, so re-signing the same generation (a grace
// retry) yields the same token.
func (c *Codec) MintRefresh(r NewRefresh) string {
	return c.ring.mintRefresh(refreshPayload{
		Issuer:     c.cfg.Issuer,
		Subject:    r.Subject,
		Audience:   c.cfg.Audience,
		ExpiresAt:  r.ExpiresAt.Unix(),
		IssuedAt:   r.IssuedAt.Unix(),
		ID:         r.ID,
		SessionID:  r.SessionID,
		Generation: r.Generation,
		ClientID:   r.ClientID,
	})
}

// ParseAccess verifies an access token (signature, algorithm, typ, key
// id, expiry, issuer, audience; sub and sid present) into dst. A verifier
// fed from a remote key set may fetch it, bounded by ctx.
func (c *Codec) ParseAccess(ctx context.Context, tok string, dst AccessClaims) error {
	if c.tooLarge(tok) {
		return c.errs.Invalid
	}
	recognised, err := c.parseMintedAccess(tok, dst)
	if !recognised {
		err = c.parseAccessJWT(ctx, tok, dst)
	}
	if err != nil {
		return err
	}
	rc, sid, _, _ := dst.Fields()
	if rc.Subject == "" || *sid == "" {
		return fmt.Errorf("%w: missing sub or sid", c.errs.Invalid)
	}
	return nil
}

// parseAccessJWT is the general path of ParseAccess: golang-jwt, into a
// cleared dst.
func (c *Codec) parseAccessJWT(ctx context.Context, tok string, dst AccessClaims) error {
	rc, sid, _, _ := dst.Fields()
	*rc, *sid = jwt.RegisteredClaims{}, ""
	if err := c.checkGeneralToken(tok); err != nil {
		return err
	}
	if _, err := c.accessParser.ParseWithClaims(tok, dst, c.accessKeyFunc(ctx)); err != nil {
		return c.mapVerifyError(err)
	}
	return nil
}

// parseMintedAccess is the fast path of ParseAccess, for tokens in the
// form the codec mints (see keyRing.verifyMinted and mintedPublic): the
// same answer as parseAccessJWT when it recognises the token, and false
// when the token is not in that form.
func (c *Codec) parseMintedAccess(tok string, dst AccessClaims) (recognised bool, err error) {
	var payload string
	var pub *mintedPublic
	if c.pub != nil {
		pub = new(mintedPublic)
		if !pub.find(c.pub.Snapshot(), tok) {
			return false, nil
		}
		payload = pub.payload
	} else {
		var ok bool
		if payload, ok = c.ring.verifyMinted(tok, false); !ok {
			return false, nil
		}
	}
	p, ok := decodeSegment(payload)
	if !ok {
		return false, nil
	}
	rc, sid, exp, iat := dst.Fields()
	if !decodeAccess(p, rc, sid, exp, iat) {
		return false, nil
	}
	if pub != nil {
		if err := pub.verify(); err != nil {
			return true, c.mapParseError(err)
		}
	}
	if err := c.accessValidator.Validate(dst); err != nil {
		// As jwt.Parser.ParseWithClaims wraps it.
		return true, c.mapParseError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	return true, nil
}

// accessKeyFunc returns the golang-jwt key function for one parse. With
// public keys the key named by the token's kid pins the algorithm: a
// token whose header names another one is refused, whatever its signature.
func (c *Codec) accessKeyFunc(ctx context.Context) jwt.Keyfunc {
	if c.pub == nil {
		return c.accessKeyFn
	}
	return func(t *jwt.Token) (any, error) {
		if err := checkTypeAndCrit(t, AccessType); err != nil {
			return nil, err
		}
		kid, _ := t.Header["kid"].(string)
		k, err := c.pub.Lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		if t.Method.Alg() != k.method.Alg() {
			return nil, errors.New("algorithm does not match the key")
		}
		return k.key, nil
	}
}

// mapVerifyError is mapParseError, except that a key set that cannot be
// fetched stays "cannot tell now".
func (c *Codec) mapVerifyError(err error) error {
	if errors.Is(err, c.errs.KeyUnavailable) {
		return c.errs.KeyUnavailable
	}
	return c.mapParseError(err)
}

// signatureOnlyClaims is what IdentifyAccess decodes.
type signatureOnlyClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// IdentifyAccess checks an access token's signature, typ, alg, kid,
// issuer and audience, and bounds its age (see checkSignatureOnly), but
// not its expiry; it returns whom it names. It does no I/O: a kid a
// remote key set does not know yet is fetched with no deadline but the
// key source's own.
func (c *Codec) IdentifyAccess(tok string) (Identity, error) {
	if c.tooLarge(tok) {
		return Identity{}, c.errs.Invalid
	}
	if err := c.checkGeneralToken(tok); err != nil {
		return Identity{}, err
	}
	var ac signatureOnlyClaims
	if _, err := c.accessSigParser.ParseWithClaims(tok, &ac, c.accessKeyFunc(context.Background())); err != nil {
		return Identity{}, c.mapParseError(err)
	}
	if err := c.checkSignatureOnly(&ac.RegisteredClaims, true); err != nil {
		return Identity{}, err
	}
	if ac.Subject == "" || ac.SessionID == "" {
		return Identity{}, fmt.Errorf("%w: missing sub or sid", c.errs.Invalid)
	}
	return Identity{Subject: ac.Subject, SessionID: ac.SessionID}, nil
}

// ParseRefresh verifies a refresh token, which must name exactly the
// codec's audience and carry a subject, session, id and generation.
func (c *Codec) ParseRefresh(tok string) (*Refresh, error) { return c.parseRefresh(tok, true) }

// IdentifyRefresh is ParseRefresh without the expiry check, bounded
// instead by MaxAge (see checkSignatureOnly): for logout with an expired
// token.
func (c *Codec) IdentifyRefresh(tok string) (Identity, error) {
	r, err := c.parseRefresh(tok, false)
	if err != nil {
		return Identity{}, err
	}
	return Identity{r.Subject, r.SessionID, r.ClientID}, nil
}

// parseRefresh verifies a refresh token, which must name exactly the
// codec's audience. With checkExpiry false only the signature, header,
// issuer, audience and a bound on the age are checked.
func (c *Codec) parseRefresh(tok string, checkExpiry bool) (*Refresh, error) {
	if c.tooLarge(tok) {
		return nil, c.errs.Invalid
	}
	r, recognised, err := c.parseMintedRefresh(tok, checkExpiry)
	if !recognised {
		r, err = c.parseRefreshJWT(tok, checkExpiry)
	}
	if err != nil {
		return nil, err
	}
	if !checkExpiry {
		// Signature-only parsing skipped the claim checks: bound them.
		if err := c.checkSignatureOnly(&r.RegisteredClaims, false); err != nil {
			return nil, err
		}
	}
	if !audienceEqual(r.Audience, c.cfg.Audience) {
		return nil, fmt.Errorf("%w: refresh token issued for another audience", c.errs.Invalid)
	}
	if r.Subject == "" || len(r.Subject) > c.cfg.MaxSubjectLen || r.SessionID == "" || r.ID == "" || r.Generation == 0 {
		return nil, fmt.Errorf("%w: incomplete refresh token", c.errs.Invalid)
	}
	return r, nil
}

// parseRefreshJWT is the general path of parseRefresh: golang-jwt.
func (c *Codec) parseRefreshJWT(tok string, checkExpiry bool) (*Refresh, error) {
	if err := c.checkGeneralToken(tok); err != nil {
		return nil, err
	}
	p := c.refreshParser
	if !checkExpiry {
		p = c.refreshSigParser
	}
	r := new(Refresh)
	if _, err := p.ParseWithClaims(tok, r, c.refreshKeyFn); err != nil {
		return nil, c.mapParseError(err)
	}
	return r, nil
}

// parseMintedRefresh is the fast path of parseRefresh, for tokens in the
// form the codec mints: the same answer as parseRefreshJWT when it
// recognises the token, and recognised false when it is not in that form.
func (c *Codec) parseMintedRefresh(tok string, checkExpiry bool) (r *Refresh, recognised bool, err error) {
	payload, ok := c.ring.verifyMinted(tok, true)
	if !ok {
		return nil, false, nil
	}
	p, ok := decodeSegment(payload)
	if !ok {
		return nil, false, nil
	}
	m := new(mintedRefresh)
	if !m.decode(p) {
		return nil, false, nil
	}
	if checkExpiry {
		if err := c.refreshValidator.Validate(&m.claims); err != nil {
			// As jwt.Parser.ParseWithClaims wraps it.
			return nil, true, c.mapParseError(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
		}
	}
	return &m.claims, true, nil
}

// checkSignatureOnly bounds what a parse without claim validation (logout
// with an expired token, matching an expired access token to a refresh
// request) accepts: the issuer and audience must be the codec's, and the
// token must carry an exp no older than MaxAge, past which its session
// has ended for certain. access selects the access-token audience rule (at
// least one configured audience named, as in ParseAccess); refresh tokens
// must carry exactly the configured audience (checked by parseRefresh).
func (c *Codec) checkSignatureOnly(rc *jwt.RegisteredClaims, access bool) error {
	if rc.ExpiresAt == nil {
		return fmt.Errorf("%w: missing exp", c.errs.Invalid)
	}
	if rc.ExpiresAt.Before(c.cfg.Now().Add(-c.cfg.MaxAge - c.cfg.Leeway)) {
		return fmt.Errorf("%w: expired longer ago than MaxSessionAge", c.errs.Invalid)
	}
	if c.cfg.Issuer != "" && rc.Issuer != c.cfg.Issuer {
		return fmt.Errorf("%w: wrong issuer", c.errs.Invalid)
	}
	if access && len(c.cfg.Audience) > 0 {
		for _, a := range rc.Audience {
			for _, want := range c.cfg.Audience {
				if a == want {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: wrong audience", c.errs.Invalid)
	}
	return nil
}

// Recognises reports whether tok is in the exact form the codec mints
// (and so takes the fast path) under a current or previous HS256 key. For
// tests that must know which path a token takes.
func (c *Codec) Recognises(tok string, refresh bool) bool {
	payload, ok := c.ring.verifyMinted(tok, refresh)
	if !ok {
		return false
	}
	p, ok := decodeSegment(payload)
	if !ok {
		return false
	}
	if refresh {
		return new(mintedRefresh).decode(p)
	}
	var rc jwt.RegisteredClaims
	var sid string
	var exp, iat jwt.NumericDate
	return decodeAccess(p, &rc, &sid, &exp, &iat)
}
