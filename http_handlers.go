package rtr

import (
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Login starts a session for subject, whom the application has just
// authenticated (password, passkey, OAuth …), and delivers the tokens:
//
//   - [CookieMode]: it sets both cookies (and Cache-Control: no-store,
//     Vary: Cookie) and writes nothing else; the caller then redirects or
//     writes its own response;
//   - [BearerMode]: it writes the whole response, 200 with a
//     [TokenResponse] (the refresh token in its cookie instead of the body
//     with [WithRefreshCookie]).
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
// the error to [HTTPAuth.WriteError] or answer it yourself. Login returns
// the new session's id.
func (a *HTTPAuth) Login(w http.ResponseWriter, r *http.Request, subject string, opts ...IssueOption) (string, error) {
	usesCookies := a.mode == CookieMode || a.cookies.refresh.name != ""
	if usesCookies {
		if err := a.cop.Check(r); err != nil {
			return "", errors.Join(ErrCrossOrigin, err)
		}
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
		return "", err
	}
	if !a.cookies.access.fits(p.AccessToken) || !a.cookies.refresh.fits(p.RefreshToken) {
		// The browser would drop the cookie silently and every request
		// would refresh. Fail loudly instead, and leave no session behind.
		_ = a.iss.RevokeSession(ctx, subject, p.SessionID)
		return "", fmt.Errorf("rtr: a %d-byte access token does not fit in a cookie (browsers keep about %d bytes): make Config.Claims smaller", len(p.AccessToken), maxCookieBytes)
	}
	if old := a.cookies.refresh.read(r); old != "" {
		if id, err := a.refreshIdentity(old); err == nil && id.sessionID != p.SessionID {
			_ = a.iss.RevokeSession(ctx, id.subject, id.sessionID) // best effort
		}
	}
	if a.mode == CookieMode {
		addVary(w.Header(), "Cookie")
		a.setPairCookies(w, &p)
	} else {
		a.writeTokens(w, &p, a.cookies.refresh.name != "")
	}
	return p.SessionID, nil
}

// RefreshHandler returns the refresh endpoint (mount it for POST).
//
// In [CookieMode] it rotates the refresh cookie, sets both new cookies and
// answers 204; the middleware does the same transparently, so the
// endpoint is only for clients that want to refresh ahead of time.
//
// In [BearerMode] it takes the refresh token from the JSON body
// {"refresh_token": "..."} or, failing that, from the refresh cookie
// ([WithRefreshCookie]), and answers 200 with a [TokenResponse] and
// Cache-Control: no-store. A token that came in the body goes back in the
// body; one that came in the cookie goes back in the cookie only.
//
// If the request also carries an access token (an Authorization header,
// or the access cookie), it must name the same subject and session as the
// refresh token; it is checked on its signature, not its expiry.
//
// Errors are OAuth-style (see [HTTPError]): 400 invalid_request for a
// malformed body, 401 invalid_grant for a missing, invalid, expired or
// mismatched token or an ended session (refresh cookie deleted), 401 or 403
// invalid_grant for reuse (cookie deleted), 403 for cross-origin requests
// that carry a cookie, 503 when the store is unavailable (nothing deleted).
func (a *HTTPAuth) RefreshHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requirePOST(a, w, r) {
			return
		}
		if a.mode == CookieMode {
			addVary(w.Header(), "Cookie")
		}
		rt, fromCookie, err := a.presentedRefreshToken(w, r)
		if err != nil {
			a.fail(w, r, a.grantError(err), clearNone)
			return
		}
		clear := clearNone
		if fromCookie {
			clear = clearBoth
		}
		if at, ambient := a.accessToken(r); at != "" {
			if ambient {
				if err := a.cop.Check(r); err != nil {
					a.fail(w, r, a.grantError(errors.Join(ErrCrossOrigin, err)), clearNone)
					return
				}
			}
			if err := a.matchTokens(at, rt); err != nil {
				a.fail(w, r, a.grantError(err), clear)
				return
			}
		}
		p, err := a.refresh(r.Context(), rt)
		if err != nil {
			res := a.refreshFailed(a.grantError(err), err)
			if res.clear == clearNone {
				clear = clearNone
			}
			a.fail(w, r, res.err, clear)
			return
		}
		if a.mode == CookieMode {
			a.setPairCookies(w, &p)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		a.writeTokens(w, &p, fromCookie)
	})
}

// presentedRefreshToken finds the refresh token of a refresh or logout
// request: the cookie in cookie mode; the JSON body, then the cookie, in
// bearer mode. Requests that carry the cookie must pass the cross-origin
// check.
func (a *HTTPAuth) presentedRefreshToken(w http.ResponseWriter, r *http.Request) (token string, fromCookie bool, err error) {
	if a.mode == BearerMode {
		body, err := readRefreshBody(w, r)
		if err != nil {
			return "", false, err
		}
		if body.RefreshToken != "" {
			return body.RefreshToken, false, nil
		}
	}
	rt := a.cookies.refresh.read(r)
	if rt == "" {
		if a.mode == CookieMode {
			// No token to protect, but a cross-origin POST is refused all
			// the same, as the middleware does.
			if err := a.cop.Check(r); err != nil {
				return "", false, errors.Join(ErrCrossOrigin, err)
			}
		}
		return "", false, errNoToken
	}
	if err := a.cop.Check(r); err != nil {
		return "", false, errors.Join(ErrCrossOrigin, err)
	}
	return rt, true, nil
}

// LogoutHandler returns the endpoint that ends the current session (mount
// it for POST). It finds the session from the refresh token (the cookie,
// or in [BearerMode] the JSON body {"refresh_token": "..."}) or, failing
// that, from the access token, checked on signature only so that expired
// tokens still log out. It revokes the session, deletes the token cookies
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
		rt, _, err := a.presentedRefreshToken(w, r)
		if err != nil && !errors.Is(err, errNoToken) {
			a.fail(w, r, a.grantError(err), clearNone)
			return
		}
		id, err := a.refreshIdentity(rt)
		if err != nil {
			at, ambient := a.accessToken(r)
			if ambient {
				if err := a.cop.Check(r); err != nil {
					a.fail(w, r, a.grantError(errors.Join(ErrCrossOrigin, err)), clearNone)
					return
				}
			}
			id, err = a.accessIdentity(at)
		}
		if err == nil {
			if err := a.iss.RevokeSession(r.Context(), id.subject, id.sessionID); err != nil {
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
		res := a.authenticate(r)
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
