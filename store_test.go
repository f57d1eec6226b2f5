package rtr_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/internal/testredis"
	"github.com/rtr-go/rtr/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rtr.Store { return rtr.NewMemoryStore() })
}

func TestRedisStoreConformanceMiniredis(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rtr.Store {
		_, c := testredis.Mini(t)
		return rtr.NewRedisStore(c)
	})
}

func TestRedisStoreConformanceRealRedis(t *testing.T) {
	c := testredis.Standalone(t)
	storetest.Run(t, func(t *testing.T) rtr.Store { return rtr.NewRedisStore(c, rtr.WithKeyPrefix(testredis.Prefix())) })
}

func TestRedisStoreConformanceRealCluster(t *testing.T) {
	c := testredis.Cluster(t)
	storetest.Run(t, func(t *testing.T) rtr.Store { return rtr.NewRedisStore(c, rtr.WithKeyPrefix(testredis.Prefix())) })
}

// newMiniStore is a Redis store on a fresh miniredis.
func newMiniStore(t *testing.T) (*rtr.RedisStore, redis.UniversalClient) {
	_, c := testredis.Mini(t)
	return rtr.NewRedisStore(c), c
}
