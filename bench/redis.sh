#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/redis.sh: Debian's redis-server (linked with jemalloc) under the library, against
# itself without it: redis-benchmark's requests per second, SET and GET.
#
#   plain        redis-server alone
#   plain-again  the same again: the control, what two plain configurations differ by
#   placed       cdmplace run, [rule big] size = 1M-, policy = bind 0 (jemalloc's extents of
#                1M or more are mapped through our mmap hook and bound)
#   follow-cpu   the same rule with migrate = follow-cpu (tracked: the tracker's threads,
#                write-protect faults, an epoch every 100 ms)
#   profile      cdmplace run with a config of no rule (the profiling default: every large
#                mapping recorded and tracked, none placed); not run unless REDIS_CONFIGS names it
#
# Each round starts a fresh server per configuration (Unix socket, no persistence) and runs
#   redis-benchmark -s SOCKET -q -n 200000 -d 4096 -t set,get -r 100000
# against it, once the server is up and 1 GiB was written and freed (warm_memory, bench/lib.sh:
# the server's some 600 MiB of values then come from memory the machine backs); the rounds
# alternate the configurations, the order rotated by one each round.
# Printed per configuration: the median rps of SET and GET and the time ratio plain/config
# (the plain median rps over the configuration's: > 1 means slower), with the goal <= 1.03
# and a verdict per configuration beside the control's ratio. A goal not met is reported, not
# failed: timings on a shared machine are noisy. The script fails when a run fails (the
# server does not start, the benchmark prints no SET or GET line, nothing was placed).
#
# Usage: sh bench/redis.sh (from anywhere, after make; `make bench-redis`).
# REDIS_ROUNDS (default 7) rounds; REDIS_REQUESTS (default 200000) requests per test;
# REDIS_CONFIGS the configurations (default "plain plain-again placed follow-cpu"; without
# plain and plain-again, no table); REDIS_NODES the rule's node set (default 0; bench/real.sh's
# guest part binds to cdm); CDMPLACE_LIBRARY another libcdmplace.so (a build of an older
# commit), as `cdmplace run` reads.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
cli=$root/build/cdmplace
rounds=${REDIS_ROUNDS:-7}
requests=${REDIS_REQUESTS:-200000}
configs=${REDIS_CONFIGS:-plain plain-again placed follow-cpu}
nodes=${REDIS_NODES:-0}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
unset MALLOC_CONF

if [ ! -x "$cli" ] || [ ! -f "$root/build/libcdmplace.so" ]; then
    echo "bench: $cli or build/libcdmplace.so is missing: run make" >&2
    exit 1
fi
for program in redis-server redis-benchmark redis-cli; do
    command -v "$program" >/dev/null 2>&1 ||
        { echo "bench: $program is missing: run make deps (redis-server, redis-tools)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-redis.XXXXXX") || exit 1
server=""
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# conf NAME DIR: the config of a run under the library, its trace in DIR.
conf() {
    printf '[settings]\nlog = %s/trace.%%p.jsonl\nreport = off\n' "$2"
    [ "$1" = profile ] && return
    printf '\n[rule big]\nsize = 1M-\npolicy = bind %s\n' "$nodes"
    [ "$1" = follow-cpu ] && printf 'migrate = follow-cpu\n'
}

