package rtr

import (
	"net/http"
	"strings"
)

// TokenLocation is one place where the middleware looks for an access token;
// see [WithTokenLocations]. Build one with [FromAuthorization], [FromCookie],
// [FromHeader] or [TokenLocationFunc]; the zero value is not usable.
type TokenLocation struct {
	get func(r *http.Request) string
	// ambient: the browser attaches the token by itself (a cookie), so a
	// request carrying it must pass the cross-origin check.
	ambient bool
}

// FromAuthorization reads an "Authorization: Bearer <token>" header
// (RFC 6750 §2.1; the scheme is case-insensitive). Another scheme, or a
// value that is not a single token68, counts as no token.
func FromAuthorization() TokenLocation {
	return TokenLocation{get: bearerToken}
}

// FromCookie reads the cookie with exactly this name (prefix included).
// Requests whose token came from a cookie are checked with
// [http.CrossOriginProtection] in every mode.
func FromCookie(name string) TokenLocation {
	return TokenLocation{ambient: true, get: func(r *http.Request) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}}
}

// FromHeader reads the raw value of a custom header, such as
// "X-Access-Token".
func FromHeader(name string) TokenLocation {
	name = http.CanonicalHeaderKey(name)
	return TokenLocation{get: func(r *http.Request) string {
		return strings.TrimSpace(r.Header.Get(name))
	}}
}

// TokenLocationFunc wraps a custom lookup that returns "" when there is no
// token. rtr cannot tell whether a browser attaches such a token by itself,
// so requests whose token came from it are checked with
// [http.CrossOriginProtection], as for [FromCookie].
func TokenLocationFunc(f func(r *http.Request) string) TokenLocation {
	return TokenLocation{get: f, ambient: true}
}

// bearerToken returns the token of an "Authorization: Bearer" header, or "".
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || !isToken68(tok) {
		return ""
	}
	return tok
}

// isToken68 reports whether s is a token68 (RFC 9110 §11.2), which covers
// every JWT.
func isToken68(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}

// accessToken returns the first access token found and whether it came
// from an ambient source.
func (a *HTTPAuth) accessToken(r *http.Request) (token string, ambient bool) {
	for _, s := range a.sources {
		if t := s.get(r); t != "" {
			return t, s.ambient
		}
	}
	return "", false
}
