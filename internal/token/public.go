package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// MinRSABits is the smallest RSA modulus accepted, for signing
// ([Config.Signer]) and for verifying (public keys, JWKS entries).
const MinRSABits = 2048

// The asymmetric JWS algorithms rtr signs and verifies access tokens with.
// Each is pinned to its key type: an Ed25519 key only ever verifies EdDSA,
// a P-256 key ES256, an RSA key RS256.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// publicAlgs are the algorithms a verifier of public keys accepts at all;
// the key named by a token's kid then pins one of them.
var publicAlgs = []string{AlgEdDSA, AlgES256, AlgRS256}

// PublicKey is one asymmetric access-token verification key.
type PublicKey struct {
	kid    string // RFC 7638 thumbprint for rtr's own keys; the JWKS entry's kid for remote ones
	method jwt.SigningMethod
	key    crypto.PublicKey // ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
	jwk    jwk              // the public JWK, kid, alg and use included
	header string           // the access-token header segment rtr mints under this key
}

// Kid is the key's id: its RFC 7638 thumbprint, or the id a JWKS gave it.
func (k *PublicKey) Kid() string { return k.kid }

// jwk is a public JSON Web Key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// newPublicKey checks pub and describes it: its algorithm, its JWK and its
// RFC 7638 thumbprint. kid overrides the thumbprint as key id when set
// (for keys read from a remote set).
func newPublicKey(pub crypto.PublicKey, kid string) (*PublicKey, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var k jwk
	var method jwt.SigningMethod
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 public key of the wrong size")
		}
		k = jwk{Kty: "OKP", Crv: "Ed25519", X: b64(p)}
		method = jwt.SigningMethodEdDSA
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return nil, errors.New("ECDSA keys must be on P-256")
		}
		pt, err := p.Bytes() // 0x04 || X || Y, 32 bytes each
		if err != nil {
			return nil, fmt.Errorf("ECDSA public key: %w", err)
		}
		k = jwk{Kty: "EC", Crv: "P-256", X: b64(pt[1:33]), Y: b64(pt[33:])}
		method = jwt.SigningMethodES256
	case *rsa.PublicKey:
		if p == nil || p.N == nil || p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA keys must have at least %d bits", MinRSABits)
		}
		if p.E < 3 || p.E%2 == 0 {
			return nil, errors.New("RSA public exponent must be odd and at least 3")
		}
		k = jwk{Kty: "RSA", N: b64(p.N.Bytes()), E: b64(big.NewInt(int64(p.E)).Bytes())}
		method = jwt.SigningMethodRS256
	default:
		return nil, fmt.Errorf("unsupported public key type %T (want ed25519.PublicKey, *ecdsa.PublicKey on P-256 or *rsa.PublicKey)", pub)
	}
	if kid == "" {
		kid = k.thumbprint()
	}
	k.Kid, k.Alg, k.Use = kid, method.Alg(), "sig"
	return &PublicKey{
		kid:    kid,
		method: method,
		key:    pub,
		jwk:    k,
		header: headerSegmentAlg(method.Alg(), kid, AccessType),
	}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint: base64url of the SHA-256 of
