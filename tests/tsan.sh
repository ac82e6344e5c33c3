#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/tsan.sh [moves]: the library's ThreadSanitizer build (build/tsan/libcdmplace.so)
# preloaded into build/tsan/tsan_stress (threads mapping, writing, advising, growing and
# unmapping placed buffers under a follow-cpu rule, with the trace on, then a fork), three
# times (once with `moves`: ThreadSanitizer under TCG is slow). Each run must end with the
# program's own "done" and no ThreadSanitizer report.
# `moves` (in the guest, where node 1 has no CPUs): the rule binds to node 1, so the pages the
# threads write are moved to node 0 while they run, and the trace must show moves.
#
# ThreadSanitizer must see every thread and lock, so its runtime is linked into the program
# (-static-libtsan, its symbols exported) and the library is built against it
# (Makefile: build/tsan); the hooks' own files are not instrumented, because they run inside
# the runtime's start-up (its fork handlers reach our __register_atfork) before it can count.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/suite.sh"
cd "$ROOT" || exit 1
program=build/tsan/tsan_stress library=build/tsan/libcdmplace.so
for f in "$program" "$library"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "tsan: $f is missing: make tests builds it" >&2; exit 1; }
done
scratch tsan "${TSAN_KEEP:-}"

node=0 runs="1 2 3"
[ "${1:-}" = moves ] && node=1 runs=1
printf '[settings]\nmin_size = 1M\nepoch = 20ms\nreport = off\nlog = %s/trace.%%p\n\n[rule stress]\nsize = 1M-\npolicy = bind %s\nmigrate = follow-cpu\nidle = 40ms\n' \
    "$TMP" "$node" >"$TMP/stress.conf"

for run in $runs; do
    rm -f "$TMP"/trace.*
    env CDMPLACE_CONFIG="$TMP/stress.conf" TSAN_OPTIONS="halt_on_error=0" \
        LD_PRELOAD="$ROOT/$library" "$program" >"$TMP/out" 2>"$TMP/err"
    status=$?
    check_why "run-$run-done" "exit $status: $(grep -m 3 -E 'WARNING|SUMMARY|ERROR|tsan_stress' "$TMP/err")" \
        grep -q "tsan_stress: done" "$TMP/out"
    check_why "run-$run-no-report" "$(grep -c 'WARNING: ThreadSanitizer' "$TMP/err") reports: $(grep -m 3 SUMMARY "$TMP/err")" \
        eval "[ $status -eq 0 ] && ! grep -q ThreadSanitizer '$TMP/err'"
    check_why "run-$run-placed" "no place event with result applied in the trace" \
        grep -q '"result":"applied"' $TMP/trace.*
    if [ "$node" = 1 ]; then
        moved=$(cat "$TMP"/trace.* | grep '"ev":"migrate"' | sed -n 's/.*"pages":\([0-9]*\).*/\1/p' |
            awk '{ n += $1 } END { print n + 0 }')
        check_why "run-$run-moved" "$moved pages moved" [ "$moved" -gt 0 ]
    fi
done
finish
