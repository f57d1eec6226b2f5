package rtr_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// parallelResult is what one parallel request saw.
type parallelResult struct {
	status  int
	body    string
	refresh string // the refresh cookie it was given
	err     error
}

// fireParallel sends n GET requests at once with the same cookies, spread over
// the servers in turn, and returns what each saw. Nothing is asserted in
// the goroutines.
func fireParallel(servers []*httptest.Server, path string, n int, cookies ...*http.Cookie) []parallelResult {
	out := make([]parallelResult, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := servers[i%len(servers)]
			req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			if err != nil {
				out[i].err = err
				return
			}
			for _, c := range cookies {
				req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			start.Wait()
			resp, err := srv.Client().Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].status = resp.StatusCode
			buf := make([]byte, 256)
			k, _ := resp.Body.Read(buf)
			out[i].body = string(buf[:k])
			for _, c := range resp.Cookies() {
				if c.Name == refreshCookieName {
					out[i].refresh = c.Value
				}
			}
		}()
	}
	start.Done()
	wg.Wait()
	return out
}

// TestCookieParallelExpiredRequests: a page that loads many resources just
// after its access cookie expired sends the same cookies many times at once.
// Every request must be served, nobody logged out, and the refresh token
// must rotate exactly once — within one server (shared rotation) and across
// two servers on one store (the grace retry).
func TestCookieParallelExpiredRequests(t *testing.T) {
	const n = 32
	for _, servers := range []int{1, 2} {
		t.Run(map[int]string{1: "one server", 2: "two servers"}[servers], func(t *testing.T) {
			f := newHTTPFixture(t, nil)
			var srvs []*httptest.Server
			for range servers {
				a := mustHTTP(t, f.iss) // a separate HTTPAuth: no shared in-process state
				srv := httptest.NewServer(a.Require(whoami))
				t.Cleanup(srv.Close)
				srvs = append(srvs, srv)
			}
			access, refresh := f.cookieLogin("alice")
			sid := testkit.Claim(t, refresh.Value, "sid").(string)
			f.clock.Advance(httpAccessTTL + time.Second)

			results := fireParallel(srvs, "/api/me", n, access, refresh)

			var next string
			for i, r := range results {
				require.NoError(t, r.err, "request %d", i)
				require.Equal(t, http.StatusOK, r.status, "request %d: %s", i, r.body)
				assert.Equal(t, "alice "+sid, r.body, "request %d", i)
				require.NotEmpty(t, r.refresh, "request %d got no new refresh cookie", i)
				if next == "" {
					next = r.refresh
				}
				assert.Equal(t, next, r.refresh, "request %d: every request converges on one token", i)
			}
			assert.EqualValues(t, 2, testkit.Claim(t, next, "gen"), "rotated exactly once")
			assert.Equal(t, 1, f.events.Count(rtr.EventRotated))
			assert.Zero(t, f.events.Count(rtr.EventReuseDetected))

			// The converged token keeps working.
			f.clock.Advance(httpAccessTTL + time.Second)
			resp := serve(f.auth.Require(whoami), newRequest("GET", "/", nil, &http.Cookie{Name: refreshCookieName, Value: next}))
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

// TestCookieParallelRequestsShareOneRotation shows, deterministically, that
// concurrent requests with the same refresh cookie in one process make a
// single store call.
func TestCookieParallelRequestsShareOneRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		store := &gateStore{Store: rtr.NewMemoryStore(), gate: make(chan struct{})}
		f := newHTTPFixtureOn(t, store, nil)
		access, refresh := f.cookieLogin("alice")
		f.clock.Advance(httpAccessTTL + time.Second)

		h := f.auth.Require(whoami)
		results := make([]*http.Response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = serve(h, newRequest("GET", "/", nil, access, refresh))
			}()
		}
		synctest.Wait() // everyone is blocked: one in the store, the rest on its flight
		assert.EqualValues(t, 1, store.calls.Load(), "one store call for all parallel requests")
		close(store.gate)
		wg.Wait()

		var first string
		for i, resp := range results {
			require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
			c := setCookies(resp)[refreshCookieName]
			require.NotNil(t, c, "request %d", i)
			if first == "" {
				first = c.Value
			}
			assert.Equal(t, first, c.Value)
		}
		assert.EqualValues(t, 1, store.calls.Load())
	})
}

// TestSharedRotationSurvivesCancelledLeader: the request that started a
// shared rotation hangs up; the others still get the rotation's result.
func TestSharedRotationSurvivesCancelledLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &gateStore{Store: rtr.NewMemoryStore(), gate: make(chan struct{})}
		f := newHTTPFixtureOn(t, store, nil)
		access, refresh := f.cookieLogin("alice")
		f.clock.Advance(httpAccessTTL + time.Second)
		h := f.auth.Require(whoami)

		ctx, cancel := context.WithCancel(context.Background())
		var leader, follower *http.Response
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			leader = serve(h, newRequest("GET", "/", nil, access, refresh).WithContext(ctx))
		}()
		synctest.Wait()
		require.EqualValues(t, 1, store.calls.Load())
		wg.Add(1)
		go func() {
			defer wg.Done()
			follower = serve(h, newRequest("GET", "/", nil, access, refresh))
		}()
		synctest.Wait()
		cancel() // the leader's client goes away mid-rotation
		close(store.gate)
		wg.Wait()
		// The leader stops waiting when its own context ends (its client is
		// gone); the rotation it started still serves the follower.
		require.Equal(t, http.StatusServiceUnavailable, leader.StatusCode)
		require.Empty(t, leader.Header.Values("Set-Cookie"), "nothing cleared")
		require.Equal(t, http.StatusOK, follower.StatusCode)
		assert.EqualValues(t, 1, store.calls.Load())
	})
}
