package rtr_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rtr-go/rtr"
)

// exampleIssuer is the set-up every example shares. Real applications load
// the secret from their secret store; it must be at least 32 random bytes.
func exampleIssuer(now func() time.Time) *rtr.Issuer {
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      rtr.NewMemoryStore(),
		Secret:     []byte("example-secret-at-least-32-bytes-long"),
		Issuer:     "https://auth.example",
		ReuseGrace: rtr.RecommendedReuseGrace,
		Now:        now,
		OnEvent: func(ctx context.Context, e rtr.Event) {
			if e.Type == rtr.EventReuseDetected {
				fmt.Println("alert: refresh token reuse for", e.Subject)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	return iss
}

func ExampleIssuer_Issue() {
	ctx := context.Background()
	iss := exampleIssuer(time.Now)

	// After your own login check succeeds:
	pair, err := iss.Issue(ctx, "user-42", rtr.WithMeta("user_agent", "Firefox"))
	if err != nil {
		panic(err)
	}
	claims, err := iss.Verifier().Verify(ctx, pair.AccessToken)
	if err != nil {
		panic(err)
	}
	fmt.Println("subject:", claims.Subject)
	fmt.Println("same session:", claims.SessionID == pair.SessionID)
	// Output:
	// subject: user-42
	// same session: true
}

func ExampleIssuer_Refresh() {
	ctx := context.Background()
	iss := exampleIssuer(time.Now)
	pair, _ := iss.Issue(ctx, "user-42")

	next, err := iss.Refresh(ctx, pair.RefreshToken)
	switch {
	case errors.Is(err, rtr.ErrStoreUnavailable):
		fmt.Println("try again later; keep the tokens") // answer 503
	case err != nil:
		fmt.Println("log in again") // answer 401
	default:
		fmt.Println("rotated:", next.RefreshToken != pair.RefreshToken)
	}
	// Output:
	// rotated: true
}

// A refresh token that has been rotated is spent. Presenting it again
// outside the grace window is treated as theft: the session is revoked for
// everybody holding any of its tokens.
func ExampleIssuer_Refresh_reuseDetection() {
	ctx := context.Background()
	now := time.Now()
	iss := exampleIssuer(func() time.Time { return now })

	pair, _ := iss.Issue(ctx, "user-42")
	stolen := pair.RefreshToken
	current, _ := iss.Refresh(ctx, pair.RefreshToken) // the user moves on

	now = now.Add(time.Minute) // past the grace window
	_, err := iss.Refresh(ctx, stolen)
	fmt.Println("replay:", errors.Is(err, rtr.ErrTokenReused))

	_, err = iss.Refresh(ctx, current.RefreshToken)
	fmt.Println("session revoked:", errors.Is(err, rtr.ErrSessionNotFound))
	// Output:
	// alert: refresh token reuse for user-42
	// replay: true
	// session revoked: true
}

// Within the grace window, the token rotated just before gets the current
// pair again, so two tabs refreshing at once both stay logged in.
func ExampleIssuer_Refresh_graceRetry() {
	ctx := context.Background()
	iss := exampleIssuer(time.Now)
	pair, _ := iss.Issue(ctx, "user-42")

	tab1, _ := iss.Refresh(ctx, pair.RefreshToken)
	tab2, err := iss.Refresh(ctx, pair.RefreshToken)
	fmt.Println(err == nil, tab1.RefreshToken == tab2.RefreshToken)
	// Output: true true
}

func ExampleIssuer_Sessions() {
	ctx := context.Background()
	iss := exampleIssuer(time.Now)
	_, _ = iss.Issue(ctx, "user-42", rtr.WithMeta("device", "laptop"))
	_, _ = iss.Issue(ctx, "user-42", rtr.WithMeta("device", "phone"))

	sessions, _ := iss.Sessions(ctx, "user-42")
	for _, s := range sessions {
		fmt.Println(s.Meta["device"])
	}
	_ = iss.RevokeAll(ctx, "user-42") // log out everywhere
	sessions, _ = iss.Sessions(ctx, "user-42")
	fmt.Println(len(sessions))
	// Output:
	// laptop
	// phone
	// 0
}
