// Command bearer is a JSON API that uses rtr in bearer mode: the client
// sends the access token in an Authorization: Bearer header and calls the
// refresh endpoint itself when it gets a 401 (RFC 6749 §5.1 and RFC 6750).
//
//	go run ./examples/bearer
//
// Demo users: alice and bob, password "password". Sessions are kept in
// memory, or in Redis when REDIS_URL is set (redis://localhost:6379/0).
// RTR_SECRET (at least 32 bytes) sets the signing secret; without it a
// random one is made at start, so tokens do not survive a restart.
//
// Routes:
//
//	POST /login          {"username","password"} -> {"access_token","token_type","expires_in","refresh_token"}
//	GET  /api/me         Authorization: Bearer -> {"subject","session_id"}
//	GET  /api/sessions   Authorization: Bearer -> the user's active sessions
//	POST /token/refresh  grant_type=refresh_token&refresh_token=... (RFC 6749 §6 form) or {"refresh_token"} -> a new token response
//	POST /token/revoke   token=... (RFC 7009 form) -> 200, a refresh token's session ends
//	POST /logout         {"refresh_token"} (Content-Type: application/json) or refresh_token=... -> 204, the session ends
//	POST /logout-all     Authorization: Bearer -> 204, every session of the user ends
//	GET  /.well-known/jwks.json  the public keys that verify the access tokens (empty with HS256)
//
// Flags: -addr, -access-ttl, -refresh-ttl, -grace, -insecure-cookies,
// -refresh-cookie to deliver the refresh token in an HttpOnly cookie
// instead of the JSON body, and -alg HS256|EdDSA|ES256|RS256 (default
// HS256) with -key FILE.pem to sign access tokens with a private key (one
// is generated at start-up without -key), so that other services verify
// them from the JWKS.
//
// Try it (with jq; every refresh rotates, so keep the new pair each time):
//
//	TOKENS=$(curl -s -X POST localhost:8080/login -d '{"username":"alice","password":"password"}')
//	ACCESS=$(echo "$TOKENS" | jq -r .access_token); REFRESH=$(echo "$TOKENS" | jq -r .refresh_token)
//	curl -s localhost:8080/api/me -H "Authorization: Bearer $ACCESS"
//	TOKENS=$(curl -s -X POST localhost:8080/token/refresh -H 'Content-Type: application/json' -d '{"refresh_token":"'"$REFRESH"'"}')
//	REFRESH=$(echo "$TOKENS" | jq -r .refresh_token)
//	TOKENS=$(curl -s -X POST localhost:8080/token/refresh -d grant_type=refresh_token --data-urlencode "refresh_token=$REFRESH")
//	REFRESH=$(echo "$TOKENS" | jq -r .refresh_token)
//	curl -s -X POST localhost:8080/token/revoke --data-urlencode "token=$REFRESH"
//
// With -alg EdDSA (or ES256, RS256), other services verify the access
// tokens from the published keys alone:
//
//	go run ./examples/bearer -alg EdDSA
//	curl -s localhost:8080/.well-known/jwks.json
package main

import (
	"context"
	"flag"
	"io"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo"
)

func main() { demo.Main("bearer", run) }

// run parses the flags, starts the server and serves until ctx ends. It
// prints "listening on http://ADDR" once the server accepts connections.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	var refreshCookie bool
	var alg, keyFile string
	env, err := demo.Start(ctx, demo.Command{
		Name: "bearer",
		GraceUsage: "reuse grace: for how long a just-rotated refresh token is answered with the current one " +
			"(0: every replay is theft)",
		InsecureCookiesUsage: "with -refresh-cookie: drop Secure and the __Host- prefix so that the cookie works " +
			"over plain HTTP (local development only)",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&refreshCookie, "refresh-cookie", false,
				"deliver the refresh token in an HttpOnly cookie instead of the JSON body")
			fs.StringVar(&alg, "alg", "HS256",
				"access-token algorithm: HS256 (key derived from the secret), EdDSA, ES256 or RS256 (public keys at /.well-known/jwks.json)")
			fs.StringVar(&keyFile, "key", "",
				"with -alg EdDSA|ES256|RS256: PEM file of the private signing key (default: a key generated at start-up)")
		},
	}, args, stdout, getenv)
	if env == nil {
		return err // nil after -h: the help is printed
	}
	defer env.Close()
	signingKey, err := demo.SigningKey(alg, keyFile, env.Log) // nil for -alg HS256
	if err != nil {
		return err
	}
	a, err := newApp(appOptions{
		Config: rtr.Config{
			Store:      env.Store,      // a memory store, or Redis when REDIS_URL is set
			Secret:     env.Secret,     // RTR_SECRET, or random for this run; refresh tokens are always HMAC under it
			AccessTTL:  env.AccessTTL,  // -access-ttl
			RefreshTTL: env.RefreshTTL, // -refresh-ttl: the idle lifetime of a session
			// -grace: a client whose refresh response was lost may send the
			// same refresh token again within it and gets the current pair.
			ReuseGrace: env.Grace,
			// -alg EdDSA|ES256|RS256: access tokens signed with a private key,
			// verified by other services from /.well-known/jwks.json.
			SigningKey: signingKey,
			OnEvent:    demo.LogEvents(env.Log), // a replayed refresh token is logged as a warning
		},
		RefreshCookie:   refreshCookie,
		InsecureCookies: env.InsecureCookies,
		Logger:          env.Log,
	})
	if err != nil {
		return err
	}
	return env.Serve(ctx, a.routes())
}
