package rtr

import (
	"context"
	"errors"
	"net/http"
)

// claimsKey is the context key of the verified claims. A pointer to an
// unexported type: no other package can read or forge it.
type contextKey struct{ name string }

var claimsKey = &contextKey{"rtr claims"}

// ClaimsFromContext returns the claims that [HTTPAuth.Require] or
// [HTTPAuth.Optional] verified for the request, and false for an anonymous
// request (or a context that never went through the middleware).
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey).(*Claims)
	return c, ok && c != nil
}

// ContextWithClaims returns a copy of ctx that carries c, as
// [HTTPAuth.Require] and [HTTPAuth.Optional] pass a verified identity on:
// [ClaimsFromContext] finds it. It is for handler unit tests and for
// middleware of your own that verifies tokens some other way; rtr does not
// check c. A nil c makes the context anonymous. The rtrtest package builds
// complete claims for a test with rtrtest.NewClaims.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey, c)
}

// Require is middleware that serves only requests with a valid identity;
// others get an error response (see [ErrorHandler]) and next is not called.
// The verified [Claims] are in the request context ([ClaimsFromContext]).
// It has the standard func(http.Handler) http.Handler shape, so it works
// with [http.ServeMux], chi's Use and gorilla/mux's Use alike.
//
// In [BearerMode] verification is stateless: a missing, invalid or expired
// access token is 401 with a WWW-Authenticate: Bearer challenge (RFC 6750),
// carrying error="invalid_token" when a token was sent.
//
// In [CookieMode]:
//   - an unsafe cross-origin request is 403 ([http.CrossOriginProtection]);
//   - a valid access cookie is served without touching the store;
//   - a missing or expired access cookie with a refresh cookie present
//     rotates: both new cookies are set and the request is served with the
//     new identity (parallel requests with the same cookie share one
//     rotation);
//   - a tampered or wrongly typed access cookie is 401 at once, without a
//     refresh attempt, and the bad cookie is deleted;
//   - a refresh token that is invalid, expired, or whose session has ended
//     is 401 and both cookies are deleted;
//   - reuse (theft) is 401, or 403 with [WithReuseStatus], both cookies are
//     deleted and the issuer has fired [EventReuseDetected];
//   - a store outage is 503 and no cookie is touched.
//
// Every cookie-mode response gets Vary: Cookie, and responses that set or
// delete token cookies get Cache-Control: no-store.
func (a *HTTPAuth) Require(next http.Handler) http.Handler {
	return a.middleware(next, false)
}

// Optional is like [HTTPAuth.Require] but lets anonymous requests through
// to next, without claims in the context.
//
// What counts as anonymous depends on the mode. In [BearerMode] it is a
// request without a token: a token that was sent but is invalid or expired
// still gets 401, so that the client learns to refresh it. In [CookieMode]
// it is also a request whose cookies no longer give an identity (an invalid
// access cookie, a refresh cookie that is invalid, expired or of an ended
// session): the stale cookies are deleted as under Require and the request
// goes on anonymously. Reuse (theft), a store outage and cross-origin
// refusals are answered as under Require in both modes.
func (a *HTTPAuth) Optional(next http.Handler) http.Handler {
	return a.middleware(next, true)
}

func (a *HTTPAuth) middleware(next http.Handler, optional bool) http.Handler {
	if next == nil {
		panic("rtr: nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.mode == CookieMode {
			addVary(w.Header(), "Cookie")
		}
		res := a.authenticate(r, resourceEndpoint)
		if res.pair != nil {
			a.warnPlainHTTP(r)
			a.setPairCookies(w, res.pair)
		}
		if res.err != nil {
			if optional && res.anonymous {
				a.clearCookies(w, res.clear)
				next.ServeHTTP(w, r)
				return
			}
			if a.mode == BearerMode && res.err.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", a.challenge(res.err))
			}
			a.fail(w, r, res.err, res.clear)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey, res.claims)))
	})
}

// authResult is the outcome of authenticating one request.
type authResult struct {
	claims *Claims
	pair   *Pair // set when a rotation happened: cookies to deliver

	err       *HTTPError
	clear     clearWhat // cookies an error deletes
	anonymous bool      // the error means "no identity": Optional goes on
}

