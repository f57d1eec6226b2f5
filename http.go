package rtr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Mode selects how [HTTPAuth] carries tokens between client and server.
type Mode uint8

const (
	// CookieMode keeps both tokens in HttpOnly cookies and refreshes
	// transparently: when the access token is missing or expired and a
	// refresh cookie is present, the middleware rotates, sets both new
	// cookies and serves the request. For browsers and server-rendered
	// apps. It requires a non-zero [Config.ReuseGrace] (see [NewHTTPAuth]).
	// Browsers keep cookies of up to about 4 KB: keep the claims from
	// [Config.Claims] small ([HTTPAuth.Login] refuses a token that would
	// not fit).
	CookieMode Mode = iota + 1

	// BearerMode reads the access token from "Authorization: Bearer"
	// (RFC 6750) and never refreshes on its own: the client calls the
	// [HTTPAuth.RefreshHandler] endpoint after a 401. For APIs, mobile apps
	// and single-page apps that keep the access token in memory.
	BearerMode
)

// String returns "cookie" or "bearer".
func (m Mode) String() string {
	switch m {
	case CookieMode:
		return "cookie"
	case BearerMode:
		return "bearer"
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// HTTPAuth applies an [Issuer]'s sessions to net/http: the [HTTPAuth.Require]
// and [HTTPAuth.Optional] middleware, the [HTTPAuth.Login] and
// [HTTPAuth.WriteTokenResponse] helpers, and the refresh, revocation and
// logout handlers. Create it with [NewHTTPAuth]; it is safe for
// concurrent use.
type HTTPAuth struct {
	iss         *Issuer
	mode        Mode
	cookies     cookieJar
	sources     []TokenLocation
	cop         *http.CrossOriginProtection
	onError     ErrorHandler
	reuseStatus int
	realm       string
	flights     refreshGroup
	clientAuth  ClientAuthenticator
	log         *slog.Logger

	// ambientSources: some token source is ambient (see [TokenLocation]).
	ambientSources bool
	// plainHTTP warns once about Secure cookies set over plain HTTP.
	plainHTTP sync.Once
}

// HTTPOption configures [NewHTTPAuth].
type HTTPOption func(*httpSettings) error

type httpSettings struct {
	mode          Mode
	cookie        CookieOptions
	insecure      bool
	refreshCookie string // bearer mode: path of the refresh cookie; "" = JSON body only
	sources       []TokenLocation
	cop           *http.CrossOriginProtection
	onError       ErrorHandler
	reuseStatus   int
	realm         string
	clientAuth    ClientAuthenticator
	log           *slog.Logger
}

// WithMode selects [CookieMode] (the default) or [BearerMode].
func WithMode(m Mode) HTTPOption {
	return func(s *httpSettings) error {
		if m != CookieMode && m != BearerMode {
			return fmt.Errorf("%w: unknown mode %d", ErrInvalidConfig, m)
		}
		s.mode = m
		return nil
	}
}

// WithCookies sets cookie names and attributes; see [CookieOptions].
func WithCookies(o CookieOptions) HTTPOption {
	return func(s *httpSettings) error {
		s.cookie = o
		return nil
	}
}

// WithInsecureCookies drops the Secure attribute and the __Host- and
// __Secure- name prefixes, so that cookies work over plain HTTP. It exists
// for local development only (http://localhost): never use it in
// production, where tokens would travel in clear text and a network
// attacker could overwrite the cookies.
func WithInsecureCookies() HTTPOption {
	return func(s *httpSettings) error {
		s.insecure = true
		return nil
	}
}

// WithRefreshCookie makes [BearerMode] deliver the refresh token in an
// HttpOnly cookie scoped to path instead of the JSON body, so that
// JavaScript never sees it (the access token stays in the client's memory
// and goes in the Authorization header). path must cover the routes of
// [HTTPAuth.RefreshHandler] and [HTTPAuth.LogoutHandler], for example
// "/auth/" for "/auth/refresh" and "/auth/logout". Unsafe requests to
// [HTTPAuth.Login] and to the refresh, logout, logout-everywhere and
// revocation handlers are then checked with [http.CrossOriginProtection],
// whatever their body holds, since these handlers read or delete the
// cookie. Not valid in
// [CookieMode], whose refresh cookie is always scoped to "/".
func WithRefreshCookie(path string) HTTPOption {
	return func(s *httpSettings) error {
		if path == "" || path[0] != '/' {
			return fmt.Errorf("%w: refresh cookie path must start with /", ErrInvalidConfig)
		}
		s.refreshCookie = path
		return nil
	}
}

// WithTokenLocations sets where the middleware looks for the access token;
// the sources are tried in order and the first non-empty token wins. In
// [BearerMode] they replace the default, [FromAuthorization]. In
// [CookieMode] the access cookie is always looked at first and the
// sources come after it (say [FromAuthorization], for API clients of a
// cookie-mode app).
func WithTokenLocations(sources ...TokenLocation) HTTPOption {
	return func(s *httpSettings) error {
		for _, src := range sources {
			if src.get == nil {
				return fmt.Errorf("%w: zero TokenLocation", ErrInvalidConfig)
			}
		}
		if len(sources) == 0 {
			return fmt.Errorf("%w: no token source", ErrInvalidConfig)
		}
		s.sources = append([]TokenLocation(nil), sources...)
		return nil
	}
}

// WithCrossOriginProtection replaces the [http.CrossOriginProtection] used
// to refuse cross-origin unsafe requests that carry cookies, for example
// one with trusted origins added. The default is
// [http.NewCrossOriginProtection]().
func WithCrossOriginProtection(c *http.CrossOriginProtection) HTTPOption {
	return func(s *httpSettings) error {
		if c == nil {
			return fmt.Errorf("%w: nil CrossOriginProtection", ErrInvalidConfig)
		}
		s.cop = c
		return nil
	}
}

// WithErrorHandler sets the function that writes error responses; see
// [ErrorHandler]. The default is [DefaultErrorHandler].
func WithErrorHandler(h ErrorHandler) HTTPOption {
	return func(s *httpSettings) error {
		if h == nil {
			return fmt.Errorf("%w: nil ErrorHandler", ErrInvalidConfig)
		}
		s.onError = h
		return nil
	}
}

// WithReuseStatus sets the status answered when refresh-token reuse (theft)
// is detected in [CookieMode], by the middleware and the refresh endpoint:
// [http.StatusUnauthorized] (the default) or [http.StatusForbidden]. The
// bearer-mode refresh endpoint is an OAuth 2.0 token endpoint and always
// answers reuse with 400 invalid_grant (RFC 6749 §5.2).
func WithReuseStatus(status int) HTTPOption {
	return func(s *httpSettings) error {
		if status != http.StatusUnauthorized && status != http.StatusForbidden {
			return fmt.Errorf("%w: reuse status must be 401 or 403", ErrInvalidConfig)
		}
		s.reuseStatus = status
		return nil
	}
}

// WithRealm sets the realm of the WWW-Authenticate: Bearer challenge
// (RFC 6750 §3), and of the Basic challenge of an invalid_client answer
// ([WithClientAuthenticator]). Default: no realm in the Bearer challenge,
// "rtr" in the Basic one, where RFC 7617 requires a realm.
func WithRealm(realm string) HTTPOption {
	return func(s *httpSettings) error {
		for _, c := range realm {
			if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
				return fmt.Errorf("%w: realm must be printable without quotes or backslashes", ErrInvalidConfig)
			}
		}
		s.realm = realm
		return nil
	}
}

// ClientAuthenticator authenticates the OAuth 2.0 client of a request to
// the refresh or revocation endpoint; see [WithClientAuthenticator].
// clientID and secret come from HTTP Basic (RFC 6749 §2.3.1) or from
// client_id and client_secret in the body; both are "" when the request
// names no client, and the function decides whether public clients are
// allowed. A non-nil error refuses the request with 401 invalid_client
// (an error wrapping [ErrStoreUnavailable] is 503 instead). The secret
// must be compared in constant time and never logged.
type ClientAuthenticator func(ctx context.Context, clientID, secret string) error

// WithClientAuthenticator makes the bearer-mode refresh endpoint and the
// revocation endpoint ([HTTPAuth.RevokeHandler]) authenticate the client
// with f, on every request, before looking at the token. Without it,
// client credentials a client sends are ignored, so a public client's
// refresh works whatever its library sends. The cookie-mode refresh
// endpoint serves browsers and never asks for client credentials.
func WithClientAuthenticator(f ClientAuthenticator) HTTPOption {
	return func(s *httpSettings) error {
		if f == nil {
			return fmt.Errorf("%w: nil ClientAuthenticator", ErrInvalidConfig)
		}
		s.clientAuth = f
		return nil
	}
}

// WithLogger sets where the HTTP layer reports problems of the
// deployment it can detect but not answer, such as Secure cookies set on
// a plain-HTTP request that the browser will drop. It never logs a token
// or a cookie value. The default is [slog.Default]().
func WithLogger(l *slog.Logger) HTTPOption {
	return func(s *httpSettings) error {
		if l == nil {
			return fmt.Errorf("%w: nil Logger", ErrInvalidConfig)
		}
		s.log = l
		return nil
	}
}

// NewHTTPAuth returns the HTTP layer for iss.
//
// [CookieMode] requires a non-zero [Config.ReuseGrace]
// ([RecommendedReuseGrace] is a good value): a browser that loads a page
// with ten resources just after its access token expired sends the same
// refresh cookie ten times, and with a strict zero grace every request
// but the first would look like theft and end the session. Parallel
// requests that reach the same process share one rotation; the grace
// covers those that reach other processes or arrive a little later.
//
// NewHTTPAuth fails with [ErrInvalidConfig] on a nil issuer, cookie mode with a
// zero grace, or inconsistent cookie settings.
func NewHTTPAuth(iss *Issuer, opts ...HTTPOption) (*HTTPAuth, error) {
	if iss == nil {
		return nil, fmt.Errorf("%w: nil Issuer", ErrInvalidConfig)
	}
	s := httpSettings{mode: CookieMode, reuseStatus: http.StatusUnauthorized}
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if s.mode == CookieMode {
		if iss.cfg.ReuseGrace <= 0 {
			return nil, fmt.Errorf("%w: cookie mode refreshes transparently and needs Config.ReuseGrace > 0 (try RecommendedReuseGrace)", ErrInvalidConfig)
		}
		if s.refreshCookie != "" {
			return nil, fmt.Errorf("%w: WithRefreshCookie is for bearer mode; cookie mode always scopes the refresh cookie to /", ErrInvalidConfig)
		}
	}
	jar, err := newCookieJar(s.mode, s.cookie, s.insecure, s.refreshCookie)
	if err != nil {
		return nil, err
	}
	a := &HTTPAuth{
		iss:         iss,
		mode:        s.mode,
		cookies:     jar,
		sources:     s.sources,
		cop:         s.cop,
		onError:     s.onError,
		reuseStatus: s.reuseStatus,
		realm:       s.realm,
		clientAuth:  s.clientAuth,
		log:         s.log,
	}
	if a.cop == nil {
		a.cop = http.NewCrossOriginProtection()
	}
	if a.onError == nil {
		a.onError = DefaultErrorHandler
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	switch {
	case s.mode == CookieMode:
		a.sources = append([]TokenLocation{FromCookie(jar.access.name)}, s.sources...)
	case a.sources == nil:
		a.sources = []TokenLocation{FromAuthorization()}
	}
	for _, src := range a.sources {
		a.ambientSources = a.ambientSources || src.ambient
	}
	return a, nil
}

// Mode reports the mode the HTTPAuth was built with.
func (a *HTTPAuth) Mode() Mode { return a.mode }

// AccessCookieName reports the final name of the access cookie, prefix
// included, or "" in [BearerMode].
func (a *HTTPAuth) AccessCookieName() string { return a.cookies.access.name }

// RefreshCookieName reports the final name of the refresh cookie, prefix
// included, or "" when no refresh cookie is used (bearer mode without
// [WithRefreshCookie]).
func (a *HTTPAuth) RefreshCookieName() string { return a.cookies.refresh.name }

// now is the issuer's clock.
func (a *HTTPAuth) now() time.Time { return a.iss.cfg.Now() }

// identity is the subject and session an access or refresh token names,
// checked on signature only (expiry ignored).
type identity struct{ subject, sessionID, clientID string }

// accessIdentity checks an access token's signature, typ, alg, kid,
// issuer and audience, and bounds its age by MaxSessionAge, but does not
// check its expiry; it returns whom it names.
func (a *HTTPAuth) accessIdentity(tok string) (identity, error) {
	id, err := a.iss.codec.IdentifyAccess(tok)
	return identity{subject: id.Subject, sessionID: id.SessionID}, err
}

// refreshIdentity checks a refresh token on signature only, bounded the
// same way.
func (a *HTTPAuth) refreshIdentity(tok string) (identity, error) {
	id, err := a.iss.codec.IdentifyRefresh(tok)
	return identity{id.Subject, id.SessionID, id.ClientID}, err
}

// errTokenMismatch: an access token sent along with a refresh token names
// another subject or session.
var errTokenMismatch = errors.New("rtr: access token does not belong to the refresh token's session")
