#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/report_speed.sh: how long `cdmplace report` takes over the traces of a job, against
# the cost of only reading the same bytes (the goal: 64 traces of 100k events in under 5 s).
#
# The traces are real: bench/alloc_events runs under the library (`cdmplace run` with a
# two-rule config and --log trace.%j.%r.jsonl) once per rank, SLURM_JOB_ID and SLURM_PROCID
# set as srun sets them, making PAIRS placed allocations and their frees: 2 x PAIRS + 4 events
# per trace (start, place and free, two totals, exit), as the library writes them. Then, for
# each of RUNS rounds, in this order: `cat` of the traces to /dev/null and `wc -l` of them
# (the baselines: reading the bytes, and reading them while looking at each one), and
# `build/cdmplace report` of them to a file; medians of wall clock and of user+sys time.
# The files are read once before the first round, so every round reads from the page cache.
# The report timed is build/cdmplace, the sanitizer-free -O2 build (`make`), or REPORT_CLI
# (another commit's build, or build/asan/cdmplace); the traces are always made by build/'s.
#
# Usage: sh bench/report_speed.sh   (after `make bench-report`, which builds and runs it)
# REPORT_TRACES (default 64) traces, REPORT_PAIRS (default 50000) allocations each,
# REPORT_RUNS (default 5) rounds; REPORT_DIR=DIR keeps the traces in DIR and reuses those
# already there (same counts) instead of making them again.
# The goal not met is reported, not failed; the script fails when a trace or the report is
# wrong (a missing trace, a wrong count of events, the report's figures not the traces').
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
cli=${REPORT_CLI:-$root/build/cdmplace}
generator=$root/build/bench/alloc_events
traces=${REPORT_TRACES:-64}
pairs=${REPORT_PAIRS:-50000}
runs=${REPORT_RUNS:-5}
goal_s=5

for file in "$cli" "$root/build/cdmplace" "$generator" "$root/build/libcdmplace.so"; do
    if [ ! -x "$file" ] && [ ! -f "$file" ]; then
        echo "report_speed: $file is missing: run make bench-report" >&2
        exit 1
    fi
