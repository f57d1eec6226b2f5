package rtr

import (
	"context"
	"sync"
	"time"
)

// memFeed is a [MemoryStore]'s [RevocationFeed]: in-process, so a
// published revocation reaches every follower before PublishRevocations
// returns. The record (for followers that start later) keeps each
// revocation until its Until.
type memFeed struct {
	mu        sync.Mutex
	record    map[memRevKey]time.Time
	followers map[*memFollower]struct{}
	nextPrune int
}

type memRevKey struct{ subject, sid string }

type memFollower struct{ f RevocationFollower }

// PublishRevocations implements [RevocationFeed].
func (m *MemoryStore) PublishRevocations(ctx context.Context, now time.Time, revs []Revocation) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	fd := &m.feed
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.record == nil {
		fd.record = make(map[memRevKey]time.Time)
	}
	if len(fd.record) >= fd.nextPrune {
		for k, u := range fd.record {
			if !u.After(now) {
				delete(fd.record, k)
			}
		}
		fd.nextPrune = max(2*len(fd.record), 1024)
	}
	for _, rv := range revs {
		k := memRevKey{rv.Subject, rv.SessionID}
		if u, ok := fd.record[k]; !ok || rv.Until.After(u) {
			fd.record[k] = rv.Until
		}
	}
	for f := range fd.followers {
		f.f.Revoked(revs)
	}
	return nil
}

// FollowRevocations implements [RevocationFeed]. The memory feed never
// disconnects: after the catch-up and one FeedUp it only pushes.
func (m *MemoryStore) FollowRevocations(ctx context.Context, now func() time.Time, f RevocationFollower) error {
	fd := &m.feed
	mf := &memFollower{f: f}
	fd.mu.Lock()
	if fd.followers == nil {
		fd.followers = make(map[*memFollower]struct{})
	}
	t := now()
	var revs []Revocation
	for k, u := range fd.record {
		if u.After(t) {
			revs = append(revs, Revocation{Subject: k.subject, SessionID: k.sid, Until: u})
		}
	}
	f.Revoked(revs)
	f.FeedUp()
	fd.followers[mf] = struct{}{}
	fd.mu.Unlock()
	<-ctx.Done()
	fd.mu.Lock()
	delete(fd.followers, mf)
	fd.mu.Unlock()
	return ctx.Err()
}
