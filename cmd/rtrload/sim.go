package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
)

// config is one simulation.
type config struct {
	Duration    time.Duration
	Users       int
	Devices     int
	Mode        string // cookie, bearer, both
	AccessTTL   time.Duration
	Grace       time.Duration
	VictimShare float64
	StealEvery  time.Duration
	Seed        int64
	Backend     string // for the report
	KeyPrefix   string // Redis key prefix; default unique per run

	// InstantRevocation turns Config.InstantRevocation on, and serves the
	// pages from a second issuer on PageStore (another client: another
	// process), so revocations cross processes; RevocationBound is how
	// long after a session ended a page may still be served with it.
	InstantRevocation bool
	RevocationBound   time.Duration
	PageStore         rtr.Store
}

func defaultConfig() config {
	return config{
		Duration:    30 * time.Second,
		Users:       40,
		Devices:     3,
		Mode:        "both",
		AccessTTL:   2 * time.Second,
		Grace:       2 * time.Second,
		VictimShare: 0.2,
		StealEvery:  40 * time.Millisecond,

		RevocationBound: time.Second,
	}
}

// kind is what a request did.
type kind uint8

const (
	kPage      kind = iota + 1 // GET /x/page through Require
	kRefresh                   // POST /b/auth/refresh (bearer mode)
	kLogin                     // POST /x/login
	kLogout                    // POST /x/auth/logout
	kLogoutAll                 // POST /x/auth/logout-all
)

func (k kind) String() string {
	return [...]string{"?", "page", "refresh", "login", "logout", "logout-all"}[k]
}

// tok is what the simulator knows of a refresh token: the claims it reads
// from the payload (never verified here: the server does that).
type tok struct {
	Sub string `json:"sub"`
	SID string `json:"sid"`
	JTI string `json:"jti"`
	Gen uint64 `json:"gen"`
}

func (t tok) zero() bool { return t.JTI == "" }

func peek(token string) tok {
	var t tok
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return t
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		_ = json.Unmarshal(b, &t)
	}
	return t
}

// record is one HTTP exchange, as the oracle sees it.
type record struct {
	device   int // -1: the attacker
	attacker bool
	mode     rtr.Mode
	kind     kind
	start    time.Time
	end      time.Time
	status   int
	code     string // error of an error response
	desc     string // error_description of an error response

	presented   tok  // refresh token sent (zero: none)
	usedRefresh bool // the refresh token reached the rotation logic
	got         tok  // refresh token received (zero: none)

	wantSub, wantSID string // who the sender's tokens belong to
	authSub, authSID string // who the application saw (page 200)
	sessionLogin     time.Time
}

// log collects records from every goroutine.
type log struct {
	mu   sync.Mutex
	recs []record
}

func (l *log) add(r record) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

// sim is one run: the application, its clients and the attacker.
type sim struct {
	cfg    config
	iss    *rtr.Issuer
	auths  map[rtr.Mode]*rtr.HTTPAuth
	base   string
	client *http.Client
	log    log
	stop   atomic.Bool
	done   chan struct{} // closed with stop

	devices []*device
	stolen  chan stolenToken
	wg      sync.WaitGroup
}

type user struct {
	name string
	mode rtr.Mode
}

type device struct {
	id     int
	user   *user
	victim bool
	rng    *rand.Rand

	mu      sync.Mutex
	cookies map[string]string // cookie mode: name -> value
	access  string            // bearer mode
	refresh string            // bearer mode
	loginAt time.Time
}

type stolenToken struct {
	refresh string
	mode    rtr.Mode
	sub     string
	depth   int
}

// prefixFor names the routes of a mode.
func prefixFor(m rtr.Mode) string {
	if m == rtr.CookieMode {
		return "/c"
	}
	return "/b"
}

// redisStore is the store of a run on client, under a key prefix unique
// to the run.
func redisStore(cfg *config, client redis.UniversalClient) rtr.Store {
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = fmt.Sprintf("rtrload:%d:", cfg.Seed)
	}
	return rtr.NewRedisStore(client, rtr.WithKeyPrefix(cfg.KeyPrefix))
}

