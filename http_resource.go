package rtr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// BearerMiddleware is the middleware of a resource server: it accepts
// requests whose access token a [Verifier] accepts, and needs nothing
// else (no [Issuer], no store). Create it with [NewBearerMiddleware]; it
// is safe for concurrent use.
type BearerMiddleware struct {
	v       *Verifier
	sources []TokenLocation
	cop     *http.CrossOriginProtection
	onError ErrorHandler
	realm   string
}

// NewBearerMiddleware returns the resource-server middleware for v. It
// takes the [HTTPOption]s that make sense without an issuer:
// [WithTokenLocations] (default [FromAuthorization]), [WithRealm],
// [WithErrorHandler], [WithCrossOriginProtection] and
// [WithMode]([BearerMode]). The cookie options, [WithMode]([CookieMode])
// and [WithReuseStatus] need an issuer and are refused with
// [ErrInvalidConfig], as is a nil verifier.
func NewBearerMiddleware(v *Verifier, opts ...HTTPOption) (*BearerMiddleware, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil Verifier", ErrInvalidConfig)
	}
	var s httpSettings
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if s.mode == CookieMode || s.cookie != (CookieOptions{}) || s.insecure || s.refreshCookie != "" || s.reuseStatus != 0 {
		return nil, fmt.Errorf("%w: the bearer middleware takes only token source, realm, error handler and cross-origin options", ErrInvalidConfig)
	}
	m := &BearerMiddleware{v: v, sources: s.sources, cop: s.cop, onError: s.onError, realm: s.realm}
	if m.sources == nil {
		m.sources = []TokenLocation{FromAuthorization()}
	}
	if m.cop == nil {
		m.cop = http.NewCrossOriginProtection()
	}
	if m.onError == nil {
		m.onError = DefaultErrorHandler
	}
	return m, nil
}

// Require serves only requests with a valid access token, with its
// [Claims] in the request context ([ClaimsFromContext]). The answers:
//   - no token: 401 with "WWW-Authenticate: Bearer" and no error
//     attribute (RFC 6750 §3.1);
//   - an invalid or expired token, or one of an ended session
//     ([ErrTokenRevoked], with [Config.InstantRevocation]): 401 with
//     `WWW-Authenticate: Bearer error="invalid_token"`;
//   - a token whose key cannot be fetched now ([ErrKeyUnavailable]) or a
//     store outage ([ErrStoreUnavailable]): 503, "temporarily_unavailable";
//   - a token from an ambient source (a cookie) on a cross-origin unsafe
//     request: 403;
//   - any other error: 500, "server_error".
//
// A cause gets the same status, challenge and description here as from
// [HTTPAuth.Require].
//
// Error bodies are written by the [ErrorHandler].
func (m *BearerMiddleware) Require(next http.Handler) http.Handler {
	return m.middleware(next, false)
}

// Optional is like [BearerMiddleware.Require] but serves a request without
// a token anonymously, with no claims in the context. A token that was
// sent is checked as under Require: an invalid or expired one is 401, so
// that the client learns to refresh it.
func (m *BearerMiddleware) Optional(next http.Handler) http.Handler {
	return m.middleware(next, true)
}

func (m *BearerMiddleware) middleware(next http.Handler, optional bool) http.Handler {
	if next == nil {
		panic("rtr: nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ambient := m.token(r)
		if tok == "" {
			if optional {
				next.ServeHTTP(w, r)
				return
			}
			m.fail(w, r, tokenError(errNoToken, http.StatusUnauthorized))
			return
		}
		if ambient {
			if err := m.cop.Check(r); err != nil {
				m.fail(w, r, commonError(errors.Join(ErrCrossOrigin, err)))
				return
			}
		}
		c, err := m.v.Verify(r.Context(), tok)
		if err != nil {
			m.fail(w, r, tokenError(err, http.StatusUnauthorized))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey, c)))
	})
}

func (m *BearerMiddleware) token(r *http.Request) (string, bool) {
	for _, s := range m.sources {
		if t := s.get(r); t != "" {
			return t, s.ambient
		}
	}
	return "", false
}

// fail sets the challenge of a 401 and hands e to the error handler.
func (m *BearerMiddleware) fail(w http.ResponseWriter, r *http.Request, e *HTTPError) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", bearerChallenge(m.realm, e))
	}
	noStore(w)
	m.onError(w, r, e)
}

// bearerChallenge is the RFC 6750 §3 challenge: an error attribute only
// when a token was sent.
func bearerChallenge(realm string, e *HTTPError) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	if realm != "" {
		b.WriteString(` realm="` + realm + `"`)
		sep = ", "
	}
	if e.Code == "invalid_token" {
		b.WriteString(sep + `error="invalid_token", error_description="` + e.Description + `"`)
	}
	return b.String()
}
