#!/usr/bin/env bash
# Fuzzing of hostile input: every Fuzz target of the repository,
# one at a time, for RTR_FUZZTIME each (default 20s); about 25-30 s per
# target, build included (11 targets today: about 4 minutes).
#
# Targets are found, not listed here: every package with a func Fuzz* in a
# _test.go file, asked with `go test -list`. The committed seed corpora
# (testdata/fuzz/<Name>/) already run as plain tests in `go test ./...`;
# this step searches beyond them. When a target fails, Go writes the
# failing input to testdata/fuzz/<Name>/<hash>: the step prints it, and
# that file, once the bug is fixed, is committed as a regression seed.
set -euo pipefail
cd "${RTR_CI_ROOT:-$(git rev-parse --show-toplevel)}"
root=$PWD

fuzztime=${RTR_FUZZTIME:-20s}
# Minimizing each new interesting input may take 60 s by default, which
# would eat the whole budget; a crasher is still minimized within this.
minimize=${RTR_FUZZMINIMIZETIME:-2s}

mapfile -t dirs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' . |
    grep -v '/testdata/' | xargs -r -n1 dirname | sort -u)
if ((${#dirs[@]} == 0)); then
    echo "50-fuzz: no fuzz targets found" >&2
    exit 1
fi

log=$(mktemp "${RTR_CI_TMP:-${TMPDIR:-/tmp}}/fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT
failed=()
total=0
for dir in "${dirs[@]}"; do
    cd "$root/$dir"
    # A package that does not build lists nothing: fail, rather than fuzz
    # fewer targets than there are.
    if ! listing=$(go test -list '^Fuzz' . 2>&1); then
        printf '%s\n' "$listing"
        failed+=("$dir: go test -list failed")
        cd "$root"
        continue
    fi
    mapfile -t names < <(grep -E '^Fuzz' <<<"$listing" || true)
    for name in "${names[@]}"; do
        total=$((total + 1))
        echo "50-fuzz: $dir $name for $fuzztime"
        t0=$SECONDS
        before=$(find "testdata/fuzz/$name" -type f 2>/dev/null | sort || true)
        rc=0
        go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
            -fuzzminimizetime "$minimize" . >"$log" 2>&1 || rc=$?
        # Go before 1.27 can fail a fuzz run at its -fuzztime boundary with
        # a bare "context deadline exceeded" on a loaded machine, finding
        # nothing (go.dev/issue/75804). Such a run wrote no failing input:
        # run it once more; a second failure of any kind fails the step.
        if ((rc != 0)) && grep -q 'context deadline exceeded' "$log" &&
            ! grep -qE 'Failing input written|panic:' "$log" &&
            [ "$before" = "$(find "testdata/fuzz/$name" -type f 2>/dev/null | sort || true)" ]; then
            echo "50-fuzz: $name stopped at the fuzztime boundary with nothing found (go.dev/issue/75804); running it again"
            rc=0
            go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
                -fuzzminimizetime "$minimize" . >"$log" 2>&1 || rc=$?
        fi
        # The progress lines, but the last one (exec count and rate).
        grep -vE '^fuzz: elapsed: ' "$log" || true
        grep -E '^fuzz: elapsed: .*execs' "$log" | tail -n 1 || true
        echo "50-fuzz: $name finished in $((SECONDS - t0))s (exit $rc)"
        if ((rc != 0)); then
            failed+=("$dir:$name")
            after=$(find "testdata/fuzz/$name" -type f 2>/dev/null | sort || true)
            new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true)
            if [ -n "$new" ]; then
                echo "50-fuzz: failing input(s) written to $dir/:"
                while IFS= read -r f; do echo "  $f"; done <<<"$new"
            fi
        fi
    done
done
cd "$root"

echo "50-fuzz: $total targets fuzzed for $fuzztime each"
if ((total == 0)); then
    echo "50-fuzz: no fuzz target ran" >&2
    exit 1
fi
if ((${#failed[@]})); then
    echo "50-fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