# run CONFIG ROUND: one server, one benchmark; appends "SET GET" rps to $tmp/CONFIG.
run() {
    config=$1 dir=$tmp/$1.$2
    mkdir -p "$dir"
    socket=$dir/redis.sock
    set -- redis-server --port 0 --unixsocket "$socket" --save '' --appendonly no --dir "$dir"
    case $config in
    placed | follow-cpu | profile)
        conf "$config" "$dir" >"$dir/config"
        set -- "$cli" run -c "$dir/config" -- "$@"
        ;;
    esac
    "$@" </dev/null >"$dir/server.log" 2>&1 &
    server=$!
    up=no
    for _ in $(seq 100); do
        [ "$(timeout 5 redis-cli -s "$socket" ping 2>/dev/null)" = PONG ] && { up=yes; break; }
        sleep 0.1
    done
    if [ $up = no ]; then
        echo "bench: $config: the server did not start ($dir/server.log):" >&2
        tail -n 5 "$dir/server.log" >&2
        return 1
    fi
    warm_memory 1024 || return 1
    timeout 600 redis-benchmark -s "$socket" -q -n "$requests" -d 4096 -t set,get -r 100000 \
        </dev/null 2>&1 | tr '\r' '\n' >"$dir/bench.out"
    timeout 30 redis-cli -s "$socket" shutdown nosave >/dev/null 2>&1 || kill -9 "$server"
    wait "$server"
    server=""
    set_rps=$(sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' "$dir/bench.out")
    get_rps=$(sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' "$dir/bench.out")
    if [ -z "$set_rps" ] || [ -z "$get_rps" ]; then
        echo "bench: $config: redis-benchmark printed no SET or GET line ($dir):" >&2
        grep -v '^ *$' "$dir/bench.out" | tail -n 3 >&2
        return 1
    fi
    # A rule's run must have placed something; a profile records its mappings unplaced.
    placed='"result":"applied"'
    [ "$config" = profile ] && placed='"result":"unplaced"'
    if [ -f "$dir/config" ] &&
        ! grep -h '"ev":"place"' "$dir"/trace.*.jsonl 2>/dev/null | grep -q "$placed"; then
        echo "bench: $config recorded nothing (no place event with $placed in $dir)" >&2
        return 1
    fi
    echo "$set_rps $get_rps" >>"$tmp/$config"
}

echo "redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*malloc=\([^ ]*\).*/\1 (\2)/p'), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r)"
echo "redis-benchmark -s SOCKET -q -n $requests -d 4096 -t set,get -r 100000; $rounds rounds, a fresh"
echo "  server per configuration and round, the order rotated each round"
status=0
for c in $configs; do : >"$tmp/$c"; done
round=1
while [ "$round" -le "$rounds" ]; do
    # This round's order: the list rotated by round - 1.
    # shellcheck disable=SC2086 # one configuration a word
    order=$(rotated "$round" $configs)
    for c in $order; do
        run "$c" "$round" || status=1
    done
    echo "  round $round ($order): $(for c in $configs; do tail -n 1 "$tmp/$c" | awk -v c="$c" '{ printf "%s %.0f/%.0f  ", c, $1, $2 }'; done)"
    round=$((round + 1))
done
[ $status -eq 0 ] || { echo "bench: a run failed" >&2; exit 1; }
# The table compares each configuration with plain, beside the control.
for c in plain plain-again; do
    case " $configs " in *" $c "*) ;; *) exit 0 ;; esac
done

plain_set=$(median "$tmp/plain" 1)
plain_get=$(median "$tmp/plain" 2)
echo
printf '  %-12s %14s %14s %10s %10s\n' configuration "SET rps" "GET rps" "SET ratio" "GET ratio"
for c in $configs; do
    s=$(median "$tmp/$c" 1) g=$(median "$tmp/$c" 2)
    awk -v c="$c" -v s="$s" -v g="$g" -v ps="$plain_set" -v pg="$plain_get" 'BEGIN {
        printf "  %-12s %14.0f %14.0f %10.3f %10.3f\n", c, s, g, ps / s, pg / g }'
done
echo "  (medians of $rounds; ratio = plain rps / configuration rps, the time ratio: > 1 is slower)"
echo
control_set=$(median "$tmp/plain-again" 1)
control_get=$(median "$tmp/plain-again" 2)
for c in $configs; do
    case $c in plain*) continue ;; esac
    s=$(median "$tmp/$c" 1) g=$(median "$tmp/$c" 2)
    awk -v c="$c" -v s="$s" -v g="$g" -v ps="$plain_set" -v pg="$plain_get" \
        -v cs="$control_set" -v cg="$control_get" 'BEGIN {
        rs = ps / s; rg = pg / g
        printf "  goal plain/%s <= 1.03: SET %.3f, GET %.3f: %s (control plain-again: SET %.3f, GET %.3f)\n",
            c, rs, rg, (rs <= 1.03 && rg <= 1.03 ? "met" : "NOT met"), ps / cs, pg / cg }'
done
exit 0
