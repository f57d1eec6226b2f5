package token

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

// ReservedClaims are the claims the engine sets itself. Extra claims
// cannot use them, nor any name that folds to one of them (see
// [FoldsToReserved]).
var ReservedClaims = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "gen", "client_id"}

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

// FoldsToReserved reports whether name folds (as [strings.EqualFold]
// does: case and Unicode simple folding, so "SUB", "Sub" and "ſub" all
// fold to "sub") to one of [ReservedClaims], and which. encoding/json
// matches struct fields with the same folding, so such a name would
// decode into a verified claim.
func FoldsToReserved(name string) (index int, ok bool) {
	for i, r := range ReservedClaims {
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
	var seen [len(ReservedClaims)]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		if i, ok := FoldsToReserved(name); ok {
			if name != ReservedClaims[i] || seen[i] {
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
func (c *Codec) checkGeneralToken(token string) error {
	if !canonicalToken(token) {
		return fmt.Errorf("%w: not canonical base64url", c.errs.Invalid)
	}
	payload, err := canonicalB64.DecodeString(PayloadSegment(token))
	if err != nil {
		return fmt.Errorf("%w: %w", c.errs.Invalid, err)
	}
	if err := checkMembers(payload); err != nil {
		return fmt.Errorf("%w: %w", c.errs.Invalid, err)
	}
	return nil
}

// PayloadSegment returns the base64url payload segment of a compact JWS.
func PayloadSegment(token string) string {
	_, rest, _ := strings.Cut(token, ".")
	p, _, _ := strings.Cut(rest, ".")
	return p
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
