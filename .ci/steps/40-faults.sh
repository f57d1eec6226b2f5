#!/usr/bin/env bash
# Fault-injection tests (internal/faults: the six cases of store_test.go
# and cluster_test.go, their HTTP side and the revocation feed); about 1-2
# minutes.
#
# The tests start, kill, pause and restart redis-server processes of their
# own on free loopback ports (and a 3-master cluster of their own for the
# slot-migration case), so the shared servers of .ci/run are never touched.
# They only run with RTR_FAULTS=1; this step sets it and fails if any of
# them was skipped.
set -euo pipefail
cd "${RTR_CI_ROOT:-$(git rev-parse --show-toplevel)}"

command -v redis-server >/dev/null || {
    echo "40-faults: redis-server not on PATH" >&2
    exit 1
}

log=$(mktemp "${RTR_CI_TMP:-${TMPDIR:-/tmp}}/faults.XXXXXX")
trap 'rm -f "$log"' EXIT

rc=0
echo "40-faults: go test -race ./internal/faultproxy/"
go test -race -count=1 ./internal/faultproxy/ || rc=$?

pkg=./internal/faults/
echo "40-faults: RTR_FAULTS=1 go test -race -count=1 -v -run '^TestFault' $pkg"
t0=$SECONDS
RTR_FAULTS=1 go test -race -count=1 -v -timeout 7m -run '^TestFault' "$pkg" >"$log" 2>&1 || rc=$?
# go-redis logs every refused dial while a server is down; keep the log readable.
grep -v -E '^redis: .*(failed to dial|connection refused)' "$log" || true
echo "40-faults: fault tests took $((SECONDS - t0))s"

if ((rc != 0)); then
    echo "40-faults: FAILED (exit $rc)" >&2
    exit "$rc"
fi

passed=$(grep -cE -- '--- PASS: TestFault' "$log" || true)
echo
echo "40-faults: $passed fault tests and subtests passed"
if grep -qE -- '--- SKIP: TestFault' "$log" || ((passed == 0)); then
    echo "40-faults: fault tests were skipped although RTR_FAULTS=1" >&2
    exit 1
fi
