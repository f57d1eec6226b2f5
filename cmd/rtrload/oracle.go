package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/rtr-go/rtr"
)

// margin absorbs the store's millisecond clock when deciding from the
// client's timestamps whether a presentation was inside the grace window.
const margin = 20 * time.Millisecond

// report is what the oracle found.
type report struct {
	cfg     config
	elapsed time.Duration

	Requests, Logins, Rotations, Retries, Logouts, LogoutAlls int
	CookieRequests, BearerRequests                            int

	AttackerReplays     int // refresh tokens presented by the attacker
	AttackerLetInGrace  int // ... answered because inside the grace (accepted risk)
	AttackerFirst       int // ... the attacker rotated before the victim did
	ReplaysOutside      int // presentations >= grace after the token's rotation (anyone's)
	Detected            int // ... refused
	Missed              int // ... answered with tokens
	NotRevoked          int // a session still rotated after a refused replay
	Revived             int // a session still rotated after a successful logout
	ServedAfterEnd      int // with InstantRevocation: a page served for a session ended more than RevocationBound earlier
	PagesAfterEnd       int // ... pages of ended sessions refused or served within the bound (for the report)
	InsideGrace         int // presentations of a rotated token inside the grace
	Ambiguous           int // too close to the grace boundary to judge from the client
	FalseLogouts        int
	Forks               int // two different successors of one generation
	StoreMismatch       int // a live session whose generation is not the last one seen
	WrongSubject        int
	WrongOutcome        int // a success that returned the wrong generation
	ServerErrors        int // 5xx, 503 included, and transport errors
	UnknownSIDsInStore  int
	falseLogoutExamples []string
	violations          []string

	maxGen map[string]uint64
}

type window struct{ lo, hi time.Time }

