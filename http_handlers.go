package rtr

import (
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Login starts a session for subject, whom the application has just
// authenticated (password, passkey, OAuth …), and delivers the tokens
// that travel in cookies: both cookies in [CookieMode], the refresh
// cookie in [BearerMode] with [WithRefreshCookie], with Cache-Control:
// no-store (and Vary: Cookie in cookie mode). It writes no status and no
// body, in either mode: the caller answers, with
// [HTTPAuth.WriteTokenResponse] (200 and the token JSON in bearer mode,
// 204 in cookie mode), or with a redirect or a page of its own. The
// returned [Pair] holds both tokens: never log it.
//
// The session records the request's User-Agent and remote address as
// metadata for [Issuer.Sessions] ("user_agent", "ip"); opts are applied
// after them, so [WithMeta] can override both (the real client IP behind a
// proxy, say). If the request carried a refresh cookie of an earlier
// session, that session is revoked once the new one exists: the browser is
// about to lose its cookie anyway.
//
// When a cookie is to be set, a cross-origin unsafe request is refused with
// [ErrCrossOrigin] (login CSRF). On error nothing has been written: pass
// the error to [HTTPAuth.WriteError] or answer it yourself.
func (a *HTTPAuth) Login(w http.ResponseWriter, r *http.Request, subject string, opts ...IssueOption) (Pair, error) {
	if err := a.checkOrigin(r, sessionEndpoint); err != nil {
		return Pair{}, err
	}
	var meta []IssueOption
	if ua := r.UserAgent(); ua != "" {
		meta = append(meta, WithMeta("user_agent", ua))
	}
	if ip := remoteIP(r); ip != "" {
		meta = append(meta, WithMeta("ip", ip))
	}
	ctx := r.Context()
	p, err := a.iss.Issue(ctx, subject, append(meta, opts...)...)
	if err != nil {
		return Pair{}, err
	}
	if !a.cookies.access.fits(p.AccessToken) || !a.cookies.refresh.fits(p.RefreshToken) {
		// The browser would drop the cookie silently and every request
		// would refresh. Fail loudly instead, and leave no session behind.
		_ = a.iss.RevokeSession(ctx, subject, p.SessionID)
		return Pair{}, fmt.Errorf("rtr: a %d-byte access token does not fit in a cookie (browsers keep about %d bytes): make Config.Claims smaller", len(p.AccessToken), maxCookieBytes)
	}
	if old := a.cookies.refresh.read(r); old != "" {
		if id, err := a.refreshIdentity(old); err == nil && id.sessionID != p.SessionID {
			_ = a.iss.endSession(ctx, id.subject, id.sessionID, true) // best effort
		}
	}
	a.warnPlainHTTP(r)
	if a.mode == CookieMode {
		addVary(w.Header(), "Cookie")
	}
	a.setPairCookies(w, &p)
	return p, nil
}

// RefreshHandler returns the refresh endpoint (mount it for POST).
//
// In [CookieMode] it rotates the refresh cookie, sets both new cookies and
// answers 204; the middleware does the same transparently, so the
// endpoint is only for clients that want to refresh ahead of time.
//
// In [BearerMode] it is an OAuth 2.0 token endpoint for the refresh_token
// grant (RFC 6749 §6), so standard client libraries work unchanged. It
// takes the refresh token from the body, an
// application/x-www-form-urlencoded form with grant_type=refresh_token
// and refresh_token, or JSON {"refresh_token": "..."} (grant_type may be
// left out of JSON), or, failing that, from the refresh cookie
// ([WithRefreshCookie]). It answers 200 with a [TokenResponse],
// Cache-Control: no-store and Pragma: no-cache. A token that came in the
// body goes back in the body; one that came in the cookie goes back in the
// cookie only. Client credentials (HTTP Basic, or client_id and
// client_secret in the body) are ignored unless [WithClientAuthenticator]
// is given.
//
// If the request also carries an access token (an Authorization header,
// or the access cookie), it must name the same subject and session as the
// refresh token; it is checked on its signature, not its expiry.
//
// Errors are OAuth-style (see [HTTPError]). Bearer mode answers as RFC 6749
// §5.2 says: 400 invalid_request for a malformed body or no refresh token,
// 400 unsupported_grant_type for another grant, 400 invalid_grant for an
// invalid, expired, reused or mismatched token or an ended session (the
// refresh cookie deleted), 401 invalid_client with WWW-Authenticate: Basic
// when the [ClientAuthenticator] refuses the client. Cookie mode answers a
// refused grant 401 invalid_grant (reuse: 401 or 403, see
// [WithReuseStatus]) with both cookies deleted. In both modes a
// cross-origin request that would use a cookie is 403, and a store
// outage 503 with nothing deleted.
func (a *HTTPAuth) RefreshHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requirePOST(a, w, r) {
			return
		}
		if a.mode == CookieMode {
			addVary(w.Header(), "Cookie")
		}
		if err := a.checkOrigin(r, sessionEndpoint); err != nil {
			a.failGrant(w, r, a.grantError(err), clearNone)
			return
		}
		rt, fromCookie, client, err := a.presentedRefreshToken(w, r, true)
		if err == nil {
			err = a.checkTokenClient(rt, client)
		}
		if err != nil {
			a.failGrant(w, r, a.grantError(err), clearNone)
			return
		}
		clear := clearNone
		if fromCookie {
			clear = clearBoth
		}
		if at, _ := a.accessToken(r); at != "" {
			if err := a.matchTokens(at, rt); err != nil {
				a.failGrant(w, r, a.grantError(err), clear)
				return
			}
		}
		p, err := a.refresh(r.Context(), rt)
		if err != nil {
			res := a.refreshFailed(a.grantError(err), err)
			if res.clear == clearNone {
				clear = clearNone
			}
			a.failGrant(w, r, res.err, clear)
			return
		}
		if a.mode == CookieMode {
			a.warnPlainHTTP(r)
			a.setPairCookies(w, &p)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if fromCookie {
			a.warnPlainHTTP(r)
		}
		a.writeTokens(w, &p, fromCookie)
	})
}

