package rtr

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtr-go/rtr/internal/testkit"
	"github.com/stretchr/testify/require"
)

func newTestRevocations(clock *testkit.Clock, maxEntries int, events *[]EventType, mu *sync.Mutex) *revocations {
	r := newRevocations(revocationOptions{
		now: clock.Now, maxLag: time.Minute, maxEntries: maxEntries,
		emit: func(t EventType) { mu.Lock(); *events = append(*events, t); mu.Unlock() },
	})
	r.FeedUp()
	return r
}

// TestRevocationsSweep: expired entries are forgotten by the sweep, and
// an expired entry refuses nothing even before it is swept.
func TestRevocationsSweep(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	var events []EventType
	var mu sync.Mutex
	r := newTestRevocations(clock, 1000, &events, &mu)
	var revs []Revocation
	for i := range 500 {
		revs = append(revs, Revocation{Subject: "alice", SessionID: fmt.Sprint("s", i), Until: clock.Now().Add(time.Minute)})
	}
	r.Revoked(revs)
	require.Equal(t, 500, r.status().Entries)
	require.ErrorIs(t, r.check("alice", "s7"), ErrTokenRevoked)
	require.NoError(t, r.check("bob", "s7"), "keyed by subject and session")
	clock.Advance(time.Minute)
	require.NoError(t, r.check("alice", "s7"))
	for i := range revShards {
		r.sweep(i, clock.Now().UnixNano())
	}
	require.Zero(t, r.status().Entries)
	// Already expired on arrival: not kept.
	r.Revoked([]Revocation{{Subject: "alice", SessionID: "old", Until: clock.Now()}})
	require.Zero(t, r.status().Entries)
	// The later Until wins.
	r.Revoked([]Revocation{{Subject: "a", SessionID: "x", Until: clock.Now().Add(2 * time.Minute)}})
	r.Revoked([]Revocation{{Subject: "a", SessionID: "x", Until: clock.Now().Add(time.Minute)}})
	clock.Advance(90 * time.Second)
	require.ErrorIs(t, r.check("a", "x"), ErrTokenRevoked)
}

// TestRevocationsFlood: past the bound nothing is forgotten; every token
// is refused as unavailable until the excess has expired, and memory stays
// bounded.
func TestRevocationsFlood(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	var events []EventType
	var mu sync.Mutex
	const maxEntries = 640
	r := newTestRevocations(clock, maxEntries, &events, &mu)
	require.NoError(t, r.check("victim", "v"))
	for i := range 20 * maxEntries {
		r.Revoked([]Revocation{{Subject: "flood", SessionID: fmt.Sprint("f", i), Until: clock.Now().Add(time.Minute)}})
	}
	st := r.status()
	require.LessOrEqual(t, st.Entries, maxEntries)
	require.True(t, st.Overflow)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 1 && events[0] == EventRevocationOverflow
	}, 10*time.Second, time.Millisecond)
	require.ErrorIs(t, r.check("victim", "v"), ErrStoreUnavailable)
	for i := range 20 * maxEntries {
		err := r.check("flood", fmt.Sprint("f", i))
		require.Error(t, err, "no revoked session comes back")
	}
	clock.Advance(time.Minute)
	require.NoError(t, r.check("victim", "v"))
	require.False(t, r.status().Overflow)
	// Room again once the old ones expire.
	r.Revoked([]Revocation{{Subject: "alice", SessionID: "a", Until: clock.Now().Add(time.Minute)}})
	require.ErrorIs(t, r.check("alice", "a"), ErrTokenRevoked)
	require.NoError(t, r.check("victim", "v"))
}

// TestRevocationsLag: lag is reported once past maxLag; fail-closed
// refuses meanwhile; FeedUp recovers.
func TestRevocationsLag(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
		var events []EventType
		var mu sync.Mutex
		r := newTestRevocations(clock, 100, &events, &mu)
		r.failClosed = failClosed
		r.FeedDown(nil)
		clock.Advance(time.Minute)
		r.checkLag(clock.Now().UnixNano())
		require.NoError(t, r.check("a", "b"), "at the bound")
		clock.Advance(time.Millisecond)
		r.checkLag(clock.Now().UnixNano())
		r.checkLag(clock.Now().UnixNano())
		if failClosed {
			require.ErrorIs(t, r.check("a", "b"), ErrStoreUnavailable)
		} else {
			require.NoError(t, r.check("a", "b"))
		}
		require.Equal(t, time.Minute+time.Millisecond, r.status().Lag)
		r.FeedUp()
		require.NoError(t, r.check("a", "b"))
		require.Equal(t, []EventType{EventFeedLagging, EventFeedRecovered}, events)
	}
}

