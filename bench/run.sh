#!/usr/bin/env bash
# The benchmark table of BENCHMARKS.md in one command:
#
#   bench/run.sh                 # starts its own loopback Redis
#   bench/run.sh -r HOST:PORT    # uses that Redis (use a server nobody else
#                                # loads: commandstats and CPU are global)
#   bench/run.sh -c 3            # fewer runs per benchmark (default 6)
#
# It builds the test binary once and runs: the benchmarks of bench_test.go
# with -count N (rtr and its baselines alternate within each run), RevokeAll
# with a fixed -benchtime (every op needs 100 fresh sessions), the
# 1,000 / 1,000,000 stored-session comparison in alternating processes (so
# one size's heap never weighs on the other), and bench/measure (sizes and
# round trips). Then bench/report prints the table; raw output and
# benchstat's summary are left in bench/out/. Takes about 10 minutes on a
# 2-core machine; needs Go and, without -r, redis-server on PATH.
set -euo pipefail
export LC_ALL=C

count=6
redis_addr=
while getopts c:r: opt; do
	case $opt in
	c) count=$OPTARG ;;
	r) redis_addr=$OPTARG ;;
	*)
		sed -n '2,16p' "$0" >&2
		exit 2
		;;
	esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=bench/out
mkdir -p "$out"
rm -f "$out"/*.txt
log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- Redis
redis_pid=
redis_dir=
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	[ -z "$redis_dir" ] || rm -rf "$redis_dir"
}
trap cleanup EXIT

if [ -z "$redis_addr" ]; then
	if command -v redis-server >/dev/null 2>&1; then
		port=
		for p in $(seq 6420 6499); do
			if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				port=$p
				break
			fi
		done
		[ -n "$port" ] || { log "no free port in 6420-6499"; exit 1; }
		redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/rtr-bench-redis.XXXXXX")
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$redis_dir" --logfile "$redis_dir/redis.log" &
		redis_pid=$!
		redis_addr=127.0.0.1:$port
		for _ in $(seq 50); do
			redis-cli -p "$port" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
		redis-cli -p "$port" ping >/dev/null || { log "redis-server did not start"; exit 1; }
		log "started redis-server on $redis_addr"
	else
		log "no redis-server on PATH and no -r: the Redis rows will say 'not run'"
		log "(Debian/Ubuntu: apt-get install redis-server)"
	fi
fi
redis_version=-
if [ -n "$redis_addr" ]; then
	redis_version=$(redis-cli -h "${redis_addr%:*}" -p "${redis_addr##*:}" info server 2>/dev/null |
		sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p' || true)
	[ -n "$redis_version" ] || redis_version=unknown
fi
export RTR_REDIS_ADDR=$redis_addr

# ---------------------------------------------------------------- tools
gobin=$(go env GOPATH)/bin
export PATH=$PATH:$gobin
if ! command -v benchstat >/dev/null 2>&1; then
	log "installing benchstat"
	go install golang.org/x/perf/cmd/benchstat@latest
fi
log "building the test binary"
go test -c -o "$out/rtr.test" .
bench() { "$out/rtr.test" -test.run '^$' -test.benchmem "$@"; }

{
	echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3-), redis $redis_version, $(nproc) CPUs"
	grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/^/# /' || true
} >"$out/env.txt"

# ---------------------------------------------------------------- runs
log "main benchmarks, -count $count"
bench -test.bench '^Benchmark(Verify|Issue|RefreshMemory|RefreshMemoryParallel|RefreshRedis|IssueRedis)$' \
	-test.count "$count" | tee "$out/main.txt" | grep -E '^Benchmark' >&2 || true

log "RevokeAll (100 sessions each), -count $count"
bench -test.bench '^BenchmarkRevokeAll' -test.benchtime 300x -test.count "$count" |
	tee "$out/revokeall.txt" | grep -E '^Benchmark' >&2 || true

log "Refresh with 1,000 vs 1,000,000 sessions stored, alternating processes"
for _ in $(seq "$count"); do
	for n in 1000 1000000; do
		bench -test.bench "^BenchmarkRefreshMemoryStored/sessions=$n\$" -test.benchtime 2s -test.count 1 |
			tee -a "$out/stored.txt" | grep -E '^Benchmark' >&2 || true
	done
done
if [ -n "$redis_addr" ]; then
	for _ in $(seq "$count"); do
		for n in 1000 1000000; do
			bench -test.bench "^BenchmarkRefreshRedisStored/sessions=$n\$" -test.benchtime 2s -test.count 1 |
				tee -a "$out/stored.txt" | grep -E '^Benchmark' >&2 || true
		done
	done
fi

log "sizes and round trips (bench/measure)"
go run ./bench/measure -redis "$redis_addr" | tee "$out/measure.txt" >&2

if [ -z "$redis_pid" ] && [ -n "$redis_addr" ]; then
	log "deleting the benchmark keys (rtrbench:*) from $redis_addr"
	redis-cli -h "${redis_addr%:*}" -p "${redis_addr##*:}" --scan --pattern 'rtrbench:*' |
		xargs -r -n 1000 redis-cli -h "${redis_addr%:*}" -p "${redis_addr##*:}" unlink >/dev/null
fi

cat "$out/main.txt" "$out/revokeall.txt" "$out/stored.txt" >"$out/all.txt"
benchstat "$out/all.txt" >"$out/benchstat.txt" 2>&1 || true

# ---------------------------------------------------------------- table
echo
cat "$out/env.txt"
echo
go run ./bench/report "$out"/main.txt "$out"/revokeall.txt "$out"/stored.txt "$out"/measure.txt
echo
echo "raw output and benchstat's per-benchmark summary: $out/"
