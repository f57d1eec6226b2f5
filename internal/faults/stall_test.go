package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
)

// TestFaultStalledRotationIsNotCommittedLate reproduces a server that
// hangs while a rotation is queued: the caller gives up (503), then the
// server resumes and runs the queued script. That late script must change
// nothing, or the client, who never received the new token, would be
// taken for a thief when it retries after the grace window.
func TestFaultStalledRotationIsNotCommittedLate(t *testing.T) {
	bin := requireFaults(t)
	srv := startRedis(t, bin)
	// go-redis retries a timed-out script; each retry queues another copy.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ReadTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	clk := testkit.NewClock(time.Now())
	events := &issuertest.EventLog{}
	iss := newIssuer(t, rtr.NewRedisStore(client), 10*time.Second, clk.Now, events)
	ctx := context.Background()

	p, err := iss.Issue(ctx, "stalled")
	require.NoError(t, err)
	p, err = iss.Refresh(ctx, p.RefreshToken) // loads the rotate script
	require.NoError(t, err)

	srv.Pause()
	callCtx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = iss.Refresh(callCtx, p.RefreshToken)
	cancel()
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	srv.Resume()

	// Let the queued scripts run, then come back well after the grace.
	require.Eventually(t, func() bool { return client.Ping(ctx).Err() == nil }, 10*time.Second, 50*time.Millisecond)
	clk.Advance(time.Minute)
	next, err := iss.Refresh(ctx, p.RefreshToken)
	require.NoError(t, err, "the stalled rotation must not have spent the token")
	require.Zero(t, events.Count(rtr.EventReuseDetected), "no false theft alarm")
	gen := testkit.IDs(t, next.RefreshToken).Gen
	require.Equal(t, uint64(3), gen, "exactly one rotation committed after the warm-up")
}