// analyze replays the log; see the package comment for the rules.
func analyze(recs []record, cfg config, elapsed time.Duration) *report {
	rep := &report{cfg: cfg, elapsed: elapsed, maxGen: map[string]uint64{}}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].start.Before(recs[j].start) })

	rotations := map[string]*window{}          // presented jti -> rotation window
	successors := map[string]map[string]bool{} // sid/gen -> jtis
	sessionUser := map[string]string{}         // sid -> subject
	sessionLogin := map[string]time.Time{}     // sid -> login response time
	addSuccessor := func(t tok) {
		if t.zero() {
			return
		}
		k := fmt.Sprintf("%s/%d", t.SID, t.Gen)
		if successors[k] == nil {
			successors[k] = map[string]bool{}
		}
		successors[k][t.JTI] = true
		if t.Gen > rep.maxGen[t.SID] {
			rep.maxGen[t.SID] = t.Gen
		}
	}
	ok := func(r *record) bool { return r.status == http.StatusOK || r.status == http.StatusNoContent }

	for i := range recs {
		r := &recs[i]
		rep.Requests++
		if r.mode == rtr.CookieMode {
			rep.CookieRequests++
		} else {
			rep.BearerRequests++
		}
		if r.status >= 500 || r.status < 0 {
			rep.ServerErrors++
			rep.violate("%s %s: status %d %s", who(r), r.kind, r.status, r.desc)
		}
		switch r.kind {
		case kLogin:
			if ok(r) {
				rep.Logins++
				sessionUser[r.got.SID] = r.wantSub
				sessionLogin[r.got.SID] = r.end
			}
		case kLogout:
			if ok(r) {
				rep.Logouts++
			}
		case kLogoutAll:
			if ok(r) {
				rep.LogoutAlls++
			}
		}
		addSuccessor(r.got)
		if r.usedRefresh && !r.presented.zero() && ok(r) && !r.got.zero() {
			if r.got.SID != r.presented.SID || r.got.Gen != r.presented.Gen+1 {
				rep.WrongOutcome++
				rep.violate("%s: presented generation %d, got %d", who(r), r.presented.Gen, r.got.Gen)
				continue
			}
			w := rotations[r.presented.JTI]
			if w == nil {
				rotations[r.presented.JTI] = &window{lo: r.start, hi: r.end}
			} else {
				if r.start.Before(w.lo) {
					w.lo = r.start
				}
				if r.end.Before(w.hi) {
					w.hi = r.end
				}
			}
		}
		if r.status == http.StatusOK && r.authSub != "" && (r.authSub != r.wantSub || r.authSID != r.wantSID) {
			rep.WrongSubject++
			rep.violate("%s %s: authenticated as another subject or session", who(r), r.kind)
		}
	}
	for _, jtis := range successors {
		if len(jtis) > 1 {
			rep.Forks++
			rep.violate("fork: %d different refresh tokens for one generation", len(jtis))
		}
	}
	rep.Rotations = len(rotations)

	// Presentations of rotated tokens.
	refusedAt := map[string]time.Time{} // sid -> end of the first refused replay
	for i := range recs {
		r := &recs[i]
		if !r.usedRefresh || r.presented.zero() {
			continue
		}
		if r.attacker {
			rep.AttackerReplays++
		}
		w := rotations[r.presented.JTI]
		if w == nil {
			continue
		}
		// The earliest successful presentation is (taken as) the rotation
		// itself; the others are replays.
		if ok(r) && !r.got.zero() && r.start.Equal(w.lo) {
			if r.attacker {
				rep.AttackerFirst++
			}
			continue
		}
		switch {
		case r.start.Sub(w.hi) >= cfg.Grace+margin:
			rep.ReplaysOutside++
			switch {
			case r.refused():
				rep.Detected++
				if t, seen := refusedAt[r.presented.SID]; !seen || r.end.Before(t) {
					refusedAt[r.presented.SID] = r.end
				}
			case ok(r):
				rep.Missed++
				rep.violate("%s: a token rotated %v earlier was accepted", who(r), r.start.Sub(w.hi).Round(time.Millisecond))
			}
		case r.end.Sub(w.lo) < cfg.Grace-margin:
			rep.InsideGrace++
			if ok(r) {
				rep.Retries++
				if r.attacker {
					rep.AttackerLetInGrace++
				}
			}
		default:
			rep.Ambiguous++
		}
	}
	// A refused replay revokes the session: nothing rotates after it.
	for i := range recs {
		r := &recs[i]
		if !r.usedRefresh || r.presented.zero() || !ok(r) || r.got.zero() {
			continue
		}
		if t, seen := refusedAt[r.presented.SID]; seen && r.start.After(t) {
			rep.NotRevoked++
			rep.violate("%s: session rotated again after a refused replay", who(r))
		}
	}

	// Ended sessions: after a successful logout (this session) or logout
	// everywhere (every session of the user that existed), nothing rotates.
	endedAt := map[string]time.Time{}
	for i := range recs {
		r := &recs[i]
		if !ok(r) {
			continue
		}
		switch r.kind {
		case kLogout:
			if r.wantSID != "" {
				endedAt[r.wantSID] = minTime(endedAt[r.wantSID], r.end)
			}
		case kLogoutAll:
			for sid, u := range sessionUser {
				if u == r.wantSub && sessionLogin[sid].Before(r.start) {
					endedAt[sid] = minTime(endedAt[sid], r.end)
				}
			}
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.usedRefresh && !r.presented.zero() && ok(r) && !r.got.zero() {
			if t, ended := endedAt[r.presented.SID]; ended && r.start.After(t) {
				rep.Revived++
				rep.violate("%s: an ended session rotated", who(r))
			}
		}
	}

	// Instant revocation: no page is served for a session that ended
	// (logout, logout everywhere, a refused replay) more than the bound
	// before the request started.
	if cfg.InstantRevocation {
		for sid, t := range refusedAt {
			endedAt[sid] = minTime(endedAt[sid], t)
		}
		for i := range recs {
			r := &recs[i]
			if r.kind != kPage || r.wantSID == "" {
				continue
			}
			t, ended := endedAt[r.wantSID]
			if !ended || !r.start.After(t) {
				continue
			}
			rep.PagesAfterEnd++
			if r.status == http.StatusOK && r.start.Sub(t) > cfg.RevocationBound {
				rep.ServedAfterEnd++
				rep.violate("%s: page served %v after its session ended", who(r), r.start.Sub(t).Round(time.Millisecond))
			}
		}
	}

	// False logouts: a legitimate client told "log in again" when neither
	// the attacker nor a logout everywhere touched its session.
	var attacks []*record
	var logoutAlls []*record
	for i := range recs {
		r := &recs[i]
		if r.attacker {
			attacks = append(attacks, r)
		}
		if r.kind == kLogoutAll {
			logoutAlls = append(logoutAlls, r)
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.attacker || !r.refused() || r.kind == kLogin {
			continue
		}
		if r.mode == rtr.BearerMode && r.status == http.StatusUnauthorized && strings.Contains(r.desc, "the token expired") {
			continue // an expired access token: the client refreshes
		}
		attributed := false
		for _, a := range attacks {
			if a.wantSID == r.wantSID && a.start.Before(r.end) {
				attributed = true
				break
			}
		}
		for _, la := range logoutAlls {
			if attributed {
				break
			}
			if la.wantSub == r.wantSub && la.start.Before(r.end) && r.sessionLogin.Before(la.end) {
				attributed = true
			}
		}
		if !attributed {
			rep.FalseLogouts++
			if len(rep.falseLogoutExamples) < 5 {
				rep.falseLogoutExamples = append(rep.falseLogoutExamples,
					fmt.Sprintf("device %d (%s) %s: %d %q", r.device, r.mode, r.kind, r.status, r.desc))
			}
		}
	}
	return rep
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func who(r *record) string {
	if r.attacker {
		return "attacker"
	}
	return fmt.Sprintf("device %d", r.device)
}

func (rep *report) violate(format string, args ...any) {
	if len(rep.violations) < 20 {
		rep.violations = append(rep.violations, fmt.Sprintf(format, args...))
	}
}

// checkStore compares a live session's generation in the store with the
// last one the clients saw.
func (rep *report) checkStore(sid string, gen uint64) {
	seen, ok := rep.maxGen[sid]
	if !ok {
		rep.UnknownSIDsInStore++
		return
	}
	if gen != seen {
		rep.StoreMismatch++
		rep.violate("store holds generation %d of a session whose clients last saw %d", gen, seen)
	}
}

func (rep *report) ok() bool {
	return rep.ReplaysOutside > 0 && rep.Detected == rep.ReplaysOutside &&
		rep.Missed == 0 && rep.NotRevoked == 0 && rep.Revived == 0 && rep.ServedAfterEnd == 0 &&
		rep.FalseLogouts == 0 && rep.Forks == 0 && rep.StoreMismatch == 0 &&
		rep.WrongSubject == 0 && rep.WrongOutcome == 0 && rep.ServerErrors == 0 &&
		rep.UnknownSIDsInStore == 0
}

func pct(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(a)/float64(b))
}

func (rep *report) print(w io.Writer) {
	c := rep.cfg
	secs := rep.elapsed.Seconds()
	fmt.Fprintf(w, "rtrload: %s, mode %s, %d users x %d devices, %v, access TTL %v, grace %v, seed %d\n",
		c.Backend, c.Mode, c.Users, c.Devices, rep.elapsed.Round(time.Millisecond), c.AccessTTL, c.Grace, c.Seed)
	fmt.Fprintf(w, "  requests            %d (%.0f/s; cookie mode %d, bearer mode %d)\n",
		rep.Requests, float64(rep.Requests)/secs, rep.CookieRequests, rep.BearerRequests)
	fmt.Fprintf(w, "  logins %d, rotations %d, grace retries %d, logouts %d, logouts everywhere %d\n",
		rep.Logins, rep.Rotations, rep.Retries, rep.Logouts, rep.LogoutAlls)
	fmt.Fprintf(w, "  attacker            %d replays of stolen refresh tokens; %d rotated before the victim, %d answered inside the grace (the accepted risk of ReuseGrace)\n",
		rep.AttackerReplays, rep.AttackerFirst, rep.AttackerLetInGrace)
	fmt.Fprintf(w, "  oracle\n")
	fmt.Fprintf(w, "    replays outside the grace  %d, detected %d (%s), accepted %d, session not revoked %d  [%d too close to the boundary to judge]\n",
		rep.ReplaysOutside, rep.Detected, pct(rep.Detected, rep.ReplaysOutside), rep.Missed, rep.NotRevoked, rep.Ambiguous)
	fmt.Fprintf(w, "    false logouts              %d\n", rep.FalseLogouts)
	fmt.Fprintf(w, "    forks                      %d (store disagreements %d, wrong generations %d)\n", rep.Forks, rep.StoreMismatch, rep.WrongOutcome)
	fmt.Fprintf(w, "    wrong subject              %d\n", rep.WrongSubject)
	fmt.Fprintf(w, "    ended sessions revived     %d\n", rep.Revived)
	if c.InstantRevocation {
		fmt.Fprintf(w, "    served after session end   %d (more than %v after; %d page requests of ended sessions seen)\n",
			rep.ServedAfterEnd, c.RevocationBound, rep.PagesAfterEnd)
	}
	fmt.Fprintf(w, "    server errors (5xx)        %d\n", rep.ServerErrors)
	for _, e := range rep.falseLogoutExamples {
		fmt.Fprintf(w, "    false logout: %s\n", e)
	}
	for _, v := range rep.violations {
		fmt.Fprintf(w, "    violation: %s\n", v)
	}
	if rep.ok() {
		fmt.Fprintln(w, "PASS")
	} else {
		if rep.ReplaysOutside == 0 {
			fmt.Fprintln(w, "  no replay outside the grace happened: the run proves nothing (longer -duration?)")
		}
		fmt.Fprintln(w, "FAIL")
	}
}

// refused reports whether a response told the client to log in again:
// 401 or 403, or 400 invalid_grant from a bearer-mode token endpoint
// (RFC 6749 §5.2).
func (r *record) refused() bool {
	switch r.status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusBadRequest:
		return r.code == "invalid_grant"
	}
	return false
}
