package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the version of the schema this package writes and
// expects. [Store.EnsureSchema] brings an older schema up to it.
const SchemaVersion = 2

// migrations[i] takes the schema from version i to version i+1. A new
// version appends a step and never edits an old one, so that a database at
// any earlier version can be brought up to date. The SQL is a template:
// {sessions}, {version}, {rotate}, {late}, {create}, {revoke_all},
// {expiry}, {revocations} and {rev_expiry} are replaced by the quoted,
// schema-qualified names of the store.
var migrations = []string{
	// 1: the sessions table, its expiry index and the functions that make
	// every state change one call.
	`
CREATE TABLE IF NOT EXISTS {sessions} (
	subject    bytea       NOT NULL, -- any bytes: a subject need not be valid text
	id         text        COLLATE "C" NOT NULL, -- ordered byte by byte, as every store orders ids
	cur        text        NOT NULL,
	prev       text        NOT NULL DEFAULT '',
	gen        bigint      NOT NULL,
	created_at timestamptz NOT NULL,
	rotated_at timestamptz NOT NULL,
	idle_exp   timestamptz NOT NULL,
	abs_exp    timestamptz NOT NULL,
	meta       jsonb,
	PRIMARY KEY (subject, id)
);
CREATE INDEX IF NOT EXISTS {expiry} ON {sessions} ((least(idle_exp, abs_exp)));
` + lateFunc + rotateFunc + createFunc + revokeAllFunc,
	// 2: the record of the revocation feed (see feed.go): ended sessions
	// whose access tokens must be refused until their Until.
	`
CREATE TABLE IF NOT EXISTS {revocations} (
	subject bytea       NOT NULL,
	id      text        COLLATE "C" NOT NULL,
	until   timestamptz NOT NULL,
	PRIMARY KEY (subject, id)
);
CREATE INDEX IF NOT EXISTS {rev_expiry} ON {revocations} (until);
`,
}

// lateFunc is part of schema version 1 and no longer called: the rotation
// statement now makes the same check in plain SQL (see New). It fails the
// statement that calls it, undoing what it changed,
// once the caller's deadline has passed: by the time the statement has
// spent in the server (SQLSTATE RT004) or by the server's clock (RT006).
// Otherwise it returns 5, the code of a rotation.
const lateFunc = `
CREATE OR REPLACE FUNCTION {late}(p_deadline timestamptz, p_budget_us bigint)
RETURNS int
LANGUAGE plpgsql AS $fn$
BEGIN
	IF p_budget_us IS NOT NULL AND clock_timestamp() - statement_timestamp() > p_budget_us * interval '1 microsecond' THEN
		RAISE EXCEPTION 'rtr: rotation too late' USING ERRCODE = 'RT004';
	END IF;
	IF p_deadline IS NOT NULL AND clock_timestamp() > p_deadline THEN
		RAISE EXCEPTION 'rtr: rotation too late by the server clock' USING ERRCODE = 'RT006';
	END IF;
	RETURN 5;
END
$fn$;
`

