package rtr

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkRedisScriptCost is a measuring tool rather than a benchmark of
// b.N iterations: it measures, on a server nobody else uses, what one
// rotation costs Redis against a trivial script: INFO commandstats
// usec_per_call, and, when the server runs under valgrind's callgrind,
// the instructions per call inside Redis's call() (callgrind_annotate's
// inclusive count), which the load of a shared machine does not disturb.
// Calls are sequential on one connection, each rotation on a session of
// its own. RTR_SCRIPTCOST_SKELETONS adds scripts (separated by ";;") run
// once per session with KEYS[1] the subject's hash and ARGV the session
// id and two strings, to find the floor of a script shape. By hand:
//
//	valgrind --tool=callgrind --callgrind-out-file=/tmp/cg/callgrind.out.%p \
//	    redis-server --port 0 --unixsocket /tmp/cg/sock --save '' &
//	RTR_SCRIPTCOST_ADDR=/tmp/cg/sock RTR_SCRIPTCOST_CALLGRIND=$! \
//	    RTR_SCRIPTCOST_CGDIR=/tmp/cg go test -run '^$' -bench BenchmarkRedisScriptCost -benchtime 1x -v .
func BenchmarkRedisScriptCost(t *testing.B) {
	addr := os.Getenv("RTR_SCRIPTCOST_ADDR")
	if addr == "" {
		t.Skip("RTR_SCRIPTCOST_ADDR not set")
	}
	opts := &redis.Options{Addr: addr, PoolSize: 1, ContextTimeoutEnabled: true}
	if strings.HasPrefix(addr, "/") {
		opts.Network = "unix"
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv("RTR_SCRIPTCOST_N"))
	if n <= 0 {
		n = 2000
	}
	cg := os.Getenv("RTR_SCRIPTCOST_CALLGRIND")
	s := NewRedisStore(c, WithKeyPrefix("rtrcost:"))
	type sess struct {
		subject, id, jti string
		gen              uint64
	}
	now := time.Now()
	ss := make([]sess, n)
	for i := range ss {
		r := SessionRecord{ID: newID(), Subject: "user-" + strconv.Itoa(i), Current: newID(), Generation: 1,
			CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(DefaultRefreshTTL), AbsoluteExpiresAt: now.Add(90 * 24 * time.Hour)}
		if _, err := s.Create(ctx, r, 100); err != nil {
			t.Fatal(err)
		}
		ss[i] = sess{r.Subject, r.ID, r.Current, 1}
	}
	trivial := redis.NewScript(`return 1`)
	if err := trivial.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	rotateAll := func() {
		for i := range ss {
			x := &ss[i]
			next := newID()
			res, err := s.Rotate(ctx, RotateRequest{Subject: x.subject, SessionID: x.id, JTI: x.jti, Generation: x.gen,
				NewJTI: next, Now: time.Now(), IdleTTL: DefaultRefreshTTL, Grace: 10 * time.Second, Deadline: time.Now().Add(5 * time.Second)})
			if err != nil || res.Outcome != OutcomeRotated {
				t.Fatal(res, err)
			}
			x.jti, x.gen = next, x.gen+1
		}
	}
	rotateAll() // warm: scripts cached, every record in the current format
	phases := []struct {
		name string
		run  func()
	}{
		{"trivial", func() {
			for range n {
				if err := trivial.EvalSha(ctx, c, nil).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"rotate", rotateAll},
	}
	for i, src := range strings.Split(os.Getenv("RTR_SCRIPTCOST_SKELETONS"), ";;") {
		if src == "" {
			continue
		}
		sc := redis.NewScript(src)
		if err := sc.Load(ctx, c).Err(); err != nil {
			t.Fatal(err)
		}
		phases = append(phases, struct {
			name string
			run  func()
		}{"sk" + strconv.Itoa(i), func() {
			for j := range ss {
				x := &ss[j]
				if err := sc.EvalSha(ctx, c, []string{s.key(x.subject)}, x.id, "12345678901234567890123", "1764628000").Err(); err != nil && err != redis.Nil {
					t.Fatal(err)
				}
			}
		}})
	}
	for round := 0; round < 2; round++ {
		for _, p := range phases {
			c.ConfigResetStat(ctx)
			if cg != "" {
				callgrind(t, "-z", cg)
			}
			p.run()
			var ir float64
			if cg != "" {
				ir = callgrindIr(t, cg)
			}
			usec := evalshaUsec(t, c)
			t.Logf("%-8s usec_per_call %.3f  Ir/call %.0f", p.name, usec, ir/float64(n))
		}
	}
	for _, x := range ss {
		c.Del(ctx, s.key(x.subject))
	}
}

func callgrind(t testing.TB, args ...string) {
	if out, err := exec.Command("callgrind_control", args...).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
}

// callgrindIr dumps the counters of the callgrind'd process pid and
// returns the instructions since the last zeroing.
func callgrindIr(t testing.TB, pid string) float64 {
	dir := os.Getenv("RTR_SCRIPTCOST_CGDIR")
	before, _ := filepath.Glob(filepath.Join(dir, "callgrind.out."+pid+".*"))
	callgrind(t, "-d", pid)
	var after []string
	for range 100 {
		after, _ = filepath.Glob(filepath.Join(dir, "callgrind.out."+pid+".*"))
		if len(after) > len(before) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	newest := ""
	for _, f := range after {
		if newest == "" || len(f) > len(newest) || (len(f) == len(newest) && f > newest) {
			newest = f
		}
	}
	time.Sleep(200 * time.Millisecond)
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("callgrind_annotate", "--inclusive=yes", newest).Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "???:call [") {
				f, _ := strconv.ParseFloat(strings.ReplaceAll(strings.Fields(line)[0], ",", ""), 64)
				return f
			}
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "totals: "); ok {
			f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return f
		}
		if v, ok := strings.CutPrefix(line, "summary: "); ok {
			f, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return f
		}
	}
	t.Fatal("no totals in", newest)
	return 0
}

func evalshaUsec(t testing.TB, c *redis.Client) float64 {
	s, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
					f, _ := strconv.ParseFloat(v, 64)
					return f
				}
			}
		}
	}
	return 0
}
