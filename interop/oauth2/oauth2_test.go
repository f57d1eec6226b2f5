package oauth2_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

const (
	clientID     = "app"
	clientSecret = "s3cret:/+&="
	grace        = 10 * time.Second
)

// server is the routes of examples/bearer, built the same way: rtr's
// bearer-mode HTTP layer on a memory store.
type server struct {
	*httptest.Server
	iss   *rtr.Issuer
	clock *testkit.Clock

	refreshes atomic.Int64 // requests to /token/refresh
	basic     atomic.Int64 // of which with HTTP Basic credentials
}

// newServer starts the API. confidential makes the token endpoint
// authenticate the client (clientID, clientSecret); otherwise client
// credentials are ignored, as for a public client.
func newServer(t *testing.T, accessTTL time.Duration, confidential bool) *server {
	t.Helper()
	s := &server{clock: testkit.NewClock(time.Now())}
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     []byte("interop-oauth2-secret-0123456789abcdef"),
		Issuer:     "https://rtr.test",
		AccessTTL:  accessTTL,
		ReuseGrace: grace,
		Now:        s.clock.Now,
	})
	require.NoError(t, err)
	s.iss = iss
	opts := []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode), rtr.WithRealm("rtr-example")}
	if confidential {
		opts = append(opts, rtr.WithClientAuthenticator(func(_ context.Context, id, secret string) error {
			if id == clientID && subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) == 1 {
				return nil
			}
			return errors.New("unknown client")
		}))
	}
	auth, err := rtr.NewHTTPAuth(iss, opts...)
	require.NoError(t, err)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		p, err := auth.Login(w, r, r.URL.Query().Get("user"))
		if err != nil {
			auth.WriteError(w, r, err)
			return
		}
		auth.WriteTokenResponse(w, p)
	})
	mux.Handle("GET /api/me", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := rtr.ClaimsFromContext(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"subject": c.Subject, "session_id": c.SessionID})
	})))
	refresh := auth.RefreshHandler()
	mux.Handle("POST /token/refresh", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refreshes.Add(1)
		if _, _, ok := r.BasicAuth(); ok {
			s.basic.Add(1)
		}
		refresh.ServeHTTP(w, r)
	}))
	mux.Handle("POST /token/revoke", auth.RevokeHandler())
	mux.Handle("POST /logout", auth.LogoutHandler(nil))
	s.Server = httptest.NewTLSServer(mux)
	t.Cleanup(s.Close)
	return s
}

// ctx carries the test server's client, which trusts its certificate.
func (s *server) ctx(t *testing.T) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, s.Client())
}

func (s *server) config(style oauth2.AuthStyle, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{TokenURL: s.URL + "/token/refresh", AuthStyle: style},
	}
}

// login starts a session and returns its token, as a client would hold it.
func (s *server) login(t *testing.T, user string) *oauth2.Token {
	t.Helper()
	resp, err := s.Client().Post(s.URL+"/login?user="+user, "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var tr rtr.TokenResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
	require.NotEmpty(t, tr.RefreshToken)
	return &oauth2.Token{
		AccessToken:  tr.AccessToken,
		TokenType:    tr.TokenType,
		RefreshToken: tr.RefreshToken,
		Expiry:       time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second),
	}
}

// me calls the protected API with an oauth2 client.
func (s *server) me(t *testing.T, ts oauth2.TokenSource) (int, map[string]string) {
	t.Helper()
	resp, err := oauth2.NewClient(s.ctx(t), ts).Get(s.URL + "/api/me")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]string
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	}
	return resp.StatusCode, body
}

// expired is tok with its access token gone, so a TokenSource refreshes.
func expired(tok *oauth2.Token) *oauth2.Token {
	return &oauth2.Token{RefreshToken: tok.RefreshToken}
}

