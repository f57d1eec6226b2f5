#!/usr/bin/env bash
# A/B comparison of the working tree against a git ref, for optimization
# commits: both test binaries get the working tree's bench_test.go, run
# alternately (old, new, old, new, ...) so drift on a shared machine hits
# both sides alike, and benchstat prints the ratio.
#
#   bench/ab.sh [-n RUNS] [-t BENCHTIME] [-k] REF PATTERN
#
# -k keeps REF's own bench_test.go (for a REF whose API the working tree's
# benchmarks no longer compile against).
#
# e.g. bench/ab.sh -n 8 HEAD 'BenchmarkRefreshMemory$'
# Redis benchmarks use $RTR_REDIS_ADDR when set. Results are left in
# bench/out/ab-old.txt and bench/out/ab-new.txt.
set -euo pipefail
runs=6
benchtime=1s
keep=
while getopts n:t:k opt; do
	case $opt in
	n) runs=$OPTARG ;;
	t) benchtime=$OPTARG ;;
	k) keep=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: $0 [-n RUNS] [-t BENCHTIME] [-k] REF PATTERN" >&2; exit 2; }
ref=$1 pattern=$2

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=$root/bench/out
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rtr-ab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

git archive "$ref" | tar -x -C "$tmp"
if [ -z "$keep" ]; then
	# the external benchmarks and the baselines they measure against
	cp bench_test.go "$tmp/"
	mkdir -p "$tmp/bench"
	rm -rf "$tmp/bench/baseline"
	cp -r bench/baseline "$tmp/bench/"
fi
(cd "$tmp" && go test -c -o "$tmp/old.test" .)
go test -c -o "$tmp/new.test" .

if ! command -v benchstat >/dev/null 2>&1; then
	gobin=$(go env GOPATH)/bin
	export PATH=$PATH:$gobin
	command -v benchstat >/dev/null 2>&1 || go install golang.org/x/perf/cmd/benchstat@latest
fi

: >"$out/ab-old.txt"
: >"$out/ab-new.txt"
for i in $(seq "$runs"); do
	echo "run $i/$runs" >&2
	"$tmp/old.test" -test.run '^$' -test.bench "$pattern" -test.benchmem -test.benchtime "$benchtime" -test.count 1 >>"$out/ab-old.txt"
	"$tmp/new.test" -test.run '^$' -test.bench "$pattern" -test.benchmem -test.benchtime "$benchtime" -test.count 1 >>"$out/ab-new.txt"
done
benchstat "$out/ab-old.txt" "$out/ab-new.txt"
