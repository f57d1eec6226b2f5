package rtr

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/internal/token"
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
func slowPathToken(t *testing.T, ks token.KeySet, token string, refresh bool) string {
	t.Helper()
	raw := testkit.RawPayload(t, token)
	payload := strings.Replace(string(raw), ":", ": ", 1)
	if refresh {
		return resign(ks.RefreshHeader, ks.Refresh, payload)
	}
	return resign(ks.AccessHeader, ks.Access, payload)
}

func TestOnlyCanonicalBase64Verifies(t *testing.T) {
	ctx := context.Background()
	iss := newTestIssuer(t)
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	ks := iss.testKeys()

	access := map[string]string{"fast path": p.AccessToken, "golang-jwt path": slowPathToken(t, ks, p.AccessToken, false)}
	refresh := map[string]string{"fast path": p.RefreshToken, "golang-jwt path": slowPathToken(t, ks, p.RefreshToken, true)}
	for path, tok := range access {
		t.Run("access/"+path, func(t *testing.T) {
			require.Equal(t, path == "fast path", iss.codec.Recognises(tok, false), "the token takes the intended path")
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
			require.Equal(t, path == "fast path", iss.codec.Recognises(tok, true), "the token takes the intended path")
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

func TestExtraClaimsFoldingToReservedAreRefused(t *testing.T) {
	for _, name := range []string{"Sub", "SUB", "ſub", "Sid", "SID", "ſid", "EXP", "Exp", "Iss", "ISſ", "Aud", "NBF", "Iat", "JTI", "Gen", "sub", "gen"} {
		t.Run(name, func(t *testing.T) {
			iss := newTestIssuer(t, func(c *Config) {
				c.Claims = func(context.Context, string) (map[string]any, error) {
					return map[string]any{"role": "user", name: "mallory"}, nil
				}
			})
			_, err := iss.Issue(context.Background(), "alice")
			require.ErrorIs(t, err, ErrReservedClaim)
		})
	}
	for _, name := range []string{"role", "subject", "su", "ſ", "K", "Kelvin", "side", "expires", "audience"} {
		require.False(t, isReservedClaim(name), name)
	}
}

func TestShadowingPayloadMembersAreInvalid(t *testing.T) {
	ctx := context.Background()
	iss := newTestIssuer(t)
	p, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	ks := iss.testKeys()
	members := map[string]string{
		"SUB": `"SUB":"mallory"`, "Sub": `"Sub":"mallory"`, "long s": `"ſub":"mallory"`, "escaped": `"\u0053UB":"mallory"`,
		"duplicate sub": `"sub":"mallory"`, "Sid": `"Sid":"other"`, "duplicate sid": `"sid":"other"`,
		"EXP": `"EXP":99999999999`, "duplicate exp": `"exp":99999999999`, "Iss": `"Iss":"iss"`, "Aud": `"Aud":"api"`,
		"NBF": `"NBF":1`, "Gen": `"Gen":7`, "Jti": `"Jti":"j"`,
	}
	for kind, tok := range map[string]string{"access": p.AccessToken, "refresh": p.RefreshToken} {
		raw := testkit.RawPayload(t, tok)
		hdr, key := ks.AccessHeader, ks.Access
		if kind == "refresh" {
			hdr, key = ks.RefreshHeader, ks.Refresh
		}
		for name, member := range members {
			for form, payload := range map[string]string{
				"minted form":  strings.TrimSuffix(string(raw), "}") + "," + member + "}",
				"general form": strings.Replace(string(raw), "{", "{"+member+", ", 1),
			} {
				t.Run(kind+"/"+name+"/"+form, func(t *testing.T) {
					forged := resign(hdr, key, payload)
					if kind == "access" {
						c, err := iss.Verifier().Verify(ctx, forged)
						require.ErrorIs(t, err, ErrInvalidToken, "claims %+v", c)
						return
					}
					for _, checkExpiry := range []bool{true, false} {
						c, err := iss.parseRefresh(forged, checkExpiry)
						require.ErrorIs(t, err, ErrInvalidToken, "claims %+v", c)
					}
				})
			}
		}
		// The exact names, once each, still verify in either form.
		for form, payload := range map[string]string{"minted form": string(raw), "general form": strings.Replace(string(raw), ":", ": ", 1)} {
			forged := resign(hdr, key, payload)
			if kind == "access" {
				_, err = iss.Verifier().Verify(ctx, forged)
			} else {
				_, err = iss.parseRefresh(forged, true)
			}
			require.NoError(t, err, "%s %s", kind, form)
		}
	}
}

// audienceIssuers are two issuers sharing secret, issuer name and store
// but configured for different audiences, on one clock.
func audienceIssuers(t *testing.T, clock *testkit.Clock, auds ...[]string) []*Issuer {
	t.Helper()
	store := NewMemoryStore()
	var out []*Issuer
	for _, aud := range auds {
		out = append(out, newTestIssuer(t, func(c *Config) { c.Store, c.Audience, c.Now = store, aud, clock.Now }))
	}
	return out
}

func TestRefreshTokenBoundToAudience(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	for _, tc := range []struct{ issued, other []string }{
		{issued: []string{"api"}, other: []string{"admin"}},
		{issued: []string{"api"}, other: nil},
		{issued: nil, other: []string{"api"}},
		{issued: []string{"api", "web"}, other: []string{"api"}},
	} {
		t.Run(fmt.Sprintf("%v->%v", tc.issued, tc.other), func(t *testing.T) {
			isss := audienceIssuers(t, clock, tc.issued, tc.other, slices.Clone(tc.issued))
			a, b, same := isss[0], isss[1], isss[2]
			p, err := a.Issue(ctx, "alice")
			require.NoError(t, err)
			require.Equal(t, tc.issued, (mustAudience(t, claimsOf(t, p.RefreshToken))), "the refresh token names its audience")

			_, err = b.Refresh(ctx, p.RefreshToken)
			require.ErrorIs(t, err, ErrInvalidToken, "another audience's issuer refuses the refresh token")
			require.ErrorIs(t, b.Revoke(ctx, p.RefreshToken), ErrInvalidToken)
			for _, tok := range []string{p.RefreshToken, slowPathToken(t, b.testKeys(), p.RefreshToken, true)} {
				for _, checkExpiry := range []bool{true, false} {
					_, err := b.parseRefresh(tok, checkExpiry)
					require.ErrorIs(t, err, ErrInvalidToken)
				}
			}

			p2, err := same.Refresh(ctx, p.RefreshToken)
			require.NoError(t, err, "an issuer with the same audience (another process) rotates it")
			_, err = a.Refresh(ctx, p2.RefreshToken)
			require.NoError(t, err)
		})
	}
}

// mustAudience returns the aud claim of a decoded payload as strings.
func mustAudience(t *testing.T, c jwt.MapClaims) []string {
	t.Helper()
	aud, err := c.GetAudience()
	require.NoError(t, err)
	if len(aud) == 0 {
		return nil
	}
	return aud
}

func TestSignatureOnlyIdentificationIsBounded(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	isss := audienceIssuers(t, clock, []string{"api"}, []string{"admin"})
	api, admin := isss[0], isss[1]
	a, err := NewHTTPAuth(api, WithMode(BearerMode))
	require.NoError(t, err)
	p, err := api.Issue(ctx, "alice")
	require.NoError(t, err)
	foreign, err := admin.Issue(ctx, "alice")
	require.NoError(t, err)

	_, err = a.accessIdentity(foreign.AccessToken)
	require.ErrorIs(t, err, ErrInvalidToken, "an access token for another audience")
	_, err = a.accessIdentity(slowPathToken(t, api.testKeys(), foreign.AccessToken, false))
	require.ErrorIs(t, err, ErrInvalidToken, "an access token for another audience")

	// Logout in bearer mode with only an access token of the other
	// audience leaves the session alone.
	logout := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.Header.Set("Authorization", "Bearer "+foreign.AccessToken)
	a.LogoutHandler(nil).ServeHTTP(logout, req)
	_, err = admin.Refresh(ctx, foreign.RefreshToken)
	require.NoError(t, err, "the other audience's session survives")

	clock.Advance(DefaultAccessTTL + time.Hour)
	id, err := a.accessIdentity(p.AccessToken)
	require.NoError(t, err, "an expired access token still names its session")
	require.Equal(t, p.SessionID, id.sessionID)
	_, err = api.parseRefresh(p.RefreshToken, false)
	require.NoError(t, err)

	clock.Set(time.Unix(p.AccessExpiresAt.Unix(), 0).Add(DefaultMaxSessionAge + time.Second))
	_, err = a.accessIdentity(p.AccessToken)
	require.ErrorIs(t, err, ErrInvalidToken, "exp older than MaxSessionAge")
	clock.Set(time.Unix(p.RefreshExpiresAt.Unix(), 0).Add(DefaultMaxSessionAge + time.Second))
	_, err = api.parseRefresh(p.RefreshToken, false)
	require.ErrorIs(t, err, ErrInvalidToken, "exp older than MaxSessionAge")
}