// run builds the application on store, runs the users and the attacker
// for cfg.Duration and returns the oracle's report.
func run(ctx context.Context, cfg config, store rtr.Store) (*report, error) {
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	newIssuer := func(store rtr.Store) (*rtr.Issuer, error) {
		return rtr.NewIssuer(rtr.Config{
			Store: store, Secret: []byte("rtrload-secret-rtrload-secret-0123456789"),
			Issuer: "rtrload", AccessTTL: cfg.AccessTTL, ReuseGrace: cfg.Grace,
			InstantRevocation: cfg.InstantRevocation,
		})
	}
	iss, err := newIssuer(store)
	if err != nil {
		return nil, err
	}
	defer iss.Close()
	pageIss := iss
	if cfg.InstantRevocation && cfg.PageStore != nil {
		if pageIss, err = newIssuer(cfg.PageStore); err != nil {
			return nil, err
		}
		defer pageIss.Close()
	}
	if cfg.InstantRevocation {
		for _, i := range []*rtr.Issuer{iss, pageIss} {
			for deadline := time.Now().Add(10 * time.Second); !i.Verifier().RevocationStatus().InSync; {
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("revocation feed not in sync after 10s")
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	s := &sim{cfg: cfg, iss: iss, auths: map[rtr.Mode]*rtr.HTTPAuth{}, stolen: make(chan stolenToken, 1024), done: make(chan struct{})}
	mux := http.NewServeMux()
	for _, m := range []rtr.Mode{rtr.CookieMode, rtr.BearerMode} {
		a, err := rtr.NewHTTPAuth(iss, rtr.WithMode(m), rtr.WithInsecureCookies())
		if err != nil {
			return nil, err
		}
		pa, err := rtr.NewHTTPAuth(pageIss, rtr.WithMode(m), rtr.WithInsecureCookies())
		if err != nil {
			return nil, err
		}
		s.auths[m] = a
		p := prefixFor(m)
		mux.Handle("GET "+p+"/page", pa.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := rtr.ClaimsFromContext(r.Context())
			_, _ = io.WriteString(w, c.Subject+" "+c.SessionID)
		})))
		mux.HandleFunc("POST "+p+"/login", func(w http.ResponseWriter, r *http.Request) {
			p, err := a.Login(w, r, r.URL.Query().Get("user"))
			if err != nil {
				a.WriteError(w, r, err)
				return
			}
			a.WriteTokenResponse(w, p)
		})
		mux.Handle("POST "+p+"/auth/refresh", a.RefreshHandler())
		mux.Handle("POST "+p+"/auth/logout", a.LogoutHandler(nil))
		mux.Handle("POST "+p+"/auth/logout-all", a.LogoutAllHandler(nil))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	s.base = "http://" + ln.Addr().String()
	s.client = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute},
	}

	seed := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))
	id := 0
	for u := 0; u < cfg.Users; u++ {
		m := rtr.CookieMode
		switch {
		case cfg.Mode == "bearer", cfg.Mode == "both" && u%2 == 1:
			m = rtr.BearerMode
		}
		usr := &user{name: fmt.Sprintf("user-%d", u), mode: m}
		for d := 0; d < cfg.Devices; d++ {
			dev := &device{id: id, user: usr, cookies: map[string]string{},
				rng: rand.New(rand.NewPCG(seed.Uint64(), uint64(id)))}
			dev.victim = seed.Float64() < cfg.VictimShare
			s.devices = append(s.devices, dev)
			id++
		}
	}

	start := time.Now()
	for _, d := range s.devices {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.deviceLoop(d) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.attacker(rand.New(rand.NewPCG(seed.Uint64(), 0xa77ac))) }()

	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	s.stop.Store(true)
	close(s.done)
	s.wg.Wait()
	elapsed := time.Since(start)

	rep := analyze(s.log.recs, cfg, elapsed)
	// The store's view: every live session's generation must be the
	// highest one the clients saw (no rotation nobody saw, no fork).
	users := map[string]bool{}
	for _, d := range s.devices {
		users[d.user.name] = true
	}
	for u := range users {
		ss, err := store.List(ctx, u, time.Now()) // records: a Session carries no generation
		if err != nil {
			return nil, fmt.Errorf("listing sessions of %s: %w", u, err)
		}
		for _, rec := range ss {
			rep.checkStore(rec.ID, rec.Generation)
		}
		// Leave nothing behind in a shared Redis.
		if err := iss.RevokeAll(ctx, u); err != nil {
			return nil, fmt.Errorf("cleaning up sessions of %s: %w", u, err)
		}
	}
	return rep, nil
}

