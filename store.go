package rtr

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Store keeps sessions. rtr ships [MemoryStore] and [RedisStore]; the
// package storetest checks any other implementation against the contract
// below with one call.
//
// Every method is safe for concurrent use. A store never sees a token: it
// compares token ids (jti), which are useless without a valid signature.
// Time comes from the caller (the now fields), so one clock rules issuer
// and store; a session whose idle or absolute expiry is not after now is
// treated exactly like a missing one.
//
// Errors: a session that is missing, expired or revoked is
// [ErrSessionNotFound]; anything that keeps the store from answering
// (network, timeout, cancelled context, a server error) must be returned
// wrapped so that errors.Is(err, [ErrStoreUnavailable]) holds, and must not
// be reported as not-found.
type Store interface {
	// Create stores a new session. IDs are random, so Create never meets
	// an existing session with the same subject and ID.
	//
	// When maxSessions > 0, the same atomic step caps the subject's
	// sessions: the least recently used live ones (smallest LastUsedAt,
	// ties broken by CreatedAt, then ID) are deleted so that at most
	// maxSessions remain, the new one included, and their IDs are
	// returned in that order. Expired sessions met on the way are deleted
	// and not returned. A subject already over the cap (sessions created
	// without one) shrinks back to it. maxSessions <= 0 means no limit.
	// A store that ends sessions and then fails to store the new one
	// returns both the ended ids and the error.
	//
	// A record that could never be rotated (see [ValidateRecord]) is
	// refused with an error wrapping [ErrInvalidSessionRecord], and
	// nothing changes.
	Create(ctx context.Context, s SessionRecord, maxSessions int) (evicted []string, err error)

	// Rotate is the atomic refresh decision, one indivisible step:
	//   - session missing or expired at req.Now: [ErrSessionNotFound]
	//     (an expired session is deleted);
	//   - req.JTI and req.Generation are the current ones: the session
	//     moves to req.NewJTI at generation+1, the old jti becomes
	//     Previous with LastUsedAt = req.Now, the idle expiry becomes
	//     min(req.Now+req.IdleTTL, AbsoluteExpiresAt); [OutcomeRotated]
	//     with the new record;
	//   - req.JTI is Previous at generation-1 and req.Now is less than
	//     req.Grace after LastUsedAt: nothing changes; [OutcomeRetried]
	//     with the current record;
	//   - req.JTI is Previous and req.NewJTI is Current: this request was
	//     already applied (a client library repeating it after a lost
	//     reply); nothing changes; [OutcomeRotated] with the current record;
	//   - req.Generation is newer than the stored one: the store lost a
	//     rotation (failover, crash); the session is deleted;
	//     [ErrSessionNotFound], and no theft is reported;
	//   - anything else: the session is deleted; [OutcomeReuseDetected].
	//
	// Past req.Deadline nothing changes and the answer is
	// [ErrStoreUnavailable].
	Rotate(ctx context.Context, req RotateRequest) (RotateResult, error)

	// Get returns the session, or [ErrSessionNotFound] if it is missing or
	// expired at now.
	Get(ctx context.Context, subject, sessionID string, now time.Time) (SessionRecord, error)

	// Revoke deletes the session and reports whether it existed. Revoking
	// a missing session is not an error.
	Revoke(ctx context.Context, subject, sessionID string) (bool, error)

	// RevokeAll deletes every session of subject and returns their IDs
	// (empty when there were none).
	RevokeAll(ctx context.Context, subject string) ([]string, error)

	// List returns the sessions of subject that are live at now, oldest
	// first, and forgets the expired ones.
	List(ctx context.Context, subject string, now time.Time) ([]SessionRecord, error)
}