// the key's required members, in lexicographic order, without whitespace.
// Every member value is base64url or a fixed name, so none needs escaping.
func (k *jwk) thumbprint() string {
	var s string
	switch k.Kty {
	case "OKP":
		s = `{"crv":"` + k.Crv + `","kty":"OKP","x":"` + k.X + `"}`
	case "EC":
		s = `{"crv":"` + k.Crv + `","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`
	case "RSA":
		s = `{"e":"` + k.E + `","kty":"RSA","n":"` + k.N + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// headerSegmentAlg is the base64url JOSE header rtr writes: alg, kid, typ.
func headerSegmentAlg(alg, kid, typ string) string {
	var b strings.Builder
	b.WriteString(`{"alg":`)
	b.Write(AppendJSONString(nil, alg))
	b.WriteString(`,"kid":`)
	b.Write(AppendJSONString(nil, kid))
	b.WriteString(`,"typ":`)
	b.Write(AppendJSONString(nil, typ))
	b.WriteString(`}`)
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

// accessSigner signs access tokens with [Config.Signer].
type accessSigner struct {
	pub *PublicKey
	key crypto.Signer
}

// newAccessSigner checks that key is one rtr can sign with and that it
// signs what its public key verifies.
func newAccessSigner(key crypto.Signer) (*accessSigner, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
	default:
		// golang-jwt signs ECDSA and RSA only with the concrete key types;
		// an Ed25519 key may be any crypto.Signer.
		if _, ok := k.Public().(ed25519.PublicKey); !ok {
			return nil, fmt.Errorf("unsupported SigningKey type %T (want ed25519.PrivateKey or another Ed25519 crypto.Signer, *ecdsa.PrivateKey on P-256 or *rsa.PrivateKey)", key)
		}
	}
	pub, err := newPublicKey(key.Public(), "")
	if err != nil {
		return nil, fmt.Errorf("SigningKey: %w", err)
	}
	s := &accessSigner{pub: pub, key: key}
	const probe = "rtr signing key check"
	sig, err := pub.method.Sign(probe, key)
	if err == nil {
		err = pub.method.Verify(probe, sig, pub.key)
	}
	if err != nil {
		return nil, fmt.Errorf("SigningKey cannot sign %s: %w", pub.method.Alg(), err)
	}
	return s, nil
}

// mint signs an access token. extra holds the already-encoded extra claims
// as a JSON object (or nil).
func (s *accessSigner) mint(p accessPayload, extra []byte) (string, error) {
	var buf [512]byte
	b := p.appendWithExtra(buf[:0], extra)
	out := make([]byte, 0, len(s.pub.header)+2+base64.RawURLEncoding.EncodedLen(len(b))+700)
	out = append(out, s.pub.header...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, b)
	sig, err := s.pub.method.Sign(string(out), s.key)
	if err != nil {
		return "", err
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return string(out), nil
}

// publicKeys is a fixed set of verification keys, looked up by kid.
type publicKeys struct {
	list []*PublicKey // the order in which they are published
}

// NewPublicKeys is a fixed [KeySource] of keys; a key given twice is kept
// once. Tokens name their key by its RFC 7638 thumbprint.
func NewPublicKeys(keys []crypto.PublicKey) (KeySource, error) { return newPublicKeys(keys) }

// newPublicKeys describes keys; a key given twice is kept once.
func newPublicKeys(keys []crypto.PublicKey) (*publicKeys, error) {
	s := &publicKeys{}
	for i, k := range keys {
		pk, err := newPublicKey(k, "")
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		s.add(pk)
	}
	return s, nil
}

// add appends pk unless a key with its kid is there already.
func (s *publicKeys) add(pk *PublicKey) {
	if s.byKid(pk.kid) == nil {
		s.list = append(s.list, pk)
	}
}

func (s *publicKeys) byKid(kid string) *PublicKey {
	for _, k := range s.list {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

// KeySource gives a verifier its public keys: a fixed set
// ([NewPublicKeys]), or a remote JWKS that is fetched and cached.
type KeySource interface {
	// Snapshot returns the keys known now, without I/O (the fast path).
	Snapshot() []*PublicKey
	// Lookup returns the key named kid, fetching the remote set when it
	// may have changed. It fails with [ErrUnknownKey] when the kid is not
	// in the set, and with [Errors.KeyUnavailable] when it cannot tell now.
	Lookup(ctx context.Context, kid string) (*PublicKey, error)
}

func (s *publicKeys) Snapshot() []*PublicKey { return s.list }

func (s *publicKeys) Lookup(_ context.Context, kid string) (*PublicKey, error) {
	if k := s.byKid(kid); k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// maxSignatureLen bounds the signature segments the fast path decodes:
// base64url of an RSA-8192 signature.
const maxSignatureLen = 1366

// mintedPublic is a token whose header is, byte for byte, the one rtr
// mints under one of a verifier's public keys, with a canonical base64url
// signature: what verifyMintedPublic found.
type mintedPublic struct {
	key     *PublicKey
	signing string // header.payload
	payload string // the payload segment
	sig     []byte
}

// verifyMintedPublic is keyRing.verifyMinted for public keys, in two
// steps so that the payload is decoded before the signature is checked,
// as golang-jwt does: find recognises the token's form (false: take the
// golang-jwt path), and verify checks the signature.
func (m *mintedPublic) find(keys []*PublicKey, token string) bool {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	for _, c := range keys {
		if c.header == h {
			m.key = c
			break
		}
	}
	// Strict base64 still skips CR and LF: a token holding one is left to
	// the general path, which refuses every non-canonical spelling.
	if m.key == nil || len(sig) > maxSignatureLen || strings.ContainsAny(sig, "\r\n") {
		return false
	}
	m.sig = make([]byte, base64.RawURLEncoding.DecodedLen(len(sig)))
	n, err := base64.RawURLEncoding.Strict().Decode(m.sig, bytesOf(sig))
	if err != nil {
		return false
	}
	m.signing, m.payload, m.sig = token[:len(h)+1+len(payload)], payload, m.sig[:n]
	return true
}

// verify checks the signature, with golang-jwt's signing method for the
// key's algorithm, and returns the error golang-jwt's parser would (before
// mapParseError).
func (m *mintedPublic) verify() error {
	if err := m.key.method.Verify(m.signing, m.sig, m.key.key); err != nil {
		return fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, err)
	}
	return nil
}

// jwkPublicKey decodes the public key of a JWK with rtr's key types and
// returns it with the algorithm it pins, or nil. Members must be canonical
// base64url; EC points must lie on the curve; RSA moduli are at most 8192
// bits and exponents fit in 32 bits.
func jwkPublicKey(k *jwk) (crypto.PublicKey, string) {
	dec := func(s string, maxLen int) []byte {
		if s == "" || base64.RawURLEncoding.DecodedLen(len(s)) > maxLen {
			return nil
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil
		}
		return b
	}
	switch {
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		x := dec(k.X, ed25519.PublicKeySize)
		if len(x) != ed25519.PublicKeySize {
			return nil, ""
		}
		return ed25519.PublicKey(x), AlgEdDSA
	case k.Kty == "EC" && k.Crv == "P-256":
		x, y := dec(k.X, 32), dec(k.Y, 32)
		if len(x) != 32 || len(y) != 32 {
			return nil, ""
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, ""
		}
		return pub, AlgES256
	case k.Kty == "RSA":
		n, e := dec(k.N, 1024), dec(k.E, 4)
		if n == nil || e == nil || n[0] == 0 || e[0] == 0 {
			return nil, ""
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, AlgRS256
	}
	return nil, ""
}
