package demo

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

var quiet = slog.New(slog.DiscardHandler)

func env(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}

func TestStartParsesTheSharedFlags(t *testing.T) {
	var extra bool
	cmd := Command{Name: "x", GraceUsage: "g", InsecureCookiesUsage: "i", Flags: func(fs *flag.FlagSet) {
		fs.BoolVar(&extra, "extra", false, "an app's own flag")
	}}
	e, err := Start(context.Background(), cmd, []string{
		"-addr", "127.0.0.1:0", "-access-ttl", "2m", "-refresh-ttl", "3h", "-grace", "0", "-insecure-cookies", "-extra",
	}, io.Discard, env())
	require.NoError(t, err)
	defer e.Close()
	assert.Equal(t, "127.0.0.1:0", e.Addr)
	assert.True(t, e.InsecureCookies)
	assert.True(t, extra)
	assert.Equal(t, 2*time.Minute, e.AccessTTL)
	assert.Equal(t, 3*time.Hour, e.RefreshTTL)
	assert.Zero(t, e.Grace)
	assert.Len(t, e.Secret, 32)
	assert.IsType(t, rtr.NewMemoryStore(), e.Store)

	e, err = Start(context.Background(), cmd, nil, io.Discard, env("RTR_SECRET", strings.Repeat("s", 32)))
	require.NoError(t, err)
	defer e.Close()
	assert.Equal(t, "127.0.0.1:8080", e.Addr)
	assert.False(t, e.InsecureCookies)
	assert.Equal(t, 5*time.Minute, e.AccessTTL)
	assert.Equal(t, 24*time.Hour, e.RefreshTTL)
	assert.Equal(t, rtr.RecommendedReuseGrace, e.Grace)
	assert.Equal(t, []byte(strings.Repeat("s", 32)), e.Secret)
}

func TestStartHelpAndErrors(t *testing.T) {
	cmd := Command{Name: "x", GraceUsage: "the grace help", InsecureCookiesUsage: "the cookies help"}
	var out bytes.Buffer
	e, err := Start(context.Background(), cmd, []string{"-h"}, &out, env())
	assert.Nil(t, e)
	require.NoError(t, err, "-h is not an error")
	assert.Contains(t, out.String(), "Usage of x:")
	assert.Contains(t, out.String(), "the grace help")
	assert.Contains(t, out.String(), "the cookies help")

	for name, c := range map[string]struct {
		args []string
		env  func(string) string
	}{
		"unknown flag":   {[]string{"-nope"}, env()},
		"extra argument": {[]string{"extra"}, env()},
		"short secret":   {nil, env("RTR_SECRET", "short")},
		"bad REDIS_URL":  {nil, env("REDIS_URL", "not a url")},
	} {
		e, err := Start(context.Background(), cmd, c.args, io.Discard, c.env)
		assert.Nil(t, e, name)
		assert.Error(t, err, name)
	}
}

func TestOpenStoreRedis(t *testing.T) {
	mr := miniredis.RunT(t)
	store, closeStore, err := OpenStore(context.Background(), "redis://"+mr.Addr()+"/0", quiet)
	require.NoError(t, err)
	defer closeStore()
	assert.IsType(t, &rtr.RedisStore{}, store)

	// A Redis server that does not answer is only logged.
	addr := mr.Addr()
	mr.Close()
	store, closeStore, err = OpenStore(context.Background(), "redis://"+addr+"/0", quiet)
	require.NoError(t, err)
	defer closeStore()
	assert.NotNil(t, store)
}

func TestServePrintsNotesThenListening(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	e := &Env{Addr: "127.0.0.1:0", stdout: pw}
	done := make(chan error, 1)
	go func() {
		done <- e.Serve(ctx, http.NotFoundHandler(), "note: one", "note: two")
		pw.Close()
	}()
	var out strings.Builder
	buf := make([]byte, 256)
	for strings.Count(out.String(), "\n") < 3 {
		n, err := pr.Read(buf)
		require.NoError(t, err)
		out.Write(buf[:n])
	}
	lines := strings.Split(out.String(), "\n")
	assert.Equal(t, "note: one", lines[0])
	assert.Equal(t, "note: two", lines[1])
	require.True(t, strings.HasPrefix(lines[2], "listening on http://127.0.0.1:"), lines[2])
	resp, err := http.Get(strings.TrimPrefix(lines[2], "listening on "))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	cancel()
	require.NoError(t, <-done)
}

func TestServeBadAddress(t *testing.T) {
	e := &Env{Addr: "127.0.0.1:-1", stdout: io.Discard}
	assert.Error(t, e.Serve(context.Background(), http.NotFoundHandler()))
}

func TestLogEventsLogsNoToken(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:   rtr.NewMemoryStore(),
		Secret:  []byte("example-test-secret-0123456789abcdef"),
		OnEvent: LogEvents(log), // ReuseGrace 0: every replay is theft
	})
	require.NoError(t, err)
	ctx := context.Background()
	pair, err := iss.Issue(ctx, "alice")
	require.NoError(t, err)
	fresh, err := iss.Refresh(ctx, pair.RefreshToken)
	require.NoError(t, err)
	_, err = iss.Refresh(ctx, pair.RefreshToken) // a replay: theft
	require.Error(t, err)

	out := logs.String()
	assert.Contains(t, out, "level=INFO msg=\"session event\"")
	assert.Contains(t, out, "level=WARN msg=\"session event\"")
	assert.Contains(t, out, "subject=alice")
	for _, tok := range []string{pair.AccessToken, pair.RefreshToken, fresh.AccessToken, fresh.RefreshToken} {
		assert.NotContains(t, out, tok)
	}
}

func TestUsers(t *testing.T) {
	u := NewUsers()
	assert.True(t, u.Check("alice", "password"))
	assert.True(t, u.Check("bob", "password"))
	assert.False(t, u.Check("alice", "Password"))
	assert.False(t, u.Check("alice", ""))
	assert.False(t, u.Check("carol", "password"))
	assert.False(t, u.Check("", ""))
}
