package rtr

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// refreshTimeout bounds a shared rotation. The rotation runs detached from
// the request that started it, so that one client hanging up does not fail
// the others waiting on the same rotation.
const refreshTimeout = 15 * time.Second

// refreshGroup lets parallel requests that carry the same refresh token
// share one rotation: a browser that loads a page with ten resources just
// after its access token expired sends the same refresh cookie ten times,
// and one rotation serves them all. Results live only while the rotation
// is in flight; a request arriving later rotates on its own and, within
// [Config.ReuseGrace], gets the same current token from the store.
// Entries are keyed by a SHA-256 of the token, never the token itself.
// Strict mode (a zero grace) shares nothing (see HTTPAuth.refresh).
type refreshGroup struct {
	m sync.Map // [sha256.Size]byte -> *flight
}

type flight struct {
	done chan struct{}
	pair Pair
	err  error
}

var errRefreshAborted = errors.New("rtr: refresh aborted")

// do runs fn once for all concurrent callers with the same token. Every
// caller, the one that started the rotation included, waits only as long
// as its own context allows. The rotation itself survives its starter
// hanging up (the others still want the answer) but not the starter's
// deadline, which the store uses to refuse a rotation that would commit
// after nobody is listening.
func (g *refreshGroup) do(ctx context.Context, token string, fn func(context.Context) (Pair, error)) (Pair, error) {
	key := sha256.Sum256([]byte(token))
	f := &flight{done: make(chan struct{}), err: errRefreshAborted}
	if v, loaded := g.m.LoadOrStore(key, f); loaded {
		f = v.(*flight)
	} else {
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(refreshTimeout)
		}
		fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					f.pair, f.err = Pair{}, errRefreshPanicked
				}
				cancel()
				g.m.Delete(key)
				close(f.done) // after Delete: a late caller starts afresh rather than reading a finished flight
			}()
			f.pair, f.err = fn(fctx)
		}()
	}
	select {
	case <-f.done:
		return f.pair, f.err
	case <-ctx.Done():
		return Pair{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, ctx.Err())
	}
}

// errRefreshPanicked replaces a panic in a shared rotation (from a
// [Config.Claims] or [Config.OnEvent] callback): it runs on its own
// goroutine, where an unrecovered panic would end the process.
var errRefreshPanicked = errors.New("rtr: refresh panicked")

// refresh rotates a refresh token, sharing the rotation with concurrent
// requests that carry the same token. With a zero [Config.ReuseGrace]
// (strict) nothing is shared: every presentation of a token is its own
// store call, so of two concurrent requests with one token (a thief racing
// the victim) one rotates and the other is reuse, which ends the session.
func (a *HTTPAuth) refresh(ctx context.Context, token string) (Pair, error) {
	if a.iss.cfg.ReuseGrace <= 0 {
		return a.iss.Refresh(ctx, token)
	}
	return a.flights.do(ctx, token, func(ctx context.Context) (Pair, error) {
		return a.iss.Refresh(ctx, token)
	})
}
