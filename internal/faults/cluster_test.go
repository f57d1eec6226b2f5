package faults_test

// Fault test, case 6 after the five of store_test.go: a Redis
// Cluster slot is migrated between masters while sessions rotate, and no
// rotation may be lost, doubled or taken for theft. The test starts its own
// 3-master cluster (see startCluster) so that it may reshard freely; run
// with RTR_FAULTS=1.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
	"github.com/rtr-go/rtr/internal/testkit"
)

// slotMover moves one slot between the masters of an redisCluster with
// CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE and SETSLOT NODE, the way
// redis-cli --cluster reshard does, one key per MIGRATE so that the slot
// stays split for as long as possible.
type slotMover struct {
	tc      *redisCluster
	slot    int
	clients []*redis.Client
}

func newSlotMover(t *testing.T, tc *redisCluster, slot int) *slotMover {
	m := &slotMover{tc: tc, slot: slot}
	for _, n := range tc.nodes {
		c := n.client()
		t.Cleanup(func() { _ = c.Close() })
		m.clients = append(m.clients, c)
	}
	return m
}

func (m *slotMover) begin(from, to int) error {
	ctx := context.Background()
	if err := m.clients[to].Do(ctx, "CLUSTER", "SETSLOT", m.slot, "IMPORTING", m.tc.ids[from]).Err(); err != nil {
		return fmt.Errorf("IMPORTING: %w", err)
	}
	if err := m.clients[from].Do(ctx, "CLUSTER", "SETSLOT", m.slot, "MIGRATING", m.tc.ids[to]).Err(); err != nil {
		return fmt.Errorf("MIGRATING: %w", err)
	}
	return nil
}

func (m *slotMover) keys(node int) ([]string, error) {
	return m.clients[node].ClusterGetKeysInSlot(context.Background(), m.slot, 1000).Result()
}

func (m *slotMover) move(from, to int, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	args := []any{"MIGRATE", "127.0.0.1", m.tc.nodes[to].port, "", 0, 5000, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	return m.clients[from].Do(context.Background(), args...).Err()
}

// finish hands the slot to node to, on every node (target first).
func (m *slotMover) finish(from, to int) error {
	ctx := context.Background()
	order := []int{to, from}
	for i := range m.clients {
		if i != to && i != from {
			order = append(order, i)
		}
	}
	for _, i := range order {
		if err := m.clients[i].Do(ctx, "CLUSTER", "SETSLOT", m.slot, "NODE", m.tc.ids[to]).Err(); err != nil {
			return fmt.Errorf("SETSLOT NODE on node %d: %w", i, err)
		}
	}
	return nil
}

// moveAll migrates every key of the slot from -> to, one key per MIGRATE,
// pausing between keys.
func (m *slotMover) moveAll(from, to int, pause time.Duration) error {
	for {
		ks, err := m.keys(from)
		if err != nil {
			return err
		}
		if len(ks) == 0 {
			return nil
		}
		for _, k := range ks {
			if err := m.move(from, to, k); err != nil {
				return fmt.Errorf("MIGRATE: %w", err)
			}
			time.Sleep(pause)
		}
	}
}

func newClusterIssuer(t *testing.T, tc *redisCluster, grace time.Duration, events *issuertest.EventLog) (*rtr.Issuer, redis.UniversalClient) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tc.addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return newIssuer(t, rtr.NewRedisStore(c), grace, nil, events), c
}

func keySlot(t *testing.T, c redis.UniversalClient, key string) int {
	s, err := c.ClusterKeySlot(context.Background(), key).Result()
	require.NoError(t, err)
	return int(s)
}

// Rotations run on several devices of one subject while the subject's slot
// moves back and forth between masters, key by key. Every refresh is
// either a success or ErrStoreUnavailable ("cannot tell now"; the client
// keeps its token and retries), never a wrong answer; at the end every
// session is alive, the device holds its current token, and each
// session's generation is its number of rotations + 1.
func TestFaultSlotMigration(t *testing.T) {
	bin := requireFaults(t)
	tc := startCluster(t, bin)
	events := &issuertest.EventLog{}
	iss, client := newClusterIssuer(t, tc, 30*time.Second, events)
	ctx := context.Background()

	const subject = "migrating-user"
	const devices = 6
	slot := keySlot(t, client, "{"+subject+"}")
	mover := newSlotMover(t, tc, slot)

	pairs := make([]rtr.Pair, devices)
	for i := range pairs {
		var err error
		pairs[i], err = iss.Issue(ctx, subject)
		require.NoError(t, err)
	}

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[string]int{}
		rotated  = make([]int, devices)
		steps    = make([][][2]string, devices) // per device: (presented, received) refresh tokens
	)
	for i := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				p, err := iss.Refresh(cctx, pairs[i].RefreshToken)
				cancel()
				mu.Lock()
				outcomes[classify(err)]++
				if err == nil {
					// Decoded after wg.Wait, on the test goroutine.
					steps[i] = append(steps[i], [2]string{pairs[i].RefreshToken, p.RefreshToken})
					pairs[i] = p
				}
				mu.Unlock()
			}
		}()
	}

	var moveErrs []error
	const rounds = 6
	for r := range rounds {
		from := tc.ownerOf(t, slot)
		to := (from + 1) % len(tc.nodes)
		err := mover.begin(from, to)
		if err == nil {
			err = mover.moveAll(from, to, 3*time.Millisecond)
		}
		if err == nil {
			err = mover.finish(from, to)
		}
		if err != nil {
			moveErrs = append(moveErrs, fmt.Errorf("round %d: %w", r, err))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	for i, ss := range steps {
		for _, st := range ss {
			if testkit.IDs(t, st[1]).Gen == testkit.IDs(t, st[0]).Gen+1 {
				rotated[i]++
			}
		}
	}

	require.Empty(t, moveErrs, "the migration itself")
	t.Logf("refresh outcomes during %d slot migrations: %v", rounds, outcomes)
	for o := range outcomes {
		require.Contains(t, []string{"ok", "unavailable"}, o, "a legitimate refresh during a migration")
	}
	require.Positive(t, outcomes["ok"])
	require.Zero(t, events.Count(rtr.EventReuseDetected))

	ss, err := sessionRecords(ctx, iss, subject)
	require.NoError(t, err)
	require.Len(t, ss, devices, "every session is alive")
	byID := map[string]rtr.SessionRecord{}
	for _, s := range ss {
		byID[s.ID] = s
	}
	for i, p := range pairs {
		ids := testkit.IDs(t, p.RefreshToken)
		gen, sid := ids.Gen, ids.SID
		s, ok := byID[sid]
		require.True(t, ok)
		require.Equal(t, gen, s.Generation, "device %d holds the current generation", i)
		require.EqualValues(t, rotated[i]+1, s.Generation, "device %d: generation = rotations + 1", i)
		_, err := iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)
	}
}

