#!/bin/sh
# SPDX-License-Identifier: MIT
# Every test suite, with its time; the last line counts tests passed, failed and skipped
# over all suites (`N passed, M failed, K skipped`), and each skip is listed by name under its
# suite's line. Run from the repository root after `make tests` (`make check` does both).
# run-all.sh --host runs only the host's suites, --guest only the multi-node guest's
# (tests/guest/suites.txt; `make check-guest`). run-all.sh --suite NAME [--filter PATTERN]
# runs the one suite of that name as its line names it (unit_config, process_lifecycle,
# allocators, guest/track, ...), and a Criterion suite only its tests matching PATTERN
# (suite/test globs, as --filter; `make test T=NAME F=PATTERN`).
set -u
only=all suite_name="" filter=""
while [ $# -gt 0 ]; do
    case $1 in
    --host|--guest) only=$1; shift ;;
    --suite) suite_name=${2:?--suite needs a name}; shift 2 ;;
    --filter) filter=${2:?--filter needs a pattern}; shift 2 ;;
    *) echo "usage: run-all.sh [--host | --guest] [--suite NAME [--filter PATTERN]]" >&2; exit 2 ;;
    esac
done
root=$(pwd)
library="${CDMPLACE_LIBRARY:-$root/build/libcdmplace.so}" # make check-sanitize: its own build
passed=0
failed=0
skipped=0
suites_failed=""
# Criterion names a skipped test ("[SKIP] suite::test: why") only at verbosity 1.
export CRITERION_VERBOSITY_LEVEL=1
log=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-tests-XXXXXX")
trap 'rm -rf "$log"' EXIT
# A suite's `timeout` puts it in a process group of its own, which an interrupt at the
# terminal does not reach: pass the signal on, so that no suite (no guest) outlives us.
running=""
trap '[ -n "$running" ] && kill "$running" 2>/dev/null; exit 130' INT
trap '[ -n "$running" ] && kill "$running" 2>/dev/null; exit 143' TERM

