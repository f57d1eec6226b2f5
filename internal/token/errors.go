package token

import "errors"

// The errors of the token engine. Package rtr exports the same values under
// its own names (rtr.ErrInvalidToken is ErrInvalid, and so on), so
// errors.Is works across the boundary and the texts are rtr's.
var (
	// ErrInvalid: a token is malformed, too large, badly signed, of the
	// wrong type, or has the wrong algorithm, issuer or audience.
	ErrInvalid = errors.New("rtr: invalid token")

	// ErrExpired: a correctly signed token is past its expiry.
	ErrExpired = errors.New("rtr: token expired")

	// ErrKeyUnavailable: a key source cannot tell now whether a key id
	// exists (a remote key set that cannot be fetched).
	ErrKeyUnavailable = errors.New("rtr: verification key unavailable")

	// ErrReservedClaim: an extra claim is named (or folds to) a claim the
	// engine sets itself.
	ErrReservedClaim = errors.New("rtr: reserved claim name")

	// ErrUnknownKey: a token names a key id that is not (or no longer) in
	// the key set. It makes the token invalid.
	ErrUnknownKey = errors.New("unknown key id")
)
