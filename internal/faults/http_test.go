package faults_test

// Fault tests through the HTTP layer against a real redis-server process
// owned by the test, over real TCP (httptest.Server): the store down, hung
// and restarted without persistence, the HTTP side of cases 1, 3 and 5 of
// store_test.go. A store fault must answer 503 and clear no cookie,
// so that an outage never logs anybody out. Run with RTR_FAULTS=1.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// webApp is an application on an httptest.Server: GET /page (Require),
// POST /login?user=, POST /auth/refresh, POST /auth/logout.
type webApp struct {
	t    *testing.T
	srv  *httptest.Server
	iss  *rtr.Issuer
	auth *rtr.HTTPAuth
	clk  *testkit.Clock
}

// handlerTimeout, when set, gives every request context a deadline, as an
// application with a per-request timeout would.
func newWebApp(t *testing.T, store rtr.Store, mode rtr.Mode, grace time.Duration, handlerTimeout time.Duration) *webApp {
	t.Helper()
	w := &webApp{t: t, clk: testkit.NewClock(time.Now())}
	iss, err := rtr.NewIssuer(rtr.Config{
		Store: store, Secret: testSecret, Issuer: "rtr-faults",
		AccessTTL: time.Minute, ReuseGrace: grace, Now: w.clk.Now,
	})
	require.NoError(t, err)
	w.iss = iss
	w.auth, err = rtr.NewHTTPAuth(iss, rtr.WithMode(mode), rtr.WithInsecureCookies())
	require.NoError(t, err)

	mux := http.NewServeMux()
	mux.Handle("GET /page", w.auth.Require(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, _ := rtr.ClaimsFromContext(r.Context())
		_, _ = io.WriteString(rw, "hello "+c.Subject)
	})))
	mux.HandleFunc("POST /login", func(rw http.ResponseWriter, r *http.Request) {
		p, err := w.auth.Login(rw, r, r.URL.Query().Get("user"))
		if err != nil {
			w.auth.WriteError(rw, r, err)
			return
		}
		w.auth.WriteTokenResponse(rw, p)
	})
	mux.Handle("POST /auth/refresh", w.auth.RefreshHandler())
	mux.Handle("POST /auth/logout", w.auth.LogoutHandler(nil))
	var h http.Handler = mux
	if handlerTimeout > 0 {
		h = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), handlerTimeout)
			defer cancel()
			mux.ServeHTTP(rw, r.WithContext(ctx))
		})
	}
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	return w
}

// browserClient is one client: its cookies (cookie mode) or tokens (bearer).
type browserClient struct {
	w       *webApp
	cookies map[string]string
	access  string // bearer mode
	refresh string // bearer mode
}

func (w *webApp) browser() *browserClient { return &browserClient{w: w, cookies: map[string]string{}} }

type response struct {
	status     int
	body       string
	setCookies []*http.Cookie
	elapsed    time.Duration
}

