package main

import (
	"context"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/pgstore"
)

// adapt fits the store to an rtr.Store whose Create has no session cap.
// Once rtr.Store.Create takes maxSessions, *pgstore.Store is an rtr.Store
// itself: pass the store directly and delete this file.
func adapt(s *pgstore.Store) rtr.Store { return legacy{s} }

type legacy struct{ *pgstore.Store }

func (l legacy) Create(ctx context.Context, r rtr.SessionRecord) error {
	_, err := l.Store.Create(ctx, r, 0)
	return err
}
