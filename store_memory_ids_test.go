package rtr

// The memory store keeps rtr's own ids (22 characters of base64url) as 16
// bytes and any other id as a string (see memSession); every form must come
// back exactly as it went in.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMemoryStoreKeepsEveryIDForm(t *testing.T) {
	ctx := context.Background()
	forms := []string{
		newID(),                  // compact
		"AAAAAAAAAAAAAAAAAAAAAA", // compact, all zero bytes
		"AAAAAAAAAAAAAAAAAAAAAB", // 22 characters, non-zero padding bits: not canonical
		"short", "with space and ümlaut", "AAAAAAAAAAAAAAAAAAAA\nA", "AAAAAAAAAAAAAAAAAAAAAAA", "+/+/+/+/+/+/+/+/+/+/+/",
	}
	now := time.Now()
	for _, id := range forms {
		for _, cur := range forms {
			m := NewMemoryStore()
			rec := SessionRecord{
				ID: id, Subject: "s", Current: cur, Generation: 1, CreatedAt: now, LastUsedAt: now,
				IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour),
			}
			_, err := m.Create(ctx, rec, 0)
			require.NoError(t, err)
			got, err := m.Get(ctx, "s", id, now)
			require.NoError(t, err)
			require.Equal(t, id, got.ID)
			require.Equal(t, cur, got.Current)
			require.Empty(t, got.Previous)
			for _, next := range forms {
				if next == cur {
					continue
				}
				res, err := m.Rotate(ctx, RotateRequest{Subject: "s", SessionID: id, JTI: cur, Generation: rec.Generation, NewJTI: next, Now: now, IdleTTL: time.Hour, Grace: time.Minute})
				require.NoError(t, err)
				require.Equal(t, OutcomeRotated, res.Outcome)
				require.Equal(t, next, res.Session.Current)
				require.Equal(t, cur, res.Session.Previous)
				// The previous one within the grace: the current again.
				res, err = m.Rotate(ctx, RotateRequest{Subject: "s", SessionID: id, JTI: cur, Generation: rec.Generation, NewJTI: "x", Now: now, IdleTTL: time.Hour, Grace: time.Minute})
				require.NoError(t, err)
				require.Equal(t, OutcomeRetried, res.Outcome)
				require.Equal(t, next, res.Session.Current)
				require.Equal(t, cur, res.Session.Previous)
				cur = next
				rec.Generation++
			}
			list, err := m.List(ctx, "s", now)
			require.NoError(t, err)
			require.Len(t, list, 1)
			require.Equal(t, id, list[0].ID)
			ok, err := m.Revoke(ctx, "s", id+"x")
			require.NoError(t, err)
			require.False(t, ok)
			ids, err := m.RevokeAll(ctx, "s")
			require.NoError(t, err)
			require.Equal(t, []string{id}, ids)
		}
	}
}

