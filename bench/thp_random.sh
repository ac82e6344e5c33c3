#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/thp_random.sh: what tracking costs a program of random updates over huge pages
# (build/bench/thp_random: 1 GiB advised MADV_HUGEPAGE, filled, 8 rounds of random 8-byte
# updates), and whether it keeps its huge pages.
#
#   plain        the program alone
#   plain-again  the same again: the control, what two plain runs differ by
#   follow-cpu   cdmplace run, [rule big] size = 64M-, policy = bind 0, migrate = follow-cpu
#                (the default tracker; on one node nothing can move: the cost is tracking's)
#   profile      cdmplace run with a config of no rule (the profiling default: every buffer
#                recorded is tracked)
# The runs alternate, the order rotated by one each time. Printed per configuration: the
# median time of all rounds together (fill excluded), its ratio to plain's, and the share of
# the buffer in huge pages after the fill and after the last round (medians); verdicts
# against the goals: time ratio <= 1.05, huge pages within 5 points of plain's. A goal not
# met is reported, not failed; the script fails when a run fails.
#
# Usage: sh bench/thp_random.sh (from anywhere, after make; `make bench-thp`).
# THP_MIB (default 1024), THP_ROUNDS (default 8) rounds a run, THP_RUNS (default 3) runs of
# each configuration.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
cli=$root/build/cdmplace
bin=$root/build/bench/thp_random
mib=${THP_MIB:-1024}
rounds=${THP_ROUNDS:-8}
runs=${THP_RUNS:-3}
configs="plain plain-again follow-cpu profile"
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG

needs "$cli" "$bin"
scratch thp
printf '[settings]\nreport = off\n\n[rule big]\nsize = 64M-\npolicy = bind 0\nmigrate = follow-cpu\n' >"$tmp/follow-cpu.conf"
printf '[settings]\nreport = off\n' >"$tmp/profile.conf"

# run CONFIG: one run; appends "TOTAL_MS HUGE_FILLED HUGE_END" to $tmp/CONFIG.
run() {
    case $1 in
    plain | plain-again) set -- "$1" "$bin" ;;
    *) set -- "$1" "$cli" run -c "$tmp/$1.conf" -- "$bin" ;;
    esac
    config=$1
    shift
    if ! line=$(timeout 900 "$@" "$mib" "$rounds" 2>"$tmp/err"); then
        echo "bench: $config failed: $(cat "$tmp/err")" >&2
        return 1
    fi
    echo "$line" | awk '{ print $(NF - 3), $(NF - 1), $NF }' >>"$tmp/$config"
    echo "  $config: $line"
}

echo "thp_random $mib MiB, $rounds rounds a run, $runs runs each ($(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled))"
status=0
for c in $configs; do : >"$tmp/$c"; done
i=1
while [ "$i" -le "$runs" ]; do
    # shellcheck disable=SC2086 # one configuration a word
    order=$(rotated "$i" $configs)
    for c in $order; do
        run "$c" || status=1
    done
    i=$((i + 1))
done
[ $status -eq 0 ] || { echo "bench: a run failed" >&2; exit 1; }

plain_ms=$(median "$tmp/plain" 1)
plain_huge=$(median "$tmp/plain" 3)
printf '%-12s %10s %7s %12s %10s %8s %8s\n' configuration total_ms ratio huge_filled huge_end "<=1.05" huge
for c in $configs; do
    ms=$(median "$tmp/$c" 1) filled=$(median "$tmp/$c" 2) end=$(median "$tmp/$c" 3)
    awk -v c="$c" -v ms="$ms" -v p="$plain_ms" -v f="$filled" -v e="$end" -v ph="$plain_huge" 'BEGIN {
        r = ms / p
        t = (c ~ /^plain/) ? "" : (r <= 1.05 ? "met" : "NOT met")
        h = (c ~ /^plain/) ? "" : (e >= ph - 5 ? "met" : "NOT met")
        printf "%-12s %10.0f %7.3f %11.0f%% %9.0f%% %8s %8s\n", c, ms, r, f, e, t, h
    }'
done
