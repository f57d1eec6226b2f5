package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rtr-go/rtr"
)

// BenchmarkPostgresInterleaved runs the rotation by the store, the naive
// transaction, a bare UPDATE and SELECT 1 in turn, one of each per
// iteration, timing each call, and reports the median of each and their
// ratios. On a shared, loaded machine the load then weighs on all four
// alike, which separate sub-benchmarks run seconds apart cannot promise.
func BenchmarkPostgresInterleaved(b *testing.B) {
	ctx, pool := context.Background(), newPool(b, nil)
	s := newStore(b, pool)
	table := tableOf(b, pool, s)
	at := time.Now()
	recs := seed(b, pool, table, 4*b.N, at)
	sel := `SELECT cur, prev, gen, rotated_at, idle_exp, abs_exp FROM ` + table + `sessions WHERE subject = $1 AND id = $2 FOR UPDATE`
	upd := `UPDATE ` + table + `sessions SET prev = $3, cur = $4, gen = $5, rotated_at = $6, idle_exp = $7 WHERE subject = $1 AND id = $2`
	bare := `UPDATE ` + table + `sessions SET prev = cur, cur = $3, gen = gen + 1, rotated_at = $4,
		idle_exp = least($4::timestamptz + interval '1 hour', abs_exp) WHERE subject = $1 AND id = $2
		RETURNING cur, prev, gen, created_at, rotated_at, idle_exp, abs_exp, meta`

	storeOp := func(r rtr.SessionRecord) error {
		res, err := s.Rotate(ctx, rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1,
			NewJTI: id(), Now: at, IdleTTL: time.Hour, Grace: 10 * time.Second, Deadline: time.Now().Add(5 * time.Second)})
		if err == nil && res.Outcome != rtr.OutcomeRotated {
			err = errors.New(res.Outcome.String())
		}
		return err
	}
	storeNoDeadline := func(r rtr.SessionRecord) error {
		_, err := s.Rotate(ctx, rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1,
			NewJTI: id(), Now: at, IdleTTL: time.Hour, Grace: 10 * time.Second})
		return err
	}
	naiveOp := func(r rtr.SessionRecord) error {
		subj, next := []byte(r.Subject), id()
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var cur, prev string
			var g int64
			var rotated, idle, abs time.Time
			if err := tx.QueryRow(ctx, sel, subj, r.ID).Scan(&cur, &prev, &g, &rotated, &idle, &abs); err != nil {
				return err
			}
			if cur != r.Current || g != 1 || !at.Before(idle) || !at.Before(abs) {
				return errors.New("not current")
			}
			newIdle := at.Add(time.Hour)
			if newIdle.After(abs) {
				newIdle = abs
			}
			_, err := tx.Exec(ctx, upd, subj, r.ID, cur, next, g+1, at, newIdle)
			return err
		})
	}
	bareOp := func(r rtr.SessionRecord) error {
		rows, err := pool.Query(ctx, bare, []byte(r.Subject), r.ID, id(), at)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	}
	floorOp := func(rtr.SessionRecord) error {
		var one int
		return pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
	}
	ops := []struct {
		name string
		fn   func(rtr.SessionRecord) error
	}{{"store", storeOp}, {"naive", naiveOp}, {"update", bareOp}, {"select1", floorOp}, {"store-nodeadline", storeNoDeadline}}
	times := make([][]time.Duration, len(ops))
	b.ResetTimer()
	for i := range b.N {
		for k, op := range ops {
			r := recs[[]int{0, 1, 2, 0, 3}[k]*b.N+i] // each rotating op gets sessions of its own
			t0 := time.Now()
			if err := op.fn(r); err != nil {
				b.Fatal(op.name, err)
			}
			times[k] = append(times[k], time.Since(t0))
		}
	}
	b.StopTimer()
	med := make([]float64, len(ops))
	for k, op := range ops {
		slices.Sort(times[k])
		med[k] = float64(times[k][len(times[k])/2].Nanoseconds())
		b.ReportMetric(med[k], op.name+"-ns/op")
	}
	b.ReportMetric(med[1]/med[0], "naive/store")
	b.ReportMetric(med[3]/med[0], "select1/store")
	b.ReportMetric(0, "ns/op")
}
