package testkit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr/internal/testkit"
)

func TestClock(t *testing.T) {
	start := time.Unix(1_800_000_000, 5)
	c := testkit.NewClock(start)
	require.Equal(t, start, c.Now())
	c.Advance(time.Minute)
	require.Equal(t, start.Add(time.Minute), c.Now())
	c.Set(start)
	require.Equal(t, start, c.Now())

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { c.Advance(time.Second); _ = c.Now() })
	}
	wg.Wait()
	require.Equal(t, start.Add(4*time.Second), c.Now())

	n := testkit.NowClock()
	require.Zero(t, n.Now().Nanosecond())
	require.WithinDuration(t, time.Now(), n.Now(), 2*time.Second)
}

func TestRoundTrips(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	require.NoError(t, c.Ping(ctx).Err()) // the connection's handshake is not counted
	h := &testkit.RoundTrips{}
	c.AddHook(h)
	n, names := h.Count(func() {
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, "k")
			p.Get(ctx, "k")
			return nil
		})
		require.NoError(t, err)
	})
	require.EqualValues(t, 2, n)
	require.Equal(t, []string{"set", "pipeline"}, names)
	require.EqualValues(t, 2, h.Total())
}

// a JWS with header {"alg":"HS256"} and payload
// {"gen":3,"jti":"j","sid":"s","sub":"alice"}, signature "sig".
const tok = "eyJhbGciOiJIUzI1NiJ9.eyJnZW4iOjMsImp0aSI6ImoiLCJzaWQiOiJzIiwic3ViIjoiYWxpY2UifQ.c2ln"

func TestJWT(t *testing.T) {
	require.Equal(t, map[string]any{"alg": "HS256"}, testkit.Header(t, tok))
	require.Equal(t, testkit.TokenIDs{Gen: 3, JTI: "j", SID: "s", Sub: "alice"}, testkit.IDs(t, tok))
	require.Equal(t, "alice", testkit.Claim(t, tok, "sub"))
	require.JSONEq(t, `{"gen":3,"jti":"j","sid":"s","sub":"alice"}`, string(testkit.RawPayload(t, tok)))

	tampered := testkit.Tamper(t, tok)
	require.Equal(t, "mallory", testkit.Claim(t, tampered, "sub"))
	require.Equal(t, testkit.Segments(t, tok)[0], testkit.Segments(t, tampered)[0])
	require.Equal(t, testkit.Segments(t, tok)[2], testkit.Segments(t, tampered)[2])

	edited := testkit.EditPayload(t, tok, func(m map[string]any) { delete(m, "sid") })
	require.Nil(t, testkit.Claim(t, edited, "sid"))
}
