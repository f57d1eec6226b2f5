package rtr

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxRefreshBody caps the body of refresh, logout and revocation requests.
const maxRefreshBody = MaxTokenLen + 1024

// tokenRequest is the body of a refresh, logout or revocation request,
// read from an RFC 6749 §6 / RFC 7009 §2.1 form or from JSON with the same
// parameter names. Every member is optional here; each handler checks the
// ones it needs.
type tokenRequest struct {
	GrantType     string `json:"grant_type"`
	RefreshToken  string `json:"refresh_token"`
	Token         string `json:"token"`
	TokenTypeHint string `json:"token_type_hint"`
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`

	// form: the body was application/x-www-form-urlencoded.
	form bool
}

// tokenRequestParams are the form parameters copied into a tokenRequest.
var tokenRequestParams = [...]string{"grant_type", "refresh_token", "token", "token_type_hint", "client_id", "client_secret"}

// readTokenRequest reads the optional body of a refresh, logout or
// revocation request, at most [maxRefreshBody] bytes. A body declared
// application/x-www-form-urlencoded is read as a form, any other as JSON.
// An empty body is an empty request, not an error. A malformed body, one
// that is too large, or a form that repeats a parameter (RFC 6749 §3.2)
// is [errBadRequest].
func readTokenRequest(w http.ResponseWriter, r *http.Request) (tokenRequest, error) {
	var req tokenRequest
	if r.Body == nil || r.Body == http.NoBody {
		return req, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRefreshBody))
	if err != nil { // too large, or the client went away
		return req, errBadRequest
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return parseTokenRequest(b, mt == "application/x-www-form-urlencoded")
}

// parseTokenRequest parses a request body already read and size-limited.
func parseTokenRequest(b []byte, form bool) (tokenRequest, error) {
	req := tokenRequest{form: form}
	if len(bytes.TrimSpace(b)) == 0 {
		return req, nil
	}
	if !form {
		if err := json.Unmarshal(b, &req); err != nil {
			return tokenRequest{}, errBadRequest
		}
		return req, nil
	}
	if bytes.TrimSpace(b)[0] == '{' {
		// JSON declared as a form (curl -d sends every body as one): read
		// as a form it would name no parameter, and a logout would then
		// answer success without ending anything.
		return tokenRequest{}, errBadRequest
	}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return tokenRequest{}, errBadRequest
	}
	dst := [...]*string{&req.GrantType, &req.RefreshToken, &req.Token, &req.TokenTypeHint, &req.ClientID, &req.ClientSecret}
	for i, name := range tokenRequestParams {
		switch v := vals[name]; len(v) {
		case 0:
		case 1:
			*dst[i] = v[0]
		default:
			return tokenRequest{}, errBadRequest
		}
	}
	return req, nil
}

// checkRefreshGrant applies RFC 6749 §6 to a refresh request: a form must
// say grant_type=refresh_token; JSON may leave grant_type out, but may not
// name another grant.
func (req *tokenRequest) checkRefreshGrant() error {
	switch {
	case req.GrantType == "refresh_token":
		return nil
	case req.GrantType != "":
		return errGrantType
	case req.form:
		return errBadRequest
	}
	return nil
}

// clientCredentials returns the client credentials of a request: HTTP
// Basic (RFC 6749 §2.3.1, with the form-urlencoding of id and secret
// undone) or client_id/client_secret in the body. Both at once is
// [errBadRequest] (one method per request). Both are "" when the request
// names no client.
func clientCredentials(r *http.Request, req *tokenRequest) (id, secret string, err error) {
	bid, bsecret, basic := r.BasicAuth()
	if !basic {
		return req.ClientID, req.ClientSecret, nil
	}
	if req.ClientID != "" || req.ClientSecret != "" {
		return "", "", errBadRequest
	}
	if id, err = url.QueryUnescape(bid); err != nil {
		return "", "", errBadRequest
	}
	if secret, err = url.QueryUnescape(bsecret); err != nil {
		return "", "", errBadRequest
	}
	return id, secret, nil
}
