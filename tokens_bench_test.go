package rtr

// Equivalence tests for the performance work of issue #4 (see
// BENCHMARKS.md): the reflection-free minting must write exactly what
// json.Marshal writes.

import (
	"encoding/json"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

func TestMintMatchesJSONMarshal(t *testing.T) {
	strs := []string{"", "alice", "user-123456", "https://auth.example.com", "a<b>&c", `q"b\s`, "tab\there", "ü", "\u2028", "\xff\xfe", "ctl\x01", "/slash"}
	for _, single := range []bool{true, false} {
		saved := jwt.MarshalSingleStringAsArray
		jwt.MarshalSingleStringAsArray = single
		for i, s := range strs {
			other := strs[(i+3)%len(strs)]
			for _, aud := range []jwt.ClaimStrings{nil, {}, {s}, {s, other}} {
				ap := accessPayload{Issuer: other, Subject: s, Audience: aud, ExpiresAt: 1732380000 + int64(i), IssuedAt: -5, ID: other, SessionID: s}
				want, err := json.Marshal(ap)
				require.NoError(t, err)
				require.Equal(t, string(want), string(ap.appendJSON(nil)))
			}
			rp := refreshPayload{Issuer: s, Subject: other, ExpiresAt: 1 << 40, IssuedAt: 0, ID: s, SessionID: other, Generation: 1<<64 - 1}
			want, err := json.Marshal(rp)
			require.NoError(t, err)
			require.Equal(t, string(want), string(rp.appendJSON(nil)))
		}
		jwt.MarshalSingleStringAsArray = saved
	}
}