// send performs one request and logs it. body is JSON or nil.
func (s *sim) send(rec record, method, path string, cookies map[string]string, bearer string, body any) (record, map[string]*http.Cookie, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for n, v := range cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec.start = time.Now()
	resp, err := s.client.Do(req)
	var rb []byte
	set := map[string]*http.Cookie{}
	if err != nil {
		rec.status = -1
		rec.desc = err.Error()
	} else {
		rb, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		rec.status = resp.StatusCode
		for _, c := range resp.Cookies() {
			set[c.Name] = c
		}
		if rec.status >= 400 {
			var e struct {
				Code string `json:"error"`
				Desc string `json:"error_description"`
			}
			_ = json.Unmarshal(rb, &e)
			rec.code, rec.desc = e.Code, e.Desc
		}
	}
	rec.end = time.Now()
	return rec, set, rb
}

// refreshCookieUsed tells, for a cookie-mode response, whether the
// middleware presented the refresh cookie to the rotation logic.
func refreshCookieUsed(rec *record, set map[string]*http.Cookie, refreshName string) {
	if c, ok := set[refreshName]; ok && c.Value != "" {
		rec.usedRefresh = true
		rec.got = peek(c.Value)
		return
	}
	switch {
	case rec.status == http.StatusServiceUnavailable,
		strings.Contains(rec.desc, "reuse"),
		strings.Contains(rec.desc, "session has ended"):
		rec.usedRefresh = true
	}
}

func (s *sim) think(d *device) {
	time.Sleep(time.Duration(20+d.rng.IntN(60)) * time.Millisecond)
}

// deviceLoop is one legitimate device: log in, then page loads, with the
// occasional logout and logout-everywhere; log in again when logged out.
func (s *sim) deviceLoop(d *device) {
	for !s.stop.Load() {
		if !s.loggedIn(d) {
			if !s.login(d) {
				s.think(d)
				continue
			}
		}
		r := d.rng.Float64()
		switch {
		case r < 0.002:
			s.logout(d, kLogout)
		case r < 0.0025:
			s.logout(d, kLogoutAll)
		default:
			s.pageLoad(d)
		}
		s.think(d)
	}
}

func (s *sim) loggedIn(d *device) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.user.mode == rtr.CookieMode {
		return d.cookies[s.auths[rtr.CookieMode].RefreshCookieName()] != ""
	}
	return d.refresh != ""
}

func (s *sim) login(d *device) bool {
	m := d.user.mode
	rec := record{device: d.id, mode: m, kind: kLogin, wantSub: d.user.name}
	rec, set, body := s.send(rec, "POST", prefixFor(m)+"/login?user="+d.user.name, nil, "", nil)
	d.mu.Lock()
	defer d.mu.Unlock()
	ok := rec.status == http.StatusOK || rec.status == http.StatusNoContent
	if ok {
		d.loginAt = rec.end
		if m == rtr.CookieMode {
			d.cookies = map[string]string{}
			for n, c := range set {
				d.cookies[n] = c.Value
			}
			rec.got = peek(d.cookies[s.auths[m].RefreshCookieName()])
		} else {
			var tr rtr.TokenResponse
			_ = json.Unmarshal(body, &tr)
			d.access, d.refresh = tr.AccessToken, tr.RefreshToken
			rec.got = peek(d.refresh)
		}
		rec.wantSID = rec.got.SID
		rec.sessionLogin = d.loginAt
	}
	s.log.add(rec)
	return ok
}

// snapshot returns the device's tokens for one request.
func (d *device) snapshot() (cookies map[string]string, access, refresh string, loginAt time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cookies = make(map[string]string, len(d.cookies))
	for k, v := range d.cookies {
		cookies[k] = v
	}
	return cookies, d.access, d.refresh, d.loginAt
}

// apply stores cookies set by a response, like a browser (last response
// wins; a deletion deletes).
func (d *device) apply(set map[string]*http.Cookie) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, c := range set {
		if c.MaxAge < 0 || c.Value == "" {
			delete(d.cookies, n)
		} else {
			d.cookies[n] = c.Value
		}
	}
}

// loggedOut forgets the device's tokens.
func (d *device) loggedOut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cookies = map[string]string{}
	d.access, d.refresh = "", ""
}

// pageLoad sends 1-4 parallel requests, like a page with resources.
func (s *sim) pageLoad(d *device) {
	n := 1 + d.rng.IntN(4)
	if d.user.mode == rtr.CookieMode {
		s.cookiePage(d, n)
		return
	}
	if s.bearerPage(d, n) {
		// An access token expired: refresh (sometimes from two tabs at
		// once, with the same refresh token) and load the page again.
		tabs := 1
		if d.rng.Float64() < 0.3 {
			tabs = 2
		}
		if s.bearerRefresh(d, tabs) {
			s.bearerPage(d, n)
		}
	}
}

