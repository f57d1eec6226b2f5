package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// checkHeader enforces the header rules shared by both token kinds: the
// pinned algorithm, the expected typ, and no "crit" extensions (RFC 7515
// §4.1.11: we understand none, so a token that requires one is refused).
func checkHeader(t *jwt.Token, typ string) error {
	if t.Method != jwt.SigningMethodHS256 {
		return errors.New("unexpected signing method")
	}
	return checkTypeAndCrit(t, typ)
}

// checkTypeAndCrit is checkHeader without the algorithm, which the key
// pins for asymmetric tokens.
func checkTypeAndCrit(t *jwt.Token, typ string) error {
	if got, _ := t.Header["typ"].(string); got != typ {
		return errors.New("unexpected token type")
	}
	if _, ok := t.Header["crit"]; ok {
		return errors.New("unsupported critical header")
	}
	return nil
}

// mapParseError turns a golang-jwt error into rtr's sentinels. Expiry is
// reported only for tokens whose signature verified (golang-jwt checks the
// signature before the claims).
func (c *Codec) mapParseError(err error) error {
	if errors.Is(err, jwt.ErrTokenExpired) {
		return fmt.Errorf("%w: %w", c.errs.Expired, err)
	}
	return fmt.Errorf("%w: %w", c.errs.Invalid, err)
}

// The fast path for tokens in the exact form rtr mints them.
//
// golang-jwt parses any well-formed JWS: it decodes the header into a map,
// the payload with reflection, and hashes the padded key again for every
// token. Tokens rtr signed itself have one known header per key set and a
// payload written by appendJSON, so they can be checked with a byte
// comparison, one pooled HMAC and a small scanner. Only the recognition is
// fast: anything not in that form, down to a non-canonical base64 padding
// bit or a space in the JSON, returns "not recognised" and the caller
// takes the golang-jwt path, which gives the answer. Recognised claims are
// validated by the very golang-jwt Validator the parser would use. So the
// fast path accepts exactly the tokens golang-jwt accepts, with the same
// claims and the same errors (fast_test.go checks this, and fuzzes
// it).

// maxFastPayload bounds the payloads the fast path decodes on the stack;
// longer ones (large extra claims) take the general path.
const maxFastPayload = 1536

// decodeSegment decodes a base64url segment as golang-jwt does with
// strict decoding, and refuses the line breaks that decoders skip: only
// the canonical spelling decodes (see checkGeneralToken).
func decodeSegment(seg string) (string, bool) {
	var buf [maxFastPayload]byte
	if base64.RawURLEncoding.DecodedLen(len(seg)) > len(buf) || strings.IndexByte(seg, '\n') >= 0 || strings.IndexByte(seg, '\r') >= 0 {
		// (two IndexByte scans, vectorised, cost a fraction of one ContainsAny)
		return "", false
	}
	n, err := canonicalB64.Decode(buf[:], bytesOf(seg))
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

// mintedRefresh holds refresh claims and their dates in one allocation.
type mintedRefresh struct {
	claims   Refresh
	exp, iat jwt.NumericDate
}

// memberSet records which payload members were seen, so that a member
// given twice is refused.
type memberSet uint8

// mark records bit and reports whether the member is acceptable: well
// formed (ok) and not seen before.
func (s *memberSet) mark(bit uint8, ok bool) bool {
	if !ok || uint8(*s)&bit != 0 {
		return false
	}
	*s |= memberSet(bit)
	return true
}

// sharedMember decodes a member both token kinds carry (iss, sub, jti,
// sid, exp, iat) into rc, sid and the dates. known reports whether k is
// one of them; bit is its place in a memberSet and ok whether its value
// is in rtr's form.
func sharedMember(k, v string, rc *jwt.RegisteredClaims, sid *string, exp, iat *jwt.NumericDate) (bit uint8, ok, known bool) {
	switch k {
	case "iss":
		rc.Issuer, ok = plainString(v)
		return 1 << 0, ok, true
	case "sub":
		rc.Subject, ok = plainString(v)
		return 1 << 1, ok, true
	case "jti":
		rc.ID, ok = plainString(v)
		return 1 << 2, ok, true
	case "sid":
		*sid, ok = plainString(v)
		return 1 << 3, ok, true
	case "exp":
		rc.ExpiresAt, ok = plainDate(v, exp)
		return 1 << 4, ok, true
	case "iat":
		rc.IssuedAt, ok = plainDate(v, iat)
		return 1 << 5, ok, true
	}
	return 0, false, false
}

// decode fills m from a refresh payload in rtr's form: the members iss,
// sub, aud, exp, iat, jti, sid, gen, each at most once, strings of
// printable ASCII without escapes (aud a string or a non-empty array of
// them), dates and gen plain integers.
func (m *mintedRefresh) decode(p string) bool {
	var seen memberSet
	var clientID bool
	return scanObject(p, func(k, v string) bool {
		if bit, ok, known := sharedMember(k, v, &m.claims.RegisteredClaims, &m.claims.SessionID, &m.exp, &m.iat); known {
			return seen.mark(bit, ok)
		}
		var ok bool
		switch k {
		case "gen":
			m.claims.Generation, ok = plainUint(v, 20)
			return seen.mark(1<<6, ok)
		case "aud":
			m.claims.Audience, ok = plainStrings(v)
			return seen.mark(1<<7, ok)
		case "client_id":
			if clientID {
				return false
			}
			clientID = true
			m.claims.ClientID, ok = plainString(v)
			return ok
		}
		return false
	})
}

// AccessFields are the JSON names of the fields of an [AccessClaims]
// struct, all of them reserved claims. A payload member whose name matches
// one of them only after case folding would be decoded into it by
// encoding/json, so the fast path leaves such payloads alone.
var AccessFields = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"}

// decodeAccess fills rc, sid and the dates from an access payload in
// rtr's form: iss, sub, aud, exp, iat, jti, sid at most once each, as in
// decode above (aud a string or a non-empty array of them); other members
// (extra claims) must be valid JSON and are left to the caller to decode.
func decodeAccess(p string, rc *jwt.RegisteredClaims, sid *string, exp, iat *jwt.NumericDate) bool {
	var seen memberSet
	var clientID bool
	return scanObject(p, func(k, v string) bool {
		if k == "client_id" {
			// rtr's own RFC 9068 claim, kept with the extra claims; at
			// most once, like every reserved name.
			ok := !clientID
			clientID = true
			return ok
		}
		if bit, ok, known := sharedMember(k, v, rc, sid, exp, iat); known {
			return seen.mark(bit, ok)
		}
		if k == "aud" {
			var ok bool
			rc.Audience, ok = plainStrings(v)
			return seen.mark(1<<6, ok)
		}
		// A name that folds to a reserved one (other than "gen", which
		// access tokens do not use) would be decoded by encoding/json into
		// a verified field, or is one rtr never writes: the general path,
		// which refuses such payloads (checkMembers), gives the answer.
		_, reserved := FoldsToReserved(k)
		return !reserved
	})
}
