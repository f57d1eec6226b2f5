package rtr

import "errors"

// Errors returned by rtr. Check them with [errors.Is]; the returned errors
// may wrap more detail (never a token, secret or cookie value).
var (
	// ErrInvalidToken means a token is malformed, too large, badly signed,
	// of the wrong type (an access token where a refresh token is expected,
	// or the reverse), or has the wrong algorithm, issuer or audience.
	ErrInvalidToken = errors.New("rtr: invalid token")

	// ErrTokenExpired means a correctly signed token is past its expiry.
	ErrTokenExpired = errors.New("rtr: token expired")

	// ErrTokenReused means a refresh token that had already been rotated
	// was presented again outside the grace window. rtr treats this as
	// theft: the whole session has been revoked by the time the error is
	// returned, and an [EventReuseDetected] event has been emitted.
	ErrTokenReused = errors.New("rtr: refresh token reused; session revoked")

	// ErrSessionNotFound means the session a refresh token belongs to does
	// not exist (any more): the user logged out, it was revoked, it expired,
	// or it never existed.
	ErrSessionNotFound = errors.New("rtr: session not found")

	// ErrStoreUnavailable means the store could not give an answer: a
	// transport failure, or a deadline or cancellation hit during a store
	// call. It says "cannot tell now", never "invalid": callers should
	// answer 503 and keep the client's tokens.
	ErrStoreUnavailable = errors.New("rtr: store unavailable")

	// ErrInvalidConfig is returned by [NewIssuer] for a [Config] that cannot
	// be used safely (no store, a short secret, negative durations).
	ErrInvalidConfig = errors.New("rtr: invalid config")

	// ErrInvalidSubject is returned by [Issuer.Issue] and others for an empty
	// or oversized subject.
	ErrInvalidSubject = errors.New("rtr: invalid subject")

	// ErrReservedClaim is returned when [Config.Claims] returns a claim name
	// that rtr sets itself (iss, sub, aud, exp, nbf, iat, jti, sid).
	ErrReservedClaim = errors.New("rtr: reserved claim name")

	// ErrInvalidSessionRecord is returned by [Store.Create] for a record
	// that could never be a session: an empty subject, session id or
	// current jti, generation 0, or a subject longer than [MaxSubjectLen]
	// (see [ValidateRecord]). Nothing is stored.
	ErrInvalidSessionRecord = errors.New("rtr: invalid session record")
)