func (s *sim) cookiePage(d *device, n int) {
	a := s.auths[rtr.CookieMode]
	cookies, _, _, loginAt := d.snapshot()
	presented := peek(cookies[a.RefreshCookieName()])
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := record{device: d.id, mode: rtr.CookieMode, kind: kPage, presented: presented,
				wantSub: d.user.name, wantSID: presented.SID, sessionLogin: loginAt}
			rec, set, body := s.send(rec, "GET", "/c/page", cookies, "", nil)
			refreshCookieUsed(&rec, set, a.RefreshCookieName())
			if !rec.usedRefresh {
				rec.presented = tok{}
			}
			if rec.status == http.StatusOK {
				rec.authSub, rec.authSID, _ = strings.Cut(string(body), " ")
			}
			s.log.add(rec)
			d.apply(set)
		}()
	}
	wg.Wait()
}

// bearerPage sends n parallel requests; it reports whether one of them
// found the access token expired.
func (s *sim) bearerPage(d *device, n int) (expired bool) {
	_, access, refresh, loginAt := d.snapshot()
	if access == "" {
		return false
	}
	sid := peek(refresh).SID
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := record{device: d.id, mode: rtr.BearerMode, kind: kPage,
				wantSub: d.user.name, wantSID: sid, sessionLogin: loginAt}
			rec, _, body := s.send(rec, "GET", "/b/page", nil, access, nil)
			if rec.status == http.StatusOK {
				rec.authSub, rec.authSID, _ = strings.Cut(string(body), " ")
			}
			if rec.status == http.StatusUnauthorized && strings.Contains(rec.desc, "expired") {
				mu.Lock()
				expired = true
				mu.Unlock()
			}
			s.log.add(rec)
		}()
	}
	wg.Wait()
	return expired
}

// bearerRefresh calls the refresh endpoint from tabs tabs at once; it
// reports whether the device still has a session.
func (s *sim) bearerRefresh(d *device, tabs int) bool {
	_, _, refresh, loginAt := d.snapshot()
	presented := peek(refresh)
	type res struct {
		rec record
		tr  rtr.TokenResponse
	}
	out := make([]res, tabs)
	var wg sync.WaitGroup
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := record{device: d.id, mode: rtr.BearerMode, kind: kRefresh, presented: presented, usedRefresh: true,
				wantSub: d.user.name, wantSID: presented.SID, sessionLogin: loginAt}
			rec, _, body := s.send(rec, "POST", "/b/auth/refresh", nil, "", map[string]string{"refresh_token": refresh})
			if rec.status == http.StatusOK {
				_ = json.Unmarshal(body, &out[i].tr)
				rec.got = peek(out[i].tr.RefreshToken)
			}
			out[i].rec = rec
			s.log.add(rec)
		}()
	}
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	alive := false
	for _, r := range out {
		if r.rec.status == http.StatusOK && peek(r.tr.RefreshToken).Gen >= peek(d.refresh).Gen {
			d.access, d.refresh = r.tr.AccessToken, r.tr.RefreshToken
			alive = true
		}
		if r.rec.status == http.StatusServiceUnavailable {
			alive = true // try again later with the same token
		}
	}
	if !alive {
		d.access, d.refresh = "", ""
	}
	return alive
}

// logout ends this session (kLogout) or all of the user's (kLogoutAll).
func (s *sim) logout(d *device, k kind) {
	m := d.user.mode
	cookies, access, refresh, loginAt := d.snapshot()
	path := prefixFor(m) + "/auth/logout"
	if k == kLogoutAll {
		path += "-all"
	}
	var body any
	sid := peek(refresh).SID
	if m == rtr.CookieMode {
		sid = peek(cookies[s.auths[m].RefreshCookieName()]).SID
	} else if k == kLogout {
		body = map[string]string{"refresh_token": refresh}
	}
	rec := record{device: d.id, mode: m, kind: k, wantSub: d.user.name, wantSID: sid, sessionLogin: loginAt}
	rec, set, _ := s.send(rec, "POST", path, cookies, access, body)
	if m == rtr.CookieMode {
		refreshCookieUsed(&rec, set, s.auths[m].RefreshCookieName())
	}
	s.log.add(rec)
	if rec.status == http.StatusNoContent {
		d.loggedOut()
		return
	}
	if rec.status == http.StatusUnauthorized && m == rtr.BearerMode && k == kLogoutAll {
		// Expired access token: refresh, then log out everywhere.
		if s.bearerRefresh(d, 1) {
			s.logout(d, k)
		}
		return
	}
	if rec.status == http.StatusUnauthorized {
		d.loggedOut()
	}
}

