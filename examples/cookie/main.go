// Command cookie is a small server-rendered web app that uses rtr in cookie
// mode: both tokens live in HttpOnly cookies and the middleware refreshes
// them transparently, so the pages never see a token.
//
//	go run ./examples/cookie -insecure-cookies      # then open http://127.0.0.1:8080
//
// Demo users: alice and bob, password "password". Sessions are kept in
// memory, or in Redis when REDIS_URL is set (redis://localhost:6379/0).
// RTR_SECRET (at least 32 bytes) sets the signing secret; without it a
// random one is made at start, so tokens do not survive a restart.
//
// Routes:
//
//	GET  /            who is logged in, the active sessions, log-out buttons (or the login form)
//	GET  /login       the login form
//	POST /login       form fields username, password; sets the cookies, redirects to /
//	GET  /api/me      {"subject": ..., "session_id": ...} or 401
//	POST /logout      ends this session
//	POST /logout-all  ends every session of the user
//
// Flags: -addr, -access-ttl, -refresh-ttl, -grace, -insecure-cookies.
package main

import (
	"context"
	"io"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo"
)

func main() { demo.Main("cookie", run) }

// run parses the flags, starts the server and serves until ctx ends. It
// prints "listening on http://ADDR" once the server accepts connections.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	env, err := demo.Start(ctx, demo.Command{
		Name: "cookie",
		GraceUsage: "reuse grace: for how long a just-rotated refresh token is answered with the current one; " +
			"cookie mode needs it > 0",
		InsecureCookiesUsage: "drop Secure and the __Host- prefix so that cookies work over plain HTTP " +
			"(local development only)",
	}, args, stdout, getenv)
	if env == nil {
		return err // nil after -h: the help is printed
	}
	defer env.Close()
	a, err := newApp(appOptions{
		Config: rtr.Config{
			Store:      env.Store,      // a memory store, or Redis when REDIS_URL is set
			Secret:     env.Secret,     // RTR_SECRET, or random for this run
			AccessTTL:  env.AccessTTL,  // -access-ttl
			RefreshTTL: env.RefreshTTL, // -refresh-ttl: the idle lifetime of a session
			// -grace, which cookie mode needs > 0: the middleware refreshes
			// transparently, so a page's parallel requests, or two tabs,
			// present the same refresh cookie at once.
			ReuseGrace: env.Grace,
			OnEvent:    demo.LogEvents(env.Log), // a replayed refresh token is logged as a warning
		},
		InsecureCookies: env.InsecureCookies,
		Logger:          env.Log,
	})
	if err != nil {
		return err
	}
	var notes []string
	if !env.InsecureCookies {
		notes = append(notes, "note: the cookies are Secure; over plain HTTP start with -insecure-cookies (local development only)")
	}
	return env.Serve(ctx, a.routes(), notes...)
}
