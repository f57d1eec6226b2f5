package pgstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// BenchmarkPostgresRotate compares, one call after another (one goroutine,
// so each figure is a latency), a rotation by the store (one function
// call), the same rotation as users would write it (BEGIN; SELECT ... FOR
// UPDATE; UPDATE; COMMIT: four round trips) and a bare SELECT 1 round
// trip, the floor. Each iteration rotates another session, as a real load
// does (a session is refreshed every few minutes, not thousands of times a
// second). Run them in one invocation so that the ratios compare like with
// like on a shared machine.
func BenchmarkPostgresRotate(b *testing.B) {
	ctx, pool := context.Background(), newPool(b, nil)
	s := newStore(b, pool)
	table := tableOf(b, pool, s)
	at := time.Now()

	b.Run("store", func(b *testing.B) {
		recs := seed(b, pool, table, b.N, at)
		b.ResetTimer()
		for i := range b.N {
			r := recs[i]
			res, err := s.Rotate(ctx, rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1,
				NewJTI: id(), Now: at, IdleTTL: time.Hour, Grace: 10 * time.Second, Deadline: time.Now().Add(5 * time.Second)})
			if err != nil || res.Outcome != rtr.OutcomeRotated {
				b.Fatal(res.Outcome, err)
			}
		}
	})

	b.Run("store-nodeadline", func(b *testing.B) {
		recs := seed(b, pool, table, b.N, at)
		b.ResetTimer()
		for i := range b.N {
			r := recs[i]
			res, err := s.Rotate(ctx, rtr.RotateRequest{Subject: r.Subject, SessionID: r.ID, JTI: r.Current, Generation: 1,
				NewJTI: id(), Now: at, IdleTTL: time.Hour, Grace: 10 * time.Second})
			if err != nil || res.Outcome != rtr.OutcomeRotated {
				b.Fatal(res.Outcome, err)
			}
		}
	})

	b.Run("naive", func(b *testing.B) {
		recs := seed(b, pool, table, b.N, at)
		sel := `SELECT cur, prev, gen, rotated_at, idle_exp, abs_exp FROM ` + table + `sessions WHERE subject = $1 AND id = $2 FOR UPDATE`
		upd := `UPDATE ` + table + `sessions SET prev = $3, cur = $4, gen = $5, rotated_at = $6, idle_exp = $7 WHERE subject = $1 AND id = $2`
		b.ResetTimer()
		for i := range b.N {
			r := recs[i]
			subj, next := []byte(r.Subject), id()
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
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
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	// update is one UPDATE ... RETURNING of the same columns without the
	// decision: what one write round trip costs at least.
	b.Run("update", func(b *testing.B) {
		recs := seed(b, pool, table, b.N, at)
		upd := `UPDATE ` + table + `sessions SET prev = cur, cur = $3, gen = gen + 1, rotated_at = $4,
			idle_exp = least($4::timestamptz + interval '1 hour', abs_exp) WHERE subject = $1 AND id = $2
			RETURNING cur, prev, gen, created_at, rotated_at, idle_exp, abs_exp, meta`
		b.ResetTimer()
		for i := range b.N {
			r := recs[i]
			rows, err := pool.Query(ctx, upd, []byte(r.Subject), r.ID, id(), at)
			if err == nil {
				rows.Close()
				err = rows.Err()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("select1", func(b *testing.B) {
		for range b.N {
			var one int
			if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// seed writes n sessions (of n/4 subjects) with COPY and returns them.
func seed(b *testing.B, pool *pgxpool.Pool, table string, n int, at time.Time) []rtr.SessionRecord {
	b.Helper()
	recs := make([]rtr.SessionRecord, n)
	rows := make([][]any, n)
	base := "bench-" + id() + "-"
	for i := range recs {
		r := record(base+strconv.Itoa(i/4), at)
		recs[i] = r
		rows[i] = []any{[]byte(r.Subject), r.ID, r.Current, int64(1), r.CreatedAt, r.LastUsedAt, r.IdleExpiresAt, r.AbsoluteExpiresAt}
	}
	ident := pgx.Identifier{"public", strings.TrimPrefix(table, "public.") + "sessions"}
	_, err := pool.CopyFrom(context.Background(), ident,
		[]string{"subject", "id", "cur", "gen", "created_at", "rotated_at", "idle_exp", "abs_exp"}, pgx.CopyFromRows(rows))
	require.NoError(b, err)
	return recs
}

// BenchmarkPostgresRefresh is a whole Issuer.Refresh (verify, rotate,
// sign) on the store.
func BenchmarkPostgresRefresh(b *testing.B) {
	ctx, s := context.Background(), newStore(b, nil)
	iss, err := rtr.NewIssuer(rtr.Config{Store: s, Secret: secret})
	require.NoError(b, err)
	p, err := iss.Issue(ctx, "bench-"+id())
	require.NoError(b, err)
	tok := p.RefreshToken
	for b.Loop() {
		p, err := iss.Refresh(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		tok = p.RefreshToken
	}
}

// BenchmarkPostgresBytesPerSession fills a fresh table with 100,000
// sessions (4 per subject, rotated once, no metadata, ids of rtr's form)
// and reports pg_total_relation_size (heap, TOAST and indexes) per
// session. Run with -benchtime=1x: the figure does not depend on b.N.
func BenchmarkPostgresBytesPerSession(b *testing.B) {
	const n = 100_000
	ctx, pool := context.Background(), newPool(b, nil)
	s := newStore(b, pool)
	table := tableOf(b, pool, s)
	_, err := pool.Exec(ctx, `DELETE FROM `+table+`sessions`)
	require.NoError(b, err)
	for b.Loop() {
	}
	_, err = pool.Exec(ctx, `INSERT INTO `+table+`sessions (subject, id, cur, prev, gen, created_at, rotated_at, idle_exp, abs_exp)
		SELECT convert_to('user-' || (i / 4)::text, 'UTF8'), x.id, x.cur, x.prev, 2, now(), now(), now() + interval '14 days', now() + interval '90 days'
		FROM generate_series(1, $1) AS i,
		LATERAL (SELECT translate(substr(encode(sha256(('id' || i)::bytea), 'base64'), 1, 22), '+/', '-_') AS id,
			translate(substr(encode(sha256(('cur' || i)::bytea), 'base64'), 1, 22), '+/', '-_') AS cur,
			translate(substr(encode(sha256(('prev' || i)::bytea), 'base64'), 1, 22), '+/', '-_') AS prev) AS x`, n)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `VACUUM ANALYZE `+table+`sessions`)
	require.NoError(b, err)
	var total, heap int64
	require.NoError(b, pool.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass), pg_table_size($1::regclass)`, table+"sessions").Scan(&total, &heap))
	b.ReportMetric(float64(total)/n, "bytes/session")
	b.ReportMetric(float64(heap)/n, "heap-bytes/session")
	b.ReportMetric(float64(total-heap)/n, "index-bytes/session")
}
