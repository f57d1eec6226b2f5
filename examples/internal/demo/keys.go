package demo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/rtr-go/rtr"
)

// Algs are the values of the -alg flag.
var Algs = []string{"HS256", rtr.AlgEdDSA, rtr.AlgES256, rtr.AlgRS256}

// SigningKey returns the [rtr.Config.SigningKey] for -alg and -key: nil for
// HS256 (access tokens signed with a key derived from the secret), else the
// private key in the PEM file keyFile (PKCS #8, or SEC 1 "EC PRIVATE KEY",
// or PKCS #1 "RSA PRIVATE KEY"), which must be of alg's type, or, without
// keyFile, a key generated for this run (so tokens and the published JWKS
// do not survive a restart).
func SigningKey(alg, keyFile string, log *slog.Logger) (crypto.Signer, error) {
	if alg == "HS256" {
		if keyFile != "" {
			return nil, errors.New("-key needs -alg EdDSA, ES256 or RS256")
		}
		return nil, nil
	}
	if keyFile == "" {
		k, err := GenerateKey(alg)
		if err == nil {
			log.Info("signing access tokens with a key generated for this run (set -key to use your own)", "alg", alg)
		}
		return k, err
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("-key: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("-key %s: %w", keyFile, err)
	}
	if got := keyAlg(k); got != alg {
		return nil, fmt.Errorf("-key %s is a key for %s, not -alg %s", keyFile, got, alg)
	}
	log.Info("signing access tokens", "alg", alg, "key", keyFile)
	return k, nil
}

// GenerateKey makes a new private key for alg.
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case rtr.AlgEdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case rtr.AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case rtr.AlgRS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("-alg must be one of %v, not %q", Algs, alg)
}

// ParsePrivateKey reads the first private key of a PEM document.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, pemBytes = pem.Decode(pemBytes)
		if block == nil {
			return nil, errors.New("no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block")
		}
		var k any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		return s, nil
	}
}

// keyAlg names the algorithm rtr signs with k.
func keyAlg(k crypto.Signer) string {
	switch p := k.Public().(type) {
	case ed25519.PublicKey:
		return rtr.AlgEdDSA
	case *ecdsa.PublicKey:
		if p.Curve == elliptic.P256() {
			return rtr.AlgES256
		}
		return "ECDSA " + p.Curve.Params().Name
	case *rsa.PublicKey:
		return rtr.AlgRS256
	}
	return fmt.Sprintf("%T", k)
}