// failGrant answers a refused token-endpoint request; a refused client
// gets the WWW-Authenticate: Basic challenge RFC 6749 §5.2 asks for.
func (a *HTTPAuth) failGrant(w http.ResponseWriter, r *http.Request, e *HTTPError, clear clearWhat) {
	if e.Code == "invalid_client" {
		realm := a.realm
		if realm == "" {
			realm = "rtr"
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	}
	a.fail(w, r, e, clear)
}

// presentedRefreshToken finds the refresh token of a refresh or logout
// request: the cookie in cookie mode; the body, then the cookie, in
// bearer mode. For a refresh (grant), the body must be a valid
// refresh_token grant and the client is authenticated when
// [WithClientAuthenticator] is set. The caller has made the cross-origin
// check.
func (a *HTTPAuth) presentedRefreshToken(w http.ResponseWriter, r *http.Request, grant bool) (token string, fromCookie bool, client string, err error) {
	if a.mode == BearerMode {
		req, err := readTokenRequest(w, r)
		if err != nil {
			return "", false, "", err
		}
		if grant {
			if err := req.checkRefreshGrant(); err != nil {
				return "", false, "", err
			}
			if client, err = a.authenticateClient(r, &req); err != nil {
				return "", false, "", err
			}
		}
		if req.RefreshToken != "" {
			return req.RefreshToken, false, client, nil
		}
	}
	if rt := a.cookies.refresh.read(r); rt != "" {
		return rt, true, client, nil
	}
	return "", false, "", errNoToken
}

// errWrongClient: a refresh token issued to one OAuth client (see
// [WithClientID]) presented by another.
var errWrongClient = fmt.Errorf("%w: the token was issued to another client", ErrInvalidToken)

// checkTokenClient binds a refresh token issued with [WithClientID] to
// that client (RFC 6749 §6, RFC 7009 §2.1): with a [ClientAuthenticator],
// only the client it authenticated as that id may redeem or revoke it.
// Tokens issued to no named client, and endpoints that authenticate no
// client, are not bound. A token that is not genuine is left to the
// caller's own check.
func (a *HTTPAuth) checkTokenClient(token, client string) error {
	if a.clientAuth == nil {
		return nil
	}
	id, err := a.refreshIdentity(token)
	if err != nil || id.clientID == "" || id.clientID == client {
		return nil
	}
	return errWrongClient
}

// authenticateClient runs the [ClientAuthenticator], if any, on the
// request's client credentials.
func (a *HTTPAuth) authenticateClient(r *http.Request, req *tokenRequest) (clientID string, err error) {
	if a.clientAuth == nil {
		return "", nil
	}
	id, secret, err := clientCredentials(r, req)
	if err != nil {
		return "", err
	}
	if err := a.clientAuth(r.Context(), id, secret); err != nil {
		if errors.Is(err, ErrStoreUnavailable) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrInvalidClient, err)
	}
	return id, nil
}

