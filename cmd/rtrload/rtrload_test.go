package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// An oracle that never fails proves nothing. These tests feed it logs
// with known faults, and run the whole simulator against stores broken on
// purpose, and check that it notices.

func at(ms int) time.Time {
	return time.Unix(1_800_000_000, 0).Add(time.Duration(ms) * time.Millisecond)
}

func TestOracleSyntheticLogs(t *testing.T) {
	cfg := config{Grace: time.Second}
	t0 := tok{Sub: "u", SID: "s1", JTI: "j0", Gen: 1}
	t1 := tok{Sub: "u", SID: "s1", JTI: "j1", Gen: 2}
	t1b := tok{Sub: "u", SID: "s1", JTI: "j1b", Gen: 2}
	t2 := tok{Sub: "u", SID: "s1", JTI: "j2", Gen: 3}
	login := record{device: 0, mode: rtr.CookieMode, kind: kLogin, start: at(0), end: at(1), status: 204, got: t0, wantSub: "u", wantSID: "s1"}
	rotate := func(dev int, from, to tok, s, e int) record {
		return record{device: dev, mode: rtr.CookieMode, kind: kPage, start: at(s), end: at(e), status: 200,
			presented: from, usedRefresh: true, got: to, wantSub: "u", wantSID: "s1", authSub: "u", authSID: "s1", sessionLogin: at(1)}
	}
	refused := func(dev int, from tok, s, e int) record {
		r := rotate(dev, from, tok{}, s, e)
		r.status, r.desc, r.authSub, r.authSID, r.got = 401, "refresh token reuse detected; the session was revoked", "", "", tok{}
		r.attacker = dev < 0
		return r
	}
	cases := []struct {
		name  string
		recs  []record
		check func(t *testing.T, rep *report)
	}{
		{"clean", []record{login, rotate(0, t0, t1, 100, 110), rotate(0, t0, t1, 105, 112), rotate(0, t1, t2, 2000, 2010)},
			func(t *testing.T, rep *report) {
				require.Equal(t, 1, rep.Retries)
				require.Zero(t, rep.ReplaysOutside)
				require.False(t, rep.ok(), "no replay outside the grace: not a proof")
			}},
		{"replay detected", []record{login, rotate(0, t0, t1, 100, 110), refused(-1, t0, 1200, 1210)},
			func(t *testing.T, rep *report) {
				require.Equal(t, 1, rep.ReplaysOutside)
				require.Equal(t, 1, rep.Detected)
				require.True(t, rep.ok())
			}},
		{"replay accepted", []record{login, rotate(0, t0, t1, 100, 110), func() record { r := rotate(-1, t0, t1, 1200, 1210); r.attacker = true; return r }()},
			func(t *testing.T, rep *report) {
				require.Equal(t, 1, rep.Missed)
				require.False(t, rep.ok())
			}},
		{"not revoked", []record{login, rotate(0, t0, t1, 100, 110), refused(-1, t0, 1200, 1210), rotate(0, t1, t2, 1300, 1310)},
			func(t *testing.T, rep *report) {
				require.Equal(t, 1, rep.NotRevoked)
				require.False(t, rep.ok())
			}},
		{"fork", []record{login, rotate(0, t0, t1, 100, 110), rotate(0, t0, t1b, 105, 115)},
			func(t *testing.T, rep *report) { require.Equal(t, 1, rep.Forks) }},
		{"wrong subject", []record{login, func() record { r := rotate(0, t0, t1, 100, 110); r.authSub = "v"; return r }()},
			func(t *testing.T, rep *report) { require.Equal(t, 1, rep.WrongSubject) }},
		{"false logout", []record{login, rotate(0, t0, t1, 100, 110), refused(0, t1, 150, 160)},
			func(t *testing.T, rep *report) { require.Equal(t, 1, rep.FalseLogouts) }},
		{"logout caused by the attacker", []record{login, func() record { r := rotate(-1, t0, t1, 100, 110); r.attacker = true; return r }(), refused(0, t0, 1500, 1510)},
			func(t *testing.T, rep *report) {
				require.Zero(t, rep.FalseLogouts)
				require.Equal(t, 1, rep.AttackerFirst)
				require.Equal(t, 1, rep.Detected)
			}},
		{"logout everywhere", []record{login,
			{device: 1, mode: rtr.CookieMode, kind: kLogoutAll, start: at(50), end: at(60), status: 204, wantSub: "u"},
			refused(0, t0, 100, 110)},
			func(t *testing.T, rep *report) { require.Zero(t, rep.FalseLogouts) }},
		{"revived after logout", []record{login,
			{device: 0, mode: rtr.CookieMode, kind: kLogout, start: at(50), end: at(60), status: 204, wantSub: "u", wantSID: "s1"},
			rotate(0, t0, t1, 100, 110)},
			func(t *testing.T, rep *report) { require.Equal(t, 1, rep.Revived) }},
		{"store behind the clients", []record{login, rotate(0, t0, t1, 100, 110)},
			func(t *testing.T, rep *report) {
				rep.checkStore("s1", 1)
				require.Equal(t, 1, rep.StoreMismatch)
			}},
		{"server error", []record{login, {device: 0, mode: rtr.BearerMode, kind: kRefresh, start: at(10), end: at(20), status: http.StatusServiceUnavailable}},
			func(t *testing.T, rep *report) { require.Equal(t, 1, rep.ServerErrors) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := analyze(append([]record(nil), c.recs...), cfg, time.Second)
			c.check(t, rep)
			var buf bytes.Buffer
			rep.print(&buf)
			require.NotEmpty(t, buf.String())
		})
	}
}

