package rtr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// JWKSCacheLifetime is how long clients may cache the key set served by
// [Issuer.JWKSHandler] (its Cache-Control max-age), and the default for
// how long a [Verifier] fed from a JWKS URL uses a fetched set before it
// fetches it again ([VerifierConfig.JWKSCacheLifetime]).
const JWKSCacheLifetime = 5 * time.Minute

// Limits on a JWKS document read by [NewVerifier]'s remote key set; a
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

// JWKSHandler serves the public keys that verify this issuer's access
// tokens as an RFC 7517 JWK Set, {"keys": [...]}: the current
// [Config.SigningKey] first, then [Config.PreviousPublicKeys]. Each entry
// has kty, crv and x (and y) or n and e, kid (the RFC 7638 thumbprint),
// alg and use "sig". Responses are application/json with Cache-Control
// max-age of [JWKSCacheLifetime]. With HS256 (no SigningKey) the set is
// empty: the secret is never published, and HS256 tokens can only be
// verified by holders of the secret.
//
// Serve it at a well-known path such as /.well-known/jwks.json and give
// its URL to [VerifierConfig.JWKSURL] or a JOSE library; it answers GET
// and HEAD, and 405 to other methods.
func (iss *Issuer) JWKSHandler() http.Handler {
	body := iss.jwks
	maxAge := "public, max-age=" + strconv.Itoa(int(JWKSCacheLifetime/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", maxAge)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// errJWKS: a JWKS document that cannot be used at all.
var errJWKS = errors.New("rtr: unusable JWKS document")

// parseJWKS reads a JWK Set and returns the keys rtr can verify with, in
// document order. Entries it cannot use are skipped: another key type,
// curve or algorithm, use other than "sig", a private key, no kid, an RSA
// key under [MinRSABits] bits, a malformed key, or a kid seen before. A
// document that is not a JSON object with a "keys" array, or that has more
// than [MaxJWKSKeys] entries, is an error.
func parseJWKS(doc []byte) ([]*publicKey, error) {
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
func parseJWK(raw json.RawMessage) *publicKey {
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
