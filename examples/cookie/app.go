package main

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/examples/internal/demo"
)

// appOptions are the example's settings.
type appOptions struct {
	// Config is the issuer's configuration (see run). Its ReuseGrace must
	// be > 0: cookie mode refreshes transparently, so two
	// tabs may present the same refresh token at once.
	Config          rtr.Config
	InsecureCookies bool
	Logger          *slog.Logger // nil: slog.Default()
}

// app is the web app: an rtr issuer and its cookie-mode HTTP layer, the
// pages and the demo users.
type app struct {
	iss   *rtr.Issuer
	auth  *rtr.HTTPAuth
	pages *template.Template
	users demo.Users
	log   *slog.Logger
}

//go:embed pages.html
var pagesHTML string

func newApp(o appOptions) (*app, error) {
	a := &app{users: demo.NewUsers(), log: o.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.pages = template.Must(template.New("pages").Funcs(template.FuncMap{
		"when": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }, // sessions are to the minute
	}).Parse(pagesHTML))

	var err error
	if a.iss, err = rtr.NewIssuer(o.Config); err != nil {
		return nil, err
	}
	// Cookie mode: both tokens in HttpOnly cookies, refreshed by the
	// middleware. Errors on pages render as pages (errorPage).
	opts := []rtr.HTTPOption{rtr.WithMode(rtr.CookieMode), rtr.WithErrorHandler(a.errorPage)}
	if o.InsecureCookies {
		opts = append(opts, rtr.WithInsecureCookies())
	}
	if a.auth, err = rtr.NewHTTPAuth(a.iss, opts...); err != nil {
		return nil, err
	}
	return a, nil
}

// routes wires the pages. Go 1.22 ServeMux patterns; rtr's middleware is
// plain func(http.Handler) http.Handler.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.auth.Optional(http.HandlerFunc(a.home)))
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("GET /api/me", a.auth.Require(http.HandlerFunc(a.me)))
	toHome := http.RedirectHandler("/", http.StatusSeeOther)
	mux.Handle("POST /logout", a.auth.LogoutHandler(toHome))
	mux.Handle("POST /logout-all", a.auth.LogoutAllHandler(toHome))
	return securityHeaders(mux)
}

// page is what the template renders.
type page struct {
	Subject   string
	SessionID string
	Sessions  []rtr.Session
	Error     string
	Username  string
}

// home shows who is logged in and their sessions, or the login form.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	c, ok := rtr.ClaimsFromContext(r.Context())
	if !ok {
		a.render(w, http.StatusOK, "login", page{})
		return
	}
	sessions, err := a.iss.Sessions(r.Context(), c.Subject)
	if err != nil {
		a.auth.WriteError(w, r, err)
		return
	}
	a.render(w, http.StatusOK, "home", page{Subject: c.Subject, SessionID: c.SessionID, Sessions: sessions})
}

func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "login", page{})
}

// login checks the form and starts a session.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		a.render(w, http.StatusBadRequest, "login", page{Error: "Could not read the form."})
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if !a.users.Check(username, password) {
		a.log.Info("login failed", "username", username)
		a.render(w, http.StatusUnauthorized, "login", page{Error: "Wrong username or password.", Username: username})
		return
	}
	if _, err := a.auth.Login(w, r, username); err != nil {
		a.auth.WriteError(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// me answers the identity as JSON.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	c, _ := rtr.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"subject": c.Subject, "session_id": c.SessionID})
}

// errorPage is rtr's error hook: JSON for /api/, a page otherwise. A 401
// shows the login form again.
func (a *app) errorPage(w http.ResponseWriter, r *http.Request, e *rtr.HTTPError) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		rtr.DefaultErrorHandler(w, r, e)
		return
	}
	if e.Status == http.StatusUnauthorized {
		a.render(w, e.Status, "login", page{Error: "Please log in: " + e.Description + "."})
		return
	}
	a.render(w, e.Status, "error", page{Error: e.Description})
}

func (a *app) render(w http.ResponseWriter, status int, name string, p page) {
	var b strings.Builder
	if err := a.pages.ExecuteTemplate(&b, name, p); err != nil {
		a.log.Error("template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // pages show who is logged in
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// securityHeaders sets the usual headers for HTML pages.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
