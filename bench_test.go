package rtr_test

// Benchmarks of rtr against its baselines, measured in the same run on the
// same data, so that a ratio is never skewed by a different machine or
// load. bench/run.sh runs them and prints the table; see
// BENCHMARKS.md for what each figure means.
//
// Naming: BenchmarkX/rtr is rtr, BenchmarkX/baseline=NAME a baseline it is
// compared with. The Redis benchmarks need a real server ($RTR_REDIS_ADDR)
// and are skipped without one. No benchmark asserts a timing.

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/rtr-go/rtr"
	"github.com/rtr-go/rtr/bench/baseline"
	"github.com/rtr-go/rtr/internal/testredis"
)

// The configuration every benchmark uses: an issuer and an audience, so
// Verify checks both, and the recommended grace.
var benchSecret = []byte("rtr benchmark secret: 0123456789abcdef0123456789abcdef")

const (
	benchIssuer          = "https://auth.example.com"
	benchSubject         = "user-123456"
	benchRedisGoroutines = 64 // concurrency of the Redis benchmarks
)

var benchAudience = []string{"https://api.example.com"}

func benchConfig(store rtr.Store) rtr.Config {
	return rtr.Config{
		Store:      store,
		Secret:     benchSecret,
		Issuer:     benchIssuer,
		Audience:   benchAudience,
		ReuseGrace: rtr.RecommendedReuseGrace,
	}
}

func benchNewIssuer(tb testing.TB, store rtr.Store) *rtr.Issuer {
	tb.Helper()
	iss, err := rtr.NewIssuer(benchConfig(store))
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

// benchDerivedKey is rtr's key derivation under the benchmark secret.
func benchDerivedKey(label string) []byte { return baseline.DeriveKey(benchSecret, label) }

func benchID() string { return baseline.ID() }

// benchNewPlainJWT is the golang-jwt-only baseline with the benchmarks'
// settings.
func benchNewPlainJWT() *baseline.PlainJWT {
	return baseline.NewPlainJWT(benchSecret, benchIssuer, benchAudience)
}

var (
	benchSinkClaims *rtr.Claims
	benchSinkString string
)

// ---------------------------------------------------------------- Verify

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	iss := benchNewIssuer(b, rtr.NewMemoryStore())
	p, err := iss.Issue(ctx, benchSubject)
	if err != nil {
		b.Fatal(err)
	}
	token := p.AccessToken

	b.Run("rtr", func(b *testing.B) {
		v := iss.Verifier()
		b.ReportAllocs()
		defer benchCPU(b)()
		for b.Loop() {
			c, err := v.Verify(ctx, token)
			if err != nil {
				b.Fatal(err)
			}
			benchSinkClaims = c
		}
	})

	// The floor: golang-jwt parsing the same token into the same claims
	// type with the same options (pinned alg, exp required, no leeway, the
	// same clock, issuer and audience) and the same key.
	b.Run("baseline=jwt-parse", func(b *testing.B) {
		parser := jwt.NewParser(
			jwt.WithValidMethods([]string{"HS256"}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(0),
			jwt.WithTimeFunc(time.Now),
			jwt.WithIssuer(benchIssuer),
			jwt.WithAudience(benchAudience...),
		)
		key := benchDerivedKey("rtr/v1 access token key")
		keyFn := func(*jwt.Token) (any, error) { return key, nil }
		b.ReportAllocs()
		defer benchCPU(b)()
		for b.Loop() {
			c := &rtr.Claims{}
			if _, err := parser.ParseWithClaims(token, c, keyFn); err != nil {
				b.Fatal(err)
			}
			benchSinkClaims = c
		}
	})
}

// ---------------------------------------------------------------- plain golang-jwt (the baselines' token work)

// ---------------------------------------------------------------- Issue

func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	subjects := make([]string, 1<<16)
	for i := range subjects {
		subjects[i] = "user-" + strconv.Itoa(100000+i)
	}
	b.Run("rtr", func(b *testing.B) {
		iss := benchNewIssuer(b, rtr.NewMemoryStore())
		b.ReportAllocs()
		i := 0
		defer benchCPU(b)()
		for b.Loop() {
			p, err := iss.Issue(ctx, subjects[i&(len(subjects)-1)])
			if err != nil {
				b.Fatal(err)
			}
			benchSinkString = p.RefreshToken
			i++
		}
	})
	// Signing the two tokens of a login with golang-jwt, nothing stored.
	b.Run("baseline=jwt-sign2", func(b *testing.B) {
		pj := benchNewPlainJWT()
		b.ReportAllocs()
		i := 0
		defer benchCPU(b)()
		for b.Loop() {
			at, rt, err := pj.Mint(subjects[i&(len(subjects)-1)], benchID(), 1)
			if err != nil {
				b.Fatal(err)
			}
			benchSinkString, benchSinkString = at, rt
			i++
		}
	})
}

