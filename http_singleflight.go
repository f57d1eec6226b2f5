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
type refreshGroup struct {
	m sync.Map // [sha256.Size]byte -> *flight
}

type flight struct {
	done chan struct{}
	pair Pair
	err  error
}

var errRefreshAborted = errors.New("rtr: refresh aborted")

// do runs fn once for all concurrent callers with the same token.
func (g *refreshGroup) do(ctx context.Context, token string, fn func(context.Context) (Pair, error)) (Pair, error) {
	key := sha256.Sum256([]byte(token))
	f := &flight{done: make(chan struct{}), err: errRefreshAborted}
	if v, loaded := g.m.LoadOrStore(key, f); loaded {
		f = v.(*flight)
		select {
		case <-f.done:
			return f.pair, f.err
		case <-ctx.Done():
			return Pair{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, ctx.Err())
		}
	}
	defer func() {
		g.m.Delete(key)
		close(f.done) // after Delete: a late caller starts afresh rather than reading a finished flight
	}()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	f.pair, f.err = fn(fctx)
	return f.pair, f.err
}

// refresh rotates a refresh token, sharing the rotation with concurrent
// requests that carry the same token.
func (a *HTTPAuth) refresh(ctx context.Context, token string) (Pair, error) {
	return a.flights.do(ctx, token, func(ctx context.Context) (Pair, error) {
		return a.iss.Refresh(ctx, token)
	})
}
