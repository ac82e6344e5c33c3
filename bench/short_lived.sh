#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/short_lived.sh: short-lived buffers cost no migration, whatever the tracker. In the cdm
# guest (node 1: memory, no CPUs), build/bench/short_lived allocates, fills and frees 200
# buffers of 1-7 MiB (203,264 pages) under `[rule churn] size = 1M-, kind = heap, policy =
# bind cdm, migrate = follow-cpu` (epoch 100ms, idle the default), once per tracker the
# kernel has (6.12: wp-async, wp, missing, auto; 6.1: wp, missing, auto), and the trace's
# `migrate` events say how many pages moved. Goal: none (a page's creation is not a use).
#
# Usage: sh bench/short_lived.sh (after make bench and make guest-kernels); SHORT_N buffers
# (default 200). Prints a line per kernel and tracker, and its verdict.
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
. "$root/bench/lib.sh"
n=${SHORT_N:-200}
needs "$root/build/bench/short_lived" "$root/build/libcdmplace.so"
cd "$root" || exit 1
echo "short_lived: $n buffers of 1-7 MiB allocated, filled and freed ($(date -u +%Y-%m-%dT%H:%MZ))"
for kernel in 6.12 6.1; do
    trackers="wp-async wp missing auto"
    [ "$kernel" = 6.1 ] && trackers="wp missing auto"
    # shellcheck disable=SC2016 # expanded in the guest
    sh tests/guest/run.sh --kernel "$kernel" --topology cdm --timeout 1200 \
        --env SHORT_TRACKERS="$trackers" --env SHORT_N="$n" -- sh -c '
        for track in $SHORT_TRACKERS; do
            printf "[settings]\nmin_size = 1M\nepoch = 100ms\nreport = off\nlog = /tmp/short.jsonl\ntrack = %s\n\n[rule churn]\nsize = 1M-\nkind = heap\npolicy = bind cdm\nmigrate = follow-cpu\n" "$track" >/tmp/short.conf
            rm -f /tmp/short.jsonl
            out=$(env LD_PRELOAD=$PWD/build/libcdmplace.so CDMPLACE_CONFIG=/tmp/short.conf build/bench/short_lived "$SHORT_N") || exit 1
            tracker=$(sed -n "s/.*\"ev\":\"start\".*\"tracker\":\"\([a-z-]*\)\".*/\1/p" /tmp/short.jsonl)
            moved=$(grep "\"ev\":\"migrate\"" /tmp/short.jsonl | sed "s/.*\"pages\":\([0-9]*\).*/\1/" |
                awk "{ s += \$1 } END { print s + 0 }")
            verdict=met; [ "$moved" -eq 0 ] || verdict="NOT met"
            echo "kernel=$(uname -r | cut -d. -f1-2) track=$track tracker=$tracker $out moved=$moved: $verdict"
        done'
done