// ---------------------------------------------------------------- Refresh, memory store

func BenchmarkRefreshMemory(b *testing.B) {
	ctx := context.Background()
	b.Run("rtr", func(b *testing.B) {
		iss := benchNewIssuer(b, rtr.NewMemoryStore())
		p, err := iss.Issue(ctx, benchSubject)
		if err != nil {
			b.Fatal(err)
		}
		token := p.RefreshToken
		b.ReportAllocs()
		defer benchCPU(b)()
		for b.Loop() {
			p, err := iss.Refresh(ctx, token)
			if err != nil {
				b.Fatal(err)
			}
			token = p.RefreshToken
		}
	})
	// Pure CPU: parse one refresh token and sign two tokens with golang-jwt.
	b.Run("baseline=jwt-sign2-parse1", func(b *testing.B) {
		pj := benchNewPlainJWT()
		_, token, err := pj.Mint(benchSubject, benchID(), 1)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer benchCPU(b)()
		for b.Loop() {
			var at string
			if at, token, err = pj.SignTwoParseOne(token); err != nil {
				b.Fatal(err)
			}
			benchSinkString = at
		}
	})
}

func BenchmarkRefreshMemoryParallel(b *testing.B) {
	g := runtime.GOMAXPROCS(0)
	b.Run("rtr", func(b *testing.B) {
		iss := benchNewIssuer(b, rtr.NewMemoryStore())
		pool := benchIssuePool(b, iss, "user-", g, g)
		b.ReportAllocs()
		b.ResetTimer()
		defer benchCPU(b)()
		benchRunPool(b, pool, 1, iss.Refresh)
	})
	b.Run("baseline=jwt-sign2-parse1", func(b *testing.B) {
		pj := benchNewPlainJWT()
		pool := benchPlainPool(b, pj, g)
		b.ReportAllocs()
		b.ResetTimer()
		defer benchCPU(b)()
		benchRunPool(b, pool, 1, func(_ context.Context, tok string) (rtr.Pair, error) {
			at, rt, err := pj.SignTwoParseOne(tok)
			return rtr.Pair{AccessToken: at, RefreshToken: rt}, err
		})
	})
}

// benchPool holds one current refresh token per session. With stripes
// goroutines, goroutine k owns the slots s with s%stripes == k, so no two
// goroutines ever present the same session's token.
type benchPool struct {
	tokens  []string
	stripes int
}

func benchIssuePool(tb testing.TB, iss *rtr.Issuer, subjectPrefix string, n, stripes int) *benchPool {
	tb.Helper()
	pool := &benchPool{tokens: make([]string, n), stripes: stripes}
	var wg sync.WaitGroup
	var failed atomic.Value
	workers := min(n, 64)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				p, err := iss.Issue(context.Background(), subjectPrefix+strconv.Itoa(i))
				if err != nil {
					failed.Store(err)
					return
				}
				pool.tokens[i] = p.RefreshToken
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatal(err)
	}
	return pool
}

func benchPlainPool(tb testing.TB, pj *baseline.PlainJWT, n int) *benchPool {
	pool := &benchPool{tokens: make([]string, n), stripes: n}
	for i := range pool.tokens {
		_, rt, err := pj.Mint("user-"+strconv.Itoa(i), benchID(), 1)
		if err != nil {
			tb.Fatal(err)
		}
		pool.tokens[i] = rt
	}
	return pool
}