done
for var in $(env | sed -n 's/^\(\(SLURM\|PBS\|OMPI\|PMI\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$var"
done
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
scratch report-speed
dir=${REPORT_DIR:-$tmp/traces}
mkdir -p "$dir" || exit 1

cat >"$tmp/bench.conf" <<'EOF'
[settings]
min_size = 1M
report = off

[rule streams]
caller = *alloc_events:make_input
size = 1M-
policy = bind dram

[rule scratch]
size = 1M-
kind = heap
policy = preferred dram
EOF

# ------------------------------------------------------------------ the traces
events=$((2 * pairs + 4))
have=0
for file in "$dir"/trace.bench.*.jsonl; do
    [ -f "$file" ] && [ "$(grep -c '"ev"' "$file")" -eq "$events" ] && have=$((have + 1))
done
if [ "$have" -ne "$traces" ]; then
    rm -f "$dir"/trace.bench.*.jsonl
    echo "making $traces traces of $events events ($pairs placed allocations and frees each)..."
    start=$(date +%s)
    # One rank per process, as many at once as there are CPUs.
    seq 0 $((traces - 1)) | xargs -P "$(nproc)" -I RANK env SLURM_JOB_ID=bench SLURM_PROCID=RANK \
        "$root/build/cdmplace" run -c "$tmp/bench.conf" --log "$dir/trace.%j.%r.jsonl" -- \
        "$generator" "$pairs" RANK >/dev/null || {
        echo "report_speed: making the traces failed" >&2
        exit 1
    }
    echo "  made in $(($(date +%s) - start)) s"
fi
rank=0
while [ "$rank" -lt "$traces" ]; do
    file=$dir/trace.bench.$rank.jsonl
    count=$(grep -c '"ev"' "$file" 2>/dev/null)
    if [ "${count:-0}" -ne "$events" ]; then
        echo "report_speed: $file has ${count:-no} events, not $events" >&2
        exit 1
    fi
    rank=$((rank + 1))
done
set -- "$dir"/trace.bench.*.jsonl
lines=$(cat "$@" | wc -l)
bytes=$(cat "$@" | wc -c)

# ------------------------------------------------------------------ timing
# measure OUT CMD...: runs CMD (stdout to OUT) and prints "WALL_NS CPU_NS", CPU being the
# user and system time of CMD and its children.
measure() {
    python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter_ns()
with open(sys.argv[1], "wb") as out:
    status = subprocess.call(sys.argv[2:], stdout=out)
wall = time.perf_counter_ns() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(wall, int(cpu * 1e9))
sys.exit(status)
EOF
}

echo "cdmplace report speed, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r)"
echo "  $traces traces, $lines lines, $((bytes / 1048576)) MiB; $runs rounds of cat, wc -l, report"
cat "$@" >/dev/null # into the page cache
: >"$tmp/cat"
: >"$tmp/wc"
: >"$tmp/report"
status=0
round=1
while [ "$round" -le "$runs" ]; do
    measure /dev/null cat "$@" >>"$tmp/cat" || status=1
    measure "$tmp/wc.out" wc -l "$@" >>"$tmp/wc" || status=1
    measure "$tmp/report.out" "$cli" report "$@" >>"$tmp/report" 2>"$tmp/report.err" || {
        echo "report_speed: cdmplace report failed: $(head -c 400 "$tmp/report.err")" >&2
        status=1
    }
    round=$((round + 1))
done

# The report must be of these traces: one table of all of them, every allocation counted.
if ! grep -q "^$traces processes from $traces traces, job bench, " "$tmp/report.out" ||
    [ -s "$tmp/report.err" ]; then
    echo "report_speed: the report is not of the $traces traces:" >&2
    head -n 3 "$tmp/report.out" "$tmp/report.err" >&2
    status=1
fi
# The call sites (three, all shown) hold every allocation of every trace.
allocs=$(awk '/^top call sites/ { t = 1; next } t && $1 != "BYTES" { s += $2 } END { print s + 0 }' "$tmp/report.out")
if [ "$allocs" != $((pairs * traces)) ]; then
    echo "report_speed: the report's call sites hold $allocs allocations, not $((pairs * traces))" >&2
    status=1
fi

for side in cat wc report; do
    awk -v s="$side" '{ printf "%s%.3f", (NR > 1 ? " " : "  " s " wall s: "), $1 / 1e9 } END { print "" }' "$tmp/$side"
done
cat_wall=$(median "$tmp/cat" 1)
cat_cpu=$(median "$tmp/cat" 2)
wc_wall=$(median "$tmp/wc" 1)
wc_cpu=$(median "$tmp/wc" 2)
report_wall=$(median "$tmp/report" 1)
report_cpu=$(median "$tmp/report" 2)
awk -v cw="$cat_wall" -v cc="$cat_cpu" -v ww="$wc_wall" -v wcpu="$wc_cpu" \
    -v rw="$report_wall" -v rc="$report_cpu" -v lines="$lines" -v bytes="$bytes" -v goal="$goal_s" 'BEGIN {
    printf "  %-16s %10s %12s %14s %12s\n", "median", "wall s", "user+sys s", "report/it", "MiB/s (wall)"
    printf "  %-16s %10.3f %12.3f %14.1f %12.0f\n", "cat", cw / 1e9, cc / 1e9, rw / cw, bytes / 1048576 / (cw / 1e9)
    printf "  %-16s %10.3f %12.3f %14.1f %12.0f\n", "wc -l", ww / 1e9, wcpu / 1e9, rw / ww, bytes / 1048576 / (ww / 1e9)
    printf "  %-16s %10.3f %12.3f %14s %12.0f\n", "cdmplace report", rw / 1e9, rc / 1e9, "1.0", bytes / 1048576 / (rw / 1e9)
    printf "  %.0f ns and %.1f bytes per line in report\n", rw / lines, bytes / lines
    printf "  goal report < %d s: %s\n", goal, (rw / 1e9 < goal ? "met" : "NOT met")
}'
exit $status
