package rtr

// MinRSABits is the smallest RSA modulus accepted, for signing
// ([Config.SigningKey]) and for verifying (public keys, JWKS entries).
const MinRSABits = 2048

// The asymmetric JWS algorithms rtr signs and verifies access tokens with.
// Each is pinned to its key type: an Ed25519 key only ever verifies EdDSA,
// a P-256 key ES256, an RSA key RS256.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)