func TestTokenSourceRefreshesWithEveryAuthStyle(t *testing.T) {
	styles := []struct {
		name  string
		style oauth2.AuthStyle
		basic bool // the style sends HTTP Basic
	}{
		{"AutoDetect", oauth2.AuthStyleAutoDetect, true},
		{"InParams", oauth2.AuthStyleInParams, false},
		{"InHeader", oauth2.AuthStyleInHeader, true},
	}
	clients := []struct {
		name         string
		confidential bool
		secret       string
	}{
		{"public client", false, ""},
		{"public client sending a secret", false, "whatever"},
		{"confidential client", true, clientSecret},
	}
	for _, c := range clients {
		for _, st := range styles {
			t.Run(c.name+"/"+st.name, func(t *testing.T) {
				s := newServer(t, time.Hour, c.confidential)
				tok := s.login(t, "alice")
				ts := s.config(st.style, c.secret).TokenSource(s.ctx(t), expired(tok))
				got, err := ts.Token()
				require.NoError(t, err)
				assert.NotEqual(t, tok.RefreshToken, got.RefreshToken, "rotated")
				assert.NotEqual(t, tok.AccessToken, got.AccessToken)
				assert.Equal(t, "Bearer", got.TokenType)
				assert.WithinDuration(t, time.Now().Add(time.Hour), got.Expiry, time.Minute)
				assert.EqualValues(t, 1, s.refreshes.Load())
				if st.basic {
					assert.EqualValues(t, 1, s.basic.Load(), "credentials in the header")
				} else {
					assert.Zero(t, s.basic.Load(), "credentials in the body")
				}

				status, body := s.me(t, ts)
				require.Equal(t, http.StatusOK, status)
				assert.Equal(t, "alice", body["subject"])
			})
		}
	}
	t.Run("confidential client with a wrong secret", func(t *testing.T) {
		s := newServer(t, time.Hour, true)
		tok := s.login(t, "alice")
		for _, st := range styles {
			_, err := s.config(st.style, "wrong").TokenSource(s.ctx(t), expired(tok)).Token()
			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re, st.name)
			assert.Equal(t, "invalid_client", re.ErrorCode)
			assert.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
		}
		_, err := s.config(oauth2.AuthStyleInParams, clientSecret).TokenSource(s.ctx(t), expired(tok)).Token()
		require.NoError(t, err, "a refused client rotated nothing")
	})
}

func TestReuseTokenSourceConcurrentCallers(t *testing.T) {
	s := newServer(t, time.Hour, false)
	tok := s.login(t, "alice")
	ts := oauth2.ReuseTokenSource(nil, s.config(oauth2.AuthStyleInParams, "").TokenSource(s.ctx(t), expired(tok)))

	const callers = 16
	var wg sync.WaitGroup
	got := make([]*oauth2.Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = ts.Token()
		}()
	}
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, got[0].AccessToken, got[i].AccessToken)
		assert.Equal(t, got[0].RefreshToken, got[i].RefreshToken)
	}
	assert.EqualValues(t, 1, s.refreshes.Load(), "one refresh for all callers")

	status, _ := s.me(t, ts)
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 1, s.refreshes.Load(), "a valid token is reused")
}

func TestRotationsInARowAndReplay(t *testing.T) {
	s := newServer(t, time.Hour, false)
	conf := s.config(oauth2.AuthStyleAutoDetect, "")
	t0 := s.login(t, "alice")
	t1, err := conf.TokenSource(s.ctx(t), expired(t0)).Token()
	require.NoError(t, err)
	s.clock.Advance(time.Second)
	t2, err := conf.TokenSource(s.ctx(t), expired(t1)).Token()
	require.NoError(t, err)
	assert.NotEqual(t, t0.RefreshToken, t1.RefreshToken)
	assert.NotEqual(t, t1.RefreshToken, t2.RefreshToken)
	assert.EqualValues(t, 2, s.refreshes.Load())
	status, body := s.me(t, oauth2.StaticTokenSource(t2))
	require.Equal(t, http.StatusOK, status)
	sid := body["session_id"]

	// t0 was rotated long ago: its replay is theft, and the session ends.
	s.clock.Advance(grace + time.Second)
	_, err = conf.TokenSource(s.ctx(t), expired(t0)).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode)
	assert.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
	assert.NotEmpty(t, re.ErrorDescription)

	sessions, err := s.iss.Sessions(t.Context(), "alice")
	require.NoError(t, err)
	for _, se := range sessions {
		assert.NotEqual(t, sid, se.ID, "the session is gone")
	}
	_, err = conf.TokenSource(s.ctx(t), expired(t2)).Token()
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode, "the current token died with its session")
}

func TestRetryWithinGraceConverges(t *testing.T) {
	s := newServer(t, time.Hour, false)
	conf := s.config(oauth2.AuthStyleInHeader, "")
	t0 := s.login(t, "alice")
	t1, err := conf.TokenSource(s.ctx(t), expired(t0)).Token()
	require.NoError(t, err)
	// The response was lost; the client retries with the same token.
	retry, err := conf.TokenSource(s.ctx(t), expired(t0)).Token()
	require.NoError(t, err)
	assert.Equal(t, t1.RefreshToken, retry.RefreshToken, "the retry gets the current token again")
}

func TestLogoutThenRefreshIsInvalidGrant(t *testing.T) {
	s := newServer(t, time.Hour, false)
	conf := s.config(oauth2.AuthStyleInParams, "")
	tok := s.login(t, "alice")
	resp, err := s.Client().PostForm(s.URL+"/token/revoke", map[string][]string{"token": {tok.RefreshToken}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = conf.TokenSource(s.ctx(t), expired(tok)).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode, "a 400 the client does not retry: no refresh loop after logout")
}
