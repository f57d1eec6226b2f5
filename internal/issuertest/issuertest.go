// Package issuertest holds the test helpers that need an [rtr.Issuer] or
// [rtr.Verifier]: the root package's external tests, the fault tests and
// the PostgreSQL store's tests share them. (internal/testkit holds those
// that do not import rtr, so that rtr's own internal tests can use them.)
package issuertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// EventLog records issuer events for assertions; its Record method is a
// [rtr.Config.OnEvent]. The zero EventLog is ready to use, and it is safe
// for concurrent use.
type EventLog struct {
	mu     sync.Mutex
	events []rtr.Event
}

// Record appends e.
func (l *EventLog) Record(_ context.Context, e rtr.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// Count is the number of events of type t recorded so far.
func (l *EventLog) Count(t rtr.EventType) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

// All returns a copy of the events recorded so far, oldest first.
func (l *EventLog) All() []rtr.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]rtr.Event(nil), l.events...)
}

// Last returns the most recent event, or the zero Event.
func (l *EventLog) Last() rtr.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return rtr.Event{}
	}
	return l.events[len(l.events)-1]
}

// wait bounds how long the helpers below wait for something asynchronous.
// It is generous, and no timing assertion: BENCHMARKS.md has the measured
// propagation figures.
const wait = 15 * time.Second

// WaitFeedInSync waits until v's revocation feed is in sync.
func WaitFeedInSync(t testing.TB, v *rtr.Verifier) {
	t.Helper()
	require.Eventually(t, func() bool { return v.RevocationStatus().InSync }, wait, 5*time.Millisecond,
		"revocation feed never got in sync")
}

// WaitRevoked waits until v refuses tok with [rtr.ErrTokenRevoked]:
// propagation between processes is asynchronous.
func WaitRevoked(t testing.TB, v *rtr.Verifier, tok string) {
	t.Helper()
	// EventuallyWithT reports the last attempt's error, not the first's.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := v.Verify(context.Background(), tok)
		assert.ErrorIs(c, err, rtr.ErrTokenRevoked, "token still accepted or refused for another reason")
	}, wait, 2*time.Millisecond)
}

// NewFollowing builds an issuer from cfg, which should set
// InstantRevocation, closes it when t ends, and waits until its verifier's
// revocation feed is in sync.
func NewFollowing(t testing.TB, cfg rtr.Config) *rtr.Issuer {
	t.Helper()
	iss, err := rtr.NewIssuer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = iss.Close() })
	WaitFeedInSync(t, iss.Verifier())
	return iss
}

// IssueMany logs subject in n times and returns the pairs.
func IssueMany(t testing.TB, iss *rtr.Issuer, subject string, n int) []rtr.Pair {
	t.Helper()
	out := make([]rtr.Pair, n)
	for i := range out {
		p, err := iss.Issue(context.Background(), subject)
		require.NoError(t, err)
		out[i] = p
	}
	return out
}
