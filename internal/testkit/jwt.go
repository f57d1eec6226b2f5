package testkit

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Tests read a token's parts to assert on its ids and claims and to build
// tampered copies; they never print tokens.

// Segments splits a compact JWS into its three segments, failing the test
// when it does not have three.
func Segments(t testing.TB, token string) []string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	return parts
}

// decodeSegment decodes one base64url segment as JSON into v.
func decodeSegment(t testing.TB, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("token segment is not base64url: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("token segment is not JSON: %v", err)
	}
}

// RawPayload returns a token's decoded payload bytes, without verifying
// the token.
func RawPayload(t testing.TB, token string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(Segments(t, token)[1])
	if err != nil {
		t.Fatalf("token payload is not base64url: %v", err)
	}
	return b
}

// DecodePayload unmarshals a token's payload into v (a struct pointer or
// a map), without verifying the token.
func DecodePayload(t testing.TB, token string, v any) {
	t.Helper()
	decodeSegment(t, Segments(t, token)[1], v)
}

// Payload returns a token's payload as a map, without verifying the
// token. Numbers are float64, as encoding/json decodes them.
func Payload(t testing.TB, token string) map[string]any {
	t.Helper()
	var m map[string]any
	DecodePayload(t, token, &m)
	return m
}

// Claim returns one claim of a token's payload (nil if absent).
func Claim(t testing.TB, token, name string) any {
	t.Helper()
	return Payload(t, token)[name]
}

// Header returns a token's JOSE header as a map.
func Header(t testing.TB, token string) map[string]any {
	t.Helper()
	var m map[string]any
	decodeSegment(t, Segments(t, token)[0], &m)
	return m
}

// TokenIDs are the ids rtr's tokens carry, read without verifying.
type TokenIDs struct {
	Gen uint64 `json:"gen"` // refresh tokens: the generation
	JTI string `json:"jti"`
	SID string `json:"sid"`
	Sub string `json:"sub"`
}

// IDs decodes the generation and ids of a token's payload.
func IDs(t testing.TB, token string) TokenIDs {
	t.Helper()
	var ids TokenIDs
	DecodePayload(t, token, &ids)
	return ids
}

// WithRawPayload returns token with its payload replaced by payload (raw
// bytes, base64url-encoded here), keeping the header and signature.
func WithRawPayload(t testing.TB, token string, payload []byte) string {
	t.Helper()
	parts := Segments(t, token)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// EditPayload returns token with its payload decoded, changed by edit and
// encoded again, keeping the header and the (now wrong) signature.
func EditPayload(t testing.TB, token string, edit func(claims map[string]any)) string {
	t.Helper()
	m := Payload(t, token)
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode payload: %v", err)
	}
	return WithRawPayload(t, token, b)
}

// Tamper returns token with its subject changed to "mallory", keeping the
// signature: a token that must be refused.
func Tamper(t testing.TB, token string) string {
	t.Helper()
	return EditPayload(t, token, func(m map[string]any) { m["sub"] = "mallory" })
}

// JSONNames returns the JSON member names of struct type typ's exported
// fields, embedded structs' included, in field order: what a claims type
// decodes, for tests that check a decoder knows every one.
func JSONNames(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch {
		case f.Anonymous:
			out = append(out, JSONNames(f.Type)...)
		case f.IsExported():
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}
