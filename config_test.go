package rtr_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

func TestNewIssuerRefusesConfigMistakes(t *testing.T) {
	const day = 24 * time.Hour
	base := func(mod func(*rtr.Config)) rtr.Config {
		c := rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret}
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name   string
		mod    func(*rtr.Config)
		reason string
	}{
		{"NoStore", func(c *rtr.Config) { c.Store = nil }, "Store is required"},
		{"ShortSecret", func(c *rtr.Config) { c.Secret = []byte("too short") }, "Secret must be at least 32 bytes"},
		{"ZeroSecret", func(c *rtr.Config) { c.Secret = make([]byte, 32) }, "Secret is not random (distinct byte values: 1, at least 8 needed)"},
		{"RepeatedByteSecret", func(c *rtr.Config) { c.Secret = bytes.Repeat([]byte("k"), 64) }, "Secret is not random"},
		{"RepeatedPatternSecret", func(c *rtr.Config) { c.Secret = bytes.Repeat([]byte("abc"), 16) }, "Secret is not random (distinct byte values: 3, at least 8 needed)"},
		{"ShortPrevious", func(c *rtr.Config) { c.PreviousSecrets = [][]byte{[]byte("x")} }, "PreviousSecrets[0] must be at least 32 bytes"},
		{"ZeroPrevious", func(c *rtr.Config) { c.PreviousSecrets = [][]byte{make([]byte, 40)} }, "PreviousSecrets[0] is not random"},
		{"PreviousIsSecret", func(c *rtr.Config) {
			c.PreviousSecrets = [][]byte{[]byte("another-secret-0123456789abcdefghij"), append([]byte(nil), testSecret...)}
		}, "PreviousSecrets[1] is the same as Secret"},
		{"NegativeTTL", func(c *rtr.Config) { c.AccessTTL = -time.Second }, "durations must not be negative"},
		{"NegativeGrace", func(c *rtr.Config) { c.ReuseGrace = -time.Second }, "durations must not be negative"},
		{"NegativeLeeway", func(c *rtr.Config) { c.Leeway = -time.Second }, "durations must not be negative"},
		{"AccessLongerThanRefresh", func(c *rtr.Config) { c.AccessTTL, c.RefreshTTL = 2*time.Hour, time.Hour },
			"AccessTTL (2h0m0s) is longer than RefreshTTL (1h0m0s)"},
		{"AccessLongerThanDefaultRefresh", func(c *rtr.Config) { c.AccessTTL = 15 * day },
			"AccessTTL (360h0m0s) is longer than RefreshTTL (336h0m0s, the default)"},
		{"RefreshLongerThanMaxAge", func(c *rtr.Config) { c.RefreshTTL, c.MaxSessionAge = 2*day, day },
			"RefreshTTL (48h0m0s) is longer than MaxSessionAge (24h0m0s)"},
		{"RefreshLongerThanDefaultMaxAge", func(c *rtr.Config) { c.RefreshTTL = 91 * day },
			"RefreshTTL (2184h0m0s) is longer than MaxSessionAge (2160h0m0s, the default)"},
		{"GraceLongerThanAccess", func(c *rtr.Config) { c.AccessTTL, c.ReuseGrace = 5*time.Second, 10*time.Second },
			"ReuseGrace (10s) is longer than AccessTTL (5s)"},
		{"GraceLongerThanDefaultAccess", func(c *rtr.Config) { c.ReuseGrace = time.Hour },
			"ReuseGrace (1h0m0s) is longer than AccessTTL (15m0s, the default)"},
		{"GraceLongerThanAccessCappedByMaxAge", func(c *rtr.Config) { c.MaxSessionAge, c.ReuseGrace = time.Minute, 2*time.Minute },
			"ReuseGrace (2m0s) is longer than AccessTTL (1m0s, the default)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rtr.NewIssuer(base(tc.mod))
			require.ErrorIs(t, err, rtr.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.reason)
			require.NotContains(t, err.Error(), string(testSecret), "no secret in errors")
		})
	}
}

func TestNewIssuerAcceptsNestedLifetimes(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*rtr.Config)
	}{
		{"Defaults", func(c *rtr.Config) {}},
		{"AllEqual", func(c *rtr.Config) {
			c.AccessTTL, c.RefreshTTL, c.MaxSessionAge, c.ReuseGrace = time.Hour, time.Hour, time.Hour, time.Hour
		}},
		// An unset lifetime's default shrinks to fit a shorter one that was set.
		{"ShortMaxAgeOnly", func(c *rtr.Config) { c.MaxSessionAge = 5 * time.Minute }},
		{"ShortRefreshOnly", func(c *rtr.Config) { c.RefreshTTL = 10 * time.Minute }},
		{"RecommendedGrace", func(c *rtr.Config) { c.ReuseGrace = rtr.RecommendedReuseGrace }},
		{"RandomLookingASCII", func(c *rtr.Config) { c.Secret = []byte("correct-horse-battery-staple-0123") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret}
			tc.mod(&c)
			_, err := rtr.NewIssuer(c)
			require.NoError(t, err)
		})
	}
}

// TestShrunkDefaultsApply checks that a default that yielded to a shorter
// MaxSessionAge is the one in force: the tokens' lifetimes fit the session.
func TestShrunkDefaultsApply(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	iss, err := rtr.NewIssuer(rtr.Config{Store: rtr.NewMemoryStore(), Secret: testSecret, MaxSessionAge: 5 * time.Minute, Now: clock.Now})
	require.NoError(t, err)
	p, err := iss.Issue(t.Context(), "alice")
	require.NoError(t, err)
	require.Equal(t, clock.Now().Add(5*time.Minute), p.RefreshExpiresAt)
	require.Equal(t, clock.Now().Add(5*time.Minute), p.AccessExpiresAt)
}

func TestStoreOptionsRefuseInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		call   func()
		reason string
	}{
		{"MaxSessionsZero", func() { rtr.WithMaxSessions(0) }, "WithMaxSessions(0): the cap must be positive"},
		{"MaxSessionsNegative", func() { rtr.WithMaxSessions(-1) }, "WithMaxSessions(-1): the cap must be positive"},
		{"KeyPrefixWithBraces", func() { rtr.WithKeyPrefix("app{x}:") }, `WithKeyPrefix("app{x}:"): the prefix must not contain braces`},
		{"NilRedisClient", func() { rtr.NewRedisStore(nil) }, "NewRedisStore: nil Redis client"},
		{"NilTypedRedisClient", func() { rtr.NewRedisStore((*redis.Client)(nil)) }, "NewRedisStore: nil Redis client"},
		{"NilClusterClient", func() { rtr.NewRedisStore((*redis.ClusterClient)(nil)) }, "NewRedisStore: nil Redis client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			func() {
				defer func() { got = recover() }()
				tc.call()
			}()
			err, ok := got.(error)
			require.True(t, ok, "panics with an error, got %v", got)
			require.ErrorIs(t, err, rtr.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.reason)
		})
	}
	require.NotPanics(t, func() { rtr.NewMemoryStore(rtr.WithMaxSessions(1)) })
	require.NotPanics(t, func() { rtr.WithKeyPrefix("") })
}
