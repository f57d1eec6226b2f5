#!/usr/bin/env bash
# The PostgreSQL store (pgstore/, its own module) against a real server;
# about 1-2 minutes (longer when postgresql must be installed first).
#
# Installs Debian's postgresql if no server binaries are found, initdb's a
# throwaway cluster under $RTR_CI_TMP (as user postgres: initdb refuses
# root), starts it on a free loopback port in 5440-5499, and runs in
# pgstore/: gofmt/vet, `go test -race -count=1 -v ./...` with
# RTR_POSTGRES_URL set (failing if any PostgreSQL test was skipped), the
# fault tests including a server restart mid-load (RTR_POSTGRES_RESTART),
# examples/postgres, and a short benchmark smoke. The server is stopped at exit, whatever
# happens.
set -euo pipefail
cd "${RTR_CI_ROOT:-$(git rev-parse --show-toplevel)}"
. .ci/lib.sh
rtr_ci_tmp

pgbin=
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && pgbin=$d
done
if [ -z "$pgbin" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "70-postgres: postgresql is not installed and installing it needs root" >&2
        exit 1
    fi
    echo "70-postgres: apt-get install -y postgresql"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package's own cluster service from starting.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    apt-get update -q
    apt-get install -y -q -o Dpkg::Use-Pty=0 postgresql
    [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && pgbin=$d
    done
fi
[ -n "$pgbin" ] || { echo "70-postgres: no initdb found" >&2; exit 1; }
echo "70-postgres: $("$pgbin/postgres" --version)"

as_pg=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as_pg=(runuser -u postgres --)
fi

# Not under $RTR_CI_TMP: mktemp makes that 0700 for root, and the server
# runs as postgres.
dir=$(mktemp -d "${TMPDIR:-/tmp}/rtr-pg.XXXXXX")
chmod 0755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(rtr_free_port 5440 5499)
"${as_pg[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
}
pgctl=("${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30)
stop_pg() {
    "${pgctl[@]}" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop_pg EXIT
"${pgctl[@]}" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" start >/dev/null
"${as_pg[@]}" "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c 'CREATE DATABASE rtr' postgres
export RTR_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/rtr?sslmode=disable"
export RTR_POSTGRES_RESTART="${pgctl[*]} -m fast restart"
echo "70-postgres: PostgreSQL up at 127.0.0.1:$port (RTR_POSTGRES_URL=$RTR_POSTGRES_URL)"

cd pgstore
rc=0
echo "70-postgres: gofmt, go vet"
out=$(gofmt -l .)
if [ -n "$out" ]; then
    echo "70-postgres: files need gofmt: $out" >&2
    rc=1
fi
go vet ./... || rc=$?
if command -v staticcheck >/dev/null 2>&1; then
    staticcheck ./... || rc=$?
fi

log=$RTR_CI_TMP/postgres-test.log
echo "70-postgres: go test -race -count=1 -v ./... (fault tests included)"
t0=$SECONDS
go test -race -count=1 -v -timeout 6m ./... >"$log" 2>&1 || rc=$?
echo "70-postgres: tests took $((SECONDS - t0))s"
grep -E -- '^(--- |ok|FAIL|PASS)|^\s+--- FAIL|fault_test' "$log" || true
if ((rc != 0)); then
    echo "70-postgres: FAILED (exit $rc); the verbose log:" >&2
    cat "$log"
    exit "$rc"
fi
passed=$(grep -cE -- '--- PASS: Test(Fault)?Postgres' "$log" || true)
echo "70-postgres: $passed PostgreSQL tests and subtests passed"
if grep -qE -- '--- SKIP: ' "$log" || ((passed == 0)); then
    echo "70-postgres: tests were skipped although RTR_POSTGRES_URL is set:" >&2
    grep -E -B2 -- '--- SKIP: ' "$log" >&2 || true
    exit 1
fi

echo "70-postgres: examples/postgres (its own module) against the server"
(cd ../examples/postgres && test -z "$(gofmt -l .)" && go vet . && DATABASE_URL=$RTR_POSTGRES_URL go run .)

echo "70-postgres: benchmark smoke"
go test -run '^$' -bench 'Postgres' -benchtime=200x -count=1 ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)'
