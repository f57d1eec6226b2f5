// Command measure prints the size figures of the benchmark table
// (BENCHMARKS.md) as Go benchmark result lines, so bench/run.sh reads them together
// with `go test -bench` output:
//
//   - Redis bytes per session: sessions created through Issue, MEMORY
//     USAGE summed over every key they occupy (one hash per subject),
//     divided by the number of sessions;
//   - memory-store heap bytes per session: HeapAlloc after a full GC,
//     before and after 100,000 sessions created through Issue;
//   - Redis round trips per Issue, Refresh, Revoke and RevokeAll, counted
//     by a go-redis hook after the scripts are cached.
//
// Usage: go run ./bench/measure -redis 127.0.0.1:6379
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
)

var secret = []byte("rtr benchmark secret: 0123456789abcdef0123456789abcdef")

func main() {
	addr := flag.String("redis", os.Getenv("RTR_REDIS_ADDR"), "Redis address (host:port); empty skips the Redis figures")
	db := flag.Int("db", 9, "Redis logical database for the memory figures; it must hold no key under -prefix")
	prefix := flag.String("prefix", rtr.DefaultRedisKeyPrefix, "key prefix of the sessions measured (its length counts in the figure)")
	redisSessions := flag.Int("redis-sessions", 10000, "sessions created for the Redis memory figure")
	memSessions := flag.Int("mem-sessions", 100000, "sessions created for the memory-store heap figure")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("measure: ")

	// The heap figure first, while this process's heap is still small.
	memoryStore(*memSessions)
	if *addr == "" {
		log.Print("no Redis address: skipping the Redis figures")
		return
	}
	c := redis.NewClient(&redis.Options{Addr: *addr, DB: *db, PoolSize: 64})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		log.Fatalf("redis %s: %v", *addr, err)
	}
	if keys := keysUnder(c, *prefix); len(keys) > 0 {
		log.Fatalf("redis %s db %d already holds %d keys under %q: choose another -db or -prefix", *addr, *db, len(keys), *prefix)
	}
	for _, per := range []int{1, 5} {
		redisMemory(c, *prefix, *redisSessions, per)
	}
	roundTrips(c)
}

func newIssuer(store rtr.Store) *rtr.Issuer {
	iss, err := rtr.NewIssuer(rtr.Config{
		Store:      store,
		Secret:     secret,
		Issuer:     "https://auth.example.com",
		Audience:   []string{"https://api.example.com"},
		ReuseGrace: rtr.RecommendedReuseGrace,
	})
	if err != nil {
		log.Fatal(err)
	}
	return iss
}

// subject returns the subject of session i: "user-" and six digits, like
// a typical numeric user id; per sessions share a subject.
func subject(i, per int) string { return "user-" + strconv.Itoa(100000+i/per) }

func result(name string, value float64, unit string) {
	fmt.Printf("Benchmark%s \t       1\t%12.1f %s\n", name, value, unit)
}

// heapAlloc returns HeapAlloc after two full collections.
func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func memoryStore(n int) {
	ctx := context.Background()
	before := heapAlloc()
	store := rtr.NewMemoryStore()
	iss := newIssuer(store)
	tokens := make([]string, n)
	for i := range n {
		p, err := iss.Issue(ctx, subject(i, 1))
		if err != nil {
			log.Fatal(err)
		}
		tokens[i] = p.RefreshToken
	}
	// The refresh tokens are the caller's, not the store's: measured
	// apart and subtracted.
	withTokens := heapAlloc()
	held := tokensHeap(tokens)
	result("MemoryStoreHeapPerSession/issued", (float64(withTokens-before)-held)/float64(n), "B/session")
	for i, tok := range tokens {
		p, err := iss.Refresh(ctx, tok)
		if err != nil {
			log.Fatal(err)
		}
		tokens[i] = p.RefreshToken
	}
	after := heapAlloc()
	result("MemoryStoreHeapPerSession/rotated", (float64(after-before)-tokensHeap(tokens))/float64(n), "B/session")
	if store.Len() != n {
		log.Fatalf("memory store holds %d sessions, want %d", store.Len(), n)
	}
	runtime.KeepAlive(store)
	runtime.KeepAlive(tokens)
}

