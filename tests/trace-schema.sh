#!/bin/sh
# SPDX-License-Identifier: MIT
# The trace schema (preload/trace_schema.h) against what follows it: doc/design.md's table,
# which must be what build/tests/trace_schema prints, and the traces of a few runs, whose
# every event must carry the schema's fields in its order (tests/trace_schema_check.py):
#   the preload_maps suite: start, place, free, remap, advise, totals, exit;
#   a dry run (a profiling run): access, where a tracker is allowed;
#   a container refusing mbind: error; one refusing move_pages: migrate and epoch, where a
#   tracker runs and the kernel has seccomp.
# An event no run wrote here is a skip, with its reason.
set -u
root=$(pwd)
library="${CDMPLACE_LIBRARY:-$root/build/libcdmplace.so}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-schema-XXXXXX")
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0

sed -n '/^<!-- trace schema: begin -->$/,/^<!-- trace schema: end -->$/p' doc/design.md |
    sed '1d;$d' >"$dir/documented"
build/tests/trace_schema >"$dir/table"
if [ -s "$dir/documented" ] && cmp -s "$dir/table" "$dir/documented"; then
    echo "ok doc/design.md's table is the schema's"
    passed=$((passed + 1))
else
    echo "doc/design.md's trace schema differs from build/tests/trace_schema's (paste it in):"
    diff "$dir/documented" "$dir/table"
    failed=$((failed + 1))
fi

# traced NAME CONFIG PROGRAM...: runs PROGRAM preloaded, its trace in $dir/NAME.PID.jsonl.
traced() {
    name=$1 config=$2
    shift 2
    env CDMPLACE_CONFIG="$config" CDMPLACE_REPORT=off CDMPLACE_LOG="$dir/$name.%p.jsonl" \
        LD_PRELOAD="$library" "$@" >"$dir/$name.out" 2>&1
}
traced maps tests/preload_heap.conf build/tests/preload_maps
traced dry tests/process.conf env CDMPLACE_DRY_RUN=1 build/tests/probe alloc 9
traced refused tests/process.conf build/tests/seccomp_launch docker build/tests/probe sum 6 9
traced unmoved tests/process-track.conf build/tests/seccomp_launch no-moves build/tests/probe \
    random-writes 64 2

build/tests/trace_schema --fields >"$dir/fields"
python3 tests/trace_schema_check.py "$dir/fields" "$dir"/*.jsonl >"$dir/checked"
status=$?
cat "$dir/checked"
passed=$((passed + $(grep -c '^ok ' "$dir/checked")))
skipped=$(grep -c '^skip ' "$dir/checked")
[ "$status" -eq 0 ] || failed=$((failed + 1))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
