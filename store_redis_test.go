package rtr_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
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

// TestRedisOneKeyPerSubject: every session of a subject is a field of one
// hash, named after the subject inside a hash tag (a digest for a subject
// that is long or holds a brace, colon or '#'), so that every operation
// touches one key in one cluster slot.
func TestRedisOneKeyPerSubject(t *testing.T) {
	ctx := context.Background()
	_, c := testredis.Mini(t)
	f := newFixture(t, rtr.NewRedisStore(c, rtr.WithKeyPrefix("app:")))
	subjects := []string{"alice", "we{ir}d:subject", strings.Repeat("x", 100)}
	for _, subject := range subjects {
		for range 3 {
			_, err := f.iss.Issue(ctx, subject)
			require.NoError(t, err)
		}
	}
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, len(subjects), "one key per subject")
	for _, k := range keys {
		require.True(t, strings.HasPrefix(k, "app:{") && strings.HasSuffix(k, "}"), k)
		tag := k[len("app:{") : len(k)-1]
		require.NotContains(t, tag, "{")
		require.NotContains(t, tag, "}")
		require.EqualValues(t, 3, c.HLen(ctx, k).Val(), "%s holds its subject's sessions", k)
	}
	require.Contains(t, keys, "app:{alice}", "plain subjects stay readable")
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

// TestRedisSessionFitsIn256Bytes: a user's session, rotated once (so that
// it holds two jtis), stays in Redis's compact hash encoding and costs at
// most 256 bytes, key included, on a real server with its default
// configuration.
func TestRedisSessionFitsIn256Bytes(t *testing.T) {
	ctx := context.Background()
	c := testredis.Standalone(t)
	prefix := testredis.Prefix()
	f := newFixture(t, rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)))
	p, err := f.iss.Issue(ctx, "user-100000")
	require.NoError(t, err)
	_, err = f.iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err)
	key := prefix + "{user-100000}"
	require.Equal(t, "listpack", c.ObjectEncoding(ctx, key).Val())
	n, err := c.MemoryUsage(ctx, key, 0).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, n, int64(256), "MEMORY USAGE of a user with one session")
}

// TestRedisPrunesExpiredSessions: Redis has no TTL per hash field, so an
// expired session stays in its subject's hash until the next login or
// device list of that subject deletes it. On miniredis the test also
// moves the server's clock, and the hash expires with its last session.
func TestRedisPrunesExpiredSessions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) (redis.UniversalClient, func(time.Duration))
	}{
		{"Miniredis", func(t *testing.T) (redis.UniversalClient, func(time.Duration)) {
			m, c := testredis.Mini(t)
			m.SetTime(time.Now())
			return c, m.FastForward
		}},
		{"RealRedis", func(t *testing.T) (redis.UniversalClient, func(time.Duration)) {
			return testredis.Standalone(t), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, serverAdvance := tc.client(t)
			clock := testkit.NewClock(time.Now())
			advance := func(d time.Duration) {
				clock.Advance(d)
				if serverAdvance != nil {
					serverAdvance(d)
				}
			}
			prefix := testredis.Prefix()
			newIssuer := func(ttl time.Duration) *rtr.Issuer {
				iss, err := rtr.NewIssuer(rtr.Config{
					Store:  rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)),
					Secret: []byte("prune-test-secret-0123456789abcdef"), RefreshTTL: ttl, Now: clock.Now,
					// A login reads the hash once the subject is at its cap
					// (below it, it does not look): here the fifth.
					MaxSessionsPerSubject: 4,
				})
				require.NoError(t, err)
				return iss
			}
			brief, long := newIssuer(time.Minute), newIssuer(time.Hour)
			key := prefix + "{alice}"
			for _, op := range []struct {
				name string
				run  func() error
				live int // sessions left: the long one, and the login's own
			}{
				{"login", func() error { _, err := long.Issue(ctx, "alice"); return err }, 2},
				{"device list", func() error { _, err := long.Sessions(ctx, "alice"); return err }, 1},
			} {
				require.NoError(t, long.RevokeAll(ctx, "alice"))
				_, err := long.Issue(ctx, "alice")
				require.NoError(t, err)
				for range 3 {
					_, err := brief.Issue(ctx, "alice")
					require.NoError(t, err)
				}
				require.EqualValues(t, 4, c.HLen(ctx, key).Val())
				advance(2 * time.Minute)
				require.NoError(t, op.run(), op.name)
				require.EqualValues(t, op.live, c.HLen(ctx, key).Val(), "%s: only live sessions are kept", op.name)
			}
			if serverAdvance != nil {
				advance(2 * time.Hour)
				require.Zero(t, c.Exists(ctx, key).Val(), "the hash expires with its last session")
			}
		})
	}
}