// rotateFunc is the rotation decision (store.go's policy, rtr.Store.Rotate)
// in one function call. The row lock (FOR UPDATE at READ COMMITTED) makes
// concurrent calls on one session take turns; a waiter reads the row its
// predecessor committed, so 64 racing calls yield one rotation and 63
// retries (or reuse), never a serialization failure. Only one row is ever
// locked, so a rotation cannot be part of a deadlock.
//
// The deadline is checked after the lock is taken, where a call may have
// waited, in two ways: p_budget_us against the time this statement has
// spent in the server (immune to clock skew), and p_deadline against the
// server's clock (also covers time spent in transit; wrong if the clocks
// disagree, which the caller detects by code 6 and then retries with the
// budget alone). A strict caller (no grace) never shares a rotation, even
// with a request whose clock reading is older than the rotation it lost to.
// Codes: 0 not found (or the token is newer than the store:
// deleted), 1 this request repeated, 2 retried within the grace, 3 reused
// (deleted), 4 and 6 too late (nothing changed), 5 rotated. On the
// rotation path "too late" is an error with SQLSTATE RT004 or RT006, which
// undoes the update.
const rotateFunc = `
CREATE OR REPLACE FUNCTION {rotate}(
	p_subject bytea, p_id text, p_jti text, p_gen bigint, p_new_jti text,
	p_now timestamptz, p_idle_us bigint, p_grace_us bigint,
	p_deadline timestamptz, p_budget_us bigint,
	OUT o_code int, OUT o_cur text, OUT o_prev text, OUT o_gen bigint,
	OUT o_created timestamptz, OUT o_rotated timestamptz,
	OUT o_idle timestamptz, OUT o_abs timestamptz, OUT o_meta jsonb)
LANGUAGE plpgsql AS $fn$
DECLARE
	r {sessions}%ROWTYPE;
BEGIN
	-- The common case, the current token, is a single UPDATE: one index
	-- look-up, and the row lock it takes is the update's own.
	UPDATE {sessions} s SET prev = s.cur, cur = p_new_jti, gen = s.gen + 1, rotated_at = p_now,
		idle_exp = least(p_now + p_idle_us * interval '1 microsecond', s.abs_exp)
	WHERE s.subject = p_subject AND s.id = p_id AND s.gen = p_gen AND s.cur = p_jti
		AND least(s.idle_exp, s.abs_exp) > p_now AND s.gen < 9223372036854775807
	RETURNING s.cur, s.prev, s.gen, s.created_at, s.rotated_at, s.idle_exp, s.abs_exp, s.meta
	INTO o_cur, o_prev, o_gen, o_created, o_rotated, o_idle, o_abs, o_meta;
	IF FOUND THEN
		-- Too late: the error undoes the update (the statement fails).
		IF p_budget_us IS NOT NULL AND clock_timestamp() - statement_timestamp() > p_budget_us * interval '1 microsecond' THEN
			RAISE EXCEPTION 'rtr: rotation too late' USING ERRCODE = 'RT004';
		END IF;
		IF p_deadline IS NOT NULL AND clock_timestamp() > p_deadline THEN
			RAISE EXCEPTION 'rtr: rotation too late by the server clock' USING ERRCODE = 'RT006';
		END IF;
		o_code := 5; RETURN;
	END IF;
	-- Everything else: read the row under its lock, then decide.
	SELECT * INTO r FROM {sessions} s WHERE s.subject = p_subject AND s.id = p_id FOR UPDATE;
	IF p_budget_us IS NOT NULL AND clock_timestamp() - statement_timestamp() > p_budget_us * interval '1 microsecond' THEN
		o_code := 4; RETURN;
	END IF;
	IF p_deadline IS NOT NULL AND clock_timestamp() > p_deadline THEN
		o_code := 6; RETURN;
	END IF;
	IF r.id IS NULL THEN
		o_code := 0; RETURN;
	END IF;
	IF least(r.idle_exp, r.abs_exp) <= p_now THEN
		DELETE FROM {sessions} s WHERE s.subject = p_subject AND s.id = p_id;
		o_code := 0; RETURN;
	END IF;
	IF p_gen = r.gen AND p_jti = r.cur THEN
		IF r.gen >= 9223372036854775807 THEN -- the generations ran out: end quietly
			DELETE FROM {sessions} s WHERE s.subject = p_subject AND s.id = p_id;
			o_code := 0; RETURN;
		END IF;
		UPDATE {sessions} s SET prev = r.cur, cur = p_new_jti, gen = r.gen + 1, rotated_at = p_now,
			idle_exp = least(p_now + p_idle_us * interval '1 microsecond', r.abs_exp)
		WHERE s.subject = p_subject AND s.id = p_id
		RETURNING s.cur, s.prev, s.gen, s.created_at, s.rotated_at, s.idle_exp, s.abs_exp, s.meta
		INTO o_cur, o_prev, o_gen, o_created, o_rotated, o_idle, o_abs, o_meta;
		o_code := 5; RETURN;
	END IF;
	IF p_gen = r.gen - 1 AND r.prev <> '' AND p_jti = r.prev AND
		(p_new_jti = r.cur OR p_grace_us > 0 AND p_now - r.rotated_at < p_grace_us * interval '1 microsecond') THEN
		o_code := CASE WHEN p_new_jti = r.cur THEN 1 ELSE 2 END;
		o_cur := r.cur; o_prev := r.prev; o_gen := r.gen; o_created := r.created_at;
		o_rotated := r.rotated_at; o_idle := r.idle_exp; o_abs := r.abs_exp; o_meta := r.meta;
		RETURN;
	END IF;
	DELETE FROM {sessions} s WHERE s.subject = p_subject AND s.id = p_id;
	o_code := CASE WHEN p_gen > r.gen THEN 0 ELSE 3 END;
END
$fn$;
`

