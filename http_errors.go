package rtr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// ErrCrossOrigin means a cross-origin unsafe request (a POST from another
// site, say) that would have acted with the user's cookies was refused by
// [http.CrossOriginProtection]. It is answered with 403.
var ErrCrossOrigin = errors.New("rtr: cross-origin request refused")

// errNoToken: the request carries no token where one is needed.
var errNoToken = errors.New("rtr: no token")

// errBadRequest: a request body that could not be read as the expected
// form or JSON, or a missing or repeated parameter.
var errBadRequest = errors.New("rtr: malformed request body")

// errGrantType: a refresh request naming a grant_type other than
// "refresh_token".
var errGrantType = errors.New("rtr: unsupported grant_type")

// HTTPError is what [HTTPAuth] and [BearerMiddleware] hand to an
// [ErrorHandler]. Use
// errors.Is(e, [ErrTokenReused]) and friends to tell the causes apart.
// No field ever holds a token.
type HTTPError struct {
	// Status is the HTTP status rtr chose: 400, 401, 403 (cross-origin, or
	// reuse with [WithReuseStatus]), 405 (a handler called with another
	// method than POST), 500 or 503.
	Status int

	// Code is a short machine-readable code, OAuth style: "unauthorized"
	// (no credentials), "invalid_token" (the middleware refused a token),
	// "invalid_grant" (the refresh endpoint refused a refresh token),
	// "invalid_request", "unsupported_grant_type", "invalid_client"
	// ([ErrInvalidClient]), "cross_origin",
	// "temporarily_unavailable" (store outage, or a verification key that
	// cannot be fetched now: [ErrKeyUnavailable]) or "server_error".
	Code string

	// Description is a short English sentence, safe to show to users.
	Description string

	// Err is the cause; it wraps one of the package's sentinel errors
	// where one applies.
	Err error
}

// Error returns the status, code and description.
func (e *HTTPError) Error() string {
	return "rtr: " + strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Description
}

// Unwrap returns the cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// ErrorHandler writes an error response; see [WithErrorHandler]. When it
// is called rtr has already set the response headers that belong to the
// error: Set-Cookie to delete token cookies, WWW-Authenticate in
// [BearerMode], Cache-Control: no-store. The handler writes the status and
// body; it may choose another status (a redirect to a login page, say).
type ErrorHandler func(w http.ResponseWriter, r *http.Request, e *HTTPError)

// DefaultErrorHandler answers e.Status with a JSON body in the OAuth shape:
// {"error": e.Code, "error_description": e.Description}.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, e *HTTPError) {
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// WriteError answers err the way the middleware would, through the
// configured [ErrorHandler]: for example an error returned by
// [HTTPAuth.Login]. A store outage or [ErrKeyUnavailable] is 503,
// [ErrCrossOrigin] 403, an invalid or expired token or an ended session
// 401, reuse 401 or 403, an [*HTTPError] its own status, anything else 500.
func (a *HTTPAuth) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var he *HTTPError
	if !errors.As(err, &he) {
		he = a.resourceError(err)
	}
	a.fail(w, r, he, clearNone)
}

// fail clears cookies as asked and hands e to the error handler.
func (a *HTTPAuth) fail(w http.ResponseWriter, r *http.Request, e *HTTPError, clear clearWhat) {
	a.clearCookies(w, clear)
	noStore(w)
	a.onError(w, r, e)
}

// resourceError maps an error met while authenticating a request to a
// protected resource.
func (a *HTTPAuth) resourceError(err error) *HTTPError {
	return tokenError(err, a.reuseStatus)
}

// tokenError maps an error met while checking an access token, for
// [HTTPAuth] and [BearerMiddleware] alike, so that the same cause gets the
// same answer from both; reuseStatus is the status of [ErrTokenReused].
func tokenError(err error, reuseStatus int) *HTTPError {
	e := commonError(err)
	if e != nil {
		return e
	}
	e = &HTTPError{Status: http.StatusUnauthorized, Code: "invalid_token", Err: err}
	switch {
	case errors.Is(err, ErrKeyUnavailable):
		e.Status, e.Code, e.Description = http.StatusServiceUnavailable, "temporarily_unavailable", "the token's verification key is unavailable; try again"
	case errors.Is(err, errNoToken):
		e.Code, e.Description = "unauthorized", "authentication required"
	case errors.Is(err, ErrTokenReused):
		e.Status, e.Description = reuseStatus, "refresh token reuse detected; the session was revoked"
	case errors.Is(err, ErrTokenExpired):
		e.Description = "the token expired"
	case errors.Is(err, ErrSessionNotFound), errors.Is(err, ErrTokenRevoked):
		e.Description = "the session has ended"
	case errors.Is(err, ErrInvalidToken), errors.Is(err, errTokenMismatch):
		e.Description = "the token is invalid"
	default:
		return serverError(err)
	}
	return e
}

// grantError maps an error met at the refresh endpoint. In [BearerMode]
// the endpoint is an OAuth 2.0 token endpoint and answers as RFC 6749
// §5.2 says: a refused grant (invalid, expired, reused or mismatched
// token, ended session) is 400 invalid_grant, a missing or malformed
// parameter 400 invalid_request, another grant type 400
// unsupported_grant_type, a refused client 401 invalid_client. In
// [CookieMode] the endpoint serves browsers and answers a refused grant
// as the middleware does: 401, or [WithReuseStatus] for reuse.
func (a *HTTPAuth) grantError(err error) *HTTPError {
	e := commonError(err)
	if e != nil {
		return e
	}
	refused, reuse := http.StatusUnauthorized, a.reuseStatus
	if a.mode == BearerMode {
		refused, reuse = http.StatusBadRequest, http.StatusBadRequest
	}
	e = &HTTPError{Status: refused, Code: "invalid_grant", Err: err}
	switch {
	case errors.Is(err, ErrInvalidClient):
		e.Status, e.Code, e.Description = http.StatusUnauthorized, "invalid_client", "client authentication failed"
	case errors.Is(err, errBadRequest):
		e.Status, e.Code, e.Description = http.StatusBadRequest, "invalid_request", "the body must be a form or JSON with grant_type=refresh_token and refresh_token"
	case errors.Is(err, errGrantType):
		e.Status, e.Code, e.Description = http.StatusBadRequest, "unsupported_grant_type", "grant_type must be refresh_token"
	case errors.Is(err, errNoToken) && a.mode == BearerMode:
		e.Status, e.Code, e.Description = http.StatusBadRequest, "invalid_request", "no refresh token"
	case errors.Is(err, errNoToken):
		e.Description = "no refresh token"
	case errors.Is(err, ErrTokenReused):
		e.Status, e.Description = reuse, "refresh token reuse detected; the session was revoked"
	case errors.Is(err, ErrTokenExpired):
		e.Description = "the refresh token expired"
	case errors.Is(err, ErrSessionNotFound):
		e.Description = "the session has ended"
	case errors.Is(err, errTokenMismatch):
		e.Description = "the access token does not belong to the refresh token's session"
	case errors.Is(err, ErrInvalidToken):
		e.Description = "the refresh token is invalid"
	default:
		return serverError(err)
	}
	return e
}

// commonError maps the errors that read the same everywhere.
func commonError(err error) *HTTPError {
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		return &HTTPError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the session store is unavailable; try again", Err: err}
	case errors.Is(err, ErrCrossOrigin):
		return &HTTPError{Status: http.StatusForbidden, Code: "cross_origin",
			Description: "cross-origin request refused", Err: err}
	}
	return nil
}

func serverError(err error) *HTTPError {
	return &HTTPError{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error", Err: err}
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
