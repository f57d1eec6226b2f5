package rtr_test

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// TestStrictModeNeverSharesRotations: with a zero grace, two concurrent
// refreshes of one token in one process do not join one rotation (a thief
// racing the victim would get the new pair unnoticed): each goes to the
// store, one rotates and the other is reuse, which ends the session.
func TestStrictModeNeverSharesRotations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request func(c *http.Cookie) *http.Request
	}{
		{"refresh cookie", func(c *http.Cookie) *http.Request {
			return newRequest(http.MethodPost, "/auth/refresh", nil, c)
		}},
		{"JSON body", func(c *http.Cookie) *http.Request {
			return newRequest(http.MethodPost, "/auth/refresh", jsonBody(map[string]string{"refresh_token": c.Value}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &gateStore{Store: rtr.NewMemoryStore(), gate: make(chan struct{})}
				f := newHTTPFixtureOn(t, store, strict, rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/auth/"))
				resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/auth/login?user=alice", nil))
				require.Equal(t, http.StatusOK, resp.StatusCode)
				c := setCookies(resp)[f.auth.RefreshCookieName()]
				require.NotNil(t, c)

				h := f.auth.RefreshHandler()
				results := make([]*http.Response, 2)
				var wg sync.WaitGroup
				for i := range results {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i] = serve(h, tc.request(c))
					}()
				}
				synctest.Wait() // both are blocked: in the store, or one on the other's flight
				assert.EqualValues(t, 2, store.calls.Load(), "each refresh makes its own store call")
				close(store.gate)
				wg.Wait()

				var ok, reused int
				for _, r := range results {
					switch r.StatusCode {
					case http.StatusOK:
						ok++
					case http.StatusBadRequest: // RFC 6749 §5.2: a refused grant
						code, _ := oauthError(t, r)
						assert.Equal(t, "invalid_grant", code)
						reused++
					}
				}
				assert.Equal(t, 1, ok, "one refresh succeeds")
				assert.Equal(t, 1, reused, "the other is reuse")
				assert.Equal(t, 1, f.events.Count(rtr.EventRotated))
				assert.Equal(t, 1, f.events.Count(rtr.EventReuseDetected))
				sessions, err := f.iss.Sessions(t.Context(), "alice")
				require.NoError(t, err)
				assert.Empty(t, sessions, "reuse ended the session")
			})
		})
	}
}

// TestGraceModeStillSharesRotations: with a grace, the shared rotation
// stays (a page's parallel requests make one store call).
func TestGraceModeStillSharesRotations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &gateStore{Store: rtr.NewMemoryStore(), gate: make(chan struct{})}
		f := newHTTPFixtureOn(t, store, nil, rtr.WithMode(rtr.BearerMode), rtr.WithRefreshCookie("/auth/"))
		resp := serve(f.loginHandler(), newRequest(http.MethodPost, "/auth/login?user=alice", nil))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		c := setCookies(resp)[f.auth.RefreshCookieName()]
		require.NotNil(t, c)
		h := f.auth.RefreshHandler()
		results := make([]*http.Response, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = serve(h, newRequest(http.MethodPost, "/auth/refresh", nil, c))
			}()
		}
		synctest.Wait()
		assert.EqualValues(t, 1, store.calls.Load(), "one store call for both")
		close(store.gate)
		wg.Wait()
		for _, r := range results {
			assert.Equal(t, http.StatusOK, r.StatusCode)
		}
		assert.Zero(t, f.events.Count(rtr.EventReuseDetected))
	})
}
