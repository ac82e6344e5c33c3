#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/live_buffers.sh: does the library's cost per call stay flat in what is live?
#
# build/bench/live_buffers maps LIVE placed buffers and times mmap, munmap, malloc, free and
# madvise with them live (see its comment). It runs plainly, plainly again (the control) and
# under the library with `[rule big] size = 1M-, policy = bind 0`, with log and report off
# (library) and with a log (logged: every placement and advice written to the trace),
# alternated in LIVE_ROUNDS rounds (default 5), the order rotated each round. Per LIVE and
# call: the medians of plain, control and library in ns, the library's own cost (library -
# plain) and that cost over its cost at the first LIVE; the same for logged. The goal, for
# each of the two: at the largest LIVE the
# library's cost per call within 1.5 times its cost at the first, for mmap, munmap, free and
# madvise (malloc is printed too). Where the cost at the first LIVE is below the noise (the
# largest |control - plain| of that call over the counts; a library that is no slower than
# plain there), 1.5 times the noise stands in for it. A goal not met is reported, not failed.
#
# Usage: sh bench/live_buffers.sh (from anywhere, after make; `make bench-live`).
# LIVE_COUNTS (default "1000 10000 30000 100000"), LIVE_OPS calls of each kind (default
# 2000), LIVE_ROUNDS; LIVE_LIBRARY another libcdmplace.so (a build of an older commit).
# vm.max_map_count is raised for the run when it is below 2 * the largest count + 1000 (root),
# and put back after.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
bin=$root/build/bench/live_buffers
library=${LIVE_LIBRARY:-$root/build/libcdmplace.so}
counts=${LIVE_COUNTS:-1000 10000 30000 100000}
ops=${LIVE_OPS:-2000}
rounds=${LIVE_ROUNDS:-5}
calls="mmap munmap malloc free madvise"
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG

needs "$bin" "$library"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-live.XXXXXX") || exit 1
old_max=$(sysctl -n vm.max_map_count)
trap '[ "$(sysctl -n vm.max_map_count)" != "$old_max" ] && sysctl -q -w vm.max_map_count="$old_max"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
largest=$(echo $counts | tr ' ' '\n' | sort -n | tail -n 1)
needed=$((2 * largest + 1000))
if [ "$old_max" -lt "$needed" ] && ! sysctl -q -w vm.max_map_count="$needed" 2>/dev/null; then
    echo "bench: vm.max_map_count is $old_max, $needed needed for $largest live buffers (run as root)" >&2
    exit 1
fi
printf '[settings]\nlog = off\nreport = off\n\n[rule big]\nsize = 1M-\npolicy = bind 0\n' >"$tmp/big.conf"
sed "s|^log = off|log = $tmp/trace.%p|" "$tmp/big.conf" >"$tmp/logged.conf"

# run CONFIG: one run of every count, its lines appended to $tmp/CONFIG.
run() {
    case $1 in
    library) env LD_PRELOAD="$library" CDMPLACE_CONFIG="$tmp/big.conf" "$bin" "$ops" $counts ;;
    logged)
        env LD_PRELOAD="$library" CDMPLACE_CONFIG="$tmp/logged.conf" "$bin" "$ops" $counts
        rm -f "$tmp"/trace.* ;;
    *) "$bin" "$ops" $counts ;;
    esac >>"$tmp/$1" 2>"$tmp/err" || { echo "bench: live_buffers ($1) failed: $(cat "$tmp/err")" >&2; exit 1; }
}

echo "live_buffers $ops calls of each kind, LIVE = $counts; $rounds rounds ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r))"
configs="plain control library logged"
for c in $configs; do : >"$tmp/$c"; done
round=1
while [ "$round" -le "$rounds" ]; do
    # shellcheck disable=SC2086 # one configuration a word
    order=$(rotated "$round" $configs)
    for c in $order; do run "$c"; done
    round=$((round + 1))
done

# call_median CONFIG LIVE CALL: the median ns of that call at that count over the rounds.
call_median() {
    grep "^live=$2 " "$tmp/$1" | tr ' ' '\n' | sed -n "s/^$3=//p" | median_of
}

first=$(echo $counts | awk '{ print $1 }')
for lib in library logged; do
    printf '\n  %-8s %-8s %10s %10s %10s %10s %10s\n' call live "plain ns" "control" "$lib" "cost ns" "cost/first"
    for call in $calls; do
        base=""
        for live in $counts; do
            p=$(call_median plain "$live" "$call") c=$(call_median control "$live" "$call") l=$(call_median "$lib" "$live" "$call")
            cost=$(awk -v l="$l" -v p="$p" 'BEGIN { print l - p }')
            [ -z "$base" ] && base=$cost
            awk -v call="$call" -v live="$live" -v p="$p" -v c="$c" -v l="$l" -v cost="$cost" -v base="$base" 'BEGIN {
                printf "  %-8s %-8s %10.0f %10.0f %10.0f %10.0f %10.2f\n", call, live, p, c, l, cost, (base > 0 ? cost / base : 0) }'
            echo "$call $live $cost $base $p $c" >>"$tmp/costs-$lib"
        done
    done
    echo "  (medians of $rounds rounds; cost = $lib - plain; control - plain is the noise)"
done
echo
for lib in library logged; do
    for call in mmap munmap free madvise; do
        awk -v call="$call" -v largest="$largest" -v first="$first" -v lib="$lib" '
            function abs(x) { return x < 0 ? -x : x }
            $1 == call { if (abs($6 - $5) > noise) noise = abs($6 - $5) }
            $1 == call && $2 == largest { cost = $3; base = $4 }
            END { limit = 1.5 * (base > noise ? base : noise)
                  printf "  goal %s: %s cost at %s live <= 1.5 x at %s: %.0f ns against %.0f ns (noise %.0f ns, limit %.0f ns): %s\n",
                         lib, call, largest, first, cost, base, noise, limit, (cost <= limit ? "met" : "NOT met") }' "$tmp/costs-$lib"
    done
done
exit 0