// createFunc inserts a session and, in the same transaction, removes the
// subject's expired sessions and, past p_max, its least recently used
// ones (returned), then deletes up to p_sweep expired sessions of anyone
// (skipping rows others hold, so it never waits). Creates and RevokeAll of
// one subject take turns on an advisory lock, so two of them can never
// lock the subject's rows in different orders.
const createFunc = `
CREATE OR REPLACE FUNCTION {create}(
	p_subject bytea, p_id text, p_cur text, p_prev text, p_gen bigint,
	p_created timestamptz, p_rotated timestamptz, p_idle timestamptz, p_abs timestamptz,
	p_meta jsonb, p_max int, p_sweep int)
RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
BEGIN
	IF least(p_idle, p_abs) <= p_created THEN
		RETURN; -- dead on arrival: nothing to keep
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended('{sessions}' || encode(p_subject, 'hex'), 0));
	DELETE FROM {sessions} s WHERE s.subject = p_subject AND least(s.idle_exp, s.abs_exp) <= p_created;
	IF p_max > 0 THEN
		-- The ended sessions, least recently used first.
		RETURN QUERY WITH ended AS (
			DELETE FROM {sessions} t WHERE t.subject = p_subject AND t.id IN (
				SELECT s.id FROM {sessions} s WHERE s.subject = p_subject
				ORDER BY s.rotated_at DESC, s.created_at DESC, s.id DESC OFFSET p_max - 1)
			RETURNING t.id, t.rotated_at, t.created_at)
		SELECT ended.id FROM ended ORDER BY ended.rotated_at, ended.created_at, ended.id;
	END IF;
	INSERT INTO {sessions} (subject, id, cur, prev, gen, created_at, rotated_at, idle_exp, abs_exp, meta)
	VALUES (p_subject, p_id, p_cur, p_prev, p_gen, p_created, p_rotated, p_idle, p_abs, p_meta);
	IF p_sweep > 0 THEN
		DELETE FROM {sessions} t WHERE (t.subject, t.id) IN (
			SELECT s.subject, s.id FROM {sessions} s WHERE least(s.idle_exp, s.abs_exp) <= p_created
			ORDER BY least(s.idle_exp, s.abs_exp) LIMIT p_sweep FOR UPDATE SKIP LOCKED);
	END IF;
END
$fn$;
`

// revokeAllFunc deletes a subject's sessions under the subject's advisory
// lock (see createFunc) and returns their ids.
const revokeAllFunc = `
CREATE OR REPLACE FUNCTION {revoke_all}(p_subject bytea)
RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended('{sessions}' || encode(p_subject, 'hex'), 0));
	RETURN QUERY DELETE FROM {sessions} s WHERE s.subject = p_subject RETURNING s.id;
END
$fn$;
`

// names are the quoted, schema-qualified names of a store's objects.
type names struct {
	schema, prefix                                     string
	sessions, version, rotate, create, revokeAll, late string
	revocations                                        string
	expiryIndex, revExpiryIndex                        string // unqualified, as CREATE INDEX wants them
	channel                                            string // the feed's NOTIFY channel, unquoted
}

