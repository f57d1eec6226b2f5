package rtr_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
)

// TestSessionCap: a login past Config.MaxSessionsPerSubject ends the
// subject's least recently used session in the same store step, with an
// EventRevoked for it; the default cap is DefaultMaxSessionsPerSubject and
// a negative cap is no limit.
func TestSessionCap(t *testing.T) {
	forEachStore(t, func(t *testing.T, store rtr.Store) {
		ctx := context.Background()
		t.Run("Configured", func(t *testing.T) {
			f := newFixture(t, store, func(c *rtr.Config) { c.MaxSessionsPerSubject = 2 })
			subj := "cap-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			a, err := f.iss.Issue(ctx, subj)
			require.NoError(t, err)
			f.clock.Advance(time.Second)
			b, err := f.iss.Issue(ctx, subj)
			require.NoError(t, err)
			f.clock.Advance(time.Second)
			// a is used again: b is now the least recently used.
			_, err = f.iss.Refresh(ctx, a.RefreshToken)
			require.NoError(t, err)
			f.clock.Advance(time.Second)
			require.Zero(t, f.events.Count(rtr.EventRevoked))
			c, err := f.iss.Issue(ctx, subj)
			require.NoError(t, err)
			require.Equal(t, 1, f.events.Count(rtr.EventRevoked))
			var revoked rtr.Event
			for _, e := range f.events.All() {
				if e.Type == rtr.EventRevoked {
					revoked = e
				}
			}
			require.Equal(t, b.SessionID, revoked.SessionID)
			require.Equal(t, subj, revoked.Subject)
			_, err = f.iss.Refresh(ctx, b.RefreshToken)
			require.ErrorIs(t, err, rtr.ErrSessionNotFound, "the evicted session is over")
			list, err := f.iss.Sessions(ctx, subj)
			require.NoError(t, err)
			require.Len(t, list, 2)
			require.ElementsMatch(t, []string{a.SessionID, c.SessionID}, []string{list[0].ID, list[1].ID})
		})
		t.Run("DefaultAndNoLimit", func(t *testing.T) {
			for _, c := range []struct {
				name string
				cap  int
				want int
			}{
				{"Default", 0, rtr.DefaultMaxSessionsPerSubject},
				{"NoLimit", -1, rtr.DefaultMaxSessionsPerSubject + 5},
			} {
				t.Run(c.name, func(t *testing.T) {
					f := newFixture(t, store, func(cfg *rtr.Config) { cfg.MaxSessionsPerSubject = c.cap })
					subj := "cap-" + c.name + strconv.FormatInt(time.Now().UnixNano(), 36)
					for range rtr.DefaultMaxSessionsPerSubject + 5 {
						_, err := f.iss.Issue(ctx, subj)
						require.NoError(t, err)
						f.clock.Advance(time.Millisecond)
					}
					list, err := f.iss.Sessions(ctx, subj)
					require.NoError(t, err)
					require.Len(t, list, c.want)
					require.Equal(t, rtr.DefaultMaxSessionsPerSubject+5-c.want, f.events.Count(rtr.EventRevoked))
				})
			}
		})
	})
}
