package token

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestCanonicalSegment(t *testing.T) {
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n)
		}
		enc := base64.RawURLEncoding.EncodeToString(b)
		require.True(t, canonicalSegment(enc), "%d bytes", n)
		if n%3 != 0 {
			for k := 1; k < 4; k++ {
				last := strings.IndexByte(b64Alphabet, enc[len(enc)-1])
				other := enc[:len(enc)-1] + string(b64Alphabet[last^k])
				_, err := canonicalB64.DecodeString(other)
				require.Equal(t, err == nil, canonicalSegment(other), "%q", other)
			}
		}
	}
	for _, s := range []string{"A", "AB=", "AB==", "A+", "A/", "AB\n", "\rAB", "AA.", "AA AA", "AAA\x00"} {
		require.False(t, canonicalSegment(s), "%q", s)
	}
	require.True(t, canonicalSegment(""))
}

func TestCheckMembers(t *testing.T) {
	for payload, ok := range map[string]bool{
		`{}`: true, `{"sub":"a","roles":["x"],"o":{"SUB":1}}`: true, `{"sub":"a","sub":"b"}`: false, `{"SUB":"a"}`: false,
		`{"ſub":"a"}`: false, `{"x":1,"x":2}`: true, `[]`: false, `{"sub":`: false, `{"a":1} {"b":2}`: true,
	} {
		require.Equal(t, ok, checkMembers([]byte(payload)) == nil, payload)
	}
}
