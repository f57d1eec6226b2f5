package feedloop

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunBackoff: the wait doubles after connections that never got in
// sync, starts again from the minimum after one that did, is capped, and
// Run returns when the context ends, without calling down for that.
func TestRunBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ups := []bool{false, false, false, false, true, false}
		var starts []time.Duration
		var downs int
		begin := time.Now()
		once := func(ctx context.Context) (bool, error) {
			i := len(starts)
			starts = append(starts, time.Since(begin))
			if i == len(ups) {
				cancel()
				<-ctx.Done()
				return false, ctx.Err()
			}
			return ups[i], errors.New("connection lost")
		}
		err := Run(ctx, 100*time.Millisecond, 500*time.Millisecond, once, func(error) { downs++ })
		require.ErrorIs(t, err, context.Canceled)
		ms := func(d ...int) []time.Duration {
			out := make([]time.Duration, len(d))
			for i, v := range d {
				out[i] = time.Duration(v) * time.Millisecond
			}
			return out
		}
		// waits: 100, 200, 400, 500 (capped), then 100 after the up one, 200
		require.Equal(t, ms(0, 100, 300, 700, 1200, 1300, 1500), starts)
		require.Equal(t, len(ups), downs)
	})
}
