// Package pgstore is an [rtr.Store] on PostgreSQL, through a pgx
// [pgxpool.Pool], for services that keep their state in Postgres and run no
// Redis.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	store, err := pgstore.New(pool)
//	err = store.EnsureSchema(ctx) // idempotent; at start-up
//	iss, err := rtr.NewIssuer(rtr.Config{Store: store, Secret: secret})
//
// One row per session, keyed by (subject, id), holds token ids (jti),
// never a token. Every operation is one statement, or one call of a
// PL/pgSQL function the schema set-up creates: one round trip and one
// atomic step at the default READ COMMITTED isolation, with no
// serialization failure or deadlock to retry. Expired sessions are
// judged by the caller's clock (the now arguments), ignored at once, and
// deleted on the way: by Rotate and List when they meet them, by Create for
// its subject and a few others (see [WithSweep]), and in bulk by
// [Store.Cleanup], which a scheduler should call.
//
// The store implements [rtr.RevocationFeed] (for [rtr.Config.InstantRevocation]):
// ended sessions are recorded in a table and pushed with NOTIFY in the same
// statement; every follower LISTENs on a connection of its own and reads
// the table again after each reconnect, so it misses nothing (see
// [Store.PublishRevocations] and [Store.FollowRevocations]).
//
// Errors: a failure to reach the server, a timeout, a restarting server or
// a cancelled context is [rtr.ErrStoreUnavailable], never
// [rtr.ErrSessionNotFound]. A call whose connection broke (a killed
// backend, a restarting server) is repeated, at most twice, on a fresh
// connection while its context has time left, except a Create, whose
// first attempt may have committed; a rotation is repeated with the same
// new jti, which the rotation policy answers idempotently, so a lost reply
// does not look like theft.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rtr-go/rtr"
)

// Defaults of [New].
const (
	DefaultSchema      = "public"
	DefaultTablePrefix = "rtr_"
	DefaultSweep       = 16
)

// Store is an [rtr.Store] on PostgreSQL. Create it with [New] and create
// its schema with [Store.EnsureSchema]. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	n     names
	sweep int
	sql   struct {
		get, list, revoke, rotate, create, revokeAll, cleanup string
		publish, catchUpFirst, catchUpNext                    string
	}
}

// Option configures [New].
type Option func(*Store) error

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// WithSchema puts the store's tables and functions in schema (default
// [DefaultSchema]), which must exist. Lower-case letters, digits and _.
func WithSchema(schema string) Option {
	return func(s *Store) error {
		if !identRE.MatchString(schema) || len(schema) > 63 {
			return fmt.Errorf("pgstore: schema %q: want 1-63 of a-z, 0-9, _", schema)
		}
		s.n.schema = schema
		return nil
	}
}

// WithTablePrefix sets the prefix of the store's table, index and function
// names (default [DefaultTablePrefix]), so that several stores share one
// schema. Lower-case letters, digits and _, at most 40 bytes.
func WithTablePrefix(prefix string) Option {
	return func(s *Store) error {
		if !identRE.MatchString(prefix) || len(prefix) > 40 {
			return fmt.Errorf("pgstore: table prefix %q: want 1-40 of a-z, 0-9, _", prefix)
		}
		s.n.prefix = prefix
		return nil
	}
}

// WithSweep sets how many expired sessions of any subject each Create
// deletes on the way (default [DefaultSweep]; 0 turns it off and leaves
// everything to [Store.Cleanup]). The subject's own expired sessions are
// always deleted.
func WithSweep(n int) Option {
	return func(s *Store) error {
		if n < 0 {
			return fmt.Errorf("pgstore: negative sweep %d", n)
		}
		s.sweep = n
		return nil
	}
}

