package rtr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtr-go/rtr/internal/token"
)

// remoteKeys is a JWKS fetched from a URL and cached.
//
// A fetched set is used for its cache lifetime; the first verification
// after that fetches it again (the others go on with the old keys). A
// token naming a kid that is not in the set triggers a fetch too, but at
// most one per minimum interval, so that a flood of made-up kids cannot
// turn a verifier into a load generator against the issuer. A failed
// fetch keeps the keys fetched before: known kids still verify, and an
// unknown kid is [ErrKeyUnavailable] until a fetch succeeds.
type remoteKeys struct {
	url         string
	client      *http.Client
	now         func() time.Time
	lifetime    time.Duration
	minInterval time.Duration
	timeout     time.Duration

	keys        atomic.Pointer[[]*token.PublicKey] // nil until the first successful fetch
	nextRefresh atomic.Int64                       // unix ns: when refreshIfStale fetches again

	mu       sync.Mutex    // guards the fields below; never held during a fetch
	triedAt  time.Time     // last attempt, successful or not
	failed   bool          // the last attempt failed
	inflight chan struct{} // closed when the fetch under way ends; nil when none is
}

func (s *remoteKeys) Snapshot() []*token.PublicKey {
	keys := s.keys.Load()
	if keys == nil {
		return nil
	}
	s.refreshIfStale()
	return *keys
}

// refreshIfStale fetches the set again in the background when its cache
// lifetime is over and no fetch is under way. Until then it costs a clock
// reading and an atomic load.
func (s *remoteKeys) refreshIfStale() {
	if s.now().UnixNano() < s.nextRefresh.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().UnixNano() < s.nextRefresh.Load() || s.inflight != nil {
		return
	}
	s.startFetchLocked()
}

// Lookup returns the key kid names, fetching the set when kid is unknown
// (at most once per minimum interval). It waits for a fetch only as long
// as ctx allows: past that the answer is [ErrKeyUnavailable], and the
// fetch goes on for the requests after it.
func (s *remoteKeys) Lookup(ctx context.Context, kid string) (*token.PublicKey, error) {
	if k := s.find(kid); k != nil {
		s.refreshIfStale()
		return k, nil
	}
	for {
		s.mu.Lock()
		if k := s.find(kid); k != nil { // fetched while we waited
			s.mu.Unlock()
			return k, nil
		}
		done := s.inflight
		if done == nil && (s.triedAt.IsZero() || s.now().Sub(s.triedAt) >= s.minInterval) {
			done = s.startFetchLocked()
		}
		failed := s.failed
		s.mu.Unlock()
		if done == nil {
			if failed {
				return nil, fmt.Errorf("%w: key id not in the cached key set, which cannot be fetched now", ErrKeyUnavailable)
			}
			return nil, token.ErrUnknownKey
		}
		select {
		case <-done: // look again, with what the fetch brought
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: key id not in the cached key set, and the fetch outlasted the request: %w", ErrKeyUnavailable, ctx.Err())
		}
	}
}

// startFetchLocked starts a fetch in the background and returns the
// channel closed when it ends. s.mu is held. The fetch is bounded by the
// timeout and not by any caller's cancellation: a client going away must
// not leave every other request without keys until the next attempt.
func (s *remoteKeys) startFetchLocked() chan struct{} {
	done := make(chan struct{})
	s.inflight, s.triedAt = done, s.now()
	go func() {
		keys, err := s.fetch(context.Background())
		s.mu.Lock()
		if err != nil {
			s.failed = true
			s.nextRefresh.Store(s.now().Add(s.minInterval).UnixNano())
		} else {
			s.keys.Store(&keys)
			s.failed = false
			s.nextRefresh.Store(s.now().Add(s.lifetime).UnixNano())
		}
		s.inflight = nil
		s.mu.Unlock()
		close(done)
	}()
	return done
}

func (s *remoteKeys) find(kid string) *token.PublicKey {
	keys := s.keys.Load()
	if keys == nil {
		return nil
	}
	for _, k := range *keys {
		if k.Kid() == kid {
			return k
		}
	}
	return nil
}

func (s *remoteKeys) fetch(ctx context.Context) ([]*token.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("JWKS: status %d", resp.StatusCode)
	}
	if resp.ContentLength > MaxJWKSBytes {
		return nil, errJWKSTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxJWKSBytes {
		return nil, errJWKSTooLarge
	}
	return token.ParseJWKS(body)
}

var errJWKSTooLarge = errors.New("rtr: JWKS document too large")