// TestRedisDamagedRecordIsUnavailable: a session record rtr cannot read
// (written by something else, or by a newer version) is "cannot tell now",
// never "no such session", and is left in place.
func TestRedisDamagedRecordIsUnavailable(t *testing.T) {
	ctx := context.Background()
	_, c := testredis.Mini(t)
	f := newFixture(t, rtr.NewRedisStore(c))
	p, err := f.iss.Issue(ctx, "alice")
	require.NoError(t, err)
	const key = rtr.DefaultRedisKeyPrefix + "{alice}"
	sid := c.HKeys(ctx, key).Val()[0]
	for _, damaged := range []string{"garbage", "\x02" + strings.Repeat("\x00", 40)} {
		require.NoError(t, c.HSet(ctx, key, sid, damaged).Err())
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		requireUnavailable(t, err, "Refresh")
		_, err = f.iss.Sessions(ctx, "alice")
		requireUnavailable(t, err, "Sessions")
		_, err = f.iss.Issue(ctx, "alice") // meets the record while pruning, leaves it be
		require.NoError(t, err)
		require.Equal(t, damaged, c.HGet(ctx, key, sid).Val())
	}
}

// TestRedisGenerationsRunOut: the record keeps the generation in 32 bits;
// a session that reaches the last one (4 billion rotations) ends quietly
// rather than wrap around.
func TestRedisGenerationsRunOut(t *testing.T) {
	ctx := context.Background()
	_, c := testredis.Mini(t)
	store := rtr.NewRedisStore(c)
	now := time.Now()
	rec := rtr.SessionRecord{
		ID: "s1", Subject: "alice", Current: "j1", Generation: 1<<32 - 1,
		CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour),
	}
	_, err := store.Create(ctx, rec, 0)
	require.NoError(t, err)
	_, err = store.Rotate(ctx, rtr.RotateRequest{
		Subject: "alice", SessionID: "s1", JTI: "j1", Generation: 1<<32 - 1, NewJTI: "j2", Now: now, IdleTTL: time.Hour,
	})
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	_, err = store.Get(ctx, "alice", "s1", now)
	require.ErrorIs(t, err, rtr.ErrSessionNotFound)
}

// TestRedisDefaultClientNoGoroutinePerCall: with a go-redis client built
// with default options (ContextTimeoutEnabled off), a store call waiting
// on a server that never answers runs on the caller's goroutine alone (no
// goroutine watches its context), and still returns at its deadline as
// ErrStoreUnavailable.
func TestRedisDefaultClientNoGoroutinePerCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c // read nothing, answer nothing
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: l.Addr().String(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	store := rtr.NewRedisStore(c)

	const n = 8
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := store.Get(ctx, "alice", fmt.Sprint("s", i), time.Now())
			errs <- err
		}()
	}
	for range n {
		conn := <-accepted
		defer conn.Close()
	}
	// Every call is now blocked on its connection.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	require.False(t, strings.Contains(stacks, "created by github.com/rtr-go/rtr.bounded"), "a goroutine per store call")
	require.Equal(t, n, strings.Count(stacks, "rtr.(*RedisStore).Get("), "the callers wait in the store themselves")
	cancel() // not honoured by go-redis mid-read; the deadline below is
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, err = store.Get(ctx2, "alice", "s", time.Now())
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable, "the deadline holds")
	_ = l.Close()
	for _, conn := range drain(accepted) {
		_ = conn.Close()
	}
}

func drain(ch chan net.Conn) []net.Conn {
	var out []net.Conn
	for {
		select {
		case c := <-ch:
			out = append(out, c)
		default:
			return out
		}
	}
}
