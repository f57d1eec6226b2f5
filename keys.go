package rtr

import "github.com/rtr-go/rtr/internal/token"

// MinRSABits is the smallest RSA modulus accepted, for signing
// ([Config.SigningKey]) and for verifying (public keys, JWKS entries).
const MinRSABits = token.MinRSABits

// The asymmetric JWS algorithms rtr signs and verifies access tokens with.
// Each is pinned to its key type: an Ed25519 key only ever verifies EdDSA,
// a P-256 key ES256, an RSA key RS256.
const (
	AlgEdDSA = token.AlgEdDSA
	AlgES256 = token.AlgES256
	AlgRS256 = token.AlgRS256
)
