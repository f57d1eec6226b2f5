// Command postgres is examples/basic's walk through rtr's policy on the
// PostgreSQL store: login, a rotation, a grace retry, a stolen token
// replayed and caught. It lives in a module of its own so that the root
// module never depends on a database driver.
//
//	DATABASE_URL=postgres://user:pass@127.0.0.1:5432/app go run .
//
// It creates the store's schema (tables prefixed rtr_demo_) if missing.
// It never prints a token: only lengths, ids and generations.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/pgstore"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("set DATABASE_URL to a postgres:// URL (examples/basic runs without a database)")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.WithTablePrefix("rtr_demo_"))
	if err != nil {
		return err
	}
	if err := store.EnsureSchema(ctx); err != nil {
		return err
	}

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	now := time.Now()
	iss, err := rtr.NewIssuer(rtr.Config{
		Store: store, Secret: secret, ReuseGrace: 10 * time.Second,
		Now: func() time.Time { return now },
		OnEvent: func(_ context.Context, e rtr.Event) {
			fmt.Printf("   event %s: session=%.8s generation=%d\n", e.Type, e.SessionID, e.Generation)
		},
	})
	if err != nil {
		return err
	}

	fmt.Println("1. login")
	p1, err := iss.Issue(ctx, "alice")
	if err != nil {
		return err
	}
	fmt.Printf("   refresh token %d bytes, session %.8s\n", len(p1.RefreshToken), p1.SessionID)

	fmt.Println("2. refresh a minute later: rotated")
	now = now.Add(time.Minute)
	p2, err := iss.Refresh(ctx, p1.RefreshToken)
	if err != nil {
		return err
	}

	fmt.Println("3. a second tab presents the old token 2 s later: a retry, same generation")
	now = now.Add(2 * time.Second)
	if _, err := iss.Refresh(ctx, p1.RefreshToken); err != nil {
		return err
	}

	fmt.Println("4. the old token replayed after the grace: theft, the session ends")
	now = now.Add(time.Minute)
	_, err = iss.Refresh(ctx, p1.RefreshToken)
	fmt.Printf("   %v\n", err)
	_, err = iss.Refresh(ctx, p2.RefreshToken)
	fmt.Printf("   the current token too: %v\n", err)

	n, err := store.Cleanup(ctx, time.Now(), 1000)
	if err != nil {
		return err
	}
	fmt.Printf("5. Cleanup removed %d expired sessions\n", n)
	return nil
}