// LogoutHandler returns the endpoint that ends the current session (mount
// it for POST). It finds the session from the refresh token (the cookie,
// or in [BearerMode] refresh_token in a form or JSON body) or, failing
// that, from the access token, checked on signature only so that expired
// tokens still log out. When it will read or delete a cookie (cookie
// mode, [WithRefreshCookie], an ambient token source) a cross-origin
// request is refused with 403 first, whatever the body holds. It revokes the session, deletes the token cookies
// and then calls next, or answers 204 when next is nil. Logout is
// idempotent: no token, an invalid one or an ended session is success too.
// When the store is unavailable it answers 503 and deletes nothing, so the
// user can try again.
func (a *HTTPAuth) LogoutHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requirePOST(a, w, r) {
			return
		}
		if a.mode == CookieMode {
			addVary(w.Header(), "Cookie")
		}
		if err := a.checkOrigin(r, sessionEndpoint); err != nil {
			a.fail(w, r, a.grantError(err), clearNone)
			return
		}
		rt, _, _, err := a.presentedRefreshToken(w, r, false)
		if err != nil && !errors.Is(err, errNoToken) {
			a.fail(w, r, a.grantError(err), clearNone)
			return
		}
		id, err := a.refreshIdentity(rt)
		if err != nil {
			at, _ := a.accessToken(r)
			id, err = a.accessIdentity(at)
		}
		if err == nil {
			if err := a.iss.endSession(r.Context(), id.subject, id.sessionID, true); err != nil {
				a.fail(w, r, a.resourceError(err), clearNone)
				return
			}
		}
		a.clearCookies(w, clearBoth)
		done(w, r, next)
	})
}

// LogoutAllHandler returns the endpoint that ends every session of the
// authenticated user, "log out everywhere" (mount it for POST). The
// request is authenticated as by [HTTPAuth.Require], with the same error
// answers; then every session of the subject is revoked, the token cookies
// are deleted and next is called, or 204 answered when next is nil. Access
// tokens already handed to other devices stay valid until they expire.
// When the store is unavailable it answers 503 and deletes nothing.
func (a *HTTPAuth) LogoutAllHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requirePOST(a, w, r) {
			return
		}
		if a.mode == CookieMode {
			addVary(w.Header(), "Cookie")
		}
		res := a.authenticate(r, sessionEndpoint)
		if res.err != nil {
			if a.mode == BearerMode && res.err.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", a.challenge(res.err))
			}
			a.fail(w, r, res.err, res.clear)
			return
		}
		if err := a.iss.RevokeAll(r.Context(), res.claims.Subject); err != nil {
			if res.pair != nil {
				// The request rotated on its way in: deliver the new pair,
				// or the browser would be left holding a spent token.
				a.setPairCookies(w, res.pair)
			}
			a.fail(w, r, a.resourceError(err), clearNone)
			return
		}
		a.clearCookies(w, clearBoth)
		done(w, r, next)
	})
}

// done calls next, or answers 204 when next is nil.
func done(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if next != nil {
		next.ServeHTTP(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requirePOST answers 405 to anything but POST: the handlers change state,
// and only unsafe methods get the cross-origin check.
func requirePOST(a *HTTPAuth, w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	a.fail(w, r, &HTTPError{Status: http.StatusMethodNotAllowed, Code: "invalid_request",
		Description: "use POST", Err: errors.New("rtr: method not allowed")}, clearNone)
	return false
}

// remoteIP returns the host part of r.RemoteAddr.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
