package rtr

import (
	"errors"
	"net/http"
)

// endpointKind tells [HTTPAuth.checkOrigin] what a handler may do with
// the token cookies.
type endpointKind uint8

const (
	// resourceEndpoint: [HTTPAuth.Require], [HTTPAuth.Optional] and
	// [HTTPAuth.LogoutAllHandler] authenticate with the access token; in
	// cookie mode they also rotate, setting and deleting cookies.
	resourceEndpoint endpointKind = iota

	// sessionEndpoint: [HTTPAuth.Login] and the refresh, logout and
	// revocation handlers set, read or delete the refresh cookie whenever
	// this HTTPAuth has one (cookie mode, or [WithRefreshCookie]).
	sessionEndpoint
)

// checkOrigin is the HTTP layer's one cross-origin rule: a request that
// will read or clear a cookie must pass [http.CrossOriginProtection],
// otherwise it is [ErrCrossOrigin]. A request reads or clears a cookie
// when
//   - the HTTPAuth is in [CookieMode] (every handler and the middleware
//     work with the token cookies), or
//   - it is a session endpoint of an HTTPAuth with a refresh cookie
//     ([WithRefreshCookie]): login sets it, refresh reads it, logout
//     deletes it, whatever the body holds, or
//   - its access token comes from an ambient source ([FromCookie],
//     [TokenLocationFunc]) that the browser attaches by itself.
//
// Every handler calls it first, before reading the body.
func (a *HTTPAuth) checkOrigin(r *http.Request, kind endpointKind) error {
	check := a.usesCookies(kind)
	if !check && a.ambientSources {
		_, check = a.accessToken(r) // true: the token came from an ambient source
	}
	return a.checkOriginIf(r, check)
}

// usesCookies reports whether an endpoint of kind reads or clears a token
// cookie whatever the request carries (the first two cases of checkOrigin).
func (a *HTTPAuth) usesCookies(kind endpointKind) bool {
	return a.mode == CookieMode || (kind == sessionEndpoint && a.cookies.refresh.name != "")
}

// checkOriginIf is checkOrigin for a caller that has already looked the
// access token up: check says whether one of checkOrigin's cases holds.
func (a *HTTPAuth) checkOriginIf(r *http.Request, check bool) error {
	if !check {
		return nil
	}
	if err := a.cop.Check(r); err != nil {
		return errors.Join(ErrCrossOrigin, err)
	}
	return nil
}
