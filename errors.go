package rtr

import (
	"errors"

	"github.com/rtr-go/rtr/internal/token"
)

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

	// ErrTokenRevoked means a correctly signed, unexpired access token
	// belongs to a session that has ended (logout, [Issuer.RevokeAll],
	// reuse detection, a session-cap eviction), as learned from the
	// store's revocation feed; see [Config.InstantRevocation]. Treat it
	// like an ended session: 401, and no refresh attempt.
	ErrTokenRevoked = errors.New("rtr: token revoked: its session has ended")

	// ErrStoreUnavailable means the store could not give an answer: a
	// transport failure, or a deadline or cancellation hit during a store
	// call. It says "cannot tell now", never "invalid": callers should
	// answer 503 and keep the client's tokens.
	ErrStoreUnavailable = errors.New("rtr: store unavailable")

	// ErrInvalidConfig is returned by [NewIssuer] for a [Config] that cannot
	// be used safely (no store, a short or placeholder secret, negative or
	// conflicting durations), and by [NewHTTPAuth] for an invalid option. The
	// wrapping error says which field is wrong and why.
	ErrInvalidConfig = errors.New("rtr: invalid config")

	// ErrInvalidSubject is returned by [Issuer.Issue] and others for an empty
	// or oversized subject.
	ErrInvalidSubject = errors.New("rtr: invalid subject")

	// ErrReservedClaim is returned when [Config.Claims] returns a claim name
	// that rtr sets itself (iss, sub, aud, exp, nbf, iat, jti, sid, gen, client_id) or
	// that equals one of them under [strings.EqualFold] ("Sub", "SUB",
	// "ſub"): encoding/json would decode such a name into the verified
	// claim.
	ErrReservedClaim = errors.New("rtr: reserved claim name")

	// ErrKeyUnavailable means a [Verifier] fed from a remote key set (a
	// JWKS URL, see [NewVerifier]) met an access token whose key id it does
	// not know while the set cannot be fetched. Like [ErrStoreUnavailable]
	// it says "cannot tell now", never "invalid": answer 503, and the
	// client keeps its token. Tokens under keys already known keep
	// verifying during such an outage.
	ErrKeyUnavailable = errors.New("rtr: verification key unavailable")

	// ErrInvalidSessionRecord is returned by [Store.Create] for a record
	// that could never be a session: an empty subject, session id or
	// current jti, generation 0, or a subject longer than [MaxSubjectLen]
	// (see [ValidateRecord]). Nothing is stored.
	ErrInvalidSessionRecord = errors.New("rtr: invalid session record")
)

// ErrInvalidClient means the [ClientAuthenticator] given with
// [WithClientAuthenticator] refused the client of a refresh or revocation
// request. It is answered with 401 invalid_client and a
// WWW-Authenticate: Basic challenge (RFC 6749 §5.2).
var ErrInvalidClient = errors.New("rtr: client authentication failed")

// tokenErrors are the sentinels the token engine's errors wrap.
var tokenErrors = token.Errors{
	Invalid:        ErrInvalidToken,
	Expired:        ErrTokenExpired,
	KeyUnavailable: ErrKeyUnavailable,
	ReservedClaim:  ErrReservedClaim,
}
