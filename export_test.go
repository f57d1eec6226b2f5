package rtr

import (
	"context"

	"github.com/rtr-go/rtr/internal/token"
)

// ListRecords returns the store records of subject's live sessions, as
// the issuer's store lists them: what a [Session] hides (the generation,
// exact times), for tests that check the store's state.
func ListRecords(ctx context.Context, iss *Issuer, subject string) ([]SessionRecord, error) {
	return iss.cfg.Store.List(ctx, subject, iss.cfg.Now())
}

// testKeys returns the HS256 keys derived from iss's current secret, for
// tests that forge tokens under them.
func (iss *Issuer) testKeys() token.KeySet { return token.DeriveKeys(iss.cfg.Secret) }

// parseRefresh parses a refresh token as Refresh (checkExpiry) or Revoke
// (signature only) does.
func (iss *Issuer) parseRefresh(tok string, checkExpiry bool) (any, error) {
	if checkExpiry {
		return iss.codec.ParseRefresh(tok)
	}
	return iss.codec.IdentifyRefresh(tok)
}
