package main

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/rtr-go/rtr"
)

func main() {
	h, err := newHandler()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Println("listening on http://" + srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

// newHandler builds the issuer, its HTTP layer in bearer mode and the routes.
func newHandler() (http.Handler, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil { // in production: 32 random bytes from your secret store
		return nil, err
	}
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(), // rtr.NewRedisStore(client) when you run more than one process
		Secret:     secret,
		ReuseGrace: rtr.RecommendedReuseGrace, // 10s: a client whose refresh response was lost may retry
	})
	if err != nil {
		return nil, err
	}
	auth, err := rtr.NewHTTPAuth(iss, rtr.WithMode(rtr.BearerMode))
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		user := r.PostFormValue("user")
		if !checkPassword(user, r.PostFormValue("password")) {
			http.Error(w, "wrong user or password", http.StatusUnauthorized)
			return
		}
		pair, err := auth.Login(w, r, user) // a new session; writes nothing in bearer mode
		if err != nil {
			auth.WriteError(w, r, err)
			return
		}
		auth.WriteTokenResponse(w, pair) // 200 {"access_token", "token_type", "expires_in", "refresh_token"}
	})
	mux.Handle("GET /me", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := rtr.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello, %s\n", claims.Subject)
	})))
	mux.Handle("POST /token/refresh", auth.RefreshHandler()) // rotates the refresh token
	mux.Handle("POST /logout", auth.LogoutHandler(nil))      // ends the session; 204
	return mux, nil
}

// checkPassword stands for your own user check (a password hash, OAuth,
// passkeys). Here every user's password is "password".
func checkPassword(user, password string) bool {
	return user != "" && subtle.ConstantTimeCompare([]byte(password), []byte("password")) == 1
}
