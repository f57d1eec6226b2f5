#!/usr/bin/env bash
# Benchmark smoke run: every benchmark once (-benchtime 1x;
# -short skips the 1,000,000-session fills), bench/measure with small
# counts and bench/report over the output, so that the harness keeps
# building and running. Nothing is timed or compared: the figures of a 1x
# run mean nothing (bench/run.sh makes the real table). About 30-60 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=$(mktemp -d "${RTR_CI_TMP:-${TMPDIR:-/tmp}}/bench-smoke.XXXXXX")
prefix="rtrbench:smoke$$:"
cleanup() {
	rm -rf "$out"
	if [ -n "${RTR_REDIS_ADDR:-}" ] && command -v redis-cli >/dev/null 2>&1; then
		# The stored-session benchmark keeps its fill under rtrbench:stored*.
		redis-cli -h "${RTR_REDIS_ADDR%:*}" -p "${RTR_REDIS_ADDR##*:}" --scan --pattern 'rtrbench:*' |
			xargs -r -n 500 redis-cli -h "${RTR_REDIS_ADDR%:*}" -p "${RTR_REDIS_ADDR##*:}" unlink >/dev/null || true
	fi
}
trap cleanup EXIT

echo "20-bench-smoke: benchmarks, once each (RTR_REDIS_ADDR=${RTR_REDIS_ADDR:-unset})"
go test -short -run '^$' -bench . -benchtime 1x -benchmem . | tee "$out/bench.txt"
grep -q '^BenchmarkRefreshMemory/rtr' "$out/bench.txt"

echo "20-bench-smoke: bench/measure"
go run ./bench/measure -redis "${RTR_REDIS_ADDR:-}" -db 0 -prefix "$prefix" \
	-redis-sessions 200 -mem-sessions 2000 | tee "$out/measure.txt"

echo "20-bench-smoke: bench/report (figures of a 1x run: not meaningful)"
go run ./bench/report "$out/bench.txt" "$out/measure.txt"
