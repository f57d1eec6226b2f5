package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo"
	"github.com/rtr-go/rtr/examples/internal/demo/demotest"
	"github.com/rtr-go/rtr/internal/testkit"
)

// loginAndVerify runs the example with args, logs in, and verifies the
// access token with a verifier fed from the example's JWKS.
func loginAndVerify(t *testing.T, args ...string) (header map[string]any, keys int, access string) {
	t.Helper()
	base, stop := demotest.Run(t, run, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	defer func() { require.NoError(t, stop()) }()
	resp, err := http.Post(base+"/login", "application/json", strings.NewReader(`{"username":"alice","password":"password"}`))
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	header = testkit.Header(t, tok.AccessToken)

	resp, err = http.Get(base + "/.well-known/jwks.json")
	require.NoError(t, err)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	resp.Body.Close()
	if len(set.Keys) == 0 {
		return header, 0, tok.AccessToken
	}
	v, err := rtr.NewVerifier(rtr.VerifierConfig{JWKSURL: base + "/.well-known/jwks.json"})
	require.NoError(t, err)
	c, err := v.Verify(context.Background(), tok.AccessToken)
	require.NoError(t, err)
	require.Equal(t, "alice", c.Subject)
	return header, len(set.Keys), tok.AccessToken
}

func TestBearerExampleAlgs(t *testing.T) {
	h, n, _ := loginAndVerify(t)
	require.Equal(t, "HS256", h["alg"])
	require.Zero(t, n)
	for _, alg := range []string{rtr.AlgEdDSA, rtr.AlgES256, rtr.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			h, n, _ := loginAndVerify(t, "-alg", alg)
			require.Equal(t, alg, h["alg"])
			require.Equal(t, 1, n)
		})
	}
}

func TestBearerExampleKeyFile(t *testing.T) {
	k, err := demo.GenerateKey(rtr.AlgES256)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	h, n, access := loginAndVerify(t, "-alg", rtr.AlgES256, "-key", file)
	require.Equal(t, rtr.AlgES256, h["alg"])
	require.Equal(t, 1, n)
	// Signed with the key from the file, not one made up at start-up.
	v, err := rtr.NewVerifier(rtr.VerifierConfig{PublicKeys: []crypto.PublicKey{k.Public()}})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), access)
	require.NoError(t, err)

	for _, args := range [][]string{
		{"-alg", rtr.AlgEdDSA, "-key", file}, // the wrong type of key
		{"-key", file},                       // HS256 takes no key
		{"-alg", "PS256"},
		{"-alg", rtr.AlgRS256, "-key", filepath.Join(t.TempDir(), "missing.pem")},
	} {
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), os.Stdout, func(string) string { return "" })
		require.Error(t, err, "%v", args)
	}
}
