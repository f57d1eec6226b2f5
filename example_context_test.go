package rtr_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/rtr-go/rtr"
)

// A handler behind Require, tested without tokens: the identity goes
// straight into the request context. (rtrtest.WithClaims builds complete
// claims, extra claims included.)
func ExampleContextWithClaims() {
	me := func(w http.ResponseWriter, r *http.Request) {
		c, ok := rtr.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, c.Subject)
	}

	claims := &rtr.Claims{SessionID: "s1"}
	claims.Subject = "alice"
	req := httptest.NewRequest("GET", "/me", nil)
	req = req.WithContext(rtr.ContextWithClaims(req.Context(), claims))

	rec := httptest.NewRecorder()
	me(rec, req)
	fmt.Println(rec.Code, rec.Body)
	// Output: 200 alice
}
