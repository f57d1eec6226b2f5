package rtr

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr/internal/testredis"
)

// TestRedisRotateDeadlineAgainstServerTime: the rotate script refuses to
// commit once the server's clock (TIME, to the millisecond) is past the
// deadline, and commits up to and including the deadline's millisecond,
// on both sides of a second's boundary. The server's clock is set 10 s
// behind this process's, so that the store does not repeat a refused call
// unguarded (it does that only while its own clock is before the
// deadline).
func TestRedisRotateDeadlineAgainstServerTime(t *testing.T) {
	ctx := context.Background()
	server := time.Now().Add(-10 * time.Second).Truncate(time.Second).Add(500 * time.Millisecond)
	for _, tc := range []struct {
		name     string
		deadline time.Time
		late     bool
	}{
		{"a second before", server.Add(-time.Second), true},
		{"the previous second's last millisecond", server.Add(-501 * time.Millisecond), true},
		{"a millisecond before, same second", server.Add(-time.Millisecond), true},
		{"the same millisecond", server, false},
		{"a millisecond after", server.Add(time.Millisecond), false},
		{"the next second", server.Add(time.Second), false},
		{"no deadline", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, c := testredis.Mini(t)
			m.SetTime(server)
			s := NewRedisStore(c)
			now := time.Now()
			rec := SessionRecord{ID: newID(), Subject: "alice", Current: newID(), Generation: 1,
				CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}
			_, err := s.Create(ctx, rec, 0)
			require.NoError(t, err)
			req := RotateRequest{Subject: rec.Subject, SessionID: rec.ID, JTI: rec.Current, Generation: 1,
				NewJTI: newID(), Now: now, IdleTTL: time.Hour, Deadline: tc.deadline}
			res, err := s.Rotate(ctx, req)
			if tc.late {
				require.True(t, errors.Is(err, errTooLate), "got %v", err)
				got, err := s.Get(ctx, rec.Subject, rec.ID, now)
				require.NoError(t, err)
				require.Equal(t, rec.Current, got.Current, "nothing committed")
				return
			}
			require.NoError(t, err)
			require.Equal(t, OutcomeRotated, res.Outcome)
			require.Equal(t, req.NewJTI, res.Session.Current)
		})
	}
}