// SessionRecord is what a [Store] keeps about one session (token family).
// It holds no bearer credential.
type SessionRecord struct {
	ID      string
	Subject string

	Current    string // jti of the current refresh token
	Previous   string // jti of the refresh token rotated most recently ("" before the first rotation)
	Generation uint64 // generation of Current; 1 at login

	CreatedAt         time.Time // login
	LastUsedAt        time.Time // last rotation (CreatedAt before the first); also the current token's iat
	IdleExpiresAt     time.Time // slides with each rotation; the current refresh token's exp
	AbsoluteExpiresAt time.Time // CreatedAt + MaxSessionAge

	Meta map[string]string // small descriptive data (user agent, IP) for a device list
}

// ExpiresAt is when the session ends if it is not used again.
func (r SessionRecord) ExpiresAt() time.Time {
	if r.AbsoluteExpiresAt.Before(r.IdleExpiresAt) {
		return r.AbsoluteExpiresAt
	}
	return r.IdleExpiresAt
}

// live reports whether the session has not expired at now.
func (r SessionRecord) live(now time.Time) bool { return now.Before(r.ExpiresAt()) }

// RotateRequest asks a [Store] to rotate a session; see [Store.Rotate].
type RotateRequest struct {
	Subject    string
	SessionID  string
	JTI        string // jti of the presented refresh token
	Generation uint64 // generation of the presented refresh token
	NewJTI     string // jti for the next generation, used only on rotation
	Now        time.Time
	IdleTTL    time.Duration // [Config.RefreshTTL]
	Grace      time.Duration // [Config.ReuseGrace]

	// Deadline is the wall-clock time (not [Config.Now]: it comes from the
	// context) after which the caller no longer waits for the answer. A
	// store whose requests can be delayed in transit or in a queue must
	// check it where the decision executes and, when it has passed, change
	// nothing and return [ErrStoreUnavailable]: a rotation committed after
	// the caller gave up would spend a token whose successor nobody
	// received, and the client's retry would later look like theft. Zero
	// means no deadline.
	Deadline time.Time
}

// Outcome is the decision [Store.Rotate] took.
type Outcome uint8

// The outcomes of [Store.Rotate].
const (
	OutcomeRotated       Outcome = iota + 1 // the presented token was current; the session moved on
	OutcomeRetried                          // the presented token was the previous one, within the grace
	OutcomeReuseDetected                    // the presented token was stale; the session was deleted
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case OutcomeRotated:
		return "rotated"
	case OutcomeRetried:
		return "retried"
	case OutcomeReuseDetected:
		return "reused"
	}
	return "unknown"
}

// RotateResult is the answer of [Store.Rotate]. Session is the record after
// the decision (the current generation) for [OutcomeRotated] and
// [OutcomeRetried], and the zero value for [OutcomeReuseDetected].
type RotateResult struct {
	Outcome Outcome
	Session SessionRecord
}

// sortByCreated orders records by login time, oldest first.
func sortByCreated(recs []SessionRecord) {
	slices.SortStableFunc(recs, func(a, b SessionRecord) int { return a.CreatedAt.Compare(b.CreatedAt) })
}

// ValidateRecord reports why rec cannot be a new session: an empty
// Subject, ID or Current, a Generation of 0, or a Subject longer than
// [MaxSubjectLen]. The error wraps [ErrInvalidSessionRecord]. Every
// [Store.Create] refuses such a record; a third-party store can call this.
func ValidateRecord(rec SessionRecord) error {
	var why string
	switch {
	case rec.Subject == "":
		why = "empty subject"
	case len(rec.Subject) > MaxSubjectLen:
		why = fmt.Sprintf("subject longer than %d bytes", MaxSubjectLen)
	case rec.ID == "":
		why = "empty session id"
	case rec.Current == "":
		why = "empty current jti"
	case rec.Generation == 0:
		why = "generation 0"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidSessionRecord, why)
}

// lruCompare orders sessions for eviction by the session cap, least
// recently used first: by LastUsedAt, then CreatedAt, then ID.
func lruCompare(aRotated, aCreated int64, aID string, bRotated, bCreated int64, bID string) int {
	return cmp.Or(cmp.Compare(aRotated, bRotated), cmp.Compare(aCreated, bCreated), strings.Compare(aID, bID))
}
