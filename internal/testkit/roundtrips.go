package testkit

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips counts round trips. It is a go-redis hook (add it with
// AddHook) that counts one per command, and one per pipeline or
// transaction, which is one round trip whatever it holds; other drivers'
// adapters (a pgx tracer, say) call [RoundTrips.Record]. It also records
// the names of what was sent ("pipeline" for a pipeline). It is safe for
// concurrent use.
type RoundTrips struct {
	trips atomic.Int64

	mu    sync.Mutex
	names []string
}

var _ redis.Hook = (*RoundTrips)(nil)

// DialHook implements [redis.Hook]; dials are not counted.
func (h *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements [redis.Hook].
func (h *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.Record(cmd.Name())
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements [redis.Hook].
func (h *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.Record("pipeline")
		return next(ctx, cmds)
	}
}

// Record counts one round trip that sent name.
func (h *RoundTrips) Record(name string) {
	h.mu.Lock()
	h.names = append(h.names, name)
	h.mu.Unlock()
	h.trips.Add(1)
}

// Total returns the round trips counted so far.
func (h *RoundTrips) Total() int64 { return h.trips.Load() }

// Count returns the round trips fn makes and the names of the commands
// it sends. Other goroutines' traffic during fn is counted too.
func (h *RoundTrips) Count(fn func()) (int64, []string) {
	h.mu.Lock()
	h.names = nil
	h.mu.Unlock()
	n0 := h.trips.Load()
	fn()
	n := h.trips.Load() - n0
	h.mu.Lock()
	defer h.mu.Unlock()
	return n, h.names
}
