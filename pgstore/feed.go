package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/feedloop"
)

// The store's revocation feed ([rtr.RevocationFeed]):
//
//   - the record is the table prefix+"revocations": one row per ended
//     session, keyed by (subject, id), with the Until of its revocation (a
//     later Until wins). Each publish deletes up to [revSweep] rows whose
//     Until has passed, through an index on until, so the table holds
//     little more than what is in force;
//   - the push channel is a NOTIFY channel named after the schema and the
//     prefix (see [Store.RevocationChannel]). The publishing statement
//     upserts the batch and calls pg_notify in the same statement, so the
//     push is sent when, and only if, the record is committed;
//   - the payload carries the revocations themselves (not a "something
//     changed" hint), as JSON arrays of [until in unix microseconds,
//     subject in base64, session id], in chunks of at most [revChunk]
//     bytes (NOTIFY payloads must stay under 8000). A follower therefore
//     needs no read per push, and there is no high-water mark to get wrong:
//     sequence numbers commit out of order, so "rows since the last one
//     seen" can skip a row committed late;
//   - a follower holds one connection of its own (not one of the pool's),
//     LISTENs on it, then reads every row still in force (the catch-up)
//     before reporting FeedUp. Notifications sent after the LISTEN are
//     queued by the server for that connection, so nothing published
//     during the catch-up is lost. After any failure it reports FeedDown,
//     reconnects with a back-off, LISTENs and catches up again.

// Timings and sizes of the feed.
const (
	revPing       = 2 * time.Second // an idle follower pings its connection this often
	revMinBackoff = 50 * time.Millisecond
	revMaxBackoff = 2 * time.Second
	revPage       = 5000 // rows read per catch-up statement
	revChunk      = 7000 // bytes of revocations per NOTIFY payload, at most
	revSweep      = 100  // expired rows each publish deletes, at most
	revMaxSID     = 64   // longest session id published (rtr's ids are far shorter)

	// FeedApplicationName is the application_name of a follower's
	// connection (see [Store.FollowRevocations]) when the pool's
	// configuration sets none, so that it can be told apart in
	// pg_stat_activity.
	FeedApplicationName = "rtr pgstore revocation feed"
)

// RevocationChannel returns the NOTIFY channel of the store's revocation
// feed: schema, a dot, table prefix and "revocations", shortened with a
// hash when that is longer than PostgreSQL's 63-byte names.
func (s *Store) RevocationChannel() string { return s.n.channel }

func channelName(schema, prefix string) string {
	c := schema + "." + prefix + "revocations"
	if len(c) <= 63 {
		return c
	}
	h := sha256.Sum256([]byte(c))
	return c[:46] + "_" + hex.EncodeToString(h[:8])
}

// PublishRevocations implements [rtr.RevocationFeed]: one statement (one
// round trip, one transaction) records revs, later Until winning, deletes
// a few expired ones, and sends them to every follower with NOTIFY, which
// the server delivers when the statement commits. Revocations whose Until
// is not after now are neither recorded nor sent. Publishing is
// idempotent, so a call whose connection broke is repeated like the other
// operations.
func (s *Store) PublishRevocations(ctx context.Context, now time.Time, revs []rtr.Revocation) error {
	type key struct{ subject, id string }
	latest := make(map[key]time.Time, len(revs))
	for _, rv := range revs {
		if rv.Subject == "" || len(rv.Subject) > rtr.MaxSubjectLen || rv.SessionID == "" ||
			len(rv.SessionID) > revMaxSID || !isText(rv.SessionID) {
			return fmt.Errorf("pgstore: invalid revocation")
		}
		if !rv.Until.After(now) {
			continue
		}
		k := key{rv.Subject, rv.SessionID}
		if u, ok := latest[k]; !ok || rv.Until.After(u) {
			latest[k] = rv.Until
		}
	}
	if len(latest) == 0 {
		return unavailable(ctx.Err())
	}
	// One row per key (ON CONFLICT may touch a row once per statement), in
	// one order, so that concurrent publishes lock shared rows in the same
	// order and cannot deadlock.
	keys := make([]key, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.subject, b.subject), cmp.Compare(a.id, b.id))
	})
	subjects, ids, untils := make([][]byte, len(keys)), make([]string, len(keys)), make([]time.Time, len(keys))
	var chunks []string
	var chunk bytes.Buffer
	for i, k := range keys {
		subjects[i], ids[i], untils[i] = []byte(k.subject), k.id, latest[k]
		e, err := json.Marshal([]any{untils[i].UnixMicro(), subjects[i], k.id})
		if err != nil {
			return fmt.Errorf("pgstore: encoding a revocation: %w", err)
		}
		if chunk.Len()+len(e)+2 > revChunk {
			chunk.WriteByte(']')
			chunks = append(chunks, chunk.String())
			chunk.Reset()
		}
		if chunk.Len() == 0 {
			chunk.WriteByte('[')
		} else {
			chunk.WriteByte(',')
		}
		chunk.Write(e)
	}
	chunk.WriteByte(']')
	chunks = append(chunks, chunk.String())
	return s.do(ctx, true, func(ctx context.Context) error {
		var n int64
		return s.pool.QueryRow(ctx, s.sql.publish, subjects, ids, untils, now, revSweep, s.n.channel, chunks).Scan(&n)
	})
}

