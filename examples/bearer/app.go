package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo"
)

// appOptions are the example's settings.
type appOptions struct {
	// Config is the issuer's configuration (see run). A ReuseGrace > 0
	// lets a client whose refresh response was lost retry.
	Config          rtr.Config
	RefreshCookie   bool
	InsecureCookies bool
	Logger          *slog.Logger // nil: slog.Default()
}

// app is the JSON API: an rtr issuer, its bearer-mode HTTP layer and the
// demo users.
type app struct {
	iss   *rtr.Issuer
	auth  *rtr.HTTPAuth
	users demo.Users
	log   *slog.Logger
}

func newApp(o appOptions) (*app, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	iss, err := rtr.NewIssuer(o.Config)
	if err != nil {
		return nil, err
	}
	// Bearer mode: the access token in the Authorization header, the
	// refresh token in the JSON body or, with RefreshCookie, in a cookie.
	opts := []rtr.HTTPOption{rtr.WithMode(rtr.BearerMode), rtr.WithRealm("rtr-example")}
	if o.RefreshCookie {
		// "/" because the cookie must reach both /token/refresh and /logout.
		opts = append(opts, rtr.WithRefreshCookie("/"))
	}
	if o.InsecureCookies {
		opts = append(opts, rtr.WithInsecureCookies())
	}
	auth, err := rtr.NewHTTPAuth(iss, opts...)
	if err != nil {
		return nil, err
	}
	return &app{iss: iss, auth: auth, users: demo.NewUsers(), log: log}, nil
}

// routes wires the API with Go 1.22 ServeMux patterns.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("GET /api/me", a.auth.Require(http.HandlerFunc(a.me)))
	mux.Handle("GET /api/sessions", a.auth.Require(http.HandlerFunc(a.sessions)))
	mux.Handle("POST /token/refresh", a.auth.RefreshHandler())
	mux.Handle("POST /token/revoke", a.auth.RevokeHandler())
	mux.Handle("POST /logout", a.auth.LogoutHandler(nil))
	mux.Handle("POST /logout-all", a.auth.LogoutAllHandler(nil))
	mux.Handle("GET /.well-known/jwks.json", a.iss.JWKSHandler())
	return mux
}

// login checks {"username","password"} and answers the token response.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error": "invalid_request", "error_description": `the body must be JSON {"username": ..., "password": ...}`})
		return
	}
	if !a.users.Check(req.Username, req.Password) {
		a.log.Info("login failed", "username", req.Username)
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtr-example"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_grant", "error_description": "wrong username or password"})
		return
	}
	p, err := a.auth.Login(w, r, req.Username)
	if err != nil {
		a.auth.WriteError(w, r, err)
		return
	}
	// 200 {"access_token", "token_type", "expires_in", "refresh_token"}
	// with Cache-Control: no-store, as the refresh endpoint answers.
	a.auth.WriteTokenResponse(w, p)
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	c, _ := rtr.ClaimsFromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"subject": c.Subject, "session_id": c.SessionID})
}

// sessions lists the user's devices.
func (a *app) sessions(w http.ResponseWriter, r *http.Request) {
	c, _ := rtr.ClaimsFromContext(r.Context())
	list, err := a.iss.Sessions(r.Context(), c.Subject)
	if err != nil {
		a.auth.WriteError(w, r, err)
		return
	}
	type session struct {
		ID         string            `json:"id"`
		Current    bool              `json:"current"`
		CreatedAt  time.Time         `json:"created_at"`
		LastUsedAt time.Time         `json:"last_used_at"`
		ExpiresAt  time.Time         `json:"expires_at"`
		Meta       map[string]string `json:"meta,omitempty"`
	}
	out := make([]session, len(list))
	for i, s := range list {
		out[i] = session{s.ID, s.ID == c.SessionID, s.CreatedAt, s.LastUsedAt, s.ExpiresAt, s.Meta}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
