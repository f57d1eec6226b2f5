package rtr

import (
	"net"
	"net/http"
	"strings"
)

// warnPlainHTTP logs once, through [WithLogger], that Secure token cookies
// are being set on a request that reached the server over plain HTTP
// (no TLS, no X-Forwarded-Proto: https) for a host that is not loopback:
// the browser drops such cookies without a word, so every later request
// is 401. It logs the host only, never a token or a cookie value.
func (a *HTTPAuth) warnPlainHTTP(r *http.Request) {
	if !a.cookies.access.secure && !a.cookies.refresh.secure {
		return
	}
	if r.TLS != nil || forwardedHTTPS(r) {
		return
	}
	host := requestHost(r)
	if isLoopbackHost(host) {
		return
	}
	a.plainHTTP.Do(func() {
		a.log.Warn("rtr: Secure cookies set on a plain-HTTP request; browsers will not store them, so users stay logged out. Serve HTTPS (behind a proxy: set X-Forwarded-Proto: https), or use WithInsecureCookies for local development only",
			"host", host, "mode", a.mode.String())
	})
}

// forwardedHTTPS reports whether a proxy in front said the client used
// HTTPS: the first X-Forwarded-Proto value is "https".
func forwardedHTTPS(r *http.Request) bool {
	v := r.Header.Get("X-Forwarded-Proto")
	first, _, _ := strings.Cut(v, ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}

// requestHost is the request's host name without port or brackets.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// isLoopbackHost reports whether browsers treat host as this machine,
// where they accept Secure cookies over plain HTTP: localhost and its
// subdomains, 127.0.0.0/8, ::1. It only decides whether to warn, so it
// follows the browsers; checkJWKSURL's rule for key fetches is stricter.
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
