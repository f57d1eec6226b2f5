package rtr_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testredis"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// requireUnavailable asserts "cannot tell now", never an auth answer.
func requireUnavailable(t *testing.T, err error, op string) {
	t.Helper()
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable, op)
	for _, auth := range []error{rtr.ErrInvalidToken, rtr.ErrTokenExpired, rtr.ErrTokenReused, rtr.ErrSessionNotFound} {
		require.NotErrorIs(t, err, auth, op)
	}
}

func TestRedisDownIsStoreUnavailable(t *testing.T) {
	ctx := context.Background()
	// Tokens minted while Redis was up ...
	m, _ := testredis.Mini(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	f := newFixture(t, rtr.NewRedisStore(c))
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)

	// ... meet a Redis that refuses connections.
	m.Close()
	_, err = f.iss.Refresh(ctx, p.RefreshToken)
	requireUnavailable(t, err, "refresh")
	_, err = f.iss.Issue(ctx, "alice")
	requireUnavailable(t, err, "issue")
	requireUnavailable(t, f.iss.Revoke(ctx, p.RefreshToken), "revoke")
	requireUnavailable(t, f.iss.RevokeAll(ctx, "alice"), "revoke all")
	_, err = f.iss.Sessions(ctx, "alice")
	requireUnavailable(t, err, "sessions")

	// Verification needs no store.
	_, err = f.iss.Verifier().Verify(ctx, p.AccessToken)
	require.NoError(t, err)

	// Back up: nothing was lost, rotation works again without a restart.
	// The client's pool redials in the background, so the first calls may
	// still fail; every failure must be "cannot tell", never a logout.
	require.NoError(t, m.Restart())
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		if err == nil || time.Now().After(deadline) {
			break
		}
		requireUnavailable(t, err, "refresh while reconnecting")
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err, "rotation works again once Redis is back")
}

func TestRedisRefusingConnections(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedPort(t), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	f := newFixture(t, rtr.NewRedisStore(c))
	_, err := f.iss.Issue(context.Background(), "alice")
	requireUnavailable(t, err, "issue")
}

func TestRedisDeadlineIsStoreUnavailable(t *testing.T) {
	_, c := testredis.Mini(t)
	f := newFixture(t, rtr.NewRedisStore(c))
	p, err := f.iss.Issue(context.Background(), "alice")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err = f.iss.Refresh(ctx, p.RefreshToken)
	requireUnavailable(t, err, "refresh past the deadline")
	_, err = f.iss.Refresh(context.Background(), p.RefreshToken)
	require.NoError(t, err, "the token was not spent")
}

// TestRedisHoldsNoToken scans every key and value after logins and
// rotations: no token, and no part of one, is stored.
func TestRedisHoldsNoToken(t *testing.T) {
	for name, client := range map[string]func(t *testing.T) redis.UniversalClient{
		"Miniredis": func(t *testing.T) redis.UniversalClient { _, c := testredis.Mini(t); return c },
		"RealRedis": func(t *testing.T) redis.UniversalClient { return testredis.Standalone(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := client(t)
			prefix := testredis.Prefix()
			f := newFixture(t, rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)))
			var tokens []string
			for _, subject := range []string{"alice", "bob"} {
				p, err := f.iss.Issue(ctx, subject, rtr.WithMeta("ua", "browser"))
				require.NoError(t, err)
				tokens = append(tokens, p.AccessToken, p.RefreshToken)
				for range 3 {
					p, err = f.iss.Refresh(ctx, p.RefreshToken)
					require.NoError(t, err)
					tokens = append(tokens, p.AccessToken, p.RefreshToken)
				}
			}

			var dump strings.Builder
			keys, err := c.Keys(ctx, prefix+"*").Result()
			require.NoError(t, err)
			require.NotEmpty(t, keys)
			for _, k := range keys {
				dump.WriteString(k + "\n")
				switch typ := c.Type(ctx, k).Val(); typ {
				case "hash":
					for f, v := range c.HGetAll(ctx, k).Val() {
						dump.WriteString(f + "=" + v + "\n")
					}
				case "zset":
					for _, m := range c.ZRange(ctx, k, 0, -1).Val() {
						dump.WriteString(m + "\n")
					}
				default:
					t.Fatalf("unexpected key type %q", typ)
				}
				ttl := c.PTTL(ctx, k).Val()
				require.Positive(t, ttl, "every key carries a TTL")
			}
			for _, tok := range tokens {
				parts := strings.Split(tok, ".")
				require.Len(t, parts, 3)
				require.NotContains(t, dump.String(), parts[1], "a token payload is stored")
				require.NotContains(t, dump.String(), parts[2], "a token signature is stored")
			}
		})
	}
}

func TestRedisKeysShareSubjectHashTag(t *testing.T) {
	ctx := context.Background()
	_, c := testredis.Mini(t)
	f := newFixture(t, rtr.NewRedisStore(c, rtr.WithKeyPrefix("app:")))
	for _, subject := range []string{"alice", "we{ir}d:subject", strings.Repeat("x", 100)} {
		_, err := f.iss.Issue(ctx, subject)
		require.NoError(t, err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	tags := map[string]int{}
	for _, k := range keys {
		require.True(t, strings.HasPrefix(k, "app:{"), k)
		tag := k[len("app:{"):strings.Index(k, "}")]
		require.NotContains(t, tag, "{")
		tags[tag]++
	}
	require.Len(t, tags, 3, "one hash tag per subject")
	for tag, n := range tags {
		require.Equal(t, 2, n, "session and index of %q share the tag", tag)
	}
	require.Contains(t, tags, "alice", "plain subjects stay readable")
}

// TestRedisClockAheadDoesNotBlockRotation: the late-rotation guard reads
// the server's clock; a server whose clock runs ahead must not make every
// rotation fail while the caller is still waiting for the answer.
func TestRedisClockAheadDoesNotBlockRotation(t *testing.T) {
	ctx := context.Background()
	m, c := testredis.Mini(t)
	f := newFixture(t, rtr.NewRedisStore(c))
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	m.SetTime(time.Now().Add(time.Hour))
	_, err = f.iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)
}
