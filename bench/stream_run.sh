#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/stream_run.sh: what tracking costs a streaming loop over a whole run, its fill and
# first pass included (build/bench/track_loop: STREAM's triad over three arrays from malloc,
# filled, then PASSES passes, each timed).
#
#   plain        the program alone
#   plain-again  the same again: the control, what two plain runs differ by
#   follow-cpu   cdmplace run, [rule arrays] size = 1M-, policy = bind 0, migrate = follow-cpu
#                (the default tracker; on one node nothing can move: the cost is tracking's)
#   profile      cdmplace run with a config of no rule (the profiling default: every array
#                is tracked)
# The runs alternate, the order rotated by one each round. The time of a run is the
# program's own: its fill and all its passes (the CLI's start is not in it). Each run is given
# memory its machine backs: warm_memory writes and frees the arrays' worth and more just before
# it (bench/warm_memory.c; on a machine whose balloon hands freed memory back to its host, the
# fill's time otherwise depends on how long the machine was idle). Printed per
# configuration and pass count: the median over the rounds of that time, its ratio to
# plain's, and the ratio of the first pass and of the later passes' median alone; the
# verdict: whole-run ratio <= 1.03. A goal not met is reported, not failed; the script fails
# when a run fails.
#
# Usage: sh bench/stream_run.sh (from anywhere, after make; `make bench-stream`).
# STREAM_MIB (default 250) per array, STREAM_PASSES (default "10 30"), STREAM_ROUNDS
# (default 7) rounds; STREAM_LIBRARY another libcdmplace.so (a build of an older commit).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
cli=$root/build/cdmplace
bin=$root/build/bench/track_loop
mib=${STREAM_MIB:-250}
passes=${STREAM_PASSES:-10 30}
rounds=${STREAM_ROUNDS:-7}
configs="plain plain-again follow-cpu profile"
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
export CDMPLACE_LIBRARY="${STREAM_LIBRARY:-$root/build/libcdmplace.so}"

needs "$cli" "$bin" "$root/build/bench/warm_memory"
scratch stream
printf '[settings]\nreport = off\n\n[rule arrays]\nsize = 1M-\npolicy = bind 0\nmigrate = follow-cpu\n' >"$tmp/follow-cpu.conf"
printf '[settings]\nreport = off\n' >"$tmp/profile.conf"

# field NAME LINE: the value of NAME=VALUE in a track_loop line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run CONFIG PASSES: one run; appends "WHOLE_MS FIRST_MS LATER_MS" to $tmp/CONFIG-PASSES.
run() {
    config=$1 n=$2
    case $config in
    plain | plain-again) set -- "$bin" "$mib" "$n" ;;
    follow-cpu) set -- "$cli" run -c "$tmp/$config.conf" -- "$bin" "$mib" "$n" ;;
    profile) set -- "$cli" run -c "$tmp/$config.conf" -- "$bin" "$mib" "$n" profile ;;
    esac
    warm_memory $((mib * 4)) || return 1
    if ! line=$(cd "$tmp" && timeout 600 "$@" 2>"$tmp/err"); then
        echo "bench: $config failed: $(cat "$tmp/err")" >&2
        return 1
    fi
    fill=$(field fill_ns "$line") total=$(field total_ns "$line")
    first=$(field first_ns "$line") later=$(field median_ns "$line")
    echo "$fill $total $first $later" |
        awk '{ printf "%.3f %.3f %.3f\n", ($1 + $2) / 1e6, $3 / 1e6, $4 / 1e6 }' >>"$tmp/$config-$n"
    echo "  $config, $n passes: $line"
}

echo "track_loop 3 x $mib MiB, passes $passes, $rounds rounds ($(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled), library $CDMPLACE_LIBRARY at $(git -C "$root" rev-parse --short HEAD 2>/dev/null))"
status=0
for n in $passes; do
    for c in $configs; do : >"$tmp/$c-$n"; done
done
i=1
while [ "$i" -le "$rounds" ]; do
    # shellcheck disable=SC2086 # one configuration a word
    order=$(rotated "$i" $configs)
    for n in $passes; do
        for c in $order; do
            run "$c" "$n" || status=1
        done
    done
    i=$((i + 1))
done
[ $status -eq 0 ] || { echo "bench: a run failed" >&2; exit 1; }

printf '%-12s %6s %10s %7s %7s %7s %8s\n' configuration passes whole_ms ratio first later "<=1.03"
for n in $passes; do
    plain_ms=$(median "$tmp/plain-$n" 1) plain_first=$(median "$tmp/plain-$n" 2)
    plain_later=$(median "$tmp/plain-$n" 3)
    for c in $configs; do
        awk -v c="$c" -v n="$n" -v ms="$(median "$tmp/$c-$n" 1)" -v p="$plain_ms" \
            -v f="$(median "$tmp/$c-$n" 2)" -v pf="$plain_first" \
            -v l="$(median "$tmp/$c-$n" 3)" -v pl="$plain_later" 'BEGIN {
            r = ms / p
            t = (c ~ /^plain/) ? "" : (r <= 1.03 ? "met" : "NOT met")
            printf "%-12s %6d %10.1f %7.3f %7.3f %7.3f %8s\n", c, n, ms, r, f / pf, l / pl, t
        }'
    done
done
