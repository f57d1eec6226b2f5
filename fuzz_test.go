package rtr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The fuzz targets use a fixed secret and clock so that the committed seed
// corpus (testdata/fuzz) keeps its meaning: seeds signed with this secret
// stay valid-signed, and their expiry is judged at the same instant.
var (
	fuzzSecret = []byte("fuzz-secret-fuzz-secret-fuzz-secret!")
	fuzzNow    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func fuzzIssuer(f *testing.F) (*Issuer, Pair) {
	f.Helper()
	iss, err := NewIssuer(Config{
		Store: NewMemoryStore(), Secret: fuzzSecret, Issuer: "iss", Audience: []string{"api"},
		ReuseGrace: RecommendedReuseGrace, Now: func() time.Time { return fuzzNow },
		Claims: func(context.Context, string) (map[string]any, error) {
			return map[string]any{"roles": []string{"admin"}}, nil
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	p, err := iss.Issue(context.Background(), "alice")
	if err != nil {
		f.Fatal(err)
	}
	return iss, p
}

// addForgedSeeds adds tokens signed with the right key but a hostile
// header or payload, which only code that knows the key can make.
func addForgedSeeds(f *testing.F, iss *Issuer, p Pair) {
	ks := iss.testKeys()
	for _, tok := range []string{p.AccessToken, p.RefreshToken} {
		f.Add(tok)
		f.Add(tok + "x")
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	claims := jwt.MapClaims{"sub": "alice", "sid": p.SessionID, "jti": "j", "gen": 1, "iss": "iss", "aud": "api", "exp": fuzzNow.Add(time.Hour).Unix()}
	for _, key := range [][]byte{ks.Access, ks.Refresh} {
		for _, h := range []map[string]any{
			{"typ": AccessTokenType, "kid": ks.Kid, "crit": []string{"b64"}},
			{"typ": RefreshTokenType, "kid": ks.Kid, "crit": []string{"exp"}},
			{"typ": "JWT", "kid": ks.Kid},
			{"typ": AccessTokenType, "kid": "../../../dev/null"},
			{"typ": RefreshTokenType, "kid": "x' UNION SELECT secret FROM keys --"},
			{"typ": AccessTokenType},
		} {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
			for k, v := range h {
				tok.Header[k] = v
			}
			s, err := tok.SignedString(key)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(s)
		}
	}
}

// genuine reports whether token was minted by iss with the given header:
// the only tokens a parser may ever accept.
func genuine(token, header string) bool { return strings.HasPrefix(token, header+".") }

func FuzzVerify(f *testing.F) {
	iss, p := fuzzIssuer(f)
	addForgedSeeds(f, iss, p)
	v := iss.Verifier()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		switch {
		case err == nil:
			if !genuine(token, iss.testKeys().AccessHeader) || c.Subject == "" || c.SessionID == "" {
				t.Fatalf("accepted a token rtr did not mint (len %d)", len(token))
			}
		case !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrTokenExpired):
			t.Fatalf("unexpected error class: %v", err)
		case len(token) >= 16 && strings.Contains(err.Error(), token):
			t.Fatal("error text echoes the token")
		}
	})
}

func FuzzRefresh(f *testing.F) {
	iss, p := fuzzIssuer(f)
	addForgedSeeds(f, iss, p)
	f.Fuzz(func(t *testing.T, token string) {
		got, err := iss.Refresh(context.Background(), token)
		switch {
		case err == nil:
			if !genuine(token, iss.testKeys().RefreshHeader) || got.SessionID == "" {
				t.Fatalf("rotated a token rtr did not mint (len %d)", len(token))
			}
		case errors.Is(err, ErrStoreUnavailable):
			t.Fatalf("the memory store cannot be unavailable: %v", err)
		case !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrTokenExpired) &&
			!errors.Is(err, ErrTokenReused) && !errors.Is(err, ErrSessionNotFound):
			t.Fatalf("unexpected error class: %v", err)
		case len(token) >= 16 && strings.Contains(err.Error(), token):
			t.Fatal("error text echoes the token")
		}
	})
}
