// Command rtrload is the load and attack simulator of rtr.
//
// It serves an application through rtr's HTTP middleware, in cookie mode
// and in bearer mode at once, on a real Redis (standalone or Cluster), and
// drives it over loopback HTTP with simulated users, each with several
// devices: page loads of parallel requests, refreshes (two tabs at once,
// sometimes), logouts and logout-everywhere. An attacker steals refresh
// tokens from some of the devices and replays them after random delays.
//
// Every request is logged; when the run ends an oracle replays the log
// and checks that
//
//   - every replay of a refresh token presented at least ReuseGrace after
//     that token was rotated is refused and its session revoked (100 %);
//   - no legitimate client is ever logged out by its own concurrent
//     requests or retries (0 false logouts);
//   - no two different refresh tokens of one session are ever both valid
//     (0 forks: one successor per generation, and the store agrees);
//   - no request is authenticated as the wrong subject (0).
//
// It prints these counts and the request rate, and exits 1 if any count
// is wrong. CI runs it for about 30 s (.ci/steps/60-load.sh); for a long
// run:
//
//	go run ./cmd/rtrload -redis 127.0.0.1:6379 -duration 10m -users 500
//	go run ./cmd/rtrload -cluster 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103 -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	cfg := defaultConfig()
	redisAddr := flag.String("redis", os.Getenv("RTR_REDIS_ADDR"), "standalone Redis address (default $RTR_REDIS_ADDR)")
	clusterAddrs := flag.String("cluster", "", "comma-separated Redis Cluster seed addresses (instead of -redis)")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the users act")
	flag.IntVar(&cfg.Users, "users", cfg.Users, "simulated users (half in cookie mode, half in bearer mode, unless -mode)")
	flag.IntVar(&cfg.Devices, "devices", cfg.Devices, "devices (sessions) per user")
	flag.StringVar(&cfg.Mode, "mode", cfg.Mode, "cookie, bearer or both")
	flag.DurationVar(&cfg.AccessTTL, "access-ttl", cfg.AccessTTL, "access-token lifetime (short: many refreshes)")
	flag.DurationVar(&cfg.Grace, "grace", cfg.Grace, "Config.ReuseGrace")
	flag.Float64Var(&cfg.VictimShare, "victims", cfg.VictimShare, "share of devices the attacker steals from")
	flag.DurationVar(&cfg.StealEvery, "steal-every", cfg.StealEvery, "how often the attacker steals a refresh token")
	flag.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed (0: from the clock)")
	flag.BoolVar(&cfg.InstantRevocation, "instant-revocation", false,
		"turn Config.InstantRevocation on and serve pages from a second issuer on its own client; the oracle checks that no page is served for a session ended more than -revocation-bound earlier")
	flag.DurationVar(&cfg.RevocationBound, "revocation-bound", cfg.RevocationBound, "with -instant-revocation: how long after its end a session may still be served")
	flag.Parse()

	var client redis.UniversalClient
	switch {
	case *clusterAddrs != "":
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(*clusterAddrs, ","), ContextTimeoutEnabled: true, PoolSize: 64})
		cfg.Backend = "cluster " + *clusterAddrs
	case *redisAddr != "":
		client = redis.NewClient(&redis.Options{Addr: *redisAddr, ContextTimeoutEnabled: true, PoolSize: 64})
		cfg.Backend = "redis " + *redisAddr
	default:
		fmt.Fprintln(os.Stderr, "rtrload: give -redis or -cluster (or set RTR_REDIS_ADDR)")
		os.Exit(2)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := client.Ping(ctx).Err()
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rtrload: %s not reachable: %v\n", cfg.Backend, err)
		os.Exit(2)
	}

	store := redisStore(&cfg, client)
	if cfg.InstantRevocation {
		var pages redis.UniversalClient
		if *clusterAddrs != "" {
			pages = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(*clusterAddrs, ","), ContextTimeoutEnabled: true, PoolSize: 64})
		} else {
			pages = redis.NewClient(&redis.Options{Addr: *redisAddr, ContextTimeoutEnabled: true, PoolSize: 64})
		}
		defer pages.Close()
		cfg.PageStore = redisStore(&cfg, pages)
	}
	rep, err := run(context.Background(), cfg, store)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rtrload: %v\n", err)
		os.Exit(2)
	}
	rep.print(os.Stdout)
	if !rep.ok() {
		os.Exit(1)
	}
}
