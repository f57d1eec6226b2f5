// Package feedloop is the reconnect loop the stores' revocation feeds share:
// follow one connection until it fails, tell the follower the feed is down,
// wait with a doubling back-off, and go again, until the context ends.
package feedloop

import (
	"context"
	"time"
)

// Run calls once until ctx is done. After each failure it calls down with
// the error and waits: minBackoff after a connection that got in sync (once
// reported up), otherwise twice the previous wait, at most maxBackoff. It
// returns ctx.Err().
func Run(ctx context.Context, minBackoff, maxBackoff time.Duration,
	once func(context.Context) (up bool, err error), down func(error)) error {
	backoff := minBackoff
	for ctx.Err() == nil {
		up, err := once(ctx)
		if ctx.Err() != nil {
			break
		}
		down(err)
		if up {
			backoff = minBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, maxBackoff)
	}
	return ctx.Err()
}
