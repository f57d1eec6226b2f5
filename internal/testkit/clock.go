package testkit

import (
	"sync"
	"time"
)

// Clock is a settable clock for an injected Now func. It stands still
// until it is moved with [Clock.Set] or [Clock.Advance], and it is safe
// for concurrent use: handlers and store goroutines read it while the
// test moves it. It is wall-clock only (no monotonic reading). The zero
// Clock stands at the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that stands at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start.Round(0)} }

// NowClock returns a clock that stands at the current time, to the second.
// Real time, not a fixed date, suits tests whose cookie jars or Redis
// servers expire what they hold by the wall clock.
func NowClock() *Clock { return NewClock(time.Now().Truncate(time.Second)) }

// Now returns the clock's time; pass the method value, c.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t (forwards or backwards), dropping t's
// monotonic reading.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.Round(0)
}

// Advance moves the clock on by d (back for a negative d).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
