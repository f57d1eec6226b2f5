package rtr

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJWKSClientRedirects(t *testing.T) {
	req := func(u string) *http.Request { r, _ := http.NewRequest(http.MethodGet, u, nil); return r }
	require.NoError(t, noDowngrade(req("https://b.example/jwks"), []*http.Request{req("https://a.example/jwks")}))
	require.NoError(t, noDowngrade(req("http://127.0.0.1/jwks"), []*http.Request{req("http://localhost/jwks")}))
	require.Error(t, noDowngrade(req("http://b.example/jwks"), []*http.Request{req("https://a.example/jwks")}))
	three := []*http.Request{req("https://a.example/1"), req("https://a.example/2"), req("https://a.example/3")}
	require.Error(t, noDowngrade(req("https://a.example/4"), three))
}

// TestJWKSRedirectKeepsTheURLRule: a redirect may lead only where JWKSURL
// itself could point: not from a loopback http URL to a remote http one.
func TestJWKSRedirectKeepsTheURLRule(t *testing.T) {
	first, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080/.well-known/jwks.json", nil)
	require.NoError(t, err)
	for target, ok := range map[string]bool{
		"http://jwks.attacker.example/jwks.json": false,
		"http://127.0.0.1:9090/jwks.json":        true,
		"https://auth.example.com/jwks.json":     true,
	} {
		next, err := http.NewRequest(http.MethodGet, target, nil)
		require.NoError(t, err)
		if err := noDowngrade(next, []*http.Request{first}); ok {
			require.NoError(t, err, target)
		} else {
			require.Error(t, err, target)
		}
	}
}
