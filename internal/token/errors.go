package token

import "errors"

// Errors are the sentinel errors that the codec's errors wrap. rtr passes
// its exported ones ([Config.Errors]), so that errors.Is works on them and
// the texts are rtr's; a nil entry gets a default of this package.
type Errors struct {
	// Invalid: a token is malformed, too large, badly signed, of the wrong
	// type, or has the wrong algorithm, issuer or audience.
	Invalid error
	// Expired: a correctly signed token is past its expiry.
	Expired error
	// KeyUnavailable: the key source cannot tell now whether a key id
	// exists (a remote key set that cannot be fetched). A [KeySource]
	// returns it, and the codec passes it on unwrapped.
	KeyUnavailable error
	// ReservedClaim: an extra claim is named (or folds to) a claim the
	// codec sets itself.
	ReservedClaim error
}

var defaultErrors = Errors{
	Invalid:        errors.New("token: invalid token"),
	Expired:        errors.New("token: token expired"),
	KeyUnavailable: errors.New("token: verification key unavailable"),
	ReservedClaim:  errors.New("token: reserved claim name"),
}

// withDefaults fills the nil entries of e.
func (e Errors) withDefaults() Errors {
	for _, p := range []struct {
		dst *error
		def error
	}{
		{&e.Invalid, defaultErrors.Invalid},
		{&e.Expired, defaultErrors.Expired},
		{&e.KeyUnavailable, defaultErrors.KeyUnavailable},
		{&e.ReservedClaim, defaultErrors.ReservedClaim},
	} {
		if *p.dst == nil {
			*p.dst = p.def
		}
	}
	return e
}

// ErrUnknownKey: a token names a key id that is not (or no longer) in
// the key set. It makes the token invalid.
var ErrUnknownKey = errors.New("unknown key id")