// TestMemoryShardSharedChains runs a shard with every subject on one hash
// chain, as colliding hashes would put them, and through the compaction
// of its subject arena.
func TestMemoryShardSharedChains(t *testing.T) {
	sh := &NewMemoryStore().shards[0]
	const h = 42
	now := time.Now()
	rec := func(subject string, i int) SessionRecord {
		return SessionRecord{
			ID: newID(), Subject: subject, Current: newID(), Generation: 1,
			CreatedAt: now.Add(time.Duration(i)), LastUsedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour),
		}
	}
	subjects := []string{"alice", "bob", "", strings.Repeat("c", 300), "alice2"}
	var recs []SessionRecord
	for round := range 3 {
		for _, subject := range subjects {
			r := rec(subject, round)
			_, err := sh.create(h, r, 1<<20, 0)
			require.NoError(t, err)
			recs = append(recs, r)
		}
	}
	for _, r := range recs {
		i := sh.find(h, r.Subject, r.ID, now.UnixNano())
		require.NotEqual(t, noSlot, i)
		got := sh.record(i, r.Subject, "", "")
		require.Equal(t, r.ID, got.ID)
		require.Equal(t, r.Current, got.Current)
		for _, other := range subjects {
			if other != r.Subject {
				require.Equal(t, noSlot, sh.find(h, other, r.ID, now.UnixNano()), "another subject's session")
			}
		}
	}
	for _, subject := range subjects {
		list := sh.list(h, subject, now.UnixNano())
		require.Len(t, list, 3)
		for _, r := range list {
			require.Equal(t, subject, r.Subject)
		}
	}
	// Revoking subjects one by one leaves the others whole, and the arena
	// is compacted on the way.
	for round := range 40 {
		for _, subject := range subjects {
			_, err := sh.create(h, rec(subject+strings.Repeat("x", round), round), 1<<20, 0)
			require.NoError(t, err)
		}
	}
	before := len(sh.subjects)
	for round := range 40 {
		for _, subject := range subjects {
			require.Len(t, sh.revokeAll(h, subject+strings.Repeat("x", round)), 1+3*b2i(round == 0))
		}
	}
	require.Less(t, len(sh.subjects), before, "arena compacted")
	require.Zero(t, sh.count)
	require.Empty(t, sh.heads)
	require.LessOrEqual(t, sh.garbage, len(sh.subjects))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestMemoryCompactionEmptySubject: an empty subject has the arena offset
// of the subject stored after it; compaction must not take one for the
// other (the shard API is used directly: the store's Create refuses empty
// subjects).
func TestMemoryCompactionEmptySubject(t *testing.T) {
	sh := &NewMemoryStore().shards[0]
	const h = 7
	now := time.Now()
	rec := func(subject string) SessionRecord {
		return SessionRecord{
			ID: newID(), Subject: subject, Current: newID(), Generation: 1,
			CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour),
		}
	}
	// A long subject first makes garbage once revoked; then the empty
	// subject and bob share one offset.
	long := strings.Repeat("l", 4000)
	for _, r := range []SessionRecord{rec(long), rec(""), rec("bob"), rec("bob")} {
		_, err := sh.create(h, r, 1<<20, 0)
		require.NoError(t, err)
	}
	require.Len(t, sh.revokeAll(h, long), 1) // compacts the arena
	require.Zero(t, sh.garbage, "the arena was compacted")
	require.Len(t, sh.list(h, "bob", now.UnixNano()), 2, "bob's sessions survive the compaction")
	require.Len(t, sh.list(h, "", now.UnixNano()), 1)
	require.Equal(t, "bob", string(sh.subjects[:3]))
}

// TestMemoryCreateRefusesInvalidRecord: the store's Create validates.
func TestMemoryCreateRefusesInvalidRecord(t *testing.T) {
	_, err := NewMemoryStore().Create(context.Background(), SessionRecord{ID: "x", Current: "y", Generation: 1}, 0)
	require.ErrorIs(t, err, ErrInvalidSessionRecord)
}

// TestMemoryLoginFloodLeavesTheShardUsable: a login flood on one account
// stays at the session cap, so other users whose sessions share its shard
// can still log in (without a cap the flood filled the shard: 503s).
func TestMemoryLoginFloodLeavesTheShardUsable(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(WithMaxSessions(memShardCount * 150)) // 150 per shard
	iss, err := NewIssuer(Config{Store: m, Secret: internalSecret})
	require.NoError(t, err)
	for range 400 {
		_, err := iss.Issue(ctx, "alice")
		require.NoError(t, err)
	}
	list, err := iss.Sessions(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, list, DefaultMaxSessionsPerSubject)
	alice, _ := m.shard("alice")
	neighbour := ""
	for i := 0; neighbour == ""; i++ {
		if sh, _ := m.shard(fmt.Sprint("bob-", i)); sh == alice {
			neighbour = fmt.Sprint("bob-", i)
		}
	}
	_, err = iss.Issue(ctx, neighbour)
	require.NoError(t, err, "a user sharing the flooded account's shard logs in")
	require.Equal(t, DefaultMaxSessionsPerSubject+1, alice.count)
}