// attacker steals refresh tokens from victim devices and replays each
// after a random delay in [0, 3*grace]; a token it gets in exchange is
// replayed again later.
func (s *sim) attacker(rng *rand.Rand) {
	var victims []*device
	for _, d := range s.devices {
		if d.victim {
			victims = append(victims, d)
		}
	}
	if len(victims) == 0 {
		return
	}
	sem := make(chan struct{}, 256)
	tick := time.NewTicker(s.cfg.StealEvery)
	defer tick.Stop()
	for !s.stop.Load() {
		select {
		case <-tick.C:
		case st := <-s.stolen:
			s.scheduleReplay(rng, sem, st)
			continue
		}
		d := victims[rng.IntN(len(victims))]
		cookies, _, refresh, _ := d.snapshot()
		if d.user.mode == rtr.CookieMode {
			refresh = cookies[s.auths[rtr.CookieMode].RefreshCookieName()]
		}
		if refresh == "" {
			continue
		}
		s.scheduleReplay(rng, sem, stolenToken{refresh: refresh, mode: d.user.mode, sub: d.user.name})
	}
}

func (s *sim) scheduleReplay(rng *rand.Rand, sem chan struct{}, st stolenToken) {
	if st.depth > 2 {
		return
	}
	delay := time.Duration(rng.Int64N(int64(3 * s.cfg.Grace)))
	select {
	case sem <- struct{}{}:
	default:
		return // enough replays in flight
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-sem }()
		select {
		case <-time.After(delay):
		case <-s.done:
		}
		if s.stop.Load() {
			return
		}
		s.replay(st)
	}()
}

// replay presents a stolen refresh token; on success it uses the new
// access token once and keeps the new refresh token for a later replay.
func (s *sim) replay(st stolenToken) {
	presented := peek(st.refresh)
	rec := record{device: -1, attacker: true, mode: st.mode, presented: presented, usedRefresh: true,
		wantSub: st.sub, wantSID: presented.SID}
	var access, newRefresh string
	if st.mode == rtr.CookieMode {
		a := s.auths[rtr.CookieMode]
		rec.kind = kPage
		r, set, body := s.send(rec, "GET", "/c/page", map[string]string{a.RefreshCookieName(): st.refresh}, "", nil)
		rec = r
		if c, ok := set[a.RefreshCookieName()]; ok && c.Value != "" {
			newRefresh = c.Value
			rec.got = peek(newRefresh)
		}
		if rec.status == http.StatusOK {
			rec.authSub, rec.authSID, _ = strings.Cut(string(body), " ")
			if c, ok := set[a.AccessCookieName()]; ok {
				access = c.Value
			}
		}
		s.log.add(rec)
		if access != "" {
			page := record{device: -1, attacker: true, mode: st.mode, kind: kPage, wantSub: st.sub, wantSID: presented.SID}
			page, _, body = s.send(page, "GET", "/c/page", map[string]string{a.AccessCookieName(): access}, "", nil)
			if page.status == http.StatusOK {
				page.authSub, page.authSID, _ = strings.Cut(string(body), " ")
			}
			s.log.add(page)
		}
	} else {
		rec.kind = kRefresh
		r, _, body := s.send(rec, "POST", "/b/auth/refresh", nil, "", map[string]string{"refresh_token": st.refresh})
		rec = r
		if rec.status == http.StatusOK {
			var tr rtr.TokenResponse
			_ = json.Unmarshal(body, &tr)
			access, newRefresh = tr.AccessToken, tr.RefreshToken
			rec.got = peek(newRefresh)
		}
		s.log.add(rec)
		if access != "" {
			page := record{device: -1, attacker: true, mode: st.mode, kind: kPage, wantSub: st.sub, wantSID: presented.SID}
			page, _, body = s.send(page, "GET", "/b/page", nil, access, nil)
			if page.status == http.StatusOK {
				page.authSub, page.authSID, _ = strings.Cut(string(body), " ")
			}
			s.log.add(page)
		}
	}
	if newRefresh != "" {
		select {
		case s.stolen <- stolenToken{refresh: newRefresh, mode: st.mode, sub: st.sub, depth: st.depth + 1}:
		default:
		}
	}
}
