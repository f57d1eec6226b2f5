// Command basic walks through rtr's policy step by step: login, a
// rotation, a grace retry, a stolen token replayed and caught, the session
// revoked. It uses the in-memory store, or Redis when REDIS_URL is set
// (for example REDIS_URL=redis://127.0.0.1:6379/0). The same walk on
// PostgreSQL is examples/postgres, a module of its own so that this one
// needs no database driver: DATABASE_URL=postgres://... go run . there.
//
//	go run ./examples/basic
//
// Time is simulated with an injected clock, so the demo needs no sleeping.
// It never prints a token: only lengths, ids and generations.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
)

// demoClock is a clock the demo moves forward by hand.
type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *demoClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *demoClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	fmt.Printf("\n   ... %v later ...\n", d)
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	store, describe, err := openStore(ctx)
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	clock := &demoClock{t: time.Now()}

	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      store,
		Secret:     secret,
		Issuer:     "https://demo.example",
		AccessTTL:  15 * time.Minute,
		RefreshTTL: 14 * 24 * time.Hour,
		ReuseGrace: rtr.RecommendedReuseGrace,
		Now:        clock.Now,
		Claims: func(ctx context.Context, subject string) (map[string]any, error) {
			return map[string]any{"roles": []string{"reader"}}, nil
		},
		OnEvent: func(ctx context.Context, e rtr.Event) {
			fmt.Printf("   [event] %-14s subject=%s session=%s generation=%d\n", e.Type, e.Subject, short(e.SessionID), e.Generation)
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("rtr demo on %s, ReuseGrace %v\n", describe, rtr.RecommendedReuseGrace)

	step(1, "alice logs in on her laptop and on her phone")
	laptop, err := iss.Issue(ctx, "alice", rtr.WithMeta("device", "laptop"))
	if err != nil {
		return err
	}
	phone, err := iss.Issue(ctx, "alice", rtr.WithMeta("device", "phone"))
	if err != nil {
		return err
	}
	describePair("laptop", laptop)
	c, err := iss.Verifier().Verify(ctx, laptop.AccessToken)
	if err != nil {
		return err
	}
	roles, _ := c.Get("roles")
	fmt.Printf("   access token verifies statelessly: subject=%s session=%s roles=%v\n", c.Subject, short(c.SessionID), roles)

	step(2, "the laptop's access token expires; it refreshes (rotation)")
	clock.advance(20 * time.Minute)
	if _, err := iss.Verifier().Verify(ctx, laptop.AccessToken); errors.Is(err, rtr.ErrTokenExpired) {
		fmt.Println("   old access token: expired, as it should be")
	}
	stale := laptop.RefreshToken
	laptop, err = iss.Refresh(ctx, laptop.RefreshToken)
	if err != nil {
		return err
	}
	describePair("laptop", laptop)

	step(3, "a second tab sends the old refresh token 2s later (grace retry)")
	clock.advance(2 * time.Second)
	retry, err := iss.Refresh(ctx, stale)
	if err != nil {
		return err
	}
	fmt.Printf("   answered with the current refresh token again: %v (nothing rotated, nobody logged out)\n",
		retry.RefreshToken == laptop.RefreshToken)

	step(4, "a thief replays the stolen old refresh token a minute later")
	clock.advance(time.Minute)
	_, err = iss.Refresh(ctx, stale)
	fmt.Printf("   Refresh: %v\n", err)
	if !errors.Is(err, rtr.ErrTokenReused) {
		return fmt.Errorf("expected reuse detection, got %v", err)
	}

	step(5, "the whole laptop session is revoked: alice's current token is dead too")
	_, err = iss.Refresh(ctx, laptop.RefreshToken)
	fmt.Printf("   Refresh with the laptop's newest token: %v\n", err)
	if !errors.Is(err, rtr.ErrSessionNotFound) {
		return fmt.Errorf("expected the session to be gone, got %v", err)
	}

	step(6, "the phone's session is independent and still works")
	phone, err = iss.Refresh(ctx, phone.RefreshToken)
	if err != nil {
		return err
	}
	describePair("phone", phone)
	sessions, err := iss.Sessions(ctx, "alice")
	if err != nil {
		return err
	}
	for _, s := range sessions {
		fmt.Printf("   live session %s device=%s last used %s expires %s\n",
			short(s.ID), s.Meta["device"], s.LastUsedAt.Format(time.DateTime), s.ExpiresAt.Format(time.DateTime))
	}

	step(7, "alice logs out everywhere")
	if err := iss.RevokeAll(ctx, "alice"); err != nil {
		return err
	}
	sessions, err = iss.Sessions(ctx, "alice")
	if err != nil {
		return err
	}
	fmt.Printf("   sessions left: %d\n", len(sessions))
	return nil
}

func openStore(ctx context.Context) (rtr.Store, string, error) {
	url := os.Getenv("REDIS_URL")
	if url == "" && os.Getenv("DATABASE_URL") != "" {
		fmt.Println("DATABASE_URL is set: the PostgreSQL variant of this demo is examples/postgres (cd examples/postgres && go run .)")
	}
	if url == "" {
		return rtr.NewMemoryStore(), "the in-memory store", nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, "", fmt.Errorf("REDIS_URL: %w", err)
	}
	client := redis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, "", fmt.Errorf("redis: %w", err)
	}
	return rtr.NewRedisStore(client, rtr.WithKeyPrefix("rtr-demo:")), "Redis at " + opts.Addr, nil
}

func step(n int, what string) { fmt.Printf("\n%d. %s\n", n, what) }

func describePair(device string, p rtr.Pair) {
	fmt.Printf("   %s: session=%s access token %d bytes (expires %s), refresh token %d bytes (expires %s)\n",
		device, short(p.SessionID), len(p.AccessToken), p.AccessExpiresAt.Format(time.TimeOnly),
		len(p.RefreshToken), p.RefreshExpiresAt.Format(time.DateOnly))
}

// short abbreviates a session id for display; ids are not secrets.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
