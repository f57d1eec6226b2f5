package rtr

import (
	"net/http"
)

// RevokeHandler returns an OAuth 2.0 token revocation endpoint (RFC 7009;
// mount it for POST). It takes token=... and an optional token_type_hint
// from an application/x-www-form-urlencoded body (JSON with the same
// names works too). A genuine refresh token of this issuer, expired or
// already rotated included, ends its session. Any other token (an access
// token, a forged or malformed one, one of an ended session) changes
// nothing and is still 200, as RFC 7009 §2.2 asks, so the answer tells a
// caller nothing about the token; token_type_hint is accepted and not
// needed, since refresh tokens are the only kind revoked here.
//
// It answers 200 with an empty body and Cache-Control: no-store. A
// missing token or a malformed body is 400 invalid_request, a store
// outage 503 temporarily_unavailable with nothing changed (the client may
// retry), and a client refused by [WithClientAuthenticator] 401
// invalid_client. Cross-origin requests are refused as by
// [HTTPAuth.LogoutHandler]. It never touches cookies.
func (a *HTTPAuth) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requirePOST(a, w, r) {
			return
		}
		if err := a.checkOrigin(r, sessionEndpoint); err != nil {
			a.failGrant(w, r, a.grantError(err), clearNone)
			return
		}
		req, err := readTokenRequest(w, r)
		var client string
		if err == nil {
			client, err = a.authenticateClient(r, &req)
		}
		if err == nil && req.Token == "" {
			err = errBadRequest
		}
		if err != nil {
			a.failGrant(w, r, a.revokeError(err), clearNone)
			return
		}
		// A token issued to another client is refused (RFC 7009 §2.1).
		if err := a.checkTokenClient(req.Token, client); err != nil {
			a.failGrant(w, r, a.revokeError(err), clearNone)
			return
		}
		if id, err := a.refreshIdentity(req.Token); err == nil {
			if err := a.iss.endSession(r.Context(), id.subject, id.sessionID, true); err != nil {
				a.failGrant(w, r, a.revokeError(err), clearNone)
				return
			}
		}
		noStore(w)
		w.Header().Set("Pragma", "no-cache")
		w.WriteHeader(http.StatusOK)
	})
}

// revokeError maps an error of the revocation endpoint (RFC 7009 §2.2.1
// uses the error codes of RFC 6749 §5.2).
func (a *HTTPAuth) revokeError(err error) *HTTPError {
	e := a.grantError(err)
	if e.Code == "invalid_request" {
		e.Description = "the body must be a form with token"
	}
	return e
}
