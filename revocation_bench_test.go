package rtr_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testredis"
)

// BenchmarkVerifyInstantRevocation compares Verify with the feature off
// and on (an empty set, and one holding 100,000 revocations), in one run,
// serially and in parallel. The target is on <= 1.10x off.
func BenchmarkVerifyInstantRevocation(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		on      bool
		revoked int
	}{{"off", false, 0}, {"on", true, 0}, {"on-100k-revoked", true, 100_000}} {
		store := rtr.NewMemoryStore()
		cfg := benchConfig(store)
		cfg.InstantRevocation = tc.on
		iss, err := rtr.NewIssuer(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if tc.revoked > 0 {
			revs := make([]rtr.Revocation, tc.revoked)
			for i := range revs {
				revs[i] = rtr.Revocation{Subject: fmt.Sprint("user", i), SessionID: fmt.Sprint("s", i), Until: time.Now().Add(time.Hour)}
			}
			if err := store.PublishRevocations(ctx, time.Now(), revs); err != nil {
				b.Fatal(err)
			}
		}
		p, err := iss.Issue(ctx, benchSubject)
		if err != nil {
			b.Fatal(err)
		}
		v := iss.Verifier()
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := v.Verify(ctx, p.AccessToken)
				if err != nil {
					b.Fatal(err)
				}
				benchSinkClaims = c
			}
		})
		b.Run(tc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(ctx, p.AccessToken); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		_ = iss.Close()
	}
}

// BenchmarkRevocationPropagation measures, on a real Redis and a real
// Cluster, the time from the return of Revoke in one process (issuer a,
// its own client) to the first refusal by another (issuer b, another
// client), polling b's Verify without pause (the figure has no polling granularity; it costs a core meanwhile). It reports p50, p99 and max.
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, tc := range []struct {
		name   string
		client func(testing.TB) redis.UniversalClient
	}{{"standalone", testredis.Standalone}, {"cluster", testredis.Cluster}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			prefix := testredis.Prefix()
			mk := func() *rtr.Issuer {
				cfg := benchConfig(rtr.NewRedisStore(tc.client(b), rtr.WithKeyPrefix(prefix)))
				cfg.InstantRevocation = true
				iss, err := rtr.NewIssuer(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = iss.Close() })
				for !iss.Verifier().RevocationStatus().InSync {
					time.Sleep(time.Millisecond)
				}
				return iss
			}
			a, v := mk(), mk().Verifier()
			var lat []time.Duration
			for b.Loop() {
				p, err := a.Issue(ctx, benchSubject)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Revoke(ctx, p.RefreshToken); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				for {
					_, err := v.Verify(ctx, p.AccessToken)
					if errors.Is(err, rtr.ErrTokenRevoked) {
						break
					}
					if time.Since(t0) > 10*time.Second {
						b.Fatal("not propagated in 10 s")
					}
					runtime.Gosched()
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}
