package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// queryCounter is a pgx tracer counting the statements a pool sends on
// testkit's round-trip counter; with prepared statements cached, each is
// one round trip.
type queryCounter struct{ testkit.RoundTrips }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.Record("query")
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestPostgresOneRoundTrip: every operation, and every outcome of a
// rotation, is one statement.
func TestPostgresOneRoundTrip(t *testing.T) {
	var qc queryCounter
	pool := newPool(t, func(c *pgxpool.Config) {
		c.MaxConns = 1 // one connection, so the warm-up prepares what is measured
		c.ConnConfig.Tracer = &qc
	})
	s := newStore(t, pool)
	ctx, at, subj := context.Background(), time.Now(), "rt-"+id()
	// count runs setup and op twice (the first time prepares op's
	// statement on the connection) and checks that op, the second time,
	// sent one statement.
	count := func(name string, setup, op func()) {
		t.Helper()
		for i := range 2 {
			if setup != nil {
				setup()
			}
			n, _ := qc.Count(op)
			if i == 1 {
				require.Equal(t, int64(1), n, name)
			}
		}
	}
	var r rtr.SessionRecord
	fresh := func() {
		r = record(subj, at)
		_, err := s.Create(ctx, r, 0)
		require.NoError(t, err)
	}
	rot := func(jti string, gen uint64, grace time.Duration) rtr.RotateRequest {
		return rtr.RotateRequest{Subject: subj, SessionID: r.ID, JTI: jti, Generation: gen, NewJTI: id(),
			Now: at, IdleTTL: time.Hour, Grace: grace, Deadline: time.Now().Add(time.Minute)}
	}
	rotateOnce := func(grace time.Duration) func() {
		return func() {
			fresh()
			_, err := s.Rotate(ctx, rot(r.Current, 1, grace))
			require.NoError(t, err)
		}
	}
	count("Create", nil, func() {
		_, err := s.Create(ctx, record(subj, at), 3)
		require.NoError(t, err)
	})
	count("Rotate/rotated", fresh, func() {
		res, err := s.Rotate(ctx, rot(r.Current, 1, time.Minute))
		require.NoError(t, err)
		require.Equal(t, rtr.OutcomeRotated, res.Outcome)
	})
	count("Rotate/retried", rotateOnce(time.Minute), func() {
		res, err := s.Rotate(ctx, rot(r.Current, 1, time.Minute))
		require.NoError(t, err)
		require.Equal(t, rtr.OutcomeRetried, res.Outcome)
	})
	count("Rotate/reused", rotateOnce(0), func() {
		res, err := s.Rotate(ctx, rot(r.Current, 1, 0))
		require.NoError(t, err)
		require.Equal(t, rtr.OutcomeReuseDetected, res.Outcome)
	})
	count("Rotate/not found", nil, func() {
		_, err := s.Rotate(ctx, rtr.RotateRequest{Subject: subj, SessionID: id(), JTI: id(), Generation: 1, NewJTI: id(), Now: at, IdleTTL: time.Hour})
		require.ErrorIs(t, err, rtr.ErrSessionNotFound)
	})
	count("Get", fresh, func() {
		_, err := s.Get(ctx, subj, r.ID, at)
		require.NoError(t, err)
	})
	count("List", nil, func() {
		_, err := s.List(ctx, subj, at)
		require.NoError(t, err)
	})
	count("Revoke", fresh, func() {
		ok, err := s.Revoke(ctx, subj, r.ID)
		require.NoError(t, err)
		require.True(t, ok)
	})
	count("RevokeAll", fresh, func() {
		_, err := s.RevokeAll(ctx, subj)
		require.NoError(t, err)
	})
	count("Cleanup", nil, func() {
		_, err := s.Cleanup(ctx, at, 10)
		require.NoError(t, err)
	})
}
