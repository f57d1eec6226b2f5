package rtr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Token hygiene shared by every parse: canonical encoding, payload member
// names that cannot shadow a verified claim, and the bounds of the
// signature-only path.

// canonicalB64 decodes base64url without padding and refuses non-zero spare
// bits. It still skips CR and LF, which canonicalSegment refuses first.
var canonicalB64 = base64.RawURLEncoding.Strict()

// b64Value maps a base64url character to its value, or 0xff.
var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// canonicalSegment reports whether seg is the one canonical unpadded
// base64url spelling of its bytes: only the base64url alphabet, a length
// that encodes whole bytes, and zero spare bits in the last character.
// Without it a token would have several accepted spellings (RFC 7515
// §2 and RFC 4648 §3.5), which anything that keys on the token string
// (the in-process shared rotation, a deny list, logs of token hashes)
// would take for different tokens.
func canonicalSegment(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if b64Value[seg[i]] == 0xff {
			return false
		}
	}
	switch len(seg) % 4 {
	case 1:
		return false
	case 2: // 12 bits for one byte: 4 spare
		return b64Value[seg[len(seg)-1]]&0x0f == 0
	case 3: // 18 bits for two bytes: 2 spare
		return b64Value[seg[len(seg)-1]]&0x03 == 0
	}
	return true
}

// canonicalToken reports whether token is three canonical base64url
// segments separated by dots.
func canonicalToken(token string) bool {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	p, sig, ok := strings.Cut(rest, ".")
	return ok && canonicalSegment(h) && canonicalSegment(p) && canonicalSegment(sig)
}

// foldsToReserved reports whether name folds (as [strings.EqualFold]
// does: case and Unicode simple folding, so "SUB", "Sub" and "ſub" all
// fold to "sub") to a claim rtr sets itself. encoding/json matches struct
// fields with the same folding, so such a name would decode into a
// verified claim.
func foldsToReserved(name string) (index int, ok bool) {
	for i, r := range reservedClaims {
		if strings.EqualFold(name, r) {
			return i, true
		}
	}
	return -1, false
}

// errShadowingMember: a payload member that encoding/json would decode
// into a verified claim in place of, or on top of, the exact one.
var errShadowingMember = errors.New("payload member shadows a registered claim")

// checkMembers refuses a payload (a JSON object) in which a member name
// folds to a reserved claim without being exactly that claim, or in which
// a reserved claim appears twice: encoding/json lets the last such member
// win, so either would replace the claim that the issuer set.
func checkMembers(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("payload is not a JSON object")
	}
	var seen [len(reservedClaims)]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		if i, ok := foldsToReserved(name); ok {
			if name != reservedClaims[i] || seen[i] {
				return errShadowingMember
			}
			seen[i] = true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// checkGeneralToken applies the hygiene rules to a token about to take the
// golang-jwt path: canonical encoding, and payload member names (see
// checkMembers). The fast path needs neither: it recognises only tokens
// byte for byte in the form rtr mints, canonical and with exact names,
// and hands anything else to the general path.
func checkGeneralToken(token string) error {
	if !canonicalToken(token) {
		return fmt.Errorf("%w: not canonical base64url", ErrInvalidToken)
	}
	payload, err := canonicalB64.DecodeString(payloadSegment(token))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkMembers(payload); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return nil
}

// audienceEqual reports whether a refresh token's audience is exactly the
// issuer's (in any order): a refresh token is only redeemed by an issuer
// configured for the audience it was issued for.
func audienceEqual(token jwt.ClaimStrings, cfg []string) bool {
	contains := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, a := range token {
		if !contains(cfg, a) {
			return false
		}
	}
	for _, a := range cfg {
		if !contains(token, a) {
			return false
		}
	}
	return true
}

// checkSignatureOnly bounds what a parse without claim validation (logout
// with an expired token, matching an expired access token to a refresh
// request) accepts: the issuer and audience must be this issuer's, and
// the token must carry an exp no older than MaxSessionAge, past which its
// session has ended for certain. access selects the access-token audience
// rule (at least one configured audience named, as in [Verifier.Verify]);
// refresh tokens must carry exactly the configured audience.
func (c *Config) checkSignatureOnly(rc *jwt.RegisteredClaims, access bool) error {
	if rc.ExpiresAt == nil {
		return fmt.Errorf("%w: missing exp", ErrInvalidToken)
	}
	if rc.ExpiresAt.Before(c.Now().Add(-c.MaxSessionAge - c.Leeway)) {
		return fmt.Errorf("%w: expired longer ago than MaxSessionAge", ErrInvalidToken)
	}
	if c.Issuer != "" && rc.Issuer != c.Issuer {
		return fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	}
	if access && len(c.Audience) > 0 {
		for _, a := range rc.Audience {
			for _, want := range c.Audience {
				if a == want {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	}
	return nil
}
