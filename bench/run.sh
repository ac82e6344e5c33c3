#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/run.sh: every benchmark of bench/, each against its baseline in the same run.
#
#   small_alloc   plain vs LD_PRELOAD=libcdmplace.so, runs alternated, medians and their
#                 ratio (goal: preloaded/plain <= 1.02)
#   placed_alloc  a placed malloc+touch+free vs raw mmap+mbind+touch+munmap in one process
#                 (goal: placed/raw <= 1.2, with touches and bare); also run without the
#                 library (raw path only) and with a size-only rule (no stack to unwind) to
#                 show what the cost is
#
# Run from anywhere after `make bench` has built build/bench/ (`make bench` runs this).
# BENCH_RUNS (default 7) runs of each side of small_alloc; BENCH_PAIRS (default 5000000)
# malloc/free pairs per thread; BENCH_ITERS="N1M N64M" iterations of placed_alloc.
# A goal not met is reported, not failed: timings on a shared machine are noisy. The script
# fails only when a benchmark fails (a crash, a buffer not placed, differing checksums).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
bin=$root/build/bench
lib=$root/build/libcdmplace.so
runs=${BENCH_RUNS:-7}
pairs=${BENCH_PAIRS:-5000000}
iters=${BENCH_ITERS:-2000 60}

for program in small_alloc placed_alloc; do
    if [ ! -x "$bin/$program" ] || [ ! -f "$lib" ]; then
        echo "bench: $bin/$program or $lib is missing: run make bench" >&2
        exit 1
    fi
done
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
scratch bench

cat >"$tmp/small.conf" <<'EOF'
[settings]
min_size = 1M

[rule large]
size = 1M-
policy = bind dram
EOF
cat >"$tmp/placed-caller.conf" <<'EOF'
[settings]
min_size = 1M

[rule bench]
caller = *placed_alloc:placed_malloc
size = 1M-
kind = heap
policy = bind dram
EOF
cat >"$tmp/placed-size.conf" <<'EOF'
[settings]
min_size = 1M

[rule bench]
size = 1M-
kind = heap
policy = bind dram
EOF

now_ns() { date +%s%N; }

status=0
echo "cdmplace benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r)"
echo

# ------------------------------------------------------------------ small_alloc
echo "small_alloc: 2 threads x $pairs malloc/free pairs each, 16 B - 64 KiB, fixed seed;"
echo "  $runs plain and $runs preloaded runs, alternated (config: min_size = 1M, rule size = 1M-)"
: >"$tmp/plain"
: >"$tmp/preloaded"
checksum=
run=1
while [ "$run" -le "$runs" ]; do
    for mode in plain preloaded; do
        start=$(now_ns)
        if [ $mode = plain ]; then
            line=$("$bin/small_alloc" "$pairs") || status=1
        else
            line=$(env LD_PRELOAD="$lib" CDMPLACE_CONFIG="$tmp/small.conf" CDMPLACE_REPORT=off \
                "$bin/small_alloc" "$pairs") || status=1
        fi
        wall=$(($(now_ns) - start))
        loop=$(echo "$line" | sed -n 's/.*elapsed_ns=\([0-9]*\).*/\1/p')
        library=$(echo "$line" | sed -n 's/.*library=\([^ ]*\).*/\1/p')
        sum=$(echo "$line" | sed -n 's/.*checksum=\([0-9]*\).*/\1/p')
        if [ -z "$loop" ] || { [ $mode = plain ] && [ "$library" != none ]; } ||
            { [ $mode = preloaded ] && { [ -z "$library" ] || [ "$library" = none ]; }; }; then
            echo "bench: small_alloc $mode run $run went wrong: $line" >&2
            exit 1
        fi
        if [ -n "$checksum" ] && [ "$sum" != "$checksum" ]; then
            echo "bench: small_alloc checksum $sum differs from $checksum ($mode run $run)" >&2
            status=1
        fi
        checksum=$sum
        echo "$loop $wall" >>"$tmp/$mode"
    done
    run=$((run + 1))
done
awk '{ printf "%s%.1f", (NR > 1 ? " " : "  plain loop ms:     "), $1 / 1e6 } END { print "" }' "$tmp/plain"
awk '{ printf "%s%.1f", (NR > 1 ? " " : "  preloaded loop ms: "), $1 / 1e6 } END { print "" }' "$tmp/preloaded"
plain_loop=$(median "$tmp/plain" 1)
pre_loop=$(median "$tmp/preloaded" 1)
plain_wall=$(median "$tmp/plain" 2)
pre_wall=$(median "$tmp/preloaded" 2)
awk -v pl="$plain_loop" -v ql="$pre_loop" -v pw="$plain_wall" -v qw="$pre_wall" 'BEGIN {
    printf "  %-22s %12s %14s %8s\n", "median", "plain ms", "preloaded ms", "ratio"
    printf "  %-22s %12.1f %14.1f %8.3f\n", "loop (in-process)", pl / 1e6, ql / 1e6, ql / pl
    printf "  %-22s %12.1f %14.1f %8.3f\n", "process (wall clock)", pw / 1e6, qw / 1e6, qw / pw
    printf "  goal preloaded/plain <= 1.02 (loop): %s\n", (ql / pl <= 1.02 ? "met" : "NOT met")
}'
echo

# ------------------------------------------------------------------ placed_alloc
echo "placed_alloc without the library (raw path only):"
# shellcheck disable=SC2086 # $iters is two numbers on purpose
"$bin/placed_alloc" $iters >"$tmp/raw.out" 2>&1 || status=1
sed 's/^/  /' "$tmp/raw.out"
echo
echo "placed_alloc preloaded, caller rule (caller = *placed_alloc:placed_malloc, size = 1M-,"
echo "  policy = bind dram): placed malloc+touch+free vs raw mmap+mbind+touch+munmap"
# shellcheck disable=SC2086
env LD_PRELOAD="$lib" CDMPLACE_CONFIG="$tmp/placed-caller.conf" CDMPLACE_REPORT=off \
    "$bin/placed_alloc" $iters >"$tmp/caller.out" 2>&1 || status=1
sed 's/^/  /' "$tmp/caller.out"
echo
echo "placed_alloc preloaded, size-only rule (size = 1M-: no stack is unwound):"
# shellcheck disable=SC2086
env LD_PRELOAD="$lib" CDMPLACE_CONFIG="$tmp/placed-size.conf" CDMPLACE_REPORT=off \
    "$bin/placed_alloc" $iters >"$tmp/size.out" 2>&1 || status=1
sed 's/^/  /' "$tmp/size.out"
# The touched rows, then the bare ones (the library's own path without page faults to hide it).
for size in "1 MiB" "64 MiB" "1M bare" "64M bare"; do
    ratio=$(sed -n "s/^$size *ratio placed\/raw: mean [0-9.]*, median \([0-9.]*\).*/\1/p" "$tmp/caller.out")
    [ -n "$ratio" ] || { status=1; continue; }
    awk -v s="$size" -v r="$ratio" 'BEGIN {
        printf "  goal placed/raw <= 1.2 at %s (caller rule, median): %s\n", s, (r <= 1.2 ? "met" : "NOT met") }'
done
exit $status
