#!/bin/sh
# SPDX-License-Identifier: MIT
# A fuzz run of the config parser (tests/fuzz/config_parser.c, built by `make tests` with
# clang's libFuzzer, ASan and UBSan): FUZZ_SECONDS (default 30) of inputs grown from the
# configs in config/ and tests/. Any crash, leak or hang fails it, and libFuzzer leaves the
# input that did it in build/fuzz/ (crash-*, leak-*, timeout-*). Then the library's start-up:
# a program (tests/probe.c) runs under the library with FUZZ_STARTS (default 40) of the
# configs the run grew, and must run as it does without the library (exit 0, its output).
set -u
fuzzer=build/fuzz/config_parser
work=build/fuzz/config-corpus
seeds=build/fuzz/config-seeds
mkdir -p "$work" "$seeds"
cp config/*.conf tests/*.conf "$seeds"/
passed=0 failed=0
if "$fuzzer" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
    -dict=tests/fuzz/config.dict -artifact_prefix=build/fuzz/ -print_final_stats=1 \
    "$work" "$seeds"; then
    passed=$((passed + 1))
else
    echo "fuzz-config: the parser failed on an input (build/fuzz/crash-* and kin)"
    failed=$((failed + 1))
fi
# The newest inputs the run kept: the ones that reached code the seeds did not. A config may
# name a trace or log file of its own: the program runs in a scratch directory, where they land.
root=$PWD
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-fuzz-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
starts=0
for config in $(ls -t "$work" | head -n "${FUZZ_STARTS:-40}"); do
    out=$(cd "$scratch" && env -u CDMPLACE_LOG -u CDMPLACE_REPORT \
        LD_PRELOAD="$root/build/libcdmplace.so" CDMPLACE_CONFIG="$root/$work/$config" \
        CDMPLACE_REPORT=off timeout 20 "$root/build/tests/probe" alloc 9 2>/dev/null)
    status=$?
    starts=$((starts + 1))
    case "$status:$out" in
    0:placed=[01]) ;;
    *)
        echo "fuzz-config: the program did not run under config $work/$config (status $status, output '$out')"
        failed=$((failed + 1)) ;;
    esac
done
[ "$starts" -gt 0 ] || { echo "fuzz-config: the run kept no config to start with"; failed=$((failed + 1)); }
[ "$failed" -eq 0 ] && passed=$((passed + 1))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
