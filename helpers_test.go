package rtr_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/rtr-go/rtr/internal/testredis"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// storeFactories are the stores every policy test runs on. Real Redis is
// skipped when RTR_REDIS_ADDR is not set.
var storeFactories = []struct {
	name string
	new  func(t *testing.T) rtr.Store
}{
	{"Memory", func(t *testing.T) rtr.Store { return rtr.NewMemoryStore() }},
	{"Miniredis", func(t *testing.T) rtr.Store { s, _ := newMiniStore(t); return s }},
	{"RealRedis", func(t *testing.T) rtr.Store {
		return rtr.NewRedisStore(testredis.Standalone(t), rtr.WithKeyPrefix(testredis.Prefix()))
	}},
	{"RealCluster", func(t *testing.T) rtr.Store {
		return rtr.NewRedisStore(testredis.Cluster(t), rtr.WithKeyPrefix(testredis.Prefix()))
	}},
}

// forEachStore runs fn as a subtest on every store.
func forEachStore(t *testing.T, fn func(t *testing.T, store rtr.Store)) {
	for _, f := range storeFactories {
		t.Run(f.name, func(t *testing.T) { fn(t, f.new(t)) })
	}
}

type fixture struct {
	iss    *rtr.Issuer
	clock  *testkit.Clock
	events *issuertest.EventLog
}

// newFixture builds an issuer on store with an injected clock and event
// log; mod adjusts the config.
func newFixture(t *testing.T, store rtr.Store, mod ...func(*rtr.Config)) fixture {
	t.Helper()
	f := fixture{clock: testkit.NewClock(time.Now().Truncate(time.Second)), events: &issuertest.EventLog{}}
	cfg := rtr.Config{
		Store:      store,
		Secret:     testSecret,
		Issuer:     "https://auth.example",
		Audience:   []string{"api"},
		AccessTTL:  5 * time.Minute,
		RefreshTTL: time.Hour,
		ReuseGrace: 10 * time.Second,
		Now:        f.clock.Now,
		OnEvent:    f.events.Record,
	}
	for _, m := range mod {
		m(&cfg)
	}
	iss, err := rtr.NewIssuer(cfg)
	require.NoError(t, err)
	f.iss = iss
	return f
}

func strict(c *rtr.Config) { c.ReuseGrace = 0 }

// storePairs give two stores on the same data, standing for two
// processes: the same MemoryStore twice (one process), and two separate
// Redis clients (two processes) on miniredis, a real server and a real
// Cluster.
var storePairs = []struct {
	name string
	new  func(t *testing.T) (rtr.Store, rtr.Store)
}{
	{"Memory", func(t *testing.T) (rtr.Store, rtr.Store) { s := rtr.NewMemoryStore(); return s, s }},
	{"Miniredis", func(t *testing.T) (rtr.Store, rtr.Store) {
		m, c1 := testredis.Mini(t)
		c2 := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c2.Close() })
		return rtr.NewRedisStore(c1), rtr.NewRedisStore(c2)
	}},
	{"RealRedis", func(t *testing.T) (rtr.Store, rtr.Store) {
		p := testredis.Prefix()
		c1 := testredis.Standalone(t)
		c2 := testredis.Standalone(t)
		return rtr.NewRedisStore(c1, rtr.WithKeyPrefix(p)), rtr.NewRedisStore(c2, rtr.WithKeyPrefix(p))
	}},
	{"RealCluster", func(t *testing.T) (rtr.Store, rtr.Store) {
		p := testredis.Prefix()
		c1 := testredis.Cluster(t)
		c2 := testredis.Cluster(t)
		return rtr.NewRedisStore(c1, rtr.WithKeyPrefix(p)), rtr.NewRedisStore(c2, rtr.WithKeyPrefix(p))
	}},
}

// newRevocationIssuer builds an issuer with InstantRevocation on store, closed at
// the end of the test, and waits until its feed is in sync.
func newRevocationIssuer(t *testing.T, store rtr.Store, mod ...func(*rtr.Config)) *rtr.Issuer {
	t.Helper()
	cfg := rtr.Config{
		Store: store, Secret: testSecret, Issuer: "https://auth.example",
		AccessTTL: 5 * time.Minute, ReuseGrace: 0, InstantRevocation: true,
	}
	for _, m := range mod {
		m(&cfg)
	}
	return issuertest.NewFollowing(t, cfg)
}
