package rtr

import (
	"encoding/base64"
	"encoding/json"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtr-go/rtr/internal/token"
)

// Claims are the verified claims of an access token, as returned by
// [Verifier.Verify] and [ClaimsFromContext].
//
// The registered claims and the session id are decoded eagerly. Extra
// claims from [Config.Claims] are decoded on demand with [Claims.Get],
// [Claims.Decode] or [Claims.Extra], which keeps verification as cheap as
// a bare JWT parse.
type Claims struct {
	jwt.RegisteredClaims        // Subject, ID (jti), ExpiresAt, IssuedAt, Issuer, Audience
	SessionID            string `json:"sid"`

	payload string // the token's base64url payload segment, for extra claims
}

// Extra returns every claim of the token that rtr does not set itself
// (the claims from [Config.Claims]), decoded with encoding/json. It
// decodes on every call.
func (c *Claims) Extra() map[string]any {
	all := c.decodeAll()
	for _, name := range token.ReservedClaims {
		delete(all, name)
	}
	return all
}

// Get returns one claim by name, decoded with encoding/json (numbers are
// float64, arrays []any, objects map[string]any).
func (c *Claims) Get(name string) (any, bool) {
	v, ok := c.decodeAll()[name]
	return v, ok
}

// Decode decodes the claim called name into v with encoding/json. It
// reports false when the claim is absent or does not fit v.
func (c *Claims) Decode(name string, v any) bool {
	var all map[string]json.RawMessage
	if !c.unmarshalPayload(&all) {
		return false
	}
	raw, ok := all[name]
	return ok && json.Unmarshal(raw, v) == nil
}

func (c *Claims) decodeAll() map[string]any {
	var all map[string]any
	if !c.unmarshalPayload(&all) || all == nil {
		return map[string]any{}
	}
	return all
}

func (c *Claims) unmarshalPayload(v any) bool {
	if c == nil || c.payload == "" {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

// isReservedClaim reports whether name is set by rtr, or folds to such a
// name, and so cannot come from [Config.Claims].
func isReservedClaim(name string) bool {
	_, ok := token.FoldsToReserved(name)
	return ok
}