// blindStore answers every spent token as a retry: no reuse detection.
type blindStore struct{ rtr.Store }

func (s blindStore) Rotate(ctx context.Context, req rtr.RotateRequest) (rtr.RotateResult, error) {
	rec, err := s.Get(ctx, req.Subject, req.SessionID, req.Now)
	if err == nil && req.JTI != rec.Current {
		return rtr.RotateResult{Outcome: rtr.OutcomeRetried, Session: rec}, nil
	}
	return s.Store.Rotate(ctx, req)
}

// forkingStore rotates the previous token again instead of answering a
// retry: two successors of one generation.
type forkingStore struct{ rtr.Store }

func (s forkingStore) Rotate(ctx context.Context, req rtr.RotateRequest) (rtr.RotateResult, error) {
	rec, err := s.Get(ctx, req.Subject, req.SessionID, req.Now)
	if err == nil && req.JTI == rec.Previous && req.Generation+1 == rec.Generation {
		if _, err := s.Revoke(ctx, req.Subject, req.SessionID); err != nil {
			return rtr.RotateResult{}, err
		}
		rec.Current = req.NewJTI
		if _, err := s.Create(ctx, rec, 0); err != nil {
			return rtr.RotateResult{}, err
		}
		return rtr.RotateResult{Outcome: rtr.OutcomeRotated, Session: rec}, nil
	}
	return s.Store.Rotate(ctx, req)
}

