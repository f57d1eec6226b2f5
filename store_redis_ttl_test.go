package rtr

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr/internal/testredis"
)

// TestRedisHashTTLCoversSessions: however rotations skip PEXPIRE inside
// the TTL's bucket, the hash's TTL always reaches its sessions' expiry, in
// both record formats (format 1, written by earlier versions, extends the
// TTL at every rotation), and the hash ends at most one bucket after its
// last session.
func TestRedisHashTTLCoversSessions(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "bucketed", true: "format1"}[legacy], func(t *testing.T) {
			ctx := context.Background()
			m, c := testredis.Mini(t)
			now := time.Now().Truncate(time.Millisecond)
			m.SetTime(now)
			s := NewRedisStore(c)
			const idle = 14 * 24 * time.Hour
			rec := SessionRecord{
				ID: newID(), Subject: "alice", Current: newID(), Generation: 1,
				CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(idle), AbsoluteExpiresAt: now.Add(90 * 24 * time.Hour),
			}
			_, err := s.Create(ctx, rec, 0)
			require.NoError(t, err)
			key := s.key("alice")
			if legacy {
				v, err := c.HGet(ctx, key, rec.ID).Result()
				require.NoError(t, err)
				require.NoError(t, c.HSet(ctx, key, rec.ID, string(rune(recordV1))+v[1:]).Err())
			}
			cur, gen := rec.Current, rec.Generation
			step := 40 * time.Minute
			for i := range 400 { // 11 days: several buckets
				now = now.Add(step)
				m.FastForward(step)
				res, err := s.Rotate(ctx, RotateRequest{
					Subject: "alice", SessionID: rec.ID, JTI: cur, Generation: gen, NewJTI: newID(),
					Now: now, IdleTTL: idle, Grace: time.Second,
				})
				require.NoError(t, err, "rotation %d", i)
				require.Equal(t, OutcomeRotated, res.Outcome)
				cur, gen = res.Session.Current, res.Session.Generation
				ttl := m.TTL(key)
				require.GreaterOrEqual(t, ttl, res.Session.ExpiresAt().Sub(now), "rotation %d: the hash's TTL covers the session", i)
				require.LessOrEqual(t, ttl, res.Session.ExpiresAt().Sub(now)+idle/8, "rotation %d: at most a bucket more", i)
			}
			v, err := c.HGet(ctx, key, rec.ID).Result()
			require.NoError(t, err)
			require.Equal(t, legacy, v[0] == recordV1, "a rotation keeps the record's format")
		})
	}
}
