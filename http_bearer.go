package rtr

import (
	"math"
	"net/http"
	"strings"
)

// challenge builds the WWW-Authenticate value of a bearer-mode 401
// (RFC 6750 §3): no error code when the request had no token,
// error="invalid_token" when it had one.
func (a *HTTPAuth) challenge(e *HTTPError) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	if a.realm != "" {
		b.WriteString(` realm="` + a.realm + `"`)
		sep = ", "
	}
	if e.Code == "invalid_token" {
		b.WriteString(sep + `error="invalid_token", error_description="` + e.Description + `"`)
	}
	return b.String()
}

// TokenResponse is the JSON body of a successful login or refresh in
// [BearerMode] (RFC 6749 §5.1). RefreshToken is omitted when the refresh
// token travels in a cookie ([WithRefreshCookie]).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"` // always "Bearer"
	ExpiresIn    int64  `json:"expires_in"` // seconds until the access token expires
	RefreshToken string `json:"refresh_token,omitempty"`
}

// writeTokens delivers a pair in bearer mode: the refresh token in its
// cookie when inCookie, otherwise in the body.
func (a *HTTPAuth) writeTokens(w http.ResponseWriter, p *Pair, inCookie bool) {
	now := a.now()
	resp := TokenResponse{
		AccessToken: p.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   max(1, int64(math.Ceil(p.AccessExpiresAt.Sub(now).Seconds()))),
	}
	if inCookie {
		a.cookies.refresh.set(w, p.RefreshToken, p.RefreshExpiresAt, now)
	} else {
		resp.RefreshToken = p.RefreshToken
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}
