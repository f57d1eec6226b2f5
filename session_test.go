package rtr_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// TestSessionsRevealNoRotationClock: a device list must not tell a thief
// when the victim rotates (it could then replay inside every grace window
// and follow the victim undetected): no time finer than a minute, no
// generation.
func TestSessionsRevealNoRotationClock(t *testing.T) {
	_, ok := reflect.TypeOf(rtr.Session{}).FieldByName("Generation")
	require.False(t, ok, "Session has no generation")
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		f := newFixture(t, store)
		login := f.clock.Now().Truncate(time.Minute).Add(37 * time.Second)
		f.clock.Advance(login.Sub(f.clock.Now()))
		p, err := f.iss.Issue(ctx, "alice")
		require.NoError(t, err)
		f.clock.Advance(2*time.Minute + 5*time.Second) // rotation at mm:42
		_, err = f.iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)
		rotated := f.clock.Now()

		sessions, err := f.iss.Sessions(ctx, "alice")
		require.NoError(t, err)
		require.Len(t, sessions, 1)
		s := sessions[0]
		for name, v := range map[string]time.Time{"CreatedAt": s.CreatedAt, "LastUsedAt": s.LastUsedAt, "ExpiresAt": s.ExpiresAt} {
			require.True(t, v.Equal(v.Truncate(time.Minute)), "%s %v is to the minute", name, v)
		}
		require.True(t, s.CreatedAt.Equal(login.Truncate(time.Minute)), "CreatedAt %v", s.CreatedAt)
		require.True(t, s.LastUsedAt.Equal(rotated.Truncate(time.Minute)), "LastUsedAt %v", s.LastUsedAt)
		require.True(t, s.ExpiresAt.Equal(rotated.Add(time.Hour).Truncate(time.Minute)), "ExpiresAt %v", s.ExpiresAt)
	})
}
