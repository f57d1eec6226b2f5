// Package demo holds the incidental start-up code that the example apps in
// examples/cookie and examples/bearer share: parsing the command-line flags,
// reading the signing secret, opening the session store (memory, or Redis
// from REDIS_URL), loading a signing key for -alg, running the HTTP server,
// logging events and the demo users.
//
// It is not part of rtr's API, and it holds none of the wiring a reader of
// the examples came for: the [rtr.Config], [rtr.NewIssuer], [rtr.NewHTTPAuth]
// with its options and the routes are written out in each example's
// main.go and app.go.
package demo

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

// RunFunc is an example app's run function: it serves until ctx ends, with
// the command-line arguments args, writing the "listening on" line to
// stdout and reading the environment through getenv.
type RunFunc func(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error

// Main is an example app's main: it calls run with os.Args[1:], os.Stdout
// and os.Getenv until SIGINT or SIGTERM, and exits with status 1, the error
// on stderr after name, if run fails.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Command describes an example app's command line to [Start]: its name and
// the help of the flags whose meaning depends on the mode.
type Command struct {
	Name                 string              // the command's name, shown in the help
	GraceUsage           string              // the help of -grace
	InsecureCookiesUsage string              // the help of -insecure-cookies
	Flags                func(*flag.FlagSet) // adds the app's own flags; may be nil
}

// Env is what an example app starts with: the values of the shared flags
// and of the environment, from which the app builds its [rtr.Config].
type Env struct {
	Addr            string        // -addr: the listen address
	InsecureCookies bool          // -insecure-cookies
	AccessTTL       time.Duration // -access-ttl
	RefreshTTL      time.Duration // -refresh-ttl
	// Grace is -grace. When the flag is not given it is
	// rtr.RecommendedReuseGrace, or -access-ttl when that is shorter (rtr
	// refuses a grace longer than the access-token lifetime).
	Grace time.Duration

	Secret []byte    // RTR_SECRET, or a random secret for this run
	Store  rtr.Store // Redis from REDIS_URL, or a memory store

	Log *slog.Logger // text lines on stderr

	stdout     io.Writer
	closeStore func()
}

// Start parses args — -addr, -access-ttl, -refresh-ttl, -grace,
// -insecure-cookies and the command's own flags — then reads the signing
// secret from RTR_SECRET and opens the session store named by REDIS_URL,
// both through getenv. Help and the later "listening on" line go to stdout.
//
// After -h it returns a nil *Env and a nil error: the help is printed and
// there is nothing to run. Otherwise the caller must Close the Env.
func Start(ctx context.Context, cmd Command, args []string, stdout io.Writer, getenv func(string) string) (*Env, error) {
	e := &Env{stdout: stdout}
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&e.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.DurationVar(&e.AccessTTL, "access-ttl", 5*time.Minute, "access-token lifetime")
	fs.DurationVar(&e.RefreshTTL, "refresh-ttl", 24*time.Hour, "idle lifetime of a session (the refresh token's lifetime)")
	fs.DurationVar(&e.Grace, "grace", rtr.RecommendedReuseGrace, cmd.GraceUsage)
	fs.BoolVar(&e.InsecureCookies, "insecure-cookies", false, cmd.InsecureCookiesUsage)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	graceSet := false
	fs.Visit(func(f *flag.Flag) { graceSet = graceSet || f.Name == "grace" })
	if !graceSet {
		// rtr refuses a grace longer than the access-token lifetime; the
		// default grace yields to a short -access-ttl (a demo of refreshes).
		e.Grace = min(e.Grace, e.AccessTTL)
	}

	e.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if e.Secret, err = Secret(getenv("RTR_SECRET"), e.Log); err != nil {
		return nil, err
	}
	if e.Store, e.closeStore, err = OpenStore(ctx, getenv("REDIS_URL"), e.Log); err != nil {
		return nil, err
	}
	return e, nil
}

// Close releases the session store.
func (e *Env) Close() { e.closeStore() }

// Serve listens on e.Addr and serves h until ctx ends, then shuts the
// server down gracefully. Once the server accepts connections it prints
// notes, one a line, and then "listening on http://ADDR" to stdout.
func (e *Env) Serve(ctx context.Context, h http.Handler, notes ...string) error {
	ln, err := net.Listen("tcp", e.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
	}
	for _, n := range notes {
		fmt.Fprintln(e.stdout, n)
	}
	fmt.Fprintf(e.stdout, "listening on http://%s\n", ln.Addr())
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

// Secret returns env (the value of RTR_SECRET) as the signing secret, or,
// when env is empty, a random secret for this run, so that tokens do not
// survive a restart.
func Secret(env string, log *slog.Logger) ([]byte, error) {
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

// OpenStore returns a Redis store when url (the value of REDIS_URL, such as
// redis://localhost:6379/0) is set, else a memory store, and a function
// that closes it. A Redis server that does not answer yet is only logged.
func OpenStore(ctx context.Context, url string, log *slog.Logger) (rtr.Store, func(), error) {
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

// LogEvents returns an [rtr.Config.OnEvent] hook that logs session events
// to log: a replayed refresh token as a warning, the rest as information.
// Events never carry a token, so none is logged.
func LogEvents(log *slog.Logger) func(context.Context, rtr.Event) {
	return func(ctx context.Context, e rtr.Event) {
		level := slog.LevelInfo
		if e.Type == rtr.EventReuseDetected {
			level = slog.LevelWarn // a stolen refresh token was replayed: alert the user in a real app
		}
		log.Log(ctx, level, "session event", "type", e.Type, "subject", e.Subject, "session", e.SessionID, "generation", e.Generation)
	}
}