// TestSimulatorCatchesBrokenStores runs the simulator for a few seconds
// on the memory store, correct and broken. RTR_LOAD=1 (.ci/steps/60-load.sh).
func TestSimulatorCatchesBrokenStores(t *testing.T) {
	if os.Getenv("RTR_LOAD") != "1" {
		t.Skip("runs the simulator for about 10 s; set RTR_LOAD=1 (CI: .ci/steps/60-load.sh)")
	}
	cfg := defaultConfig()
	cfg.Duration = 3 * time.Second
	cfg.Users, cfg.Devices = 16, 2
	cfg.AccessTTL, cfg.Grace = time.Second, time.Second
	cfg.StealEvery = 20 * time.Millisecond
	cfg.VictimShare = 0.3
	cfg.Backend = "memory"
	for _, c := range []struct {
		name  string
		store func() rtr.Store
		check func(t *testing.T, rep *report)
	}{
		{"correct", func() rtr.Store { return rtr.NewMemoryStore() }, func(t *testing.T, rep *report) {
			require.True(t, rep.ok(), "a correct store passes")
		}},
		{"no reuse detection", func() rtr.Store { return blindStore{rtr.NewMemoryStore()} }, func(t *testing.T, rep *report) {
			require.Positive(t, rep.Missed)
			require.False(t, rep.ok())
		}},
		{"retries fork", func() rtr.Store { return forkingStore{rtr.NewMemoryStore()} }, func(t *testing.T, rep *report) {
			require.Positive(t, rep.Forks)
			require.False(t, rep.ok())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := run(context.Background(), cfg, c.store())
			require.NoError(t, err)
			var buf bytes.Buffer
			rep.print(&buf)
			t.Log("\n" + buf.String())
			c.check(t, rep)
		})
	}
}

// TestOracleServedAfterEnd: with InstantRevocation, a page served for a
// session that ended more than the bound earlier is a violation; within
// the bound, or refused, it is not.
func TestOracleServedAfterEnd(t *testing.T) {
	t0 := tok{Sub: "u", SID: "s1", JTI: "j0", Gen: 1}
	login := record{device: 0, mode: rtr.BearerMode, kind: kLogin, start: at(0), end: at(1), status: 200, got: t0, wantSub: "u", wantSID: "s1"}
	logout := record{device: 0, mode: rtr.BearerMode, kind: kLogout, start: at(100), end: at(110), status: 204, wantSub: "u", wantSID: "s1"}
	page := func(s, status int) record {
		r := record{device: 1, mode: rtr.BearerMode, kind: kPage, start: at(s), end: at(s + 5), status: status, wantSub: "u", wantSID: "s1"}
		if status == 200 {
			r.authSub, r.authSID = "u", "s1"
		} else {
			r.desc = "the session has ended"
		}
		return r
	}
	for _, c := range []struct {
		name string
		on   bool
		recs []record
		want int
	}{
		{"served within the bound", true, []record{login, logout, page(500, 200)}, 0},
		{"served past the bound", true, []record{login, logout, page(1200, 200)}, 1},
		{"refused past the bound", true, []record{login, logout, page(1200, 401)}, 0},
		{"feature off: not checked", false, []record{login, logout, page(1200, 200)}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config{Grace: time.Second, InstantRevocation: c.on, RevocationBound: time.Second}
			rep := analyze(append([]record(nil), c.recs...), cfg, time.Second)
			require.Equal(t, c.want, rep.ServedAfterEnd)
		})
	}
}

// TestSimInstantRevocation runs the simulator with InstantRevocation on a
// memory store: the oracle finds no page served after its session ended.
func TestSimInstantRevocation(t *testing.T) {
	if os.Getenv("RTR_LOAD") != "1" {
		t.Skip("runs the simulator for about 3 s; set RTR_LOAD=1 (CI: .ci/steps/60-load.sh)")
	}
	cfg := defaultConfig()
	cfg.Duration = 3 * time.Second
	cfg.Users, cfg.Devices = 16, 2
	cfg.AccessTTL, cfg.Grace = time.Second, time.Second
	cfg.StealEvery = 20 * time.Millisecond
	cfg.VictimShare = 0.3
	cfg.Backend = "memory"
	cfg.InstantRevocation, cfg.RevocationBound = true, 100*time.Millisecond
	rep, err := run(context.Background(), cfg, rtr.NewMemoryStore())
	require.NoError(t, err)
	var buf bytes.Buffer
	rep.print(&buf)
	t.Log("\n" + buf.String())
	require.True(t, rep.ok())
	require.Positive(t, rep.PagesAfterEnd)
}
