package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/pgstore"
)

// The real-server tests run when RTR_POSTGRES_URL is set (a postgres://
// URL of a database they may create tables in); each test writes under a
// table prefix of its own and drops it at the end.
const urlEnv = "RTR_POSTGRES_URL"

func pgURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		t.Skip(urlEnv + " not set: PostgreSQL tests skipped")
	}
	return u
}

// newPool returns a pool on the test database, closed at the end of t.
func newPool(t testing.TB, configure func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgURL(t))
	require.NoError(t, err)
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func randomPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

// newStore returns a store with a schema of its own on pool (a new pool
// when nil), dropped at the end of t.
func newStore(t testing.TB, pool *pgxpool.Pool, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	if pool == nil {
		pool = newPool(t, nil)
	}
	prefix := randomPrefix()
	s, err := pgstore.New(pool, append([]pgstore.Option{pgstore.WithTablePrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, s.EnsureSchema(context.Background()))
	t.Cleanup(func() { dropSchema(t, prefix) })
	return s
}

// dropSchema removes what EnsureSchema created under prefix, on a pool of
// its own (the test's may be closed or broken by then).
func dropSchema(t testing.TB, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgURL(t))
	if err != nil {
		t.Logf("dropping %s: %v", prefix, err)
		return
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, `DROP TABLE IF EXISTS public.`+prefix+`sessions, public.`+prefix+`schema_version, public.`+prefix+`revocations CASCADE;
		DROP FUNCTION IF EXISTS public.`+prefix+`rotate, public.`+prefix+`rotate_late, public.`+prefix+`create, public.`+prefix+`revoke_all`)
	if err != nil {
		t.Logf("dropping %s: %v", prefix, err)
	}
}

// The store satisfies the root module's store contract.
var _ rtr.Store = (*pgstore.Store)(nil)

func id() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func record(subject string, at time.Time) rtr.SessionRecord {
	return rtr.SessionRecord{
		ID: id(), Subject: subject, Current: id(), Generation: 1,
		CreatedAt: at, LastUsedAt: at, IdleExpiresAt: at.Add(time.Hour), AbsoluteExpiresAt: at.Add(24 * time.Hour),
	}
}

var secret = []byte("0123456789abcdef0123456789abcdef-pgstore-tests")

// rotateAnswer is what a Rotate run by rotateAsync returned.
type rotateAnswer struct {
	res rtr.RotateResult
	err error
}

// rotateAsync runs s.Rotate(ctx, req) on a goroutine of its own, for a test
// that acts on the server while the rotation waits; the channel holds the
// answer.
func rotateAsync(ctx context.Context, s *pgstore.Store, req rtr.RotateRequest) <-chan rotateAnswer {
	ch := make(chan rotateAnswer, 1)
	go func() {
		res, err := s.Rotate(ctx, req)
		ch <- rotateAnswer{res, err}
	}()
	return ch
}
