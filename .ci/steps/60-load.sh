#!/usr/bin/env bash
# Load and attack simulation: cmd/rtrload and its oracle;
# about 70 s.
#
# 1. The oracle's self-tests: synthetic logs with known faults, and short
#    runs of the simulator on stores broken on purpose (no reuse
#    detection; retries that fork), which the oracle must catch (~10 s).
# 2. cmd/rtrload for RTR_LOAD_DURATION (default 30s) on the shared
#    standalone Redis, cookie and bearer mode at once, then for
#    RTR_LOAD_CLUSTER_DURATION (default 10s) on the shared Redis Cluster.
#    Each run uses a key prefix of its own and prints the request rate and
#    the oracle's counts; a wrong count fails the step. Both runs have
#    -instant-revocation: pages are served by a second issuer on its own
#    client, and the oracle also checks that no page is served for a
#    session ended more than -revocation-bound (1s) earlier.
#
# A long run: go run ./cmd/rtrload -redis HOST:PORT -duration 10m -users 500
set -euo pipefail
cd "${RTR_CI_ROOT:-$(git rev-parse --show-toplevel)}"

: "${RTR_REDIS_ADDR:?60-load needs RTR_REDIS_ADDR (.ci/run sets it)}"
duration=${RTR_LOAD_DURATION:-30s}
cluster_duration=${RTR_LOAD_CLUSTER_DURATION:-10s}

echo "60-load: oracle self-tests"
RTR_LOAD=1 go test -count=1 ./cmd/rtrload/

bin=$(mktemp "${RTR_CI_TMP:-${TMPDIR:-/tmp}}/rtrload.XXXXXX")
trap 'rm -f "$bin"' EXIT
go build -o "$bin" ./cmd/rtrload

echo "60-load: standalone Redis $RTR_REDIS_ADDR, $duration"
"$bin" -redis "$RTR_REDIS_ADDR" -duration "$duration" -instant-revocation

if [ -n "${RTR_REDIS_CLUSTER_ADDRS:-}" ] && [ "$cluster_duration" != 0 ]; then
    echo "60-load: Redis Cluster $RTR_REDIS_CLUSTER_ADDRS, $cluster_duration"
    "$bin" -cluster "$RTR_REDIS_CLUSTER_ADDRS" -duration "$cluster_duration" -instant-revocation
fi
