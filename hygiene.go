package rtr

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Token hygiene shared by every parse: canonical encoding.

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

// checkGeneralToken applies the hygiene rules to a token about to take the
// golang-jwt path: canonical encoding. The fast path needs no such
// check: it recognises only tokens byte for byte in the form rtr mints,
// and hands anything else to the general path.
func checkGeneralToken(token string) error {
	if !canonicalToken(token) {
		return fmt.Errorf("%w: not canonical base64url", ErrInvalidToken)
	}
	return nil
}