# suite NAME TIMEOUT COMMAND...: runs one suite, prints its time and result, adds its counts.
suite() {
    name=$1 limit=$2
    shift 2
    if [ -n "$suite_name" ]; then
        [ "$name" = "$suite_name" ] || return 0
        ran=yes
        # Criterion's own option, after the program (env ... PROGRAM is the preload suites').
        case $name in unit_*|asan/unit_*|preload_*|process_*|ubsan/preload_*|ubsan/process_*)
            [ -n "$filter" ] && set -- "$@" --filter "$filter" ;;
        *)
            [ -z "$filter" ] || { echo "run-all: $name is not a Criterion suite: no --filter" >&2; failed=$((failed + 1)); return 0; } ;;
        esac
    fi
    start=$(date +%s.%N)
    out="$log/$(echo "$name" | tr / _).out"
    timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1 &
    running=$!
    wait "$running"
    status=$?
    running=""
    seconds=$(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')
    # Criterion: "Synthesis: Tested: N | Passing: P | Failing: F | Crashing: C" (F counts the
    # crashes too) and a "[SKIP] suite::test: why" line per skip; scripts: "N passed, M failed"
    # or "N passed, M failed, K skipped", and a "skip NAME (why)" line per skip.
    counts=$(awk '
        /Synthesis: Tested:/ { for (i = 1; i <= NF; i++) { if ($i == "Passing:") p += $(i+1);
                               if ($i == "Failing:") f += $(i+1) } }
        /^\[SKIP\] / && !/: Test is disabled$/ { s++ } # disabled: left out by --filter
        /^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$/ { p += $1; f += $3; s += $5 }
        END { printf "%d %d %d", p, f, s }' "$out")
    set -- $counts
    uncounted=no
    if [ "$status" -ne 0 ] && [ "$2" -eq 0 ]; then
        set -- "$1" 1 "$3" # a crash or timeout outside any counted test
        uncounted=yes
    fi
    passed=$((passed + $1))
    failed=$((failed + $2))
    skipped=$((skipped + $3))
    skips=""
    [ "$3" -gt 0 ] && skips=", $3 skipped"
    # tests/guest/run.sh boots once more after the one known TCG boot fault: said here.
    grep -q '^guest: the kernel failed before the job began' "$out" &&
        skips="$skips, the guest booted twice"
    if [ "$status" -eq 0 ] && [ "$2" -eq 0 ]; then
        printf '%-28s %6ss  %4d passed%s\n' "$name" "$seconds" "$1" "$skips"
    else
        printf '%-28s %6ss  %4d passed, %d failed%s (exit %d)\n' "$name" "$seconds" "$1" "$2" \
            "$skips" "$status"
        suites_failed="$suites_failed $name"
        if [ "$uncounted" = yes ]; then
            tail -n 50 "$out" # e.g. a guest's console when it hung or crashed
            tail -n 3 "$out" | sed "s|^|$name: |" >>"$log/failures"
        else
            grep -v '^\[----\] *$' "$out" | grep -E -B2 -A6 'FAIL|Assertion|CRASH|Timeout|FAIL ' | head -60
            grep -v '^\[----\] *$' "$out" |
                awk '/Assertion Failed/ { print; getline; print } /^\[FAIL\]|CRASH|FAIL / { print }' |
                head -n 6 | sed "s|^|$name: |" >>"$log/failures"
        fi
    fi
    grep -E '^(\[SKIP\] |skip )' "$out" | grep -v ': Test is disabled$' | sed 's/^/    /'
}

# preload_suites PREFIX LIBRARY [ENV...]: the programs of tests/preload_*.c with LIBRARY
# preloaded, each with the config its source names in its opening comment ("Run with
# CDMPLACE_CONFIG=tests/FILE.conf"); a source that names none is a failed suite.
preload_suites() {
    prefix=$1 preloaded=$2
    shift 2
    for test in build/tests/preload_*; do
        [ -x "$test" ] || continue
        name=$(basename "$test")
        config=$(sed -n 's|.*CDMPLACE_CONFIG=\(tests/[A-Za-z0-9_.-]*\.conf\).*|\1|p' \
            "tests/$name.c" | head -n 1)
        if [ -f "$config" ]; then
            suite "$prefix$name" 300 env "$@" CDMPLACE_CONFIG="$config" LD_PRELOAD="$preloaded" "$test"
        else
            suite "$prefix$name" 10 sh -c 'echo "$1 names no config (Run with CDMPLACE_CONFIG=...)"; exit 1' \
                sh "tests/$name.c"
        fi
    done
}

# The suites that run programs under the library again, under its UBSan build
# (build/ubsan/libcdmplace.so, made by `make tests`): undefined behaviour aborts the program.
# The library's paths are what is checked, not the volume: the allocators once each with a
# fifth of redis-benchmark's requests, the real programs with a quarter of the large input.
sanitized_suites() {
    ubsan=$root/build/ubsan/libcdmplace.so
    [ -f "$ubsan" ] || { echo "run-all: $ubsan is missing: make tests builds it" >&2; failed=$((failed + 1)); return 0; }
    set -- CDMPLACE_LIBRARY="$ubsan" UBSAN_OPTIONS=print_stacktrace=1
    preload_suites ubsan/ "$ubsan" "$@"
    suite ubsan/process_lifecycle 300 env "$@" build/tests/process_lifecycle
    suite ubsan/allocators 900 env "$@" ALLOC_REPEAT=1 ALLOC_REDIS_REQUESTS=20000 sh tests/allocators.sh
    suite ubsan/real-programs 900 env "$@" RP_LINES=2000000 sh tests/real-programs.sh
}

host_suites() {
    for test in build/tests/unit_*; do
        [ -x "$test" ] && suite "$(basename "$test")" 300 "$test"
    done
    for test in build/asan/tests/unit_*; do
        [ -x "$test" ] && suite "asan/$(basename "$test")" 600 \
            env CDMPLACE_CLI=build/asan/cdmplace ASAN_OPTIONS=detect_leaks=1 "$test"
    done
    preload_suites "" "$library"
    for test in build/tests/process_*; do
        [ -x "$test" ] && suite "$(basename "$test")" 300 "$test"
    done
    suite hook-calls 120 python3 tests/hook_calls.py
    suite trace-schema 120 sh tests/trace-schema.sh
    suite fuzz-trace 300 sh tests/fuzz-trace.sh
    suite fuzz-config 300 sh tests/fuzz-config.sh
    suite install 120 sh tests/install.sh
    suite real-programs 900 sh tests/real-programs.sh
    suite allocators 900 sh tests/allocators.sh
    suite tsan 300 sh tests/tsan.sh
    suite report-perfetto 600 sh tests/report-perfetto.sh
    suite jobs 300 sh tests/jobs.sh
    suite slurm 300 sh tests/slurm.sh
    suite report-svg 300 sh tests/report-svg.sh
    sanitized_suites
}

# The multi-node suites, each in a QEMU guest booted for it; run.sh stops a guest at
# CDMPLACE_GUEST_TIMEOUT, before this limit, so that its console's tail is shown.
guest_suites() {
    for name in $(sh tests/guest/run-suites.sh --list); do
        suite "guest/$name" $((${CDMPLACE_GUEST_TIMEOUT:-1200} + 60)) sh tests/guest/run-suites.sh "$name"
    done
}

ran=no
[ "$only" = --guest ] || host_suites
[ "$only" = --host ] || guest_suites
if [ -n "$suite_name" ] && [ "$ran" = no ]; then
    echo "run-all: no suite $suite_name (the names are the first column of a full run)" >&2
    exit 2
fi

echo
# Each failure's first lines again, where the end of a long run's output shows them.
[ -f "$log/failures" ] && cat "$log/failures"
[ -n "$suites_failed" ] && echo "failed suites:$suites_failed"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ -z "$suites_failed" ]
