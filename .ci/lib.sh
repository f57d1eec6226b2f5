# shellcheck shell=bash disable=SC2034 # RTR_LAST_* are read by callers
#
# .ci/lib.sh: helper functions for .ci/run and for the .ci/steps/*.sh steps.
#
# Source it from a step:
#
#     . "${RTR_CI_ROOT:-$(git rev-parse --show-toplevel)}/.ci/lib.sh"
#
# Sourcing only defines functions (all named rtr_*). It does not change the
# caller's shell options or traps and it starts nothing. The functions work with
# or without `set -euo pipefail` in the caller.
#
# Redis instances started with rtr_redis_start / rtr_cluster_create live in
# $RTR_CI_TMP/redis/<name>/ (pid, port, args, redis.log, and nodes.conf for
# cluster nodes). .ci/run exports RTR_CI_TMP, and at its end it stops every
# instance registered there, including any a step started and forgot to stop.
# A step run on its own (without .ci/run) gets a temp dir of its own on first
# use; call rtr_cleanup from its EXIT trap to stop what it started and remove
# that dir.
#
# Every instance listens on 127.0.0.1 only and runs with --save '' and
# --appendonly no (nothing persisted) unless extra arguments override that.

# Names of the instances started by this shell (rtr_cleanup stops these).
RTR_CI_STARTED=()
# Port chosen by the last rtr_redis_start_free / rtr_cluster_create_free.
RTR_LAST_PORT=
# Ports chosen by the last rtr_cluster_create / rtr_cluster_create_free.
RTR_LAST_CLUSTER_PORTS=()