// tokensHeap is the heap the tokens slice and its strings take, as the
// allocator rounds them (size classes).
func tokensHeap(tokens []string) float64 {
	total := sizeClass(uintptr(cap(tokens)) * 16)
	for _, t := range tokens {
		total += sizeClass(uintptr(len(t)))
	}
	return float64(total)
}

// sizeClass rounds a small allocation up as Go's allocator does.
func sizeClass(n uintptr) uintptr {
	for _, c := range []uintptr{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048} {
		if n <= c {
			return c
		}
	}
	return (n + 8191) &^ 8191
}

// parallel runs fn(i) for i in [0, n) on 64 goroutines.
func parallel(n int, fn func(i int) error) {
	var wg sync.WaitGroup
	var next atomic.Int64
	var failed atomic.Value
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		log.Fatal(err)
	}
}

func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "rtrbench:m" + hex.EncodeToString(b[:]) + ":"
}

// keysUnder lists every key under prefix.
func keysUnder(c *redis.Client, prefix string) []string {
	ctx := context.Background()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		log.Fatal(err)
	}
	return keys
}

// usage sums MEMORY USAGE (all samples) over keys.
func usage(c *redis.Client, keys []string) int64 {
	ctx := context.Background()
	var total int64
	for start := 0; start < len(keys); start += 1000 {
		pipe := c.Pipeline()
		var cmds []*redis.IntCmd
		for _, k := range keys[start:min(start+1000, len(keys))] {
			cmds = append(cmds, pipe.MemoryUsage(ctx, k, 0))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			log.Fatal(err)
		}
		for _, cmd := range cmds {
			total += cmd.Val()
		}
	}
	return total
}

func deleteKeys(c *redis.Client, keys []string) {
	ctx := context.Background()
	for start := 0; start < len(keys); start += 1000 {
		c.Unlink(ctx, keys[start:min(start+1000, len(keys))]...)
	}
}

func redisMemory(c *redis.Client, prefix string, n, per int) {
	ctx := context.Background()
	iss := newIssuer(rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)))
	tokens := make([]string, n)
	parallel(n, func(i int) error {
		p, err := iss.Issue(ctx, subject(i, per))
		tokens[i] = p.RefreshToken
		return err
	})
	keys := keysUnder(c, prefix)
	result(fmt.Sprintf("RedisBytesPerSession/per-subject=%d/issued", per), float64(usage(c, keys))/float64(n), "B/session")
	// After one rotation each session also holds its previous jti.
	parallel(n, func(i int) error {
		_, err := iss.Refresh(ctx, tokens[i])
		return err
	})
	result(fmt.Sprintf("RedisBytesPerSession/per-subject=%d/rotated", per), float64(usage(c, keys))/float64(n), "B/session")
	deleteKeys(c, keys)
}

// counter is a go-redis hook counting round trips (a pipeline is one).
type counter struct{ n atomic.Int64 }

func (h *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func roundTrips(c0 *redis.Client) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: c0.Options().Addr})
	defer c.Close()
	h := &counter{}
	c.AddHook(h)
	prefix := randomPrefix()
	iss := newIssuer(rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)))
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	// Warm-up: every script once, so each is cached (EVALSHA hits).
	p, err := iss.Issue(ctx, "warm-up")
	must(err)
	_, err = iss.Refresh(ctx, p.RefreshToken)
	must(err)
	must(iss.Revoke(ctx, p.RefreshToken))
	must(iss.RevokeAll(ctx, "warm-up"))

	count := func(name string, fn func()) {
		n0 := h.n.Load()
		fn()
		result("RedisRoundTrips/"+name, float64(h.n.Load()-n0), "rtt/op")
	}
	count("Issue", func() { p, err = iss.Issue(ctx, "user-123456"); must(err) })
	count("Refresh", func() { p, err = iss.Refresh(ctx, p.RefreshToken); must(err) })
	count("Revoke", func() { must(iss.Revoke(ctx, p.RefreshToken)) })
	for range 5 {
		_, err = iss.Issue(ctx, "user-123456")
		must(err)
	}
	count("RevokeAll", func() { must(iss.RevokeAll(ctx, "user-123456")) })
	deleteKeys(c, keysUnder(c, prefix))
}
