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