func (b *browserClient) do(method, path string, body any) response {
	b.w.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(b.w.t, err)
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, b.w.srv.URL+path, rd)
	require.NoError(b.w.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for n, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	if b.access != "" {
		req.Header.Set("Authorization", "Bearer "+b.access)
	}
	start := time.Now()
	resp, err := b.w.srv.Client().Do(req)
	require.NoError(b.w.t, err)
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	require.NoError(b.w.t, err)
	r := response{status: resp.StatusCode, body: string(rb), setCookies: resp.Cookies(), elapsed: time.Since(start)}
	for _, c := range r.setCookies {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	if resp.StatusCode == http.StatusOK && b.w.auth.Mode() == rtr.BearerMode && (path == "/auth/refresh" || strings.HasPrefix(path, "/login")) {
		var tr rtr.TokenResponse
		require.NoError(b.w.t, json.Unmarshal(rb, &tr))
		b.access, b.refresh = tr.AccessToken, tr.RefreshToken
	}
	return r
}

func (b *browserClient) login(user string) {
	b.w.t.Helper()
	r := b.do("POST", "/login?user="+user, nil)
	require.Contains(b.w.t, []int{http.StatusOK, http.StatusNoContent}, r.status, "login")
}

// refreshCall is how a client gets a new access token: in cookie mode any
// page load does it, in bearer mode the refresh endpoint.
func (b *browserClient) refreshCall() response {
	if b.w.auth.Mode() == rtr.CookieMode {
		return b.do("GET", "/page", nil)
	}
	return b.do("POST", "/auth/refresh", map[string]string{"refresh_token": b.refresh})
}

func newAOFStore(t *testing.T, bin string) (*redisServer, rtr.Store) {
	srv := startRedis(t, bin, "--appendonly", "yes", "--appendfsync", "always")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return srv, rtr.NewRedisStore(c)
}

// Case 1 over HTTP: the server is down. A valid access token is still
// served; a request that needs a rotation is 503 and no cookie is touched;
// once the server is back the same tokens rotate (no restart of the
// application, no session lost).
func TestFaultHTTPStoreDown(t *testing.T) {
	bin := requireFaults(t)
	for _, mode := range []rtr.Mode{rtr.CookieMode, rtr.BearerMode} {
		t.Run(mode.String(), func(t *testing.T) {
			srv, store := newAOFStore(t, bin)
			w := newWebApp(t, store, mode, time.Minute, 0)
			stale := w.browser()
			stale.login("stale")
			w.clk.Advance(2 * time.Minute) // stale's access token has expired
			fresh := w.browser()
			fresh.login("fresh")
			staleCookies := map[string]string{}
			for k, v := range stale.cookies {
				staleCookies[k] = v
			}
			staleRefresh := stale.refresh

			srv.Kill()

			r := fresh.do("GET", "/page", nil)
			require.Equal(t, http.StatusOK, r.status, "a valid access token needs no store")
			require.Equal(t, "hello fresh", r.body)
			require.Empty(t, r.setCookies)

			r = stale.refreshCall()
			require.Equal(t, http.StatusServiceUnavailable, r.status, "rotation during the outage")
			require.Contains(t, r.body, "temporarily_unavailable")
			require.Empty(t, r.setCookies, "a store outage clears no cookie")
			require.Equal(t, staleCookies, stale.cookies)
			require.Equal(t, staleRefresh, stale.refresh)

			r = stale.do("POST", "/auth/logout", map[string]string{"refresh_token": stale.refresh})
			require.Equal(t, http.StatusServiceUnavailable, r.status, "logout during the outage")
			require.Empty(t, r.setCookies)

			r = w.browser().do("POST", "/login?user=newcomer", nil)
			require.Equal(t, http.StatusServiceUnavailable, r.status, "login during the outage")
			require.Empty(t, r.setCookies)

			srv.Restart()

			// go-redis may answer with its last dial error for about a
			// second after a run of failed dials: retry, as a client would.
			for deadline := time.Now().Add(5 * time.Second); ; {
				r = stale.refreshCall()
				if r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
					break
				}
				require.Empty(t, r.setCookies, "a 503 clears no cookie")
				time.Sleep(100 * time.Millisecond)
			}
			require.Equal(t, http.StatusOK, r.status, "rotation works again, same process")
			if mode == rtr.CookieMode {
				require.Equal(t, "hello stale", r.body)
				require.Len(t, r.setCookies, 2, "both new cookies")
			}
			require.NotEqual(t, staleRefresh+staleCookies["rtr_refresh"], stale.refresh+stale.cookies["rtr_refresh"], "the refresh token rotated")
			r = stale.do("GET", "/page", nil)
			require.Equal(t, http.StatusOK, r.status)
			for _, subj := range []string{"stale", "fresh"} {
				ss, err := w.iss.Sessions(context.Background(), subj)
				require.NoError(t, err)
				require.Len(t, ss, 1, "no session lost: %s", subj)
			}
		})
	}
}

// Case 5 over HTTP: the server restarted without persistence. Sessions are
// gone: a request that needs a rotation is 401 and the cookies are
// deleted (cookie mode), the refresh endpoint is 400 invalid_grant (bearer
// mode); an unexpired access token is still served until it expires; a new
// login works at once.
func TestFaultHTTPRestartWithoutPersistence(t *testing.T) {
	bin := requireFaults(t)
	for _, mode := range []rtr.Mode{rtr.CookieMode, rtr.BearerMode} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := startRedis(t, bin)
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = c.Close() })
			w := newWebApp(t, rtr.NewRedisStore(c), mode, 10*time.Second, 0)
			stale := w.browser()
			stale.login("stale")
			w.clk.Advance(2 * time.Minute)
			fresh := w.browser()
			fresh.login("fresh")

			srv.Restart()

			r := fresh.do("GET", "/page", nil)
			require.Equal(t, http.StatusOK, r.status, "an access token is valid until it expires")
			r = stale.refreshCall()
			if mode == rtr.CookieMode {
				require.Equal(t, http.StatusUnauthorized, r.status, "the session is gone")
				require.Empty(t, stale.cookies, "both cookies deleted")
			} else {
				require.Equal(t, http.StatusBadRequest, r.status, "the session is gone")
				require.Contains(t, r.body, "invalid_grant")
			}
			again := w.browser()
			again.login("stale")
			require.Equal(t, http.StatusOK, again.refreshCall().status, "a new login works at once")
		})
	}
}

// Case 3 over HTTP: the server hangs (SIGSTOP) and the application gives
// each request a 300 ms deadline. A request that needs a rotation must be
// answered 503 within that deadline (plus a loose 2 s), cookies untouched.
func TestFaultHTTPHungStore(t *testing.T) {
	bin := requireFaults(t)
	const deadline = 300 * time.Millisecond
	for _, mode := range []rtr.Mode{rtr.CookieMode, rtr.BearerMode} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := startRedis(t, bin)
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = c.Close() })
			w := newWebApp(t, rtr.NewRedisStore(c), mode, 10*time.Second, deadline)
			b := w.browser()
			b.login("hung")
			w.clk.Advance(2 * time.Minute)

			srv.Pause()
			r := b.refreshCall()
			srv.Resume()
			t.Logf("%s mode: %d after %v with a %v handler deadline", mode, r.status, r.elapsed.Round(time.Millisecond), deadline)
			require.Equal(t, http.StatusServiceUnavailable, r.status)
			require.Empty(t, r.setCookies)
			require.Less(t, r.elapsed, deadline+2*time.Second, "answered within the request's deadline")
		})
	}
}