// New returns a store on pool. Run [Store.EnsureSchema] once before use
// (or apply [Store.SchemaSQL] with your migration tool). The pool's
// configuration and each call's context bound how long a call may take.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	s := &Store{pool: pool, sweep: DefaultSweep}
	s.n.schema, s.n.prefix = DefaultSchema, DefaultTablePrefix
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.n = newNames(s.n.schema, s.n.prefix)
	const cols = `cur, prev, gen, created_at, rotated_at, idle_exp, abs_exp, meta`
	s.sql.get = s.n.expand(`SELECT ` + cols + ` FROM {sessions}
		WHERE subject = $1 AND id = $2 AND least(idle_exp, abs_exp) > $3`)
	s.sql.list = s.n.expand(`WITH dead AS (
			DELETE FROM {sessions} t WHERE (t.subject, t.id) IN (
				SELECT subject, id FROM {sessions}
				WHERE subject = $1 AND least(idle_exp, abs_exp) <= $2 FOR UPDATE SKIP LOCKED))
		SELECT id, ` + cols + ` FROM {sessions}
		WHERE subject = $1 AND least(idle_exp, abs_exp) > $2 ORDER BY created_at, id`)
	s.sql.revoke = s.n.expand(`DELETE FROM {sessions} WHERE subject = $1 AND id = $2`)
	// The current token, the common case, is rotated by the UPDATE in the
	// WITH clause alone; the rotate function, which takes every decision,
	// runs only when that found nothing to update. The deadline is checked
	// in RETURNING, after the row lock is taken: past it, the statement
	// fails, which undoes the update. The failure is a failed cast of a
	// text that names it (SQLSTATE 22P02, see lateMarker), not a call of
	// the late function: a PL/pgSQL call in this statement cost some 10%
	// of a rotation, and plain SQL has no RAISE. The text depends on
	// clock_timestamp() so that the planner cannot fold the cast (and
	// fail) ahead of time.
	s.sql.rotate = s.n.expand(`WITH u AS (
			UPDATE {sessions} s SET prev = s.cur, cur = $5::text, gen = s.gen + 1, rotated_at = $6::timestamptz,
				idle_exp = least($6::timestamptz + $7::bigint * interval '1 microsecond', s.abs_exp)
			WHERE s.subject = $1::bytea AND s.id = $2::text AND s.gen = $4::bigint AND s.cur = $3::text
				AND least(s.idle_exp, s.abs_exp) > $6::timestamptz AND s.gen < 9223372036854775807
			RETURNING CASE
				WHEN $10::bigint IS NOT NULL AND clock_timestamp() - statement_timestamp() > $10::bigint * interval '1 microsecond'
					OR $9::timestamptz IS NOT NULL AND clock_timestamp() > $9::timestamptz
				THEN ('` + lateMarker + `' || left(clock_timestamp()::text, 0))::int
				ELSE 5 END AS code,
				s.cur, s.prev, s.gen, s.created_at, s.rotated_at, s.idle_exp, s.abs_exp, s.meta)
		SELECT code, cur, prev, gen, created_at, rotated_at, idle_exp, abs_exp, meta FROM u
		UNION ALL
		SELECT o_code, coalesce(o_cur, ''), coalesce(o_prev, ''), coalesce(o_gen, 0),
			coalesce(o_created, 'epoch'), coalesce(o_rotated, 'epoch'), coalesce(o_idle, 'epoch'), coalesce(o_abs, 'epoch'), o_meta
		FROM {rotate}($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9, $10)
		WHERE NOT EXISTS (SELECT FROM u)`)
	s.sql.create = s.n.expand(`SELECT * FROM {create}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
	s.sql.revokeAll = s.n.expand(`SELECT * FROM {revoke_all}($1)`)
	s.sql.cleanup = s.n.expand(`WITH dead AS (
			DELETE FROM {sessions} t WHERE (t.subject, t.id) IN (
				SELECT subject, id FROM {sessions} WHERE least(idle_exp, abs_exp) <= $1
				ORDER BY least(idle_exp, abs_exp) LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING 1)
		SELECT count(*) FROM dead`)
	// The batch is upserted (the later Until wins) and a few expired rows
	// not in the batch are deleted, skipping rows others hold; the SELECT
	// of the notify CTE is what runs pg_notify, once per chunk, and the
	// server sends the notifications when the statement commits.
	s.sql.publish = s.n.expand(`WITH b AS (
			SELECT * FROM unnest($1::bytea[], $2::text[], $3::timestamptz[]) AS b(subject, id, until)),
		up AS (
			INSERT INTO {revocations} AS r (subject, id, until) SELECT subject, id, until FROM b
			ON CONFLICT (subject, id) DO UPDATE SET until = greatest(r.until, excluded.until)),
		gone AS (
			DELETE FROM {revocations} t WHERE (t.subject, t.id) IN (
				SELECT r.subject, r.id FROM {revocations} r
				WHERE r.until <= $4::timestamptz
					AND NOT EXISTS (SELECT FROM b WHERE b.subject = r.subject AND b.id = r.id)
				ORDER BY r.until LIMIT $5::int FOR UPDATE SKIP LOCKED)),
		sent AS (SELECT pg_notify($6::text, c) FROM unnest($7::text[]) AS c)
		SELECT count(*) FROM sent`)
	s.sql.catchUpFirst = s.n.expand(`SELECT subject, id, until FROM {revocations}
		WHERE until > $1 ORDER BY subject, id LIMIT $2`)
	s.sql.catchUpNext = s.n.expand(`SELECT subject, id, until FROM {revocations}
		WHERE until > $1 AND (subject, id) > ($3::bytea, $4::text) ORDER BY subject, id LIMIT $2`)
	return s, nil
}

// Create stores a new session and, in the same atomic step, ends the
// subject's least recently used live sessions (smallest LastUsedAt, ties by
// CreatedAt, then ID) so that at most maxSessions remain including the new
// one, and returns their ids; maxSessions <= 0 means no limit. Expired
// sessions of the subject are deleted and not reported. A record that has
// already expired at its CreatedAt is not stored. Invalid records (empty
// Subject, ID or Current, Generation 0, a subject over
// [rtr.MaxSubjectLen] bytes) are refused.
func (s *Store) Create(ctx context.Context, r rtr.SessionRecord, maxSessions int) ([]string, error) {
	if err := validRecord(r); err != nil {
		return nil, err
	}
	meta, err := metaJSON(r.Meta)
	if err != nil {
		return nil, err
	}
	maxSessions = min(max(maxSessions, 0), math.MaxInt32)
	var evicted []string
	// Not repeated after a broken connection: the first attempt may have
	// committed, and a repeat would fail on the existing row.
	err = s.do(ctx, false, func(ctx context.Context) error {
		evicted = evicted[:0]
		rows, err := s.pool.Query(ctx, s.sql.create, []byte(r.Subject), r.ID, r.Current, r.Previous, int64(r.Generation),
			r.CreatedAt, r.LastUsedAt, r.IdleExpiresAt, r.AbsoluteExpiresAt, meta, maxSessions, s.sweep)
		if err != nil {
			return err
		}
		evicted, err = pgx.AppendRows(evicted, rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	return evicted, nil
}

// lateMarker is the text of the error a rotation that reached the
// server too late fails with.
const lateMarker = "rtr: rotation too late"

// Rotate implements [rtr.Store]: the whole decision is one statement, one
// round trip. A current token is rotated by a single UPDATE; anything else
// (a retry, a repeated request, reuse, an expired or missing session, a
// token ahead of the store) is decided by the rotate function the schema
// set-up creates, under the session's row lock.
//
// Past req.Deadline nothing changes. The check runs after the row lock is
// taken, against the time the statement has spent in the server
// (clock-independent) and against the server's clock (which also covers
// time in transit; keep the clocks in step with NTP). If the server says
// "too late" by its clock while this side still has time, its clock is
// ahead, and the call is repeated once with the first check alone.
func (s *Store) Rotate(ctx context.Context, req rtr.RotateRequest) (rtr.RotateResult, error) {
	if req.NewJTI == "" || !isText(req.NewJTI) {
		return rtr.RotateResult{}, fmt.Errorf("%w: new jti empty or not text", rtr.ErrStoreUnavailable)
	}
	if !isText(req.SessionID) {
		return rtr.RotateResult{}, rtr.ErrSessionNotFound
	}
	jti := req.JTI
	if !isText(jti) {
		jti = "" // matches no stored jti, so the policy sees an unknown token
	}
	gen := int64(math.MaxInt64) // newer than any stored generation
	if req.Generation < math.MaxInt64 {
		gen = int64(req.Generation)
	}
	checkClock := true
	var code int32
	var rec rtr.SessionRecord
	for {
		err := s.do(ctx, true, func(ctx context.Context) error {
			var deadline *time.Time
			var budget *int64
			if !req.Deadline.IsZero() {
				left := time.Until(req.Deadline).Microseconds()
				if left <= 0 {
					return errTooLate
				}
				budget = &left
				if checkClock {
					deadline = &req.Deadline
				}
			}
			var r row
			err := s.pool.QueryRow(ctx, s.sql.rotate, []byte(req.Subject), req.SessionID, jti, gen, req.NewJTI,
				req.Now, req.IdleTTL.Microseconds(), req.Grace.Microseconds(), deadline, budget,
			).Scan(&code, &r.cur, &r.prev, &r.gen, &r.created, &r.rotated, &r.idle, &r.abs, &r.meta)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && (pgErr.Code == "RT004" || pgErr.Code == "RT006") {
				code = int32(pgErr.Code[4] - '0')
				return nil
			}
			if errors.As(err, &pgErr) && pgErr.Code == "22P02" && strings.Contains(pgErr.Message, lateMarker) {
				// Too late by the time spent in the server (4) or by the
				// server's clock (6). Within the budget this side is still
				// before the deadline, so that tells them apart.
				code = 4
				if deadline != nil && time.Now().Before(req.Deadline) {
					code = 6
				}
				return nil
			}
			if err != nil {
				return err
			}
			if code == 1 || code == 2 || code == 5 {
				rec, err = r.record(req.Subject, req.SessionID)
			}
			return err
		})
		if err != nil {
			return rtr.RotateResult{}, err
		}
		if code == 6 && checkClock && time.Now().Before(req.Deadline) {
			checkClock = false
			continue
		}
		break
	}
	switch code {
	case 0:
		return rtr.RotateResult{}, rtr.ErrSessionNotFound
	case 1, 5:
		return rtr.RotateResult{Outcome: rtr.OutcomeRotated, Session: rec}, nil
	case 2:
		return rtr.RotateResult{Outcome: rtr.OutcomeRetried, Session: rec}, nil
	case 3:
		return rtr.RotateResult{Outcome: rtr.OutcomeReuseDetected}, nil
	case 4, 6:
		return rtr.RotateResult{}, errTooLate
	}
	return rtr.RotateResult{}, fmt.Errorf("%w: unexpected rotate code %d", rtr.ErrStoreUnavailable, code)
}

// Get implements [rtr.Store].
func (s *Store) Get(ctx context.Context, subject, sessionID string, now time.Time) (rtr.SessionRecord, error) {
	if !isText(sessionID) {
		return rtr.SessionRecord{}, rtr.ErrSessionNotFound
	}
	var rec rtr.SessionRecord
	err := s.do(ctx, true, func(ctx context.Context) error {
		var r row
		err := s.pool.QueryRow(ctx, s.sql.get, []byte(subject), sessionID, now).
			Scan(&r.cur, &r.prev, &r.gen, &r.created, &r.rotated, &r.idle, &r.abs, &r.meta)
		if errors.Is(err, pgx.ErrNoRows) {
			return rtr.ErrSessionNotFound
		}
		if err != nil {
			return err
		}
		rec, err = r.record(subject, sessionID)
		return err
	})
	return rec, err
}

// Revoke implements [rtr.Store].
func (s *Store) Revoke(ctx context.Context, subject, sessionID string) (bool, error) {
	if !isText(sessionID) {
		return false, nil
	}
	var ok bool
	err := s.do(ctx, true, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, s.sql.revoke, []byte(subject), sessionID)
		ok = tag.RowsAffected() == 1
		return err
	})
	return ok, err
}

// RevokeAll implements [rtr.Store].
func (s *Store) RevokeAll(ctx context.Context, subject string) ([]string, error) {
	ids := []string{}
	err := s.do(ctx, true, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.sql.revokeAll, []byte(subject))
		if err != nil {
			return err
		}
		ids, err = pgx.AppendRows(ids[:0], rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// List implements [rtr.Store]: the subject's live sessions by login time,
// oldest first; the expired ones are deleted by the same statement.
func (s *Store) List(ctx context.Context, subject string, now time.Time) ([]rtr.SessionRecord, error) {
	var out []rtr.SessionRecord
	err := s.do(ctx, true, func(ctx context.Context) error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, s.sql.list, []byte(subject), now)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			var id string
			if err := rows.Scan(&id, &r.cur, &r.prev, &r.gen, &r.created, &r.rotated, &r.idle, &r.abs, &r.meta); err != nil {
				return err
			}
			rec, err := r.record(subject, id)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Cleanup deletes up to limit sessions that have expired at now, the
// longest-expired first, and returns how many it deleted. It uses the
// expiry index and skips rows other calls hold, so it never scans the
// table or waits. Run it from a scheduler (every few minutes, say) with a
// limit of a few thousand, repeating while it returns limit; the stores'
// own clean-up on writes only keeps up with a steady trickle.
func (s *Store) Cleanup(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := s.do(ctx, true, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, s.sql.cleanup, now, limit).Scan(&n)
	})
	return int(n), err
}

// row is a session as the queries return it.
type row struct {
	cur, prev                   string
	gen                         int64
	created, rotated, idle, abs time.Time
	meta                        []byte
}

func (r row) record(subject, id string) (rtr.SessionRecord, error) {
	rec := rtr.SessionRecord{
		ID: id, Subject: subject, Current: r.cur, Previous: r.prev, Generation: uint64(r.gen),
		CreatedAt: r.created, LastUsedAt: r.rotated, IdleExpiresAt: r.idle, AbsoluteExpiresAt: r.abs,
	}
	if len(r.meta) > 0 {
		if err := json.Unmarshal(r.meta, &rec.Meta); err != nil {
			return rtr.SessionRecord{}, fmt.Errorf("%w: session metadata: %w", rtr.ErrStoreUnavailable, err)
		}
	}
	return rec, nil
}

// metaJSON encodes metadata for the jsonb column; nil for none.
func metaJSON(m map[string]string) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: session metadata: %w", errInvalidRecord, err)
	}
	return b, nil
}

func validRecord(r rtr.SessionRecord) error {
	switch {
	case r.Subject == "" || len(r.Subject) > rtr.MaxSubjectLen:
		return fmt.Errorf("%w: subject empty or over %d bytes", errInvalidRecord, rtr.MaxSubjectLen)
	case r.ID == "" || r.Current == "":
		return fmt.Errorf("%w: empty id or current jti", errInvalidRecord)
	case !isText(r.ID) || !isText(r.Current) || !isText(r.Previous):
		return fmt.Errorf("%w: an id is not valid UTF-8 or holds a NUL byte", errInvalidRecord)
	case r.Generation == 0 || r.Generation >= math.MaxInt64:
		return fmt.Errorf("%w: generation %d", errInvalidRecord, r.Generation)
	}
	return nil
}

// isText reports whether s can be stored in a text column: valid UTF-8
// without NUL bytes. rtr's ids always are; anything else cannot be stored
// and so matches nothing.
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
