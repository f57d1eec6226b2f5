package rtr_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rtr-go/rtr"
)

// exampleSecret stands in for 32+ random bytes from your secret store.
var exampleSecret = []byte("replace-me-with-32-random-bytes!")

// Cookie mode: both tokens in HttpOnly cookies, refreshed transparently by
// the middleware. Cookie mode needs a non-zero ReuseGrace.
func ExampleNewHTTPAuth_cookie() {
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(), // rtr.NewRedisStore(client) in production
		Secret:     exampleSecret,
		ReuseGrace: rtr.RecommendedReuseGrace,
	})
	if err != nil {
		panic(err)
	}
	auth, err := rtr.NewHTTPAuth(iss) // rtr.WithMode(rtr.CookieMode) is the default
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the user's password first, then:
		if _, err := auth.Login(w, r, "alice"); err != nil {
			auth.WriteError(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.Handle("GET /api/me", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := rtr.ClaimsFromContext(r.Context())
		fmt.Fprintln(w, "hello", claims.Subject)
	})))
	mux.Handle("POST /logout", auth.LogoutHandler(http.RedirectHandler("/", http.StatusSeeOther)))
	mux.Handle("POST /logout-all", auth.LogoutAllHandler(http.RedirectHandler("/", http.StatusSeeOther)))

	// Drive it like a browser.
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, _ := browser.Post(srv.URL+"/login", "", nil)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		fmt.Println(resp.StatusCode, c.Name, "HttpOnly:", c.HttpOnly, "Secure:", c.Secure)
	}
	resp, _ = browser.Get(srv.URL + "/api/me")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 303 __Host-rtr_access HttpOnly: true Secure: true
	// 303 __Host-rtr_refresh HttpOnly: true Secure: true
	// 200 hello alice
}

// Bearer mode: the client sends "Authorization: Bearer" and calls the
// refresh endpoint itself after a 401.
func ExampleNewHTTPAuth_bearer() {
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     exampleSecret,
		ReuseGrace: rtr.RecommendedReuseGrace,
	})
	if err != nil {
		panic(err)
	}
	auth, err := rtr.NewHTTPAuth(iss, rtr.WithMode(rtr.BearerMode))
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the user's password first, then:
		p, err := auth.Login(w, r, "alice")
		if err != nil {
			auth.WriteError(w, r, err)
			return
		}
		auth.WriteTokenResponse(w, p) // 200 {"access_token", "token_type", "expires_in", "refresh_token"}
	})
	mux.Handle("GET /api/me", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := rtr.ClaimsFromContext(r.Context())
		fmt.Fprintln(w, "hello", claims.Subject)
	})))
	mux.Handle("POST /token/refresh", auth.RefreshHandler())
	mux.Handle("POST /logout", auth.LogoutHandler(nil))

	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, _ := http.Post(srv.URL+"/login", "application/json", strings.NewReader(`{}`))
	var tok rtr.TokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	// expires_in counts whole seconds left (899 when the clock ticked over a
	// second since minting), so print the lifetime to the minute.
	lifetime := (time.Duration(tok.ExpiresIn) * time.Second).Round(time.Minute)
	fmt.Println(resp.StatusCode, tok.TokenType, lifetime, resp.Header.Get("Cache-Control"))

	req, _ := http.NewRequest("GET", srv.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, _ = http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))

	resp, _ = http.Get(srv.URL + "/api/me")
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	resp, _ = http.Post(srv.URL+"/token/refresh", "application/json",
		strings.NewReader(`{"refresh_token":"`+tok.RefreshToken+`"}`))
	var next rtr.TokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&next)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, next.RefreshToken != tok.RefreshToken)
	// Output:
	// 200 Bearer 15m0s no-store
	// 200 hello alice
	// 401 Bearer
	// 200 true
}
