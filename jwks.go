package rtr

import (
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
	body := iss.codec.JWKS()
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
