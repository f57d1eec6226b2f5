package rtr

import (
	"context"
	"errors"
	"fmt"
)

// Issue logs subject in: it starts a new session (every call is a new
// device; earlier sessions stay valid) and returns its first token pair.
// Subject must be 1 to [MaxSubjectLen] bytes. When the subject already has
// [Config.MaxSessionsPerSubject] sessions, its least recently used ones
// end in the same store step ([EventRevoked] for each).
func (iss *Issuer) Issue(ctx context.Context, subject string, opts ...IssueOption) (Pair, error) {
	if subject == "" || len(subject) > MaxSubjectLen {
		return Pair{}, ErrInvalidSubject
	}
	var o issueOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Pair{}, err
		}
	}
	extra, err := iss.extraClaims(ctx, subject)
	if err != nil {
		return Pair{}, err
	}
	now := iss.cfg.Now()
	abs := now.Add(iss.cfg.MaxSessionAge)
	rec := SessionRecord{
		ID:                newID(),
		Subject:           subject,
		Current:           newID(),
		Generation:        1,
		CreatedAt:         now,
		LastUsedAt:        now,
		IdleExpiresAt:     now.Add(iss.cfg.RefreshTTL),
		AbsoluteExpiresAt: abs,
		Meta:              o.meta,
	}
	if rec.IdleExpiresAt.After(abs) {
		rec.IdleExpiresAt = abs
	}
	sctx, cancel := iss.storeContext(ctx)
	defer cancel()
	evicted, err := iss.cfg.Store.Create(sctx, rec, iss.cfg.MaxSessionsPerSubject)
	// The cap ended these sessions whatever happens next (a store may
	// report evictions it made before failing to store the new one).
	for _, id := range evicted {
		iss.emit(ctx, EventRevoked, subject, id, 0)
	}
	// With InstantRevocation the evicted sessions' access tokens die too;
	// a login whose evictions could not be published hands out no token
	// and ends the new session again.
	pubErr := iss.publishEnded(ctx, subject, evicted...)
	if err != nil {
		if errors.Is(err, ErrInvalidSessionRecord) {
			return Pair{}, err
		}
		return Pair{}, storeError(err)
	}
	if pubErr != nil {
		// No token is handed out, so the new session would sit unused and,
		// at the cap, make every retry evict one more real session.
		_, _ = iss.cfg.Store.Revoke(sctx, subject, rec.ID)
		return Pair{}, pubErr
	}
	p, err := iss.pair(&rec, extra)
	if err != nil {
		return Pair{}, err
	}
	iss.emit(ctx, EventIssued, subject, rec.ID, rec.Generation)
	return p, nil
}

// Refresh exchanges a refresh token for a new pair, applying the rotation
// policy in one atomic store operation:
//
//   - the current refresh token rotates: a new pair, the old token is spent;
//   - the token rotated most recently, presented again less than
//     [Config.ReuseGrace] after its rotation, gets the current pair again
//     (same refresh token, a fresh access token) and nothing rotates;
//   - any other spent token is theft: the session is revoked, an
//     [EventReuseDetected] is emitted and [ErrTokenReused] returned.
//
// Other errors: [ErrInvalidToken], [ErrTokenExpired], [ErrSessionNotFound],
// and [ErrStoreUnavailable] when the store cannot answer (the client should
// keep its tokens and try again later).
func (iss *Issuer) Refresh(ctx context.Context, refreshToken string) (Pair, error) {
	rc, err := iss.codec.ParseRefresh(refreshToken)
	if err != nil {
		return Pair{}, err
	}
	// Claims are gathered before the store commits a rotation: a failing
	// callback must not leave the client holding a spent token.
	extra, err := iss.extraClaims(ctx, rc.Subject)
	if err != nil {
		return Pair{}, err
	}
	sctx, cancel := iss.storeContext(ctx)
	defer cancel()
	deadline, _ := sctx.Deadline()
	res, err := iss.cfg.Store.Rotate(sctx, RotateRequest{
		Subject:    rc.Subject,
		SessionID:  rc.SessionID,
		JTI:        rc.ID,
		Generation: rc.Generation,
		NewJTI:     newID(),
		Now:        iss.cfg.Now(),
		IdleTTL:    iss.cfg.RefreshTTL,
		Grace:      iss.cfg.ReuseGrace,
		Deadline:   deadline,
	})
	if err != nil {
		return Pair{}, storeError(err)
	}
	switch res.Outcome {
	case OutcomeRotated, OutcomeRetried:
		p, err := iss.pair(&res.Session, extra)
		if err != nil {
			return Pair{}, err
		}
		t := EventRotated
		if res.Outcome == OutcomeRetried {
			t = EventRetried
		}
		iss.emit(ctx, t, rc.Subject, rc.SessionID, res.Session.Generation)
		return p, nil
	case OutcomeReuseDetected:
		iss.emit(ctx, EventReuseDetected, rc.Subject, rc.SessionID, rc.Generation)
		if err := iss.publishEnded(ctx, rc.Subject, rc.SessionID); err != nil {
			// The theft answer stands; the caller can also tell that other
			// processes may not have learned of it.
			return Pair{}, fmt.Errorf("%w (revocation not published: %w)", ErrTokenReused, err)
		}
		return Pair{}, ErrTokenReused
	default:
		return Pair{}, fmt.Errorf("%w: store returned outcome %d", ErrStoreUnavailable, res.Outcome)
	}
}