// Logout-everywhere and the device list caught in the middle of a
// migration of the subject's slot, with the subject's hash still on the
// old master or already on the new one. Correct outcomes: the call fails
// with ErrStoreUnavailable, or it does its whole job. Once the migration
// completes, every session that RevokeAll reported revoked must be
// unusable, and Sessions must list every live session.
func TestFaultMigratingSlotRevokeAllAndList(t *testing.T) {
	bin := requireFaults(t)
	tc := startCluster(t, bin)
	iss, client := newClusterIssuer(t, tc, 10*time.Second, nil)
	ctx := context.Background()

	cases := []struct {
		name  string
		moved bool   // the subject's hash is already on the importing master
		op    string // "RevokeAll" or "Sessions"
	}{
		{"not yet moved, logout everywhere", false, "RevokeAll"},
		{"moved, logout everywhere", true, "RevokeAll"},
		{"not yet moved, device list", false, "Sessions"},
		{"moved, device list", true, "Sessions"},
	}
	for i, tcase := range cases {
		t.Run(tcase.name, func(t *testing.T) {
			subject := "split-" + strconv.Itoa(i)
			slot := keySlot(t, client, "{"+subject+"}")
			mover := newSlotMover(t, tc, slot)
			var pairs []rtr.Pair
			for range 3 {
				p, err := iss.Issue(ctx, subject)
				require.NoError(t, err)
				pairs = append(pairs, p)
			}
			from := tc.ownerOf(t, slot)
			to := (from + 1) % 3
			require.NoError(t, mover.begin(from, to))
			keys, err := mover.keys(from)
			require.NoError(t, err)
			require.Len(t, keys, 1, "one hash holds the subject's three sessions")
			if tcase.moved {
				require.NoError(t, mover.move(from, to, keys[0]))
			}

			var opErr error
			var listed int
			switch tcase.op {
			case "RevokeAll":
				opErr = iss.RevokeAll(ctx, subject)
			case "Sessions":
				var ss []rtr.Session
				ss, opErr = iss.Sessions(ctx, subject)
				listed = len(ss)
			}
			t.Logf("%s mid-migration: %s (listed %d)", tcase.op, classify(opErr), listed)
			require.Contains(t, []string{"ok", "unavailable"}, classify(opErr))

			require.NoError(t, mover.moveAll(from, to, 0))
			require.NoError(t, mover.finish(from, to))

			switch {
			case tcase.op == "RevokeAll" && opErr == nil:
				for _, p := range pairs {
					_, err := iss.Refresh(ctx, p.RefreshToken)
					require.ErrorIs(t, err, rtr.ErrSessionNotFound, "RevokeAll returned nil, so every session is gone")
				}
			case tcase.op == "Sessions" && opErr == nil:
				// Keep going on a mismatch: what follows shows whether the
				// damage outlives the migration.
				assert.Equal(t, 3, listed, "a successful device list lists every live session")
				fallthrough
			default:
				ss, err := iss.Sessions(ctx, subject)
				require.NoError(t, err)
				require.Len(t, ss, 3, "after the migration the device list is whole")
				require.NoError(t, iss.RevokeAll(ctx, subject))
				for _, p := range pairs {
					_, err := iss.Refresh(ctx, p.RefreshToken)
					require.ErrorIs(t, err, rtr.ErrSessionNotFound, "logout everywhere reaches every session")
				}
			}
		})
	}
}

// SCRIPT FLUSH on every master of a cluster (case 4 on a cluster).
func TestFaultScriptFlushSharded(t *testing.T) {
	bin := requireFaults(t)
	tc := startCluster(t, bin)
	iss, client := newClusterIssuer(t, tc, 10*time.Second, nil)
	cc := client.(*redis.ClusterClient)
	ctx := context.Background()
	flush := func() {
		require.NoError(t, cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.ScriptFlush(ctx).Err()
		}))
	}
	p, err := iss.Issue(ctx, "flushed-sharded")
	require.NoError(t, err)
	for range 3 {
		flush()
		p, err = iss.Refresh(ctx, p.RefreshToken)
		require.NoError(t, err)
	}
	flush()
	ss, err := iss.Sessions(ctx, "flushed-sharded")
	require.NoError(t, err)
	require.Len(t, ss, 1)
	flush()
	require.NoError(t, iss.RevokeAll(ctx, "flushed-sharded"))
}
