package routers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testkit"
)

// handlers are the application's handlers, the same for every router.
type handlers struct {
	auth *rtr.HTTPAuth
}

// login logs in the user named by the form field "user".
func (h handlers) login(w http.ResponseWriter, r *http.Request) {
	p, err := h.auth.Login(w, r, r.FormValue("user"))
	if err != nil {
		h.auth.WriteError(w, r, err)
		return
	}
	h.auth.WriteTokenResponse(w, p)
}

// item answers "subject:id", the id read by read (each router has its own
// way to expose path parameters).
func (h handlers) item(read func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := rtr.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s:%s", c.Subject, read(r))
	}
}

// home answers the subject or "anonymous".
func (h handlers) home(w http.ResponseWriter, r *http.Request) {
	if c, ok := rtr.ClaimsFromContext(r.Context()); ok {
		fmt.Fprint(w, c.Subject)
		return
	}
	fmt.Fprint(w, "anonymous")
}

// The same routes on three routers:
//
//	POST /login              h.login
//	GET  /                   Optional(home)
//	GET  /api/items/{id}     Require(item)   (middleware applied router-style)
//	POST /token/refresh      RefreshHandler
//	POST /logout             LogoutHandler
//	POST /logout-all         LogoutAllHandler
var routers = map[string]func(h handlers) http.Handler{
	"ServeMux": func(h handlers) http.Handler {
		m := http.NewServeMux()
		m.HandleFunc("POST /login", h.login)
		m.Handle("GET /{$}", h.auth.Optional(http.HandlerFunc(h.home)))
		m.Handle("GET /api/items/{id}", h.auth.Require(h.item(func(r *http.Request) string { return r.PathValue("id") })))
		m.Handle("POST /token/refresh", h.auth.RefreshHandler())
		m.Handle("POST /logout", h.auth.LogoutHandler(nil))
		m.Handle("POST /logout-all", h.auth.LogoutAllHandler(nil))
		return m
	},
	"chi": func(h handlers) http.Handler {
		r := chi.NewRouter()
		r.Post("/login", h.login)
		r.With(h.auth.Optional).Get("/", h.home)
		r.Route("/api", func(r chi.Router) {
			r.Use(h.auth.Require)
			r.Get("/items/{id}", h.item(func(r *http.Request) string { return chi.URLParam(r, "id") }))
		})
		r.Method(http.MethodPost, "/token/refresh", h.auth.RefreshHandler())
		r.Method(http.MethodPost, "/logout", h.auth.LogoutHandler(nil))
		r.Method(http.MethodPost, "/logout-all", h.auth.LogoutAllHandler(nil))
		return r
	},
	"gorilla/mux": func(h handlers) http.Handler {
		r := mux.NewRouter()
		r.HandleFunc("/login", h.login).Methods(http.MethodPost)
		r.Handle("/", h.auth.Optional(http.HandlerFunc(h.home))).Methods(http.MethodGet)
		api := r.PathPrefix("/api").Subrouter()
		api.Use(h.auth.Require)
		api.HandleFunc("/items/{id}", h.item(func(r *http.Request) string { return mux.Vars(r)["id"] })).Methods(http.MethodGet)
		r.Handle("/token/refresh", h.auth.RefreshHandler()).Methods(http.MethodPost)
		r.Handle("/logout", h.auth.LogoutHandler(nil)).Methods(http.MethodPost)
		r.Handle("/logout-all", h.auth.LogoutAllHandler(nil)).Methods(http.MethodPost)
		return r
	},
}

func setup(t *testing.T, router func(handlers) http.Handler, opts ...rtr.HTTPOption) (*httptest.Server, *testkit.Clock) {
	t.Helper()
	clk := testkit.NewClock(time.Now())
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     []byte("router-test-secret-0123456789abcdef"),
		AccessTTL:  time.Minute,
		RefreshTTL: time.Hour,
		ReuseGrace: rtr.RecommendedReuseGrace,
		Now:        clk.Now,
	})
	require.NoError(t, err)
	auth, err := rtr.NewHTTPAuth(iss, opts...)
	require.NoError(t, err)
	srv := httptest.NewTLSServer(router(handlers{auth: auth}))
	t.Cleanup(srv.Close)
	return srv, clk
}

