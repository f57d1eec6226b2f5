package rtr

import (
	"math"
	"net/http"
)

// challenge is the WWW-Authenticate value of a bearer-mode 401.
func (a *HTTPAuth) challenge(e *HTTPError) string { return bearerChallenge(a.realm, e) }

// TokenResponse is the JSON body of a successful login or refresh in
// [BearerMode] (RFC 6749 §5.1). RefreshToken is omitted when the refresh
// token travels in a cookie ([WithRefreshCookie]).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"` // always "Bearer"
	ExpiresIn    int64  `json:"expires_in"` // seconds until the access token expires
	RefreshToken string `json:"refresh_token,omitempty"`
}

// WriteTokenResponse answers a successful [HTTPAuth.Login] the way
// [HTTPAuth.RefreshHandler] answers a refresh in the same mode: in
// [BearerMode], 200 with the RFC 6749 §5.1 [TokenResponse] (the refresh
// token left out of the body with [WithRefreshCookie], where Login has
// put it in its cookie), Cache-Control: no-store and Pragma: no-cache; in
// [CookieMode], where tokens never appear in a body, 204 No Content.
func (a *HTTPAuth) WriteTokenResponse(w http.ResponseWriter, p Pair) {
	if a.mode == CookieMode {
		noStore(w)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a.writeTokenBody(w, &p, a.cookies.refresh.name != "")
}

// writeTokens delivers a pair in bearer mode: the refresh token in its
// cookie when inCookie, otherwise in the body.
func (a *HTTPAuth) writeTokens(w http.ResponseWriter, p *Pair, inCookie bool) {
	if inCookie {
		a.cookies.refresh.set(w, p.RefreshToken, p.RefreshExpiresAt, a.now())
	}
	a.writeTokenBody(w, p, inCookie)
}

// writeTokenBody writes the token response; the refresh token is left out
// when it travels in its cookie.
func (a *HTTPAuth) writeTokenBody(w http.ResponseWriter, p *Pair, inCookie bool) {
	resp := TokenResponse{
		AccessToken: p.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   max(1, int64(math.Ceil(p.AccessExpiresAt.Sub(a.now()).Seconds()))),
	}
	if !inCookie {
		resp.RefreshToken = p.RefreshToken
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}
