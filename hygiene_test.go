package rtr

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// spellings returns token with its last character replaced by each of the
// four characters that differ only in the spare bits of a 43-character
// (32-byte) signature; the canonical one is the token itself.
func spellings(t *testing.T, token string) []string {
	t.Helper()
	last := strings.IndexByte(b64Alphabet, token[len(token)-1])
	require.GreaterOrEqual(t, last, 0)
	var out []string
	for k := range 4 {
		out = append(out, token[:len(token)-1]+string(b64Alphabet[last&^3|k]))
	}
	return out
}

// slowPathToken re-signs token's payload with a space after its first
// colon: still valid JSON signed with the right key, but not in the form
// the fast path recognises, so golang-jwt parses it.
func slowPathToken(t *testing.T, ks keySet, token string, refresh bool) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	require.NoError(t, err)
	payload := strings.Replace(string(raw), ":", ": ", 1)
	if refresh {
		return resign(ks.refreshHdr, ks.refresh, payload)
	}
	return resign(ks.accessHeader, ks.access, payload)
}

func TestOnlyCanonicalBase64Verifies(t *testing.T) {
	ctx := context.Background()
	iss := newTestIssuer(t)
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	ks := iss.keys.current

	access := map[string]string{"fast path": p.AccessToken, "golang-jwt path": slowPathToken(t, ks, p.AccessToken, false)}
	refresh := map[string]string{"fast path": p.RefreshToken, "golang-jwt path": slowPathToken(t, ks, p.RefreshToken, true)}
	for path, tok := range access {
		t.Run("access/"+path, func(t *testing.T) {
			fast, _ := iss.verifier.verifyMinted(tok)
			require.Equal(t, path == "fast path", fast != nil, "the token takes the intended path")
			accepted := 0
			for _, s := range spellings(t, tok) {
				_, err := iss.Verifier().Verify(ctx, s)
				if s == tok {
					require.NoError(t, err)
					accepted++
				} else {
					require.ErrorIs(t, err, ErrInvalidToken, "non-canonical spelling")
				}
			}
			require.Equal(t, 1, accepted)
			for _, s := range lineBreaks(tok) {
				_, err := iss.Verifier().Verify(ctx, s)
				require.ErrorIs(t, err, ErrInvalidToken, "line break in a segment")
			}
		})
	}
	for path, tok := range refresh {
		t.Run("refresh/"+path, func(t *testing.T) {
			fast, _ := iss.parseMintedRefresh(tok, true)
			require.Equal(t, path == "fast path", fast != nil, "the token takes the intended path")
			for _, checkExpiry := range []bool{true, false} {
				for _, s := range spellings(t, tok) {
					_, err := iss.parseRefresh(s, checkExpiry)
					if s == tok {
						require.NoError(t, err)
					} else {
						require.ErrorIs(t, err, ErrInvalidToken, "non-canonical spelling")
					}
				}
				for _, s := range lineBreaks(tok) {
					_, err := iss.parseRefresh(s, checkExpiry)
					require.ErrorIs(t, err, ErrInvalidToken, "line break in a segment")
				}
			}
		})
	}
}

// lineBreaks returns token with CR or LF inserted in its signature, which
// base64 decoders skip.
func lineBreaks(token string) []string {
	i := len(token) - 10
	return []string{token[:i] + "\n" + token[i:], token[:i] + "\r\n" + token[i:], token + "\n"}
}

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