// benchRunPool runs refresh over the pool with parallelism*GOMAXPROCS
// goroutines (which must equal pool.stripes), each cycling through its own
// slots, and writes the current tokens back.
func benchRunPool(b *testing.B, pool *benchPool, parallelism int, refresh func(context.Context, string) (rtr.Pair, error)) {
	if parallelism*runtime.GOMAXPROCS(0) != pool.stripes {
		b.Fatalf("pool has %d stripes for %d goroutines", pool.stripes, parallelism*runtime.GOMAXPROCS(0))
	}
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		k := int(next.Add(1) - 1)
		s := k
		for pb.Next() {
			p, err := refresh(ctx, pool.tokens[s])
			if err != nil {
				b.Error(err)
				return
			}
			pool.tokens[s] = p.RefreshToken
			if s += pool.stripes; s >= len(pool.tokens) {
				s = k
			}
		}
	})
}

// ---------------------------------------------------------------- Refresh with many sessions stored (memory)

// benchStored caches a filled store per size: filling 1,000,000 sessions
// takes seconds, and the benchmark function runs several times.
var benchStored sync.Map // key -> *benchStoredPool

type benchStoredPool struct {
	iss  *rtr.Issuer
	pool *benchPool
}

// benchFillMemory makes a memory store with total sessions, one subject each.
// The pool sessions (whose tokens the benchmark rotates) are issued with
// Issue and spread evenly over the fill; the others are created through
// the store exactly as Issue creates them.
func benchFillMemory(b *testing.B, total, poolSize, stripes int) *benchStoredPool {
	key := fmt.Sprintf("memory/%d/%d/%d", total, poolSize, stripes)
	if v, ok := benchStored.Load(key); ok {
		return v.(*benchStoredPool)
	}
	store := rtr.NewMemoryStore()
	iss := benchNewIssuer(b, store)
	pool := &benchPool{tokens: make([]string, poolSize), stripes: stripes}
	every := total / poolSize
	ctx := context.Background()
	now := time.Now()
	for i, slot := 0, 0; i < total; i++ {
		subject := "user-" + strconv.Itoa(1000000+i)
		if i%every == 0 && slot < poolSize {
			p, err := iss.Issue(ctx, subject)
			if err != nil {
				b.Fatal(err)
			}
			pool.tokens[slot] = p.RefreshToken
			slot++
			continue
		}
		if _, err := store.Create(ctx, benchRecord(subject, now), 0); err != nil {
			b.Fatal(err)
		}
	}
	sp := &benchStoredPool{iss: iss, pool: pool}
	benchStored.Store(key, sp)
	return sp
}

// benchSkipLarge skips the 1,000,000-session fill under -short (the CI
// smoke run).
func benchSkipLarge(b *testing.B, total int) {
	if testing.Short() && total > 1000 {
		b.Skip("-short: no 1,000,000-session fill")
	}
}

// benchRecord is the record Issue would create for subject at now.
func benchRecord(subject string, now time.Time) rtr.SessionRecord {
	return rtr.SessionRecord{
		ID: benchID(), Subject: subject, Current: benchID(), Generation: 1,
		CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt:     now.Add(rtr.DefaultRefreshTTL),
		AbsoluteExpiresAt: now.Add(rtr.DefaultMaxSessionAge),
	}
}

// benchPoolSize is how many of the stored sessions are rotated: all of
// 1,000; 65,536 of 1,000,000 (spread over the whole store, far more than
// any CPU cache holds).
func benchPoolSize(total int) int { return min(total, 1<<16) }

