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
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "cookie:", err)
		os.Exit(1)
	}
}

// run parses the flags, starts the server and serves until ctx ends. It
// prints "listening on http://ADDR" once the server accepts connections.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("cookie", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	opts := appOptions{}
	fs.DurationVar(&opts.AccessTTL, "access-ttl", 5*time.Minute, "access-token lifetime")
	fs.DurationVar(&opts.RefreshTTL, "refresh-ttl", 24*time.Hour, "idle lifetime of a session (the refresh token's lifetime)")
	fs.DurationVar(&opts.Grace, "grace", rtr.RecommendedReuseGrace,
		"reuse grace: for how long a just-rotated refresh token is answered with the current one; cookie mode needs it > 0")
	fs.BoolVar(&opts.InsecureCookies, "insecure-cookies", false,
		"drop Secure and the __Host- prefix so that cookies work over plain HTTP (local development only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if opts.Secret, err = secret(getenv("RTR_SECRET"), opts.Logger); err != nil {
		return err
	}
	store, closeStore, err := openStore(ctx, getenv("REDIS_URL"), opts.Logger)
	if err != nil {
		return err
	}
	defer closeStore()
	opts.Store = store
	a, err := newApp(opts)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
	}
	if !opts.InsecureCookies {
		fmt.Fprintln(stdout, "note: the cookies are Secure; over plain HTTP start with -insecure-cookies (local development only)")
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// secret returns RTR_SECRET, or a random secret for this run.
func secret(env string, log *slog.Logger) ([]byte, error) {
	if env != "" {
		if len(env) < rtr.MinSecretLen {
			return nil, fmt.Errorf("RTR_SECRET must be at least %d bytes", rtr.MinSecretLen)
		}
		return []byte(env), nil
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	log.Info("RTR_SECRET not set: using a random secret; tokens will not survive a restart")
	return b, nil
}

// openStore returns a Redis store when url is set, else a memory store.
func openStore(ctx context.Context, url string, log *slog.Logger) (rtr.Store, func(), error) {
	if url == "" {
		log.Info("sessions in memory (set REDIS_URL to use Redis)")
		return rtr.NewMemoryStore(), func() {}, nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	client := redis.NewClient(o)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		// Keep going: requests that need the store answer 503 until it is
		// back, and nobody is logged out.
		log.Warn("redis is not answering yet", "addr", o.Addr, "err", err)
	} else {
		log.Info("sessions in redis", "addr", o.Addr, "db", o.DB)
	}
	return rtr.NewRedisStore(client), func() { _ = client.Close() }, nil
}
