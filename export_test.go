package rtr

import "context"

// ListRecords returns the store records of subject's live sessions, as
// the issuer's store lists them: what a [Session] hides (the generation,
// exact times), for tests that check the store's state.
func ListRecords(ctx context.Context, iss *Issuer, subject string) ([]SessionRecord, error) {
	return iss.cfg.Store.List(ctx, subject, iss.cfg.Now())
}
