// Package demotest holds the test helpers that the tests of
// examples/cookie and examples/bearer share: a fake clock, an rtr.Config for
// tests and a way to run an app's run function as its main would.
package demotest

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo"
	"github.com/rtr-go/rtr/internal/testkit"
)

// Clock is a fake clock for [rtr.Config.Now] (internal/testkit's); it is
// safe for concurrent use.
type Clock = testkit.Clock

// NewClock returns a Clock that stands at the current time.
func NewClock() *Clock { return testkit.NewClock(time.Now()) }

// Config returns the issuer settings the example tests use: a memory store,
// a fixed secret, one-minute access tokens, one-hour sessions, the
// recommended reuse grace and clk for the time.
func Config(clk *Clock) rtr.Config {
	return rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     []byte("example-test-secret-0123456789abcdef"),
		AccessTTL:  time.Minute,
		RefreshTTL: time.Hour,
		ReuseGrace: rtr.RecommendedReuseGrace,
		Now:        clk.Now,
	}
}

// Run starts run with args, which must listen on 127.0.0.1 (-addr
// 127.0.0.1:0), and an empty environment, and waits for the first line run
// prints, which must be "listening on http://127.0.0.1:PORT". It
// returns that base URL and stop, which ends run as an interrupt does and
// returns what run returned. If the test ends first, its cleanup cancels
// run.
func Run(t *testing.T, run demo.RunFunc, args ...string) (baseURL string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, pw, func(string) string { return "" })
		pw.Close()
	}()
	buf := make([]byte, 256)
	var out strings.Builder
	for !strings.Contains(out.String(), "\n") {
		n, err := pr.Read(buf)
		require.NoError(t, err, "run printed %q", out.String())
		out.Write(buf[:n])
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	line := out.String()
	require.True(t, strings.HasPrefix(line, "listening on http://127.0.0.1:"), line)
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on ")), func() error {
		cancel()
		return <-done
	}
}
