package token

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Limits on a JWKS document read by [ParseJWKS] (rtr's remote key set); a
// document over either is refused as a whole (the keys fetched before
// stay in use).
const (
	MaxJWKSBytes = 1 << 20
	MaxJWKSKeys  = 100
)

// jwkSet is an RFC 7517 §5 JWK Set.
type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// errJWKS: a JWKS document that cannot be used at all.
var errJWKS = errors.New("rtr: unusable JWKS document")

// ParseJWKS reads a JWK Set and returns the keys rtr can verify with, in
// document order. Entries it cannot use are skipped: another key type,
// curve or algorithm, use other than "sig", a private key, no kid, an RSA
// key under [MinRSABits] bits, a malformed key, or a kid seen before. A
// document that is not a JSON object with a "keys" array, or that has more
// than [MaxJWKSKeys] entries, is an error.
func ParseJWKS(doc []byte) ([]*PublicKey, error) {
	if len(doc) > MaxJWKSBytes {
		return nil, fmt.Errorf("%w: over %d bytes", errJWKS, MaxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("%w: %w", errJWKS, err)
	}
	if set.Keys == nil {
		return nil, fmt.Errorf("%w: no keys member", errJWKS)
	}
	if len(set.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: more than %d keys", errJWKS, MaxJWKSKeys)
	}
	var out publicKeys
	for _, raw := range set.Keys {
		if k := parseJWK(raw); k != nil {
			out.add(k)
		}
	}
	return out.list, nil
}

// jwkMembers is a JWK as read: the public members rtr uses, and the
// private ones, whose presence disqualifies the entry.
type jwkMembers struct {
	jwk
	D   json.RawMessage `json:"d"`
	P   json.RawMessage `json:"p"`
	Q   json.RawMessage `json:"q"`
	Oth json.RawMessage `json:"oth"`
	K   json.RawMessage `json:"k"`
}

// parseJWK returns the key of one JWKS entry, or nil when rtr cannot or
// must not use it.
func parseJWK(raw json.RawMessage) *PublicKey {
	var m jwkMembers
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	if m.Kid == "" || len(m.Kid) > 256 || (m.Use != "" && m.Use != "sig") {
		return nil
	}
	if m.D != nil || m.P != nil || m.Q != nil || m.Oth != nil || m.K != nil {
		return nil
	}
	pub, alg := jwkPublicKey(&m.jwk)
	if pub == nil || (m.Alg != "" && m.Alg != alg) {
		return nil
	}
	k, err := newPublicKey(pub, m.Kid)
	if err != nil {
		return nil
	}
	return k
}
