package rtr_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

func memRecord(subject string, at time.Time, life time.Duration) rtr.SessionRecord {
	return rtr.SessionRecord{
		ID: fmt.Sprintf("sid-%s-%d", subject, at.UnixNano()), Subject: subject, Current: "jti", Generation: 1,
		CreatedAt: at, LastUsedAt: at, IdleExpiresAt: at.Add(life), AbsoluteExpiresAt: at.Add(life),
	}
}

func TestMemoryStoreIsBounded(t *testing.T) {
	ctx := context.Background()
	const limit = 256
	s := rtr.NewMemoryStore(rtr.WithMaxSessions(limit))
	at := time.Now()
	created := 0
	var err error
	for i := range 10 * limit {
		if _, err = s.Create(ctx, memRecord(fmt.Sprint("u", i), at.Add(time.Duration(i)), time.Hour), 0); err != nil {
			break
		}
		created++
	}
	require.ErrorIs(t, err, rtr.ErrStoreUnavailable, "a full store refuses new sessions as unavailable, never by dropping live ones")
	require.LessOrEqual(t, created, limit, "the cap holds")
	require.Equal(t, created, s.Len())

	// Once those sessions expire, the space is reclaimed: the same users
	// (so the same shards) can all log in again.
	later := at.Add(2 * time.Hour)
	for i := range created {
		_, err := s.Create(ctx, memRecord(fmt.Sprint("u", i), later.Add(time.Duration(i)), time.Hour), 0)
		require.NoError(t, err)
	}
	require.LessOrEqual(t, s.Len(), limit, "expired sessions made room; the cap still holds")
}

func TestMemoryStoreForgetsExpiredSessions(t *testing.T) {
	ctx := context.Background()
	s := rtr.NewMemoryStore()
	at := time.Now()
	// Enough sessions that every shard passes its first sweep threshold.
	const n = 20000
	for i := range n {
		_, err := s.Create(ctx, memRecord(fmt.Sprint("u", i), at, time.Minute), 0)
		require.NoError(t, err)
	}
	// New logins long after: the expired ones are swept as shards grow, so
	// the store stays near the live set instead of doubling.
	later := at.Add(time.Hour)
	for i := range n {
		_, err := s.Create(ctx, memRecord(fmt.Sprint("w", i), later, time.Minute), 0)
		require.NoError(t, err)
	}
	require.Less(t, s.Len(), 3*n/2, "expired sessions are swept")
	list, err := s.List(ctx, "u0", later)
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestMemoryStoreManySubjectsConcurrently(t *testing.T) {
	f := newFixture(t, rtr.NewMemoryStore())
	const users, rounds = 32, 20
	errs := make([]error, users)
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			p, err := f.iss.Issue(ctx, fmt.Sprint("user-", u))
			for i := 0; err == nil && i < rounds; i++ {
				p, err = f.iss.Refresh(ctx, p.RefreshToken)
			}
			if err == nil {
				err = f.iss.Revoke(ctx, p.RefreshToken)
			}
			errs[u] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, users*rounds, f.events.Count(rtr.EventRotated))
	require.Equal(t, users, f.events.Count(rtr.EventRevoked))
}