func newNames(schema, prefix string) names {
	q := func(n string) string { return pgx.Identifier{schema, prefix + n}.Sanitize() }
	return names{
		schema: schema, prefix: prefix,
		sessions: q("sessions"), version: q("schema_version"), rotate: q("rotate"),
		create: q("create"), revokeAll: q("revoke_all"), late: q("rotate_late"),
		revocations:    q("revocations"),
		expiryIndex:    pgx.Identifier{prefix + "sessions_expiry"}.Sanitize(),
		revExpiryIndex: pgx.Identifier{prefix + "revocations_expiry"}.Sanitize(),
		channel:        channelName(schema, prefix),
	}
}

func (n names) expand(sql string) string {
	return strings.NewReplacer(
		"{sessions}", n.sessions, "{version}", n.version, "{rotate}", n.rotate,
		"{create}", n.create, "{revoke_all}", n.revokeAll, "{late}", n.late, "{expiry}", n.expiryIndex,
		"{revocations}", n.revocations, "{rev_expiry}", n.revExpiryIndex,
	).Replace(sql)
}

// EnsureSchema creates the store's tables, index and functions, or brings
// them up to [SchemaVersion], and is safe to call on every start and from
// several processes at once: it runs in one transaction under an advisory
// lock, records the version in the table prefix+"schema_version", and
// applies only the steps the database lacks. The schema (see [WithSchema])
// must exist.
//
// Upgrade path: a release that changes the schema raises [SchemaVersion]
// and adds a step; calling EnsureSchema with it applies the missing steps
// in order. Steps only add (columns with defaults, indexes, replaced
// functions), so instances still running the previous release keep
// working until they are replaced. A database whose version is newer than
// this package knows is refused with an error and left unchanged: deploy
// the newer code, or run the older one without calling EnsureSchema.
//
// Version 2 adds the revocation feed's table (prefix+"revocations" and
// its index on until) and changes nothing else: a version-1 database is
// upgraded in place, its sessions kept, and version-1 code keeps working
// on it (it does not publish revocations).
//
// Run it at start-up, or apply the statements by hand: [Store.SchemaSQL]
// returns them.
func (s *Store) EnsureSchema(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.n.version); err != nil {
		return unavailable(err)
	}
	if _, err := tx.Exec(ctx, s.n.expand(`CREATE TABLE IF NOT EXISTS {version} (version int NOT NULL)`)); err != nil {
		return fmt.Errorf("pgstore: creating the version table: %w", err)
	}
	var have int
	err = tx.QueryRow(ctx, s.n.expand(`SELECT coalesce(max(version), 0) FROM {version}`)).Scan(&have)
	if err != nil {
		return unavailable(err)
	}
	if have > len(migrations) {
		return fmt.Errorf("pgstore: the database schema is at version %d, newer than this package's %d", have, len(migrations))
	}
	if have == len(migrations) {
		return nil
	}
	for v := have; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, s.n.expand(migrations[v])); err != nil {
			return fmt.Errorf("pgstore: schema step %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, s.n.expand(`DELETE FROM {version}`)); err != nil {
		return unavailable(err)
	}
	if _, err := tx.Exec(ctx, s.n.expand(`INSERT INTO {version} (version) VALUES ($1)`), len(migrations)); err != nil {
		return unavailable(err)
	}
	return unavailable(tx.Commit(ctx))
}

// SchemaSQL returns the statements [Store.EnsureSchema] runs to go from
// version from to [SchemaVersion] (0: an empty database), with this
// store's names, for teams that apply migrations with their own tools.
// They do not update the version table: record SchemaVersion there
// yourself if EnsureSchema may run later.
func (s *Store) SchemaSQL(from int) string {
	var b strings.Builder
	for v := max(from, 0); v < len(migrations); v++ {
		fmt.Fprintf(&b, "-- rtr pgstore schema step %d\n%s\n", v+1, s.n.expand(migrations[v]))
	}
	return b.String()
}