// Revoke ends the session a refresh token belongs to (logout on this
// device). It is idempotent: revoking an ended session returns nil. Any
// correctly signed refresh token of the session will do, even an expired
// or already rotated one; a token that is not genuine is [ErrInvalidToken].
//
// With [Config.InstantRevocation] the end is published on the store's
// revocation feed before Revoke returns; when that fails Revoke returns
// [ErrStoreUnavailable] although the session may already be deleted (its
// refresh tokens are dead, its access tokens are refused by this process
// but perhaps not by others). Calling Revoke again publishes again, also
// when the session is already gone, so retrying until nil is enough.
func (iss *Issuer) Revoke(ctx context.Context, refreshToken string) error {
	id, err := iss.codec.IdentifyRefresh(refreshToken)
	if err != nil {
		return err
	}
	return iss.endSession(ctx, id.Subject, id.SessionID, true)
}

// RevokeSession ends one session of subject by its id, as listed by
// [Issuer.Sessions] ("log out that device"). Idempotent. With
// [Config.InstantRevocation] the end is published as [Issuer.Revoke]
// describes (a revocation names the subject too, so an id of another
// subject's session revokes nothing), but only when the store still had
// the session: ids come from outside here, and made-up ones must not fill
// every verifier's revocation set. A retry after a failed publish
// therefore publishes nothing; retry with [Issuer.Revoke] and a token of
// the session, or let the access tokens expire.
func (iss *Issuer) RevokeSession(ctx context.Context, subject, sessionID string) error {
	return iss.endSession(ctx, subject, sessionID, false)
}

// endSession ends a session. signed says the id came from a genuinely
// signed token, so the session existed: then the end is published even
// when the store no longer has it (the retry of a call whose publishing
// failed).
func (iss *Issuer) endSession(ctx context.Context, subject, sessionID string, signed bool) error {
	if subject == "" || len(subject) > MaxSubjectLen {
		return ErrInvalidSubject
	}
	if sessionID == "" || len(sessionID) > maxSessionIDLen {
		return nil // no such session: nothing to revoke
	}
	sctx, cancel := iss.storeContext(ctx)
	defer cancel()
	ok, err := iss.cfg.Store.Revoke(sctx, subject, sessionID)
	if err != nil {
		return storeError(err)
	}
	if ok {
		iss.emit(ctx, EventRevoked, subject, sessionID, 0)
	}
	if !ok && !signed {
		return nil
	}
	return iss.publishEnded(ctx, subject, sessionID)
}

// RevokeAll ends every session of subject (logout everywhere). Access
// tokens already handed out stay valid until they expire, unless
// [Config.InstantRevocation] is on: then every ended session is published
// on the store's revocation feed before RevokeAll returns. When that fails
// RevokeAll returns [ErrStoreUnavailable] after the sessions were deleted;
// this process refuses their access tokens, but a retry cannot publish
// them again (the store no longer lists them), so other processes may
// accept them until they expire (at most AccessTTL).
func (iss *Issuer) RevokeAll(ctx context.Context, subject string) error {
	if subject == "" || len(subject) > MaxSubjectLen {
		return ErrInvalidSubject
	}
	sctx, cancel := iss.storeContext(ctx)
	defer cancel()
	ids, err := iss.cfg.Store.RevokeAll(sctx, subject)
	if err != nil {
		return storeError(err)
	}
	for _, id := range ids {
		iss.emit(ctx, EventRevoked, subject, id, 0)
	}
	return iss.publishEnded(ctx, subject, ids...)
}

// Sessions lists the live sessions of subject, oldest first, for a device
// list.
func (iss *Issuer) Sessions(ctx context.Context, subject string) ([]Session, error) {
	if subject == "" || len(subject) > MaxSubjectLen {
		return nil, ErrInvalidSubject
	}
	sctx, cancel := iss.storeContext(ctx)
	defer cancel()
	recs, err := iss.cfg.Store.List(sctx, subject, iss.cfg.Now())
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]Session, len(recs))
	for i, r := range recs {
		out[i] = sessionFromRecord(r)
	}
	return out, nil
}

// storeContext bounds a store call by [Config.StoreTimeout].
func (iss *Issuer) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, iss.cfg.StoreTimeout)
}

// maxSessionIDLen bounds session ids taken from outside (a device-list
// form); rtr's own are 22 characters.
const maxSessionIDLen = 64

// storeError makes sure a store failure reads as "cannot tell now": the
// store's own sentinels pass through, anything else (a third-party store
// that forgot to wrap, a context error) becomes [ErrStoreUnavailable].
func storeError(err error) error {
	if errors.Is(err, ErrSessionNotFound) || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}
