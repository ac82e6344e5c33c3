#!/bin/sh
# SPDX-License-Identifier: MIT
# A fuzz run of the trace reader (tests/fuzz/trace_reader.c, built by `make tests` with
# clang's libFuzzer, ASan and UBSan): FUZZ_SECONDS (default 30) of inputs grown from the
# seed traces in tests/fuzz/corpus and tests/data, with a dictionary of the schema's names
# (build/tests/trace_schema --dict) and tests/fuzz/trace.dict's other tokens. Any crash, leak
# or hang fails the suite, and libFuzzer leaves the input that did it in build/fuzz/
# (crash-*, leak-*, timeout-*).
set -u
fuzzer=build/fuzz/trace_reader
work=build/fuzz/corpus
mkdir -p "$work"
dict=build/fuzz/trace.dict
{ build/tests/trace_schema --dict && cat tests/fuzz/trace.dict; } >"$dict" ||
    { echo "0 passed, 1 failed"; exit 1; }
seeds=tests/fuzz/corpus
[ -d tests/data ] && seeds="$seeds tests/data"
if "$fuzzer" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
    -dict="$dict" -artifact_prefix=build/fuzz/ -print_final_stats=1 \
    "$work" $seeds; then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
    exit 1
fi
