// Command report reads `go test -bench` output (and bench/measure's, which
// has the same form) and prints the benchmark table of BENCHMARKS.md: each
// operation, its ns/op and allocs/op, its baseline's, the ratio and the
// target. Values are medians over the runs (-count). Rows whose benchmarks
// are missing (no Redis, a quick run) say so instead of failing.
//
// Usage: go run ./bench/report FILE...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a
// unit to the values of every run.
type results map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func (r results) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			if r[name] == nil {
				r[name] = map[string][]float64{}
			}
			r[name][f[i+1]] = append(r[name][f[i+1]], v)
		}
	}
	return sc.Err()
}

// median returns the median of name's values in unit, or NaN.
func (r results) median(name, unit string) float64 {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 1 {
		return vs[n/2]
	} else {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
}

func (r results) runs(name string) int { return len(r[name]["ns/op"]) }

// A row compares an rtr benchmark with its baseline.
type row struct {
	what      string
	rtr, base string // benchmark names; base may be ""
	// ratio computes the figure compared with the target from the two
	// benchmarks' medians; nil for an informational row (ratio of ns/op).
	ratio  func(r results) float64
	target string
	ok     func(v float64) bool
}

func timeRatio(rtr, base string) func(results) float64 { // rtr time / baseline time
	return func(r results) float64 { return r.median(rtr, "ns/op") / r.median(base, "ns/op") }
}

func throughputRatio(rtr, base string) func(results) float64 { // rtr ops/s over baseline ops/s
	return func(r results) float64 { return r.median(base, "ns/op") / r.median(rtr, "ns/op") }
}

func main() {
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: report FILE..."); flag.PrintDefaults() }
	flag.Parse()
	log.SetFlags(0)
	r := results{}
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			log.Fatal(err)
		}
		if err := r.read(f); err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		f.Close()
	}

	const (
		verify      = "Verify/rtr"
		verifyBase  = "Verify/baseline=jwt-parse"
		refMem      = "RefreshMemory/rtr"
		refMemBase  = "RefreshMemory/baseline=jwt-sign2-parse1"
		refPar      = "RefreshMemoryParallel/rtr"
		refParBase  = "RefreshMemoryParallel/baseline=jwt-sign2-parse1"
		refRedis    = "RefreshRedis/rtr"
		refRedisDef = "RefreshRedis/rtr-client=default"
		writeups    = "RefreshRedis/baseline=writeups"
		evalsha     = "RefreshRedis/baseline=evalsha"
		stored1k    = "RefreshMemoryStored/sessions=1000"
		stored1m    = "RefreshMemoryStored/sessions=1000000"
		rstored1k   = "RefreshRedisStored/sessions=1000"
		rstored1m   = "RefreshRedisStored/sessions=1000000"
	)
	atMost := func(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }
	atLeast := func(limit float64) func(float64) bool { return func(v float64) bool { return v >= limit } }
	exactly := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

	rows := []row{
		{what: "Verify: time vs bare golang-jwt parse", rtr: verify, base: verifyBase,
			ratio: timeRatio(verify, verifyBase), target: "<= 1.10x", ok: atMost(1.10)},
		{what: "Verify: allocations vs bare parse", rtr: verify, base: verifyBase,
			ratio: func(r results) float64 {
				return r.median(verify, "allocs/op") - r.median(verifyBase, "allocs/op")
			}, target: "<= +3", ok: atMost(3)},
		{what: "Issue (memory store) vs signing two tokens", rtr: "Issue/rtr", base: "Issue/baseline=jwt-sign2"},
		{what: "Refresh, memory store, serial: throughput vs sign 2 + parse 1", rtr: refMem, base: refMemBase,
			ratio: throughputRatio(refMem, refMemBase), target: ">= 0.8x", ok: atLeast(0.8)},
		{what: "Refresh, memory store, RunParallel: throughput vs sign 2 + parse 1", rtr: refPar, base: refParBase,
			ratio: throughputRatio(refPar, refParBase), target: ">= 0.8x", ok: atLeast(0.8)},
		{what: "Refresh, real Redis, 64 goroutines: throughput vs the write-ups' flow", rtr: refRedis, base: writeups,
			ratio: throughputRatio(refRedis, writeups), target: ">= 3x", ok: atLeast(3)},
		{what: "Refresh, real Redis, 64 goroutines: throughput vs bare EVALSHA loop", rtr: refRedis, base: evalsha,
			ratio: throughputRatio(refRedis, evalsha), target: ">= 0.6x", ok: atLeast(0.6)},
		{what: "Refresh, real Redis, client with go-redis defaults: throughput vs the write-ups' flow", rtr: refRedisDef, base: writeups,
			ratio: throughputRatio(refRedisDef, writeups), target: ">= 3x", ok: atLeast(3)},
		{what: "Refresh, real Redis, client with go-redis defaults: throughput vs bare EVALSHA loop", rtr: refRedisDef, base: evalsha,
			ratio: throughputRatio(refRedisDef, evalsha), target: ">= 0.6x", ok: atLeast(0.6)},
		{what: "Issue, real Redis, 64 goroutines: throughput vs bare EVALSHA loop", rtr: "IssueRedis/rtr", base: "IssueRedis/baseline=evalsha",
			ratio: throughputRatio("IssueRedis/rtr", "IssueRedis/baseline=evalsha"), target: ">= 0.5x", ok: atLeast(0.5)},
		{what: "Issue, real Redis, client with go-redis defaults: throughput vs bare EVALSHA loop", rtr: "IssueRedis/rtr-client=default", base: "IssueRedis/baseline=evalsha",
			ratio: throughputRatio("IssueRedis/rtr-client=default", "IssueRedis/baseline=evalsha"), target: ">= 0.5x", ok: atLeast(0.5)},
		{what: "Issue at the session cap (100 sessions: the login reads them, ends the oldest): vs bare EVALSHA loop", rtr: "IssueRedis/rtr-at-cap", base: "IssueRedis/baseline=evalsha",
			ratio: throughputRatio("IssueRedis/rtr-at-cap", "IssueRedis/baseline=evalsha")},
		{what: "RevokeAll, 100 sessions, memory store", rtr: "RevokeAllMemory/rtr"},
		{what: "RevokeAll, 100 sessions, real Redis: time vs one EVALSHA", rtr: "RevokeAllRedis/rtr", base: "RevokeAllRedis/baseline=evalsha-serial",
			ratio: timeRatio("RevokeAllRedis/rtr", "RevokeAllRedis/baseline=evalsha-serial")},
		{what: "Refresh, memory store: throughput with 1,000,000 sessions vs 1,000", rtr: stored1m, base: stored1k,
			ratio: throughputRatio(stored1m, stored1k), target: ">= 0.9x", ok: atLeast(0.9)},
		{what: "Refresh, real Redis: throughput with 1,000,000 sessions vs 1,000", rtr: rstored1m, base: rstored1k,
			ratio: throughputRatio(rstored1m, rstored1k), target: ">= 0.9x", ok: atLeast(0.9)},
	}

	fmt.Println("| what | rtr ns/op | rtr allocs/op | baseline ns/op | baseline allocs/op | ratio | CPU ratio | target | met |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---|")
	unmet := 0
	for _, rw := range rows {
		if r.runs(rw.rtr) == 0 || (rw.base != "" && r.runs(rw.base) == 0) {
			fmt.Printf("| %s | not run | | | | | | %s | - |\n", rw.what, rw.target)
			continue
		}
		cells := []string{rw.what, ns(r.median(rw.rtr, "ns/op")), num(r.median(rw.rtr, "allocs/op"))}
		if rw.base != "" {
			cells = append(cells, ns(r.median(rw.base, "ns/op")), num(r.median(rw.base, "allocs/op")))
		} else {
			cells = append(cells, "-", "-")
		}
		ratio, cpu := "-", "-"
		verdict := "-"
		if rw.ratio != nil {
			v := rw.ratio(r)
			if strings.Contains(rw.target, "+") {
				ratio = fmt.Sprintf("%+.0f", v)
			} else {
				ratio = fmt.Sprintf("%.2fx", v)
				cpu = cpuRatio(r, rw)
			}
			if rw.ok != nil {
				verdict = "met"
				if !rw.ok(v) {
					verdict = "NOT MET"
					unmet++
				}
			}
		}
		cells = append(cells, ratio, cpu, rw.target, verdict)
		fmt.Println("| " + strings.Join(cells, " | ") + " |")
	}

	// Per-operation figures without a baseline.
	fmt.Println()
	fmt.Println("| what | value | target | met |")
	fmt.Println("|---|---:|---|---|")
	figure := func(what, name, unit, format, target string, ok func(float64) bool) {
		v := r.median(name, unit)
		if math.IsNaN(v) {
			fmt.Printf("| %s | not run | %s | - |\n", what, target)
			return
		}
		verdict := "-"
		if ok != nil {
			verdict = "met"
			if !ok(v) {
				verdict = "NOT MET"
				unmet++
			}
		}
		fmt.Printf("| %s | "+format+" | %s | %s |\n", what, v, target, verdict)
	}
	for _, op := range []string{"Issue", "Refresh", "Revoke", "RevokeAll"} {
		figure("Redis round trips per "+op+" (go-redis hook)", "RedisRoundTrips/"+op, "rtt/op", "%.0f", "exactly 1", exactly(1))
	}
	figure("Redis round trips per Refresh under load (hook, 64 goroutines)", refRedis, "rtt/op", "%.2f", "exactly 1", exactly(1))
	figure("Redis round trips per write-ups refresh", writeups, "rtt/op", "%.2f", "", nil)
	figure("Redis commands run per Refresh (INFO commandstats, script's own calls included)", refRedis, "rediscmds/op", "%.2f", "", nil)
	figure("Redis commands run per write-ups refresh", writeups, "rediscmds/op", "%.2f", "", nil)
	figure("Redis CPU per Refresh (ns)", refRedis, "redis-cpu-ns/op", "%.0f", "", nil)
	figure("Redis time per rotate script call (INFO commandstats usec_per_call, µs)", refRedis, "script-us/call", "%.2f", "", nil)
	figure("Redis time per rotate script call, default client (µs)", refRedisDef, "script-us/call", "%.2f", "", nil)
	figure("Redis time per trivial script call (µs)", evalsha, "script-us/call", "%.2f", "", nil)
	{
		v := r.median(refRedis, "script-us/call") / r.median(evalsha, "script-us/call")
		verdict := "met"
		if math.IsNaN(v) {
			verdict = "-"
		} else if v > 3 {
			verdict = "NOT MET"
			unmet++
		}
		fmt.Printf("| Redis time per rotation vs a trivial script (usec_per_call ratio) | %.2fx | <= 3x | %s |\n", v, verdict)
	}
	figure("Redis CPU per bare EVALSHA (ns)", evalsha, "redis-cpu-ns/op", "%.0f", "", nil)
	figure("Redis CPU per write-ups refresh (ns)", writeups, "redis-cpu-ns/op", "%.0f", "", nil)
	figure("Redis bytes per session, 1 session per subject", "RedisBytesPerSession/per-subject=1/issued", "B/session", "%.1f", "<= 256", atMost(256))
	figure("Redis bytes per session, 5 sessions per subject", "RedisBytesPerSession/per-subject=5/issued", "B/session", "%.1f", "<= 256", atMost(256))
	figure("Redis bytes per session, 1 per subject, after one rotation", "RedisBytesPerSession/per-subject=1/rotated", "B/session", "%.1f", "", nil)
	figure("Redis bytes per session, 5 per subject, after one rotation", "RedisBytesPerSession/per-subject=5/rotated", "B/session", "%.1f", "", nil)
	figure("memory-store heap bytes per session", "MemoryStoreHeapPerSession/issued", "B/session", "%.1f", "<= 320", atMost(320))
	figure("memory-store heap bytes per session, after one rotation", "MemoryStoreHeapPerSession/rotated", "B/session", "%.1f", "", nil)

	fmt.Println()
	fmt.Printf("ratios are of medians over %d runs; \"CPU ratio\" is the same ratio in CPU time per op (this process, plus the Redis server's for Redis rows), which the machine's other load disturbs less.\n", max(r.runs(verify), r.runs(refRedis)))
	if unmet > 0 {
		fmt.Printf("%d target(s) not met: see BENCHMARKS.md\n", unmet)
	}
}

// cpuRatio is rw's ratio computed from CPU time per op instead of ns/op.
func cpuRatio(r results, rw row) string {
	cpu := func(name string) float64 {
		v := r.median(name, "cpu-ns/op")
		if s := r.median(name, "redis-cpu-ns/op"); !math.IsNaN(s) {
			v += s
		}
		return v
	}
	a, b := cpu(rw.rtr), cpu(rw.base)
	if math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	cr := results{rw.rtr: {"ns/op": {a}}, rw.base: {"ns/op": {b}}}
	return fmt.Sprintf("%.2fx", rw.ratio(cr))
}

func ns(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1f µs", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