// authenticate finds and checks the request's identity, rotating in
// cookie mode when needed. It writes nothing.
func (a *HTTPAuth) authenticate(r *http.Request, kind endpointKind) authResult {
	ctx := r.Context()
	tok, ambient := a.accessToken(r) // once: a TokenLocationFunc is the user's code
	if err := a.checkOriginIf(r, a.usesCookies(kind) || ambient); err != nil {
		return authResult{err: a.resourceError(err)}
	}
	if tok != "" {
		c, err := a.iss.verifier.Verify(ctx, tok)
		if err == nil {
			return authResult{claims: c}
		}
		if a.mode == BearerMode {
			return authResult{err: a.resourceError(err)}
		}
		switch {
		case errors.Is(err, ErrStoreUnavailable): // cannot tell now: keep everything
			return authResult{err: a.resourceError(err)}
		case errors.Is(err, ErrTokenRevoked): // the session ended: no refresh
			return authResult{err: a.resourceError(err), clear: clearBoth, anonymous: true}
		}
		if !errors.Is(err, ErrTokenExpired) {
			// Tampered, wrongly typed, signed with an unknown key: refuse at
			// once and drop the bad cookie; never refresh on its account.
			return authResult{err: a.resourceError(err), clear: clearAccess, anonymous: true}
		}
	}
	if a.mode == BearerMode {
		return authResult{err: a.resourceError(errNoToken), anonymous: true}
	}

	rt := a.cookies.refresh.read(r)
	if rt == "" {
		if tok != "" { // expired, and nothing to refresh it with
			return authResult{err: a.resourceError(ErrTokenExpired), clear: clearAccess, anonymous: true}
		}
		return authResult{err: a.resourceError(errNoToken), anonymous: true}
	}
	if tok != "" {
		if err := a.matchTokens(tok, rt); err != nil {
			return authResult{err: a.resourceError(err), clear: clearBoth, anonymous: true}
		}
	}
	p, err := a.refresh(ctx, rt)
	if err != nil {
		return a.refreshFailed(a.resourceError(err), err)
	}
	c, err := a.iss.verifier.Verify(ctx, p.AccessToken)
	if errors.Is(err, ErrStoreUnavailable) { // the revocation feed cannot tell now
		return authResult{err: a.resourceError(err), pair: &p}
	}
	if errors.Is(err, ErrTokenRevoked) {
		// The session ended between the rotation and this check (its
		// stolen refresh token replayed elsewhere, say): the new pair is
		// dead as well, so answer as for any ended session.
		return authResult{err: a.resourceError(err), clear: clearBoth, anonymous: true}
	}
	if err != nil { // otherwise a token we just minted must verify
		return authResult{err: serverError(err)}
	}
	return authResult{claims: c, pair: &p}
}

// refreshFailed decides what a failed rotation deletes: nothing when the
// store could not answer or something else broke (the tokens may still be
// good), both cookies when the refresh token is definitely dead.
func (a *HTTPAuth) refreshFailed(e *HTTPError, err error) authResult {
	switch {
	case errors.Is(err, ErrTokenReused):
		return authResult{err: e, clear: clearBoth}
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrTokenExpired), errors.Is(err, ErrSessionNotFound):
		return authResult{err: e, clear: clearBoth, anonymous: true}
	default: // store outage, a failing Claims callback: keep everything
		return authResult{err: e}
	}
}

// matchTokens checks that an access token sent along with a refresh token
// names the same subject and session. The access token is checked on its
// signature only: it is usually expired at this point.
func (a *HTTPAuth) matchTokens(access, refresh string) error {
	ai, err := a.accessIdentity(access)
	if err != nil {
		return err
	}
	ri, err := a.refreshIdentity(refresh)
	if err != nil {
		return err
	}
	// Whom they name: the access token's identity carries no client id.
	if ai.subject != ri.subject || ai.sessionID != ri.sessionID {
		return errTokenMismatch
	}
	return nil
}