func TestRevMessageRoundTrip(t *testing.T) {
	var msg []byte
	want := []Revocation{
		{Subject: "alice", SessionID: "AAAAAAAAAAAAAAAAAAAAAA", Until: time.UnixMilli(1_800_000_000_123)},
		{Subject: "has space: and {braces}", SessionID: "x y", Until: time.UnixMilli(1)},
		{Subject: strings.Repeat("s", MaxSubjectLen), SessionID: strings.Repeat("i", maxSessionIDLen), Until: time.UnixMilli(2)},
	}
	for _, rv := range want {
		msg = appendRevMessage(msg, rv.Until.UnixMilli(), revMember(rv.Subject, rv.SessionID))
	}
	got, ok := parseRevMessage(string(msg))
	require.True(t, ok)
	require.Equal(t, want, got)
}

// FuzzRevMessage: the push parser never panics and accepts only what
// re-encodes to itself.
func FuzzRevMessage(f *testing.F) {
	f.Add(string(appendRevMessage(nil, 1_800_000_000_123, revMember("alice", "AAAAAAAAAAAAAAAAAAAAAA"))))
	f.Add("1 3:1:ab")
	f.Add("")
	f.Add("-1 0:")
	f.Fuzz(func(t *testing.T, msg string) {
		revs, ok := parseRevMessage(msg)
		if !ok {
			return
		}
		var b []byte
		for _, rv := range revs {
			b = appendRevMessage(b, rv.Until.UnixMilli(), revMember(rv.Subject, rv.SessionID))
		}
		if string(b) != msg {
			t.Fatalf("%q re-encodes as %q", msg, b)
		}
	})
}

// BenchmarkRevocationsCheck is Verify's added cost with InstantRevocation:
// the look-up alone, in an empty set and in one of 100,000 entries.
func BenchmarkRevocationsCheck(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		clock := testkit.NewClock(time.Now())
		var events []EventType
		var mu sync.Mutex
		r := newTestRevocations(clock, DefaultRevocationMaxEntries, &events, &mu)
		revs := make([]Revocation, n)
		for i := range revs {
			revs[i] = Revocation{Subject: fmt.Sprint("user", i), SessionID: fmt.Sprint("s", i), Until: clock.Now().Add(time.Hour)}
		}
		r.Revoked(revs)
		b.Run(fmt.Sprint("entries=", n), func(b *testing.B) {
			for b.Loop() {
				if err := r.check("alice@example.com", "AAAAAAAAAAAAAAAAAAAAAA"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRevocationsBoundIsGlobal: the set holds exactly maxEntries
// revocations in force, however they spread over the shards, and makes
// room by forgetting expired ones before it overflows.
func TestRevocationsBoundIsGlobal(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	var events []EventType
	var mu sync.Mutex
	const maxEntries = 100
	r := newTestRevocations(clock, maxEntries, &events, &mu)
	for i := range maxEntries {
		r.Revoked([]Revocation{{Subject: "alice", SessionID: fmt.Sprint("s", i), Until: clock.Now().Add(time.Minute)}})
	}
	st := r.status()
	require.Equal(t, maxEntries, st.Entries)
	require.False(t, st.Overflow, "exactly the bound fits")
	for i := range maxEntries {
		require.ErrorIs(t, r.check("alice", fmt.Sprint("s", i)), ErrTokenRevoked)
	}

	// Expired entries make room, wherever they are.
	clock.Advance(time.Minute)
	for i := range maxEntries {
		r.Revoked([]Revocation{{Subject: "bob", SessionID: fmt.Sprint("s", i), Until: clock.Now().Add(time.Minute)}})
	}
	st = r.status()
	require.Equal(t, maxEntries, st.Entries)
	require.False(t, st.Overflow)

	// One more in force than the bound: every token is refused.
	r.Revoked([]Revocation{{Subject: "carol", SessionID: "c", Until: clock.Now().Add(time.Minute)}})
	require.True(t, r.status().Overflow)
	require.ErrorIs(t, r.check("dave", "d"), ErrStoreUnavailable)
}