// BenchmarkRefreshMemoryStored rotates sessions in a memory store holding
// 1,000 or 1,000,000 sessions. bench/run.sh runs the two sizes in separate
// processes, so the big heap of one never weighs on the other.
func BenchmarkRefreshMemoryStored(b *testing.B) {
	g := runtime.GOMAXPROCS(0)
	for _, total := range []int{1000, 1000000} {
		b.Run("sessions="+strconv.Itoa(total), func(b *testing.B) {
			benchSkipLarge(b, total)
			sp := benchFillMemory(b, total, benchPoolSize(total), g)
			b.ReportAllocs()
			b.ResetTimer()
			defer benchCPU(b)()
			benchRunPool(b, sp.pool, 1, sp.iss.Refresh)
		})
	}
}

// ---------------------------------------------------------------- RevokeAll (memory)

func BenchmarkRevokeAllMemory(b *testing.B) {
	b.Run("rtr", func(b *testing.B) {
		store := rtr.NewMemoryStore()
		iss := benchNewIssuer(b, store)
		benchRevokeAll(b, iss, store, 100, benchTimed(b))
	})
}

// benchRevokeAll measures RevokeAll of a subject with perSubject sessions.
// The sessions of all b.N subjects are created first (through the store,
// as Issue creates them), outside the timer; measure runs the benchTimed part.
// Run it with a fixed -benchtime (bench/run.sh uses 300x): every round
// creates b.N*perSubject sessions.
func benchRevokeAll(b *testing.B, iss *rtr.Issuer, store rtr.Store, perSubject int, measure func(func())) {
	ctx := context.Background()
	prefix := "revoke-" + benchID()[:8] + "-"
	now := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	var next atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N*perSubject {
					return
				}
				if _, err := store.Create(ctx, benchRecord(prefix+strconv.Itoa(i/perSubject), now), 0); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	measure(func() {
		for i := range b.N {
			if err := iss.RevokeAll(ctx, prefix+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchTimed(b *testing.B) func(func()) {
	return func(fn func()) {
		b.ResetTimer()
		stop := benchCPU(b)
		fn()
		b.StopTimer()
		stop()
	}
}

// benchCPU reports the CPU time this process (every thread, the garbage
// collector included) spends per op between the call and the call of the
// returned function. Unlike ns/op it does not count time the machine gave
// to other processes.
func benchCPU(b *testing.B) func() {
	cpu0, gc0 := benchProcessCPU(), benchGCCPU()
	return func() {
		b.ReportMetric(float64(benchProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(benchGCCPU()-gc0)/float64(b.N), "gc-cpu-ns/op")
	}
}

// benchGCCPU is the runtime's estimate of the CPU time the garbage
// collector has used (runtime/metrics /cpu/classes/gc/total).
func benchGCCPU() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}

// ---------------------------------------------------------------- Redis

// benchRedis returns the shared client of the real server at
// $RTR_REDIS_ADDR (the benchmark is skipped without one), with a hook that
// counts round trips, and a fresh key prefix whose keys are deleted when
// the calling benchmark ends. All Redis benchmarks, rtr and baselines,
// share the client: one pool of 64 connections, one per goroutine, and
// ContextTimeoutEnabled, as NewRedisStore's documentation recommends
// (without it the store watches each call's context from a goroutine of
// its own; BenchmarkRefreshRedis/rtr-client=default shows that case).
func benchRedis(b *testing.B) (redis.UniversalClient, *benchRTTCounter, string) {
	b.Helper()
	benchRedisOnce.Do(func() {
		addr := testredis.Standalone(b).(*redis.Client).Options().Addr
		benchRedisClient = redis.NewClient(benchRedisOptions(addr))
		benchRedisClient.AddHook(&benchRedisRTT)
	})
	if benchRedisClient == nil {
		b.Skip(testredis.EnvAddr + " not set: no real Redis server")
	}
	prefix := testredis.Prefix()
	b.Cleanup(func() { benchDeletePrefix(benchRedisClient, prefix) })
	return benchRedisClient, &benchRedisRTT, prefix
}

func benchRedisOptions(addr string) *redis.Options {
	return &redis.Options{Addr: addr, PoolSize: benchRedisGoroutines, ContextTimeoutEnabled: true}
}

var (
	benchRedisOnce   sync.Once
	benchRedisClient *redis.Client
	benchRedisRTT    benchRTTCounter
)

// benchDeletePrefix deletes every key under prefix.
func benchDeletePrefix(c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

// benchRTTCounter is a go-redis hook counting round trips (a pipeline is one)
// and commands sent. Unlike the tests' testkit.RoundTrips it keeps no
// names and takes no lock, so that counting does not weigh on what 64
// goroutines measure.
type benchRTTCounter struct {
	rtts, cmds atomic.Int64
}

func (h *benchRTTCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *benchRTTCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.rtts.Add(1)
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *benchRTTCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.rtts.Add(1)
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// benchServerCalls sums the calls of every command in INFO commandstats,
// commands run inside scripts included, INFO itself excluded, and returns
// the calls and microseconds of EVALSHA and EVAL (the scripts' own time,
// the commands they call included).
func benchServerCalls(b *testing.B, c redis.UniversalClient) (total, scriptCalls int64, scriptUsec float64) {
	s, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		n, rest, _ := strings.Cut(rest, ",")
		v, _ := strconv.ParseInt(n, 10, 64)
		total += v
		if name == "cmdstat_evalsha" || name == "cmdstat_eval" {
			scriptCalls += v
			u, _, _ := strings.Cut(strings.TrimPrefix(rest, "usec="), ",")
			f, _ := strconv.ParseFloat(u, 64)
			scriptUsec += f
		}
	}
	return total, scriptCalls, scriptUsec
}

// benchMeasureRedis runs fn (the benchTimed part) and reports, per op: round trips
// (counted by the hook), commands the server ran (INFO commandstats,
// commands inside scripts included), and CPU time of this process and of
// the Redis server (getrusage and INFO cpu). The server must not be
// shared with other load for the server figures to mean anything.
func benchMeasureRedis(b *testing.B, c redis.UniversalClient, rc *benchRTTCounter, fn func()) {
	// The INFO calls go through the counting hook too: read the counter
	// after the first ones and before the last ones.
	srv0, sc0, su0 := benchServerCalls(b, c)
	rcpu0 := benchRedisCPU(b, c)
	rtt0 := rc.rtts.Load()
	cpu0 := benchProcessCPU()
	b.ResetTimer()
	fn()
	b.StopTimer()
	cpu1 := benchProcessCPU()
	rtt1 := rc.rtts.Load()
	n := float64(b.N)
	b.ReportMetric(float64(rtt1-rtt0)/n, "rtt/op")
	srv1, sc1, su1 := benchServerCalls(b, c)
	b.ReportMetric(float64(srv1-srv0)/n, "rediscmds/op")
	if sc1 > sc0 {
		// INFO commandstats' usec_per_call of the scripts run: Redis time
		// per script call, less sensitive to client load than wall time.
		b.ReportMetric((su1-su0)/float64(sc1-sc0), "script-us/call")
	}
	b.ReportMetric(float64(benchRedisCPU(b, c)-rcpu0)/n, "redis-cpu-ns/op")
	b.ReportMetric(float64(cpu1-cpu0)/n, "cpu-ns/op")
}

// benchProcessCPU is the user+system CPU time this process has used.
func benchProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRedisCPU is the user+system CPU time the Redis server has used.
func benchRedisCPU(b *testing.B, c redis.UniversalClient) time.Duration {
	s, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(s, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func benchRedisParallelism() int {
	g := runtime.GOMAXPROCS(0)
	return (benchRedisGoroutines + g - 1) / g
}

// BenchmarkRefreshRedis: Refresh on a real Redis with 64 goroutines, each
// rotating its own session, against the write-ups' flow and a bare
// EVALSHA loop over the same client and concurrency.
func BenchmarkRefreshRedis(b *testing.B) {
	c, rc, prefix := benchRedis(b)
	par := benchRedisParallelism()
	g := par * runtime.GOMAXPROCS(0)

	b.Run("rtr", func(b *testing.B) {
		iss := benchNewIssuer(b, rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)))
		pool := benchIssuePool(b, iss, "user-", g, g)
		b.ReportAllocs()
		benchMeasureRedis(b, c, rc, func() { benchRunPool(b, pool, par, iss.Refresh) })
	})

	// The same with a client built with go-redis's defaults, which ignore
	// context deadlines: informational.
	b.Run("rtr-client=default", func(b *testing.B) {
		opts := benchRedisOptions(c.(*redis.Client).Options().Addr)
		opts.ContextTimeoutEnabled = false
		dc := redis.NewClient(opts)
		defer dc.Close()
		dc.AddHook(rc)
		iss := benchNewIssuer(b, rtr.NewRedisStore(dc, rtr.WithKeyPrefix(prefix)))
		pool := benchIssuePool(b, iss, "default-user-", g, g)
		b.ReportAllocs()
		benchMeasureRedis(b, c, rc, func() { benchRunPool(b, pool, par, iss.Refresh) })
	})

	b.Run("baseline=writeups", func(b *testing.B) {
		w := benchNewWriteups(c, prefix)
		pool := w.loginPool(b, g)
		b.ReportAllocs()
		benchMeasureRedis(b, c, rc, func() { benchRunPool(b, pool, par, w.refresh) })
	})

	b.Run("baseline=evalsha", func(b *testing.B) {
		benchEvalsha(b, c, rc, par)
	})
}

func benchEvalsha(b *testing.B, c redis.UniversalClient, rc *benchRTTCounter, par int) {
	ctx := context.Background()
	if err := baseline.TrivialScript.Run(ctx, c, nil).Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	benchMeasureRedis(b, c, rc, func() {
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := baseline.TrivialScript.Run(ctx, c, nil).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchWriteups is the write-ups' flow (see [baseline.Writeups]) with a
// pool of logged-in users for the benchmarks.
type benchWriteups struct{ *baseline.Writeups }

func benchNewWriteups(c redis.UniversalClient, prefix string) *benchWriteups {
	return &benchWriteups{baseline.NewWriteups(c, prefix, benchNewPlainJWT())}
}

func (w *benchWriteups) refresh(ctx context.Context, token string) (rtr.Pair, error) {
	at, rt, err := w.Refresh(ctx, token)
	return rtr.Pair{AccessToken: at, RefreshToken: rt}, err
}

func (w *benchWriteups) loginPool(b *testing.B, n int) *benchPool {
	pool := &benchPool{tokens: make([]string, n), stripes: n}
	for i := range pool.tokens {
		rt, err := w.Login(context.Background(), "user-"+strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		pool.tokens[i] = rt
	}
	return pool
}

// BenchmarkIssueRedis: Issue (login) on a real Redis with 64 goroutines.
func BenchmarkIssueRedis(b *testing.B) {
	c, rc, prefix := benchRedis(b)
	par := benchRedisParallelism()
	ctx := context.Background()
	// Each goroutine logs in its own subjects, a new one every 50 logins:
	// below the session cap, as nearly every login is.
	login := func(b *testing.B, iss *rtr.Issuer, name string) {
		name += strconv.FormatInt(time.Now().UnixNano(), 36) + "-" // new subjects in every run
		var next atomic.Int64
		b.ReportAllocs()
		benchMeasureRedis(b, c, rc, func() {
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				g := strconv.FormatInt(next.Add(1), 10)
				for i := 0; pb.Next(); i++ {
					if _, err := iss.Issue(ctx, name+g+"-"+strconv.Itoa(i/50)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("rtr", func(b *testing.B) {
		login(b, benchNewIssuer(b, rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix))), "issue-")
	})
	b.Run("rtr-client=default", func(b *testing.B) {
		opts := benchRedisOptions(c.(*redis.Client).Options().Addr)
		opts.ContextTimeoutEnabled = false
		dc := redis.NewClient(opts)
		defer dc.Close()
		login(b, benchNewIssuer(b, rtr.NewRedisStore(dc, rtr.WithKeyPrefix(prefix))), "issue-default-")
	})
	// The worst case: every login is past the cap (100), so the script
	// reads the subject's records and ends the least recently used.
	b.Run("rtr-at-cap", func(b *testing.B) {
		iss := benchNewIssuer(b, rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix)))
		var next atomic.Int64
		b.ReportAllocs()
		benchMeasureRedis(b, c, rc, func() {
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				subject := "issue-cap-" + strconv.FormatInt(next.Add(1), 10) // the same in every run: at the cap
				for pb.Next() {
					if _, err := iss.Issue(ctx, subject); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
	b.Run("baseline=evalsha", func(b *testing.B) {
		benchEvalsha(b, c, rc, par)
	})
}

// BenchmarkRevokeAllRedis: RevokeAll of a subject with 100 sessions on a
// real Redis, one at a time, against one trivial EVALSHA at a time (the
// latency floor of one round trip).
func BenchmarkRevokeAllRedis(b *testing.B) {
	c, rc, prefix := benchRedis(b)
	b.Run("rtr", func(b *testing.B) {
		store := rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix))
		iss := benchNewIssuer(b, store)
		benchRevokeAll(b, iss, store, 100, func(fn func()) { benchMeasureRedis(b, c, rc, fn) })
	})
	b.Run("baseline=evalsha-serial", func(b *testing.B) {
		ctx := context.Background()
		if err := baseline.TrivialScript.Run(ctx, c, nil).Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		benchMeasureRedis(b, c, rc, func() {
			for range b.N {
				if err := baseline.TrivialScript.Run(ctx, c, nil).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// ---------------------------------------------------------------- Refresh with many sessions stored (Redis)

// BenchmarkRefreshRedisStored rotates sessions on a real Redis holding
// 1,000 or 1,000,000 sessions, with 64 goroutines. The fill (the sessions
// nobody rotates) stays in Redis under a fixed prefix between processes,
// so bench/run.sh pays for it once; the rotated pool is issued afresh in
// each process, after revoking the previous process's pool.
func BenchmarkRefreshRedisStored(b *testing.B) {
	for _, total := range []int{1000, 1000000} {
		b.Run("sessions="+strconv.Itoa(total), func(b *testing.B) {
			benchSkipLarge(b, total)
			c, rc, _ := benchRedis(b)
			par := benchRedisParallelism()
			sp := benchFillRedis(b, c, total, par*runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			benchMeasureRedis(b, c, rc, func() { benchRunPool(b, sp.pool, par, sp.iss.Refresh) })
		})
	}
}

func benchFillRedis(b *testing.B, c redis.UniversalClient, total, stripes int) *benchStoredPool {
	key := fmt.Sprintf("redis/%d/%d", total, stripes)
	if v, ok := benchStored.Load(key); ok {
		return v.(*benchStoredPool)
	}
	ctx := context.Background()
	prefix := fmt.Sprintf("rtrbench:stored%d:", total)
	store := rtr.NewRedisStore(c, rtr.WithKeyPrefix(prefix))
	iss := benchNewIssuer(b, store)
	poolSize := benchPoolSize(total)
	parallel := func(n int, fn func(i int) error) {
		var wg sync.WaitGroup
		var next atomic.Int64
		var failed atomic.Value
		for range 128 {
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
			b.Fatal(err)
		}
	}
	marker := prefix + "filled"
	if c.Get(ctx, marker).Val() != strconv.Itoa(total-poolSize) {
		benchDeletePrefix(c, prefix)
		now := time.Now()
		parallel(total-poolSize, func(i int) error {
			_, err := store.Create(ctx, benchRecord("fill-"+strconv.Itoa(i), now), 0)
			return err
		})
		c.Set(ctx, marker, total-poolSize, 0)
	}
	pool := &benchPool{tokens: make([]string, poolSize), stripes: stripes}
	parallel(poolSize, func(i int) error {
		subject := "pool-" + strconv.Itoa(i)
		if err := iss.RevokeAll(ctx, subject); err != nil {
			return err
		}
		p, err := iss.Issue(ctx, subject)
		pool.tokens[i] = p.RefreshToken
		return err
	})
	sp := &benchStoredPool{iss: iss, pool: pool}
	benchStored.Store(key, sp)
	return sp
}