rtr_log()  { printf '[ci %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
rtr_warn() { printf '[ci %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
rtr_err()  { printf '[ci %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# rtr_ci_tmp: make sure $RTR_CI_TMP names an existing directory, creating and
# exporting a new temp dir if it is unset. Call it directly, not in $(...),
# then use $RTR_CI_TMP. (The rtr_redis_*/rtr_cluster_* functions call it.)
rtr_ci_tmp() {
    if [ -z "${RTR_CI_TMP:-}" ]; then
        RTR_CI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rtr-ci.XXXXXX") || return 1
        RTR_CI_OWN_TMP=$RTR_CI_TMP
        export RTR_CI_TMP
    fi
    mkdir -p "$RTR_CI_TMP/redis"
}

# rtr_port_free PORT: succeed if nothing listens on PORT on the loopback
# interface (or on all interfaces).
rtr_port_free() {
    local p=$1
    # Something accepts connections there: busy.
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    if timeout 2 bash -c ': <>"/dev/tcp/127.0.0.1/$1"' _ "$p" 2>/dev/null; then
        return 1
    fi
    # A listener on another address (e.g. ::1 only) would also make bind fail.
    if command -v ss >/dev/null 2>&1; then
        if [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
            return 1
        fi
    fi
    return 0
}

# rtr_free_port FROM TO: print the first free port in [FROM, TO].
rtr_free_port() {
    local p
    for ((p = $1; p <= $2; p++)); do
        if rtr_port_free "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    rtr_err "no free port in $1-$2"
    return 1
}

# rtr_redis_cli PORT ARGS...: redis-cli against 127.0.0.1:PORT (never reads stdin).
rtr_redis_cli() {
    local p=$1
    shift
    redis-cli -h 127.0.0.1 -p "$p" "$@" </dev/null
}

# rtr_redis_wait PORT [TIMEOUT_SECONDS=10]: wait until 127.0.0.1:PORT answers PING.
rtr_redis_wait() {
    local p=$1 t=${2:-10} deadline
    deadline=$((SECONDS + t))
    while ((SECONDS < deadline)); do
        if [ "$(rtr_redis_cli "$p" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        sleep 0.1
    done
    rtr_err "redis on 127.0.0.1:$p did not answer PING within ${t}s"
    return 1
}

# _rtr_is_redis PID: succeed if PID is alive and is a redis-server process.
_rtr_is_redis() {
    local pid=$1 cmd
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    case $cmd in
        *redis-server*) return 0 ;;
        *) return 1 ;;
    esac
}

# rtr_redis_dir NAME: print the state directory of instance NAME.
rtr_redis_dir() {
    rtr_ci_tmp || return 1
    printf '%s\n' "$RTR_CI_TMP/redis/$1"
}

# rtr_redis_pid NAME: print the pid of instance NAME; fail if it is not running.
rtr_redis_pid() {
    local dir pid
    [ -n "${RTR_CI_TMP:-}" ] || return 1
    dir=$(rtr_redis_dir "$1") || return 1
    pid=$(cat "$dir/pid" 2>/dev/null) || return 1
    _rtr_is_redis "$pid" || return 1
    printf '%s\n' "$pid"
}

# rtr_redis_port NAME: print the port of instance NAME (running or not).
rtr_redis_port() {
    local dir
    dir=$(rtr_redis_dir "$1") || return 1
    cat "$dir/port"
}

# _rtr_launch NAME: start instance NAME from its saved port and args, wait for PING.
_rtr_launch() {
    local name=$1 dir port pid args=()
    dir=$(rtr_redis_dir "$name") || return 1
    port=$(cat "$dir/port") || return 1
    mapfile -d '' args <"$dir/args"
    redis-server \
        --port "$port" --bind 127.0.0.1 --daemonize no \
        --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" \
        "${args[@]}" \
        </dev/null >>"$dir/stdout.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$dir/pid"
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rtr_err "redis '$name' (port $port) exited at start-up; last log lines:"
            tail -n 5 "$dir/redis.log" "$dir/stdout.log" >&2 2>/dev/null || true
            rm -f "$dir/pid"
            return 1
        fi
        if [ "$(rtr_redis_cli "$port" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        sleep 0.1
    done
    rtr_err "redis '$name' (port $port) did not answer PING within 10s; last log lines:"
    tail -n 5 "$dir/redis.log" >&2 2>/dev/null || true
    rtr_redis_kill "$name"
    return 1
}

# rtr_redis_start NAME PORT [REDIS-SERVER ARGS...]: start a redis-server on
# 127.0.0.1:PORT in the background and wait until it answers PING. Extra
# arguments (e.g. --maxmemory 10mb) come after the defaults and override them.
# NAME must be unique among running instances: prefix it with your step name.
rtr_redis_start() {
    local name=$1 port=$2 dir
    shift 2
    rtr_ci_tmp || return 1
    if rtr_redis_pid "$name" >/dev/null 2>&1; then
        rtr_err "redis '$name' is already running"
        return 1
    fi
    if ! rtr_port_free "$port"; then
        rtr_err "port $port is busy"
        return 1
    fi
    dir=$(rtr_redis_dir "$name") || return 1
    mkdir -p "$dir" || return 1
    printf '%s\n' "$port" >"$dir/port"
    if (($#)); then printf '%s\0' "$@" >"$dir/args"; else : >"$dir/args"; fi
    RTR_CI_STARTED+=("$name")
    _rtr_launch "$name"
}

# rtr_redis_start_free NAME FROM TO [REDIS-SERVER ARGS...]: like rtr_redis_start
# on the first free port in [FROM, TO]; retries with the next port if the start
# fails (e.g. another process took the port meanwhile). Sets RTR_LAST_PORT.
rtr_redis_start_free() {
    local name=$1 from=$2 to=$3 p
    shift 3
    RTR_LAST_PORT=
    rtr_ci_tmp || return 1
    while p=$(rtr_free_port "$from" "$to"); do
        if rtr_redis_start "$name" "$p" "$@"; then
            RTR_LAST_PORT=$p
            return 0
        fi
        from=$((p + 1))
    done
    return 1
}

# rtr_redis_stop NAME [TIMEOUT_SECONDS=10]: graceful stop (SIGTERM, then SIGKILL
# after the timeout); waits until the process is gone. State dir is kept, so
# rtr_redis_restart works afterwards (cluster nodes keep their nodes.conf).
rtr_redis_stop() {
    local name=$1 t=${2:-10} pid deadline
    pid=$(rtr_redis_pid "$name" 2>/dev/null) || return 0
    kill -CONT "$pid" 2>/dev/null || true # in case it was paused
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + t))
    while _rtr_is_redis "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if _rtr_is_redis "$pid"; then
        rtr_warn "redis '$name' (pid $pid) ignored SIGTERM for ${t}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while _rtr_is_redis "$pid"; do sleep 0.1; done
    fi
    wait "$pid" 2>/dev/null || true # reap it if it is our child
    return 0
}

# rtr_redis_kill NAME: SIGKILL (simulates a crash); waits until the process is gone.
rtr_redis_kill() {
    local name=$1 pid
    pid=$(rtr_redis_pid "$name" 2>/dev/null) || return 0
    kill -KILL "$pid" 2>/dev/null || true
    while _rtr_is_redis "$pid"; do sleep 0.05; done
    wait "$pid" 2>/dev/null || true
    return 0
}

# rtr_redis_pause NAME / rtr_redis_resume NAME: SIGSTOP / SIGCONT the server
# (simulates a hung server: connections are accepted by the kernel, no replies).
rtr_redis_pause() {
    local pid
    pid=$(rtr_redis_pid "$1") || { rtr_err "redis '$1' is not running"; return 1; }
    kill -STOP "$pid"
}
rtr_redis_resume() {
    local pid
    pid=$(rtr_redis_pid "$1") || { rtr_err "redis '$1' is not running"; return 1; }
    kill -CONT "$pid"
}

# rtr_redis_restart NAME: stop (if running) and start again on the same port
# with the same arguments; waits for PING. Data is gone (nothing is persisted),
# except that a cluster node rejoins its cluster from its nodes.conf.
rtr_redis_restart() {
    local name=$1 dir
    dir=$(rtr_redis_dir "$name") || return 1
    [ -f "$dir/port" ] || { rtr_err "unknown redis '$name'"; return 1; }
    rtr_redis_stop "$name"
    _rtr_launch "$name"
}

# rtr_cluster_wait_ok TIMEOUT_SECONDS PORT...: wait until every node reports
# cluster_state:ok with all 16384 slots assigned and knows exactly the given
# nodes, none of them in handshake or fail state.
rtr_cluster_wait_ok() {
    local t=$1 deadline p info nodes ok
    shift
    deadline=$((SECONDS + t))
    while :; do
        ok=1
        for p in "$@"; do
            info=$(rtr_redis_cli "$p" cluster info 2>/dev/null | tr -d '\r') || true
            nodes=$(rtr_redis_cli "$p" cluster nodes 2>/dev/null | tr -d '\r') || true
            if ! grep -qx 'cluster_state:ok' <<<"$info" ||
                ! grep -qx 'cluster_slots_assigned:16384' <<<"$info" ||
                ! grep -qx "cluster_known_nodes:$#" <<<"$info" ||
                grep -Eq 'handshake|fail|noaddr' <<<"$nodes"; then
                ok=0
                break
            fi
        done
        ((ok)) && return 0
        if ((SECONDS >= deadline)); then
            rtr_err "cluster on ports $* not ok after ${t}s; node $p says:"
            printf '%s\n%s\n' "$info" "$nodes" >&2
            return 1
        fi
        sleep 0.2
    done
}

# rtr_cluster_create NAME PORT... : start one cluster-enabled node per port
# (instances NAME-1, NAME-2, ...; no replicas; cluster-node-timeout 2000), join
# them with `redis-cli --cluster create`, and wait for cluster_state:ok on all
# nodes. Each node's cluster bus port is PORT+10000. Sets RTR_LAST_CLUSTER_PORTS.
# Individual nodes can then be stopped/killed/paused/restarted by name.
rtr_cluster_create() {
    local name=$1 p i=0 dir addrs=() log
    shift
    RTR_LAST_CLUSTER_PORTS=()
    rtr_ci_tmp || return 1
    for p in "$@"; do
        i=$((i + 1))
        dir=$(rtr_redis_dir "$name-$i") || return 1
        rm -f "$dir/nodes.conf"
        if ! rtr_redis_start "$name-$i" "$p" \
            --cluster-enabled yes \
            --cluster-config-file "$dir/nodes.conf" \
            --cluster-node-timeout 2000; then
            rtr_cluster_stop "$name"
            return 1
        fi
        addrs+=("127.0.0.1:$p")
    done
    log=$(rtr_redis_dir "$name-1")/cluster-create.log
    if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
        </dev/null >"$log" 2>&1; then
        rtr_err "redis-cli --cluster create failed:"
        cat "$log" >&2
        rtr_cluster_stop "$name"
        return 1
    fi
    if ! rtr_cluster_wait_ok 30 "$@"; then
        rtr_cluster_stop "$name"
        return 1
    fi
    RTR_LAST_CLUSTER_PORTS=("$@")
}

# rtr_cluster_create_free NAME FROM TO [NODES=3]: create a cluster on NODES
# consecutive ports: the first base in FROM, FROM+10, FROM+20, ... <= TO whose
# ports (and bus ports, +10000) are all free. Sets RTR_LAST_CLUSTER_PORTS.
rtr_cluster_create_free() {
    local name=$1 from=$2 to=$3 n=${4:-3} base i ports free
    rtr_ci_tmp || return 1
    for ((base = from; base + n - 1 <= to; base += 10)); do
        ports=()
        free=1
        for ((i = 0; i < n; i++)); do
            if ! rtr_port_free $((base + i)) || ! rtr_port_free $((base + i + 10000)); then
                free=0
                break
            fi
            ports+=($((base + i)))
        done
        ((free)) || continue
        if rtr_cluster_create "$name" "${ports[@]}"; then
            return 0
        fi
        rtr_warn "cluster on ports ${ports[*]} failed; trying the next ports"
    done
    rtr_err "could not create a $n-node cluster on ports $from-$to"
    return 1
}

# rtr_cluster_stop NAME: stop every node NAME-1, NAME-2, ... of a cluster.
rtr_cluster_stop() {
    local name=$1 d
    [ -n "${RTR_CI_TMP:-}" ] || return 0
    for d in "$RTR_CI_TMP/redis/$name"-[0-9]*; do
        [ -d "$d" ] && rtr_redis_stop "${d##*/}"
    done
    return 0
}

# rtr_cleanup: stop the instances started by this shell; remove the temp dir if
# this shell created it (i.e. RTR_CI_TMP was not set by .ci/run). Use it in a
# step's EXIT trap: trap rtr_cleanup EXIT
rtr_cleanup() {
    local name
    for name in "${RTR_CI_STARTED[@]}"; do
        rtr_redis_stop "$name" 5
    done
    RTR_CI_STARTED=()
    if [ -n "${RTR_CI_OWN_TMP:-}" ] && [ "${RTR_CI_OWN_TMP}" = "${RTR_CI_TMP:-}" ]; then
        rm -rf "$RTR_CI_OWN_TMP"
        unset RTR_CI_TMP RTR_CI_OWN_TMP
    fi
    return 0
}

# rtr_cleanup_all: stop every instance registered under $RTR_CI_TMP, whoever
# started it (used by .ci/run at exit; steps should use rtr_cleanup).
rtr_cleanup_all() {
    local d
    [ -n "${RTR_CI_TMP:-}" ] && [ -d "$RTR_CI_TMP/redis" ] || return 0
    for d in "$RTR_CI_TMP"/redis/*/; do
        [ -d "$d" ] && rtr_redis_stop "$(basename "$d")" 5
    done
    return 0
}
