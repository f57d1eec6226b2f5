// Package jose drives the Node.js interoperability test of verify.test.mjs:
// rtr's access tokens, signed with EdDSA, ES256 and RS256, verified by the
// npm package jose from rtr's JWKS. It lives in its own module so that the
// library never depends on it.
//
//	npm ci && go test ./...
//
// Without node or node_modules the test is skipped, unless RTR_JOSE_REQUIRED
// is set (as in CI), when it fails instead.
package jose

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// joseCase is one algorithm's tokens, as verify.test.mjs reads them.
type joseCase struct {
	Alg           string `json:"alg"`
	JWKSURL       string `json:"jwks_url"`
	Issuer        string `json:"issuer"`
	Audience      string `json:"audience"`
	Subject       string `json:"subject"`
	ClientID      string `json:"client_id"`
	AccessToken   string `json:"access_token"`
	TamperedToken string `json:"tampered_token"`
	RefreshToken  string `json:"refresh_token"`
	OtherKeyToken string `json:"other_key_token"`
}

func generate(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case rtr.AlgEdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case rtr.AlgES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case rtr.AlgRS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issuer(t *testing.T, key crypto.Signer) *rtr.Issuer {
	t.Helper()
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     []byte("interop secret: 0123456789abcdef0123456789abcdef"),
		Issuer:     "https://auth.example",
		Audience:   []string{"https://api.example"},
		SigningKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestJoseVerifiesRTRTokens(t *testing.T) {
	required := os.Getenv("RTR_JOSE_REQUIRED") != ""
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "jose", "package.json"))
	}
	if err != nil {
		if required {
			t.Fatalf("node and node_modules/jose are required (run npm ci): %v", err)
		}
		t.Skipf("node or node_modules/jose missing (run npm ci): %v", err)
	}

	ctx := context.Background()
	var cases []joseCase
	for _, alg := range []string{rtr.AlgEdDSA, rtr.AlgES256, rtr.AlgRS256} {
		iss := issuer(t, generate(t, alg))
		mux := http.NewServeMux()
		mux.Handle("GET /.well-known/jwks.json", iss.JWKSHandler())
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)

		p, err := iss.Issue(ctx, "alice", rtr.WithClientID("interop-client"))
		if err != nil {
			t.Fatal(err)
		}
		other, err := issuer(t, generate(t, alg)).Issue(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, joseCase{
			Alg:           alg,
			JWKSURL:       srv.URL + "/.well-known/jwks.json",
			Issuer:        "https://auth.example",
			Audience:      "https://api.example",
			Subject:       "alice",
			ClientID:      "interop-client",
			AccessToken:   p.AccessToken,
			TamperedToken: testkit.EditPayload(t, p.AccessToken, func(m map[string]any) { m["sub"] = "admin" }),
			RefreshToken:  p.RefreshToken,
			OtherKeyToken: other.AccessToken,
		})
	}
	b, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	args := []string{"--test", "verify.test.mjs"}
	if v, err := exec.CommandContext(tctx, node, "-p", "process.versions.node").Output(); err == nil {
		if major, _, _ := strings.Cut(string(v), "."); major < "19" && len(major) == 2 {
			// Debian 12's Node.js 18 has the WebCrypto global jose uses
			// behind a flag.
			args = append([]string{"--experimental-global-webcrypto"}, args...)
		}
	}
	cmd := exec.CommandContext(tctx, node, args...)
	cmd.Env = append(os.Environ(), "RTR_JOSE_CASES="+file)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test verify.test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("jose refused what it should accept or accepted what it should refuse: %v", err)
	}
}
