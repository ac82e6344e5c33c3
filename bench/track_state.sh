#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/track_state.sh: how much memory the tracker's state takes per GiB tracked.
#
# build/bench/track_state maps one buffer of N GiB (unreserved, a page of every 2 MiB
# written) under `[rule big] size = 1G-, policy = preferred 0, migrate = follow-cpu` (or
# tier; `preferred`: a bind larger than the node is refused as full, and spilled untracked)
# with each tracker the kernel allows here, and the trace's `exit` event says the most the
# tracked ranges' state took (`track_bytes`). Per tracker, rule and size: bytes, bytes per
# GiB and per 4 KiB page, and the bytes beyond a byte a page. The goal: at most 1 byte per
# tracked 4 KiB page, plus a small constant per buffer; the script prints its verdict per
# tracker.
#
# Usage: sh bench/track_state.sh (from anywhere, after make; `make bench-track-state`).
# STATE_GIB (default "1 4 16 64"), STATE_TRACKERS (default "wp-async wp missing damon"); a
# tracker the kernel or the permissions refuse is named and skipped.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
bin=$root/build/bench/track_state
library=$root/build/libcdmplace.so
sizes=${STATE_GIB:-1 4 16 64}
trackers=${STATE_TRACKERS:-wp-async wp missing damon}
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG

needs "$bin" "$library"
scratch state

echo "track_state: tracker state per GiB tracked ($(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r))"
printf '%-9s %-10s %5s %14s %12s %10s %13s\n' tracker rule GiB track_bytes bytes/GiB bytes/page beyond_a_byte
for tracker in $trackers; do
    for migrate in follow-cpu tier; do
        printf '[settings]\nlog = %s/trace\nreport = off\ntrack = %s\n\n[rule big]\nsize = 1G-\npolicy = preferred 0\nmigrate = %s\n' \
            "$tmp" "$tracker" "$migrate" >"$tmp/conf"
        for gib in $sizes; do
            rm -f "$tmp/trace"
            if ! env LD_PRELOAD="$library" CDMPLACE_CONFIG="$tmp/conf" "$bin" "$gib" 2>"$tmp/err"; then
                echo "bench: track_state $gib GiB ($tracker, $migrate) failed: $(cat "$tmp/err")" >&2
                exit 1
            fi
            if grep -q 'tracking with\|no access tracker' "$tmp/err"; then
                echo "$tracker: not allowed here ($(head -n 1 "$tmp/err")), skipped"
                continue 3
            fi
            bytes=$(sed -n 's/.*"ev":"exit".*"track_bytes":\([0-9]*\).*/\1/p' "$tmp/trace")
            [ "${bytes:-0}" -gt 0 ] || { echo "bench: nothing tracked ($tracker, $migrate, $gib GiB): $(cat "$tmp/err")" >&2; exit 1; }
            awk -v t="$tracker" -v m="$migrate" -v g="$gib" -v b="$bytes" 'BEGIN {
                printf "%-9s %-10s %5d %14d %12.0f %10.4f %13d\n", t, m, g, b, b / g, b / (g * 262144), b - g * 262144 }'
            # One byte a page at most, plus 4 KiB for the buffer (a page of our own).
            [ "$bytes" -le $((gib * 262144 + 4096)) ] || eval "over_$(echo "$tracker" | tr - _)=1"
        done
    done
    if eval "[ -n \"\${over_$(echo "$tracker" | tr - _):-}\" ]"; then
        echo "$tracker: goal (<= 1 byte a page + 4 KiB a buffer) NOT MET"
    else
        echo "$tracker: goal (<= 1 byte a page + 4 KiB a buffer) met"
    fi
done
exit 0
