package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// feedWait bounds how long a pushed revocation may take to arrive in
// these tests (generous: this checks delivery, not speed).
const feedWait = 10 * time.Second

// follower records what a feed delivers.
type follower struct {
	mu    sync.Mutex
	revs  map[[2]string]time.Time
	ups   int
	downs int
}

func (f *follower) Revoked(revs []rtr.Revocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range revs {
		f.revs[[2]string{r.Subject, r.SessionID}] = r.Until
	}
}
func (f *follower) FeedUp()        { f.mu.Lock(); f.ups++; f.mu.Unlock() }
func (f *follower) FeedDown(error) { f.mu.Lock(); f.downs++; f.mu.Unlock() }

func (f *follower) has(subj, sid string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.revs[[2]string{subj, sid}]
	return u, ok
}

func (f *follower) inSync() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.ups > 0 }

// follow starts following feed until the end of the test and waits for
// the first FeedUp.
func follow(t *testing.T, feed rtr.RevocationFeed) *follower {
	t.Helper()
	f := &follower{revs: make(map[[2]string]time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.FollowRevocations(ctx, now, f) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Errorf("FollowRevocations returned %v, want context.Canceled", err)
			}
		case <-time.After(feedWait):
			t.Error("FollowRevocations did not return after its context was cancelled")
		}
	})
	require.Eventually(t, f.inSync, feedWait, time.Millisecond, "no FeedUp")
	return f
}

// testFeed checks a store's [rtr.RevocationFeed]: pushes reach a
// follower, a follower that starts later catches up on what is still in
// force and not on what has expired, and the later Until wins.
func testFeed(t *testing.T, newFeed func(t *testing.T) rtr.RevocationFeed) {
	ctx := context.Background()
	t.Run("Push", func(t *testing.T) {
		feed := newFeed(t)
		f := follow(t, feed)
		subj, sid := subject(t), id()
		until := now().Add(time.Minute)
		require.NoError(t, feed.PublishRevocations(ctx, now(), []rtr.Revocation{{Subject: subj, SessionID: sid, Until: until}}))
		require.Eventually(t, func() bool { _, ok := f.has(subj, sid); return ok }, feedWait, time.Millisecond)
		u, _ := f.has(subj, sid)
		require.True(t, u.Equal(until), "Until kept to the millisecond: %v, want %v", u, until)
	})
	t.Run("CatchUp", func(t *testing.T) {
		feed := newFeed(t)
		subj := subject(t)
		live, gone := id(), id()
		revs := []rtr.Revocation{
			{Subject: subj, SessionID: live, Until: now().Add(time.Minute)},
			{Subject: subj, SessionID: gone, Until: now().Add(50 * time.Millisecond)},
		}
		require.NoError(t, feed.PublishRevocations(ctx, now(), revs))
		time.Sleep(100 * time.Millisecond) // the short one's Until passes
		f := follow(t, feed)
		_, ok := f.has(subj, live)
		require.True(t, ok, "a revocation in force is delivered by the catch-up, before FeedUp")
		_, ok = f.has(subj, gone)
		require.False(t, ok, "an expired revocation is not delivered")
	})
	t.Run("LaterUntilWins", func(t *testing.T) {
		feed := newFeed(t)
		subj, sid := subject(t), id()
		late := now().Add(2 * time.Minute)
		require.NoError(t, feed.PublishRevocations(ctx, now(), []rtr.Revocation{{Subject: subj, SessionID: sid, Until: late}}))
		require.NoError(t, feed.PublishRevocations(ctx, now(), []rtr.Revocation{{Subject: subj, SessionID: sid, Until: now().Add(time.Minute)}}))
		f := follow(t, feed)
		u, ok := f.has(subj, sid)
		require.True(t, ok)
		require.True(t, u.Equal(late), "recorded Until %v, want the later %v", u, late)
	})
	t.Run("Many", func(t *testing.T) {
		feed := newFeed(t)
		f := follow(t, feed)
		subj := subject(t)
		revs := make([]rtr.Revocation, 2500)
		for i := range revs {
			revs[i] = rtr.Revocation{Subject: subj, SessionID: id(), Until: now().Add(time.Minute)}
		}
		require.NoError(t, feed.PublishRevocations(ctx, now(), revs))
		require.Eventually(t, func() bool {
			for _, r := range revs {
				if _, ok := f.has(subj, r.SessionID); !ok {
					return false
				}
			}
			return true
		}, feedWait, time.Millisecond)
		late := follow(t, feed)
		for _, r := range revs {
			_, ok := late.has(subj, r.SessionID)
			require.True(t, ok)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		feed := newFeed(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := feed.PublishRevocations(cctx, now(), []rtr.Revocation{{Subject: subject(t), SessionID: id(), Until: now().Add(time.Minute)}})
		require.ErrorIs(t, err, rtr.ErrStoreUnavailable)
	})
}
