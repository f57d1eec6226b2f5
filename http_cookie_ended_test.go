package rtr_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/issuertest"
)

// TestCookieRotationOfSessionEndedMeanwhile: in cookie mode the middleware
// rotates an expired access cookie, then verifies the access token it has
// just minted. When the session ends in between (its stolen refresh token
// replayed on another server, say, and the revocation delivered by the
// feed), the answer is the one for an ended session, 401 with both
// cookies deleted, not a 500.
func TestCookieRotationOfSessionEndedMeanwhile(t *testing.T) {
	var f *httpFixture
	var endOnRotation atomic.Bool
	var ended int // revocations the verifier should hold
	f = newHTTPFixture(t, func(c *rtr.Config) {
		c.Store = rtr.NewMemoryStore() // a store with a revocation feed
		c.InstantRevocation = true
		record := c.OnEvent
		c.OnEvent = func(ctx context.Context, e rtr.Event) {
			record(ctx, e)
			if e.Type == rtr.EventRotated && endOnRotation.CompareAndSwap(true, false) {
				require.NoError(t, f.iss.RevokeSession(ctx, e.Subject, e.SessionID))
				ended++
				require.Eventually(t, func() bool { return f.iss.Verifier().RevocationStatus().Entries == ended },
					10*time.Second, time.Millisecond, "the revocation reaches the verifier")
			}
		}
	}, rtr.WithInsecureCookies())
	t.Cleanup(func() { _ = f.iss.Close() })
	issuertest.WaitFeedInSync(t, f.iss.Verifier())

	access, refresh := f.cookieLogin("alice")
	f.clock.Advance(httpAccessTTL + time.Second) // the access cookie has expired
	endOnRotation.Store(true)

	resp := serve(f.auth.Require(whoami), newRequest(http.MethodGet, "/me", nil, access, refresh))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, readBody(t, resp))
	require.False(t, endOnRotation.Load(), "the middleware rotated")
	set := setCookies(resp)
	for _, name := range []string{f.auth.AccessCookieName(), f.auth.RefreshCookieName()} {
		require.Contains(t, set, name)
		require.Empty(t, set[name].Value, "%s is deleted", name)
	}

	// Optional goes on anonymously, as for any ended session.
	_, refresh = f.cookieLogin("alice")
	f.clock.Advance(httpAccessTTL + time.Second)
	endOnRotation.Store(true)
	resp = serve(f.auth.Optional(whoami), newRequest(http.MethodGet, "/me", nil, refresh))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "anonymous", readBody(t, resp))
}
