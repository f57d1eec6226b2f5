package token

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The RSA key of RFC 7638 §3.1 and its thumbprint.
const (
	rfc7638N = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc7638E = "AQAB"
	rfc7638T = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func TestThumbprintRFC7638(t *testing.T) {
	n, err := base64.RawURLEncoding.DecodeString(rfc7638N)
	require.NoError(t, err)
	pk, err := newPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}, "")
	require.NoError(t, err)
	require.Equal(t, rfc7638T, pk.kid)
	require.Equal(t, rfc7638E, pk.jwk.E)
	require.Equal(t, rfc7638N, pk.jwk.N)
}

// jwksEntry is an RFC 7638 RSA key with kid and optional extra members.
func jwksEntry(kid string, extra string) string {
	return `{"kty":"RSA","kid":"` + kid + `","n":"` + rfc7638N + `","e":"AQAB"` + extra + `}`
}

func TestParseJWKS(t *testing.T) {
	ed := `{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	for _, tc := range []struct {
		name    string
		doc     string
		kids    []string
		wantErr bool
	}{
		{"empty set", `{"keys":[]}`, nil, false},
		{"RSA and OKP", `{"keys":[` + jwksEntry("a", `,"alg":"RS256","use":"sig"`) + `,` + ed + `]}`, []string{"a", "ed"}, false},
		{"duplicate kid: first wins", `{"keys":[` + jwksEntry("a", "") + `,` + strings.Replace(ed, `"ed"`, `"a"`, 1) + `]}`, []string{"a"}, false},
		{"alg of another key type skipped", `{"keys":[` + jwksEntry("a", `,"alg":"ES256"`) + `]}`, nil, false},
		{"PS256 skipped", `{"keys":[` + jwksEntry("a", `,"alg":"PS256"`) + `]}`, nil, false},
		{"use enc skipped", `{"keys":[` + jwksEntry("a", `,"use":"enc"`) + `]}`, nil, false},
		{"private key skipped", `{"keys":[` + jwksEntry("a", `,"d":"AQAB"`) + `]}`, nil, false},
		{"symmetric key skipped", `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`, nil, false},
		{"no kid skipped", `{"keys":[` + strings.Replace(jwksEntry("", ""), `"kid":"",`, "", 1) + `]}`, nil, false},
		{"small RSA skipped", `{"keys":[{"kty":"RSA","kid":"s","n":"` + rfc7638N[:171] + `","e":"AQAB"}]}`, nil, false},
		{"even exponent skipped", `{"keys":[` + strings.Replace(jwksEntry("a", ""), `"AQAB"`, `"AQAC"`, 1) + `]}`, nil, false},
		{"padded base64 skipped", `{"keys":[` + strings.Replace(ed, `Ro"`, `Ro="`, 1) + `]}`, nil, false},
		{"EC point off the curve skipped", `{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`, nil, false},
		{"P-384 skipped", `{"keys":[{"kty":"EC","crv":"P-384","kid":"e","x":"AA","y":"AA"}]}`, nil, false},
		{"unusable entry among good ones", `{"keys":[42,` + ed + `]}`, []string{"ed"}, false},
		{"no keys member", `{}`, nil, true},
		{"not JSON", `keys`, nil, true},
		{"keys not an array", `{"keys":{}}`, nil, true},
		{"too many keys", `{"keys":[` + strings.Repeat(ed+",", MaxJWKSKeys) + ed + `]}`, nil, true},
		{"too large", `{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseJWKS([]byte(tc.doc))
			if tc.wantErr {
				require.ErrorIs(t, err, errJWKS)
				return
			}
			require.NoError(t, err)
			var kids []string
			for _, k := range keys {
				kids = append(kids, k.kid)
			}
			require.Equal(t, tc.kids, kids)
		})
	}
}

// FuzzParseJWKS checks that any document parses without panicking, within
// the limits, into keys that are complete and re-encode to the JWK read.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[` + jwksEntry("a", `,"alg":"RS256","use":"sig"`) + `]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := ParseJWKS(doc)
		if err != nil {
			require.Nil(t, keys)
			return
		}
		require.LessOrEqual(t, len(keys), MaxJWKSKeys)
		seen := map[string]bool{}
		for _, k := range keys {
			require.NotEmpty(t, k.kid)
			require.False(t, seen[k.kid], "duplicate kid")
			seen[k.kid] = true
			require.Contains(t, publicAlgs, k.method.Alg())
			again, err := newPublicKey(k.key, k.kid)
			require.NoError(t, err)
			a, _ := json.Marshal(again.jwk)
			b, _ := json.Marshal(k.jwk)
			require.JSONEq(t, string(b), string(a))
		}
	})
}
