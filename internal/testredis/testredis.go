// Package testredis gives tests a Redis to talk to: miniredis always, a
// real server when RTR_REDIS_ADDR is set, and a real Redis Cluster when
// RTR_REDIS_CLUSTER_ADDRS is set (comma-separated seed addresses). .ci/run
// sets both.
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Environment variables naming real servers.
const (
	EnvAddr         = "RTR_REDIS_ADDR"
	EnvClusterAddrs = "RTR_REDIS_CLUSTER_ADDRS"
)

// Mini starts a miniredis server for the test and returns it with a client.
func Mini(t testing.TB) (*miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return m, c
}

// Standalone returns a client of the real server at $RTR_REDIS_ADDR, or
// skips the test when it is not set.
func Standalone(t testing.TB) redis.UniversalClient {
	t.Helper()
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		t.Skip(EnvAddr + " not set: no real Redis server")
	}
	return ping(t, redis.NewClient(&redis.Options{Addr: addr}))
}

// Cluster returns a client of the real cluster at $RTR_REDIS_CLUSTER_ADDRS,
// or skips the test when it is not set.
func Cluster(t testing.TB) redis.UniversalClient {
	t.Helper()
	addrs := os.Getenv(EnvClusterAddrs)
	if addrs == "" {
		t.Skip(EnvClusterAddrs + " not set: no real Redis Cluster")
	}
	return ping(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")}))
}

func ping(t testing.TB, c redis.UniversalClient) redis.UniversalClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("redis configured but not reachable: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix unique to this test run, so tests sharing a
// real server never see each other's keys.
func Prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "rtrtest:" + hex.EncodeToString(b[:]) + ":"
}