func send(t *testing.T, c *http.Client, method, u string, body io.Reader, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestCookieModeOnEveryRouter(t *testing.T) {
	for name, router := range routers {
		t.Run(name, func(t *testing.T) {
			srv, clk := setup(t, router)
			jar, err := cookiejar.New(nil)
			require.NoError(t, err)
			c := *srv.Client()
			c.Jar = jar
			u, _ := url.Parse(srv.URL)

			status, _, body := send(t, &c, "GET", srv.URL+"/", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "anonymous", body)
			status, _, _ = send(t, &c, "GET", srv.URL+"/api/items/7", nil)
			require.Equal(t, http.StatusUnauthorized, status)

			status, _, _ = send(t, &c, "POST", srv.URL+"/login", strings.NewReader("user=alice"),
				"Content-Type", "application/x-www-form-urlencoded")
			require.Equal(t, http.StatusNoContent, status)
			require.Len(t, jar.Cookies(u), 2)

			status, hdr, body := send(t, &c, "GET", srv.URL+"/api/items/7", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "alice:7", body, "path parameters survive the middleware")
			assert.Contains(t, hdr.Values("Vary"), "Cookie")

			// Expired access cookie: refreshed transparently, parameters intact.
			before := jar.Cookies(u)
			clk.Advance(2 * time.Minute)
			status, hdr, body = send(t, &c, "GET", srv.URL+"/api/items/8", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "alice:8", body)
			assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
			assert.NotEqual(t, before, jar.Cookies(u), "new cookies")

			status, _, body = send(t, &c, "GET", srv.URL+"/", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "alice", body)

			status, _, _ = send(t, &c, "POST", srv.URL+"/token/refresh", nil)
			require.Equal(t, http.StatusNoContent, status)

			status, _, _ = send(t, &c, "POST", srv.URL+"/logout", nil, "Sec-Fetch-Site", "cross-site")
			require.Equal(t, http.StatusForbidden, status)

			status, _, _ = send(t, &c, "POST", srv.URL+"/logout", nil)
			require.Equal(t, http.StatusNoContent, status)
			assert.Empty(t, jar.Cookies(u))
			status, _, _ = send(t, &c, "GET", srv.URL+"/api/items/7", nil)
			require.Equal(t, http.StatusUnauthorized, status)
		})
	}
}

func TestBearerModeOnEveryRouter(t *testing.T) {
	for name, router := range routers {
		t.Run(name, func(t *testing.T) {
			srv, clk := setup(t, router, rtr.WithMode(rtr.BearerMode))
			c := srv.Client()

			status, _, body := send(t, c, "POST", srv.URL+"/login", strings.NewReader("user=bob"),
				"Content-Type", "application/x-www-form-urlencoded")
			require.Equal(t, http.StatusOK, status)
			var tok rtr.TokenResponse
			require.NoError(t, json.Unmarshal([]byte(body), &tok))
			bearer := func(s string) []string { return []string{"Authorization", "Bearer " + s} }

			status, _, body = send(t, c, "GET", srv.URL+"/api/items/9", nil, bearer(tok.AccessToken)...)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "bob:9", body)

			status, hdr, _ := send(t, c, "GET", srv.URL+"/api/items/9", nil)
			require.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, "Bearer", hdr.Get("WWW-Authenticate"))

			clk.Advance(2 * time.Minute)
			status, hdr, _ = send(t, c, "GET", srv.URL+"/api/items/9", nil, bearer(tok.AccessToken)...)
			require.Equal(t, http.StatusUnauthorized, status)
			assert.Contains(t, hdr.Get("WWW-Authenticate"), `error="invalid_token"`)

			status, _, body = send(t, c, "POST", srv.URL+"/token/refresh",
				strings.NewReader(`{"refresh_token":"`+tok.RefreshToken+`"}`), bearer(tok.AccessToken)...)
			require.Equal(t, http.StatusOK, status, body)
			var next rtr.TokenResponse
			require.NoError(t, json.Unmarshal([]byte(body), &next))

			status, _, body = send(t, c, "GET", srv.URL+"/api/items/10", nil, bearer(next.AccessToken)...)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "bob:10", body)

			status, _, _ = send(t, c, "POST", srv.URL+"/logout-all", nil, bearer(next.AccessToken)...)
			require.Equal(t, http.StatusNoContent, status)
			status, _, _ = send(t, c, "POST", srv.URL+"/token/refresh",
				strings.NewReader(`{"refresh_token":"`+next.RefreshToken+`"}`))
			require.Equal(t, http.StatusBadRequest, status)
		})
	}
}
