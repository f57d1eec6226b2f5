package rtr

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
)

// maxRefreshBody caps the JSON body of refresh and logout requests.
const maxRefreshBody = MaxTokenLen + 1024

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

// refreshRequest is the JSON body accepted by the refresh and logout
// handlers.
type refreshRequest struct {
	GrantType    string `json:"grant_type"`
	RefreshToken string `json:"refresh_token"`
}

// readRefreshBody reads an optional JSON body {"refresh_token": "..."}.
// An empty body is no token, not an error.
func readRefreshBody(w http.ResponseWriter, r *http.Request) (refreshRequest, error) {
	var req refreshRequest
	if r.Body == nil || r.Body == http.NoBody {
		return req, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRefreshBody))
	if err != nil { // too large, or the client went away
		return req, errBadRequest
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return req, nil
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return req, errBadRequest
	}
	if req.GrantType != "" && req.GrantType != "refresh_token" {
		return req, errGrantType
	}
	return req, nil
}