// parsePayload decodes a NOTIFY payload of the feed.
func parsePayload(p string) ([]rtr.Revocation, error) {
	var entries [][3]json.RawMessage
	if err := json.Unmarshal([]byte(p), &entries); err != nil {
		return nil, err
	}
	out := make([]rtr.Revocation, 0, len(entries))
	for _, e := range entries {
		var until int64
		var subject []byte
		var sid string
		if err := cmp.Or(json.Unmarshal(e[0], &until), json.Unmarshal(e[1], &subject), json.Unmarshal(e[2], &sid)); err != nil {
			return out, err
		}
		if len(subject) == 0 || sid == "" {
			return out, errors.New("empty subject or session id")
		}
		out = append(out, rtr.Revocation{Subject: string(subject), SessionID: sid, Until: time.UnixMicro(until)})
	}
	return out, nil
}

// FollowRevocations implements [rtr.RevocationFeed]. It connects with the
// pool's connection settings on a connection of its own (not taken from
// the pool, so it neither holds a pool slot nor falls to the pool's
// lifetime limits), whose application_name is [FeedApplicationName] unless
// the configuration sets one. An idle connection is pinged every two
// seconds, so one that died silently is noticed within a few seconds; a
// lost connection is reconnected with a back-off of up to two seconds.
// LISTEN needs a session of its own: the pool's URL must not lead to a
// connection pooler in transaction mode (PgBouncer's, say).
func (s *Store) FollowRevocations(ctx context.Context, now func() time.Time, f rtr.RevocationFollower) error {
	return feedloop.Run(ctx, revMinBackoff, revMaxBackoff,
		func(ctx context.Context) (bool, error) { return s.followOnce(ctx, now, f) },
		func(err error) { f.FeedDown(unavailable(err)) })
}

// followOnce runs one connection until it fails; up reports whether it got
// in sync.
func (s *Store) followOnce(ctx context.Context, now func() time.Time, f rtr.RevocationFollower) (up bool, err error) {
	cfg := s.pool.Config().ConnConfig
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = FeedApplicationName
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.n.channel}.Sanitize()); err != nil {
		return false, err
	}
	if err := s.catchUp(ctx, conn, now(), f); err != nil {
		return false, err
	}
	f.FeedUp()
	for {
		wctx, cancel := context.WithTimeout(ctx, revPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err != nil && wctx.Err() != nil && !conn.IsClosed():
			// Idle: make sure the connection is still there.
			if err := conn.Ping(ctx); err != nil {
				return true, err
			}
		case err != nil:
			return true, err
		case n.Channel == s.n.channel:
			revs, err := parsePayload(n.Payload)
			f.Revoked(revs)
			if err != nil {
				return true, fmt.Errorf("pgstore: malformed revocation push: %w", err)
			}
		}
	}
}

// catchUp delivers the recorded revocations whose Until is after now, a
// page at a time in key order.
func (s *Store) catchUp(ctx context.Context, conn *pgx.Conn, now time.Time, f rtr.RevocationFollower) error {
	var lastSubject []byte
	var lastID string
	for first := true; ; first = false {
		var rows pgx.Rows
		var err error
		if first {
			rows, err = conn.Query(ctx, s.sql.catchUpFirst, now, revPage)
		} else {
			rows, err = conn.Query(ctx, s.sql.catchUpNext, now, revPage, lastSubject, lastID)
		}
		if err != nil {
			return err
		}
		revs := make([]rtr.Revocation, 0, 64)
		for rows.Next() {
			var until time.Time
			if err := rows.Scan(&lastSubject, &lastID, &until); err != nil {
				rows.Close()
				return err
			}
			revs = append(revs, rtr.Revocation{Subject: string(lastSubject), SessionID: lastID, Until: until})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		f.Revoked(revs)
		if len(revs) < revPage {
			return nil
		}
	}
}
