package rtr

import (
	"encoding/json"
	"fmt"
)

// setSigningKey sets up [Config.SigningKey] and [Config.PreviousPublicKeys]:
// the signer, the verification keys (current first) and the JWKS
// document. It returns nil keys for HS256.
func (iss *Issuer) setSigningKey() (keySource, error) {
	iss.jwks = []byte(`{"keys":[]}`)
	if iss.cfg.SigningKey == nil {
		return nil, nil
	}
	s, err := newAccessSigner(iss.cfg.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	prev, err := newPublicKeys(iss.cfg.PreviousPublicKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: PreviousPublicKeys: %w", ErrInvalidConfig, err)
	}
	keys := &publicKeys{list: []*publicKey{s.pub}}
	for _, k := range prev.list {
		keys.add(k)
	}
	doc := jwkSet{Keys: make([]jwk, len(keys.list))}
	for i, k := range keys.list {
		doc.Keys[i] = k.jwk
	}
	if iss.jwks, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("rtr: encoding the JWKS: %w", err)
	}
	iss.signer = s
	return keys, nil
}

// mintAccess signs an access token with the signing key, or with HS256.
func (iss *Issuer) mintAccess(p accessPayload, extra []byte) (string, error) {
	if iss.signer != nil {
		return iss.signer.mint(p, extra)
	}
	return iss.keys.mintAccess(p, extra)
}
