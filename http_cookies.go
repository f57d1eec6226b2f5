package rtr

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// CookieOptions names and shapes the token cookies; see [WithCookies]. The
// zero value is the recommended setting. Cookies are always HttpOnly, and
// Secure unless [WithInsecureCookies] is given.
type CookieOptions struct {
	// AccessName and RefreshName are the base names of the cookies, by
	// default "rtr_access" and "rtr_refresh". rtr adds the prefix itself:
	// "__Host-" for a Secure cookie with Path=/ and no Domain (the browser
	// then refuses the cookie from a subdomain or over HTTP), "__Secure-"
	// for other Secure cookies, none with [WithInsecureCookies]. A base
	// name must be a valid cookie name and must not begin with "__".
	AccessName, RefreshName string

	// Domain, when set, shares the cookies with subdomains and rules out
	// the "__Host-" prefix. The default, a host-only cookie, is safer.
	Domain string

	// SameSite is the SameSite attribute, [http.SameSiteLaxMode] by
	// default. [http.SameSiteStrictMode] also works (the cookies are then
	// not sent when a user follows a link from another site);
	// [http.SameSiteNoneMode] needs Secure cookies.
	SameSite http.SameSite
}

// cookieSpec is one cookie's fixed attributes.
type cookieSpec struct {
	name     string // final name, prefix included; "" = not used
	path     string
	domain   string
	secure   bool
	sameSite http.SameSite
}

// cookieJar holds the specs of the access and refresh cookies.
type cookieJar struct {
	access, refresh cookieSpec
}

func newCookieJar(mode Mode, o CookieOptions, insecure bool, refreshPath string) (cookieJar, error) {
	if o.AccessName == "" {
		o.AccessName = "rtr_access"
	}
	if o.RefreshName == "" {
		o.RefreshName = "rtr_refresh"
	}
	switch o.SameSite {
	case 0, http.SameSiteDefaultMode:
		o.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if insecure {
			return cookieJar{}, fmt.Errorf("%w: SameSite=None needs Secure cookies", ErrInvalidConfig)
		}
	default:
		return cookieJar{}, fmt.Errorf("%w: unknown SameSite value %d", ErrInvalidConfig, o.SameSite)
	}
	spec := func(base, path string) (cookieSpec, error) {
		if strings.HasPrefix(base, "__") {
			return cookieSpec{}, fmt.Errorf("%w: cookie base name %q must not begin with __ (rtr adds the prefix)", ErrInvalidConfig, base)
		}
		s := cookieSpec{name: base, path: path, domain: o.Domain, secure: !insecure, sameSite: o.SameSite}
		switch {
		case insecure:
		case path == "/" && o.Domain == "":
			s.name = "__Host-" + base
		default:
			s.name = "__Secure-" + base
		}
		if err := (&http.Cookie{Name: s.name, Value: "x", Path: path, Domain: o.Domain}).Valid(); err != nil {
			return cookieSpec{}, fmt.Errorf("%w: cookie %q: %w", ErrInvalidConfig, base, err)
		}
		return s, nil
	}
	var j cookieJar
	var err error
	switch mode {
	case CookieMode:
		if j.access, err = spec(o.AccessName, "/"); err != nil {
			return j, err
		}
		if j.refresh, err = spec(o.RefreshName, "/"); err != nil {
			return j, err
		}
		if j.access.name == j.refresh.name {
			return j, fmt.Errorf("%w: access and refresh cookies need different names", ErrInvalidConfig)
		}
	case BearerMode:
		if refreshPath != "" {
			if j.refresh, err = spec(o.RefreshName, refreshPath); err != nil {
				return j, err
			}
		}
	}
	return j, nil
}

// maxCookieBytes is what browsers keep of one cookie (name, value and
// attributes); RFC 6265 §6.1 asks for at least 4096 bytes and most stop
// there. A larger cookie is dropped without a word.
const maxCookieBytes = 4096

// fits reports whether a cookie with this value stays under the browsers'
// limit.
func (s *cookieSpec) fits(value string) bool {
	if s.name == "" {
		return true
	}
	return len(s.cookie(value, math.MaxInt32).String()) <= maxCookieBytes
}

// read returns the cookie's value, or "".
func (s *cookieSpec) read(r *http.Request) string {
	if s.name == "" {
		return ""
	}
	c, err := r.Cookie(s.name)
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *cookieSpec) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     s.name,
		Value:    value,
		Path:     s.path,
		Domain:   s.domain,
		MaxAge:   maxAge,
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: s.sameSite,
	}
}

// set writes the cookie with a lifetime that ends at exp (by the issuer's
// clock now).
func (s *cookieSpec) set(w http.ResponseWriter, value string, exp, now time.Time) {
	if s.name == "" {
		return
	}
	secs := math.Ceil(exp.Sub(now).Seconds())
	maxAge := 1
	if secs > 1 {
		maxAge = int(min(secs, math.MaxInt32))
	}
	http.SetCookie(w, s.cookie(value, maxAge))
}

// clear tells the browser to delete the cookie.
func (s *cookieSpec) clear(w http.ResponseWriter) {
	if s.name == "" {
		return
	}
	http.SetCookie(w, s.cookie("", -1))
}

// clearWhat says which token cookies an error response deletes.
type clearWhat uint8

const (
	clearNone clearWhat = iota
	clearAccess
	clearBoth
)

// setPairCookies delivers a pair in cookies: both in cookie mode, the
// refresh cookie only in bearer mode with [WithRefreshCookie].
func (a *HTTPAuth) setPairCookies(w http.ResponseWriter, p *Pair) {
	now := a.now()
	a.cookies.access.set(w, p.AccessToken, p.AccessExpiresAt, now)
	a.cookies.refresh.set(w, p.RefreshToken, p.RefreshExpiresAt, now)
	noStore(w)
}

// clearCookies deletes the token cookies named by what.
func (a *HTTPAuth) clearCookies(w http.ResponseWriter, what clearWhat) {
	if what == clearNone {
		return
	}
	if a.cookies.access.name == "" && (what == clearAccess || a.cookies.refresh.name == "") {
		return
	}
	// The refresh cookie goes first: some clients (curl 7.88's cookie jar)
	// drop only the later of two deletions in one response, and a leftover
	// refresh cookie of a dead session is harmless, a leftover access
	// cookie is not.
	if what == clearBoth {
		a.cookies.refresh.clear(w)
	}
	a.cookies.access.clear(w)
	noStore(w)
}

// noStore keeps any cache from storing a response that sets or clears
// tokens.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

// addVary adds a field name to the Vary header unless it is there.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}
