package pgstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rtr-go/rtr"
)

// chanFollower hands each delivered session id to a channel.
type chanFollower struct {
	mu  sync.Mutex
	up  bool
	got chan string
}

func (f *chanFollower) Revoked(revs []rtr.Revocation) {
	for _, r := range revs {
		select {
		case f.got <- r.SessionID:
		default:
		}
	}
}
func (f *chanFollower) FeedUp()        { f.mu.Lock(); f.up = true; f.mu.Unlock() }
func (f *chanFollower) FeedDown(error) { f.mu.Lock(); f.up = false; f.mu.Unlock() }

// BenchmarkPostgresFeedPropagation measures, one revocation at a time, the
// time from the start of PublishRevocations (through the pool) to its
// delivery to a follower (on its own LISTEN connection, as in another
// process), and reports the median and the 99th percentile; publish-ns is
// how long the publishing call took.
func BenchmarkPostgresFeedPropagation(b *testing.B) {
	ctx := context.Background()
	a := newStore(b, newPool(b, nil))
	f := &chanFollower{got: make(chan string, 1024)}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.FollowRevocations(fctx, time.Now, f) }()
	b.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; {
		f.mu.Lock()
		up := f.up
		f.mu.Unlock()
		if up {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("feed never up")
		}
		time.Sleep(time.Millisecond)
	}
	subj := "prop-" + id()
	lat, pub := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		sid := id()
		t0 := time.Now()
		if err := a.PublishRevocations(ctx, t0, []rtr.Revocation{{Subject: subj, SessionID: sid, Until: t0.Add(time.Minute)}}); err != nil {
			b.Fatal(err)
		}
		pub = append(pub, time.Since(t0))
		for got := ""; got != sid; {
			select {
			case got = <-f.got:
			case <-time.After(10 * time.Second):
				b.Fatal("not delivered")
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(pub)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(pub[len(pub)/2].Nanoseconds()), "publish-ns")
	b.ReportMetric(0, "ns/op")
}
