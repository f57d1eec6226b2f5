package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeProgramInSync checks that README.md's complete program is this
// file's main.go, byte for byte, so that the program a reader pastes
// compiles and does what the tests below check.
func TestReadmeProgramInSync(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	code, err := os.ReadFile("main.go")
	require.NoError(t, err)
	require.Contains(t, string(readme), "```go\n"+string(code)+"```\n",
		"README.md must hold examples/readme/main.go verbatim as one Go block")
}

func TestReadmeProgram(t *testing.T) {
	h, err := newHandler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}, "password": {"wrong"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, err = http.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}, "password": {"password"}})
	require.NoError(t, err)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	me := func(access string) (int, string) {
		req, err := http.NewRequest("GET", srv.URL+"/me", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := me(tok.AccessToken)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "hello, alice\n", body)

	resp, err = http.PostForm(srv.URL+"/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	require.NoError(t, err)
	var next struct {
		RefreshToken string `json:"refresh_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&next))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEqual(t, tok.RefreshToken, next.RefreshToken, "rotated")

	resp, err = http.Post(srv.URL+"/logout", "application/json", strings.NewReader(`{"refresh_token":"`+next.RefreshToken+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)

	resp, err = http.PostForm(srv.URL+"/token/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the session has ended")
}
