#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/memory_given.sh: what the memory a run is given costs it on this machine, the reason
# bench/real.sh, bench/stream_run.sh and bench/redis.sh warm memory before each timed run
# (bench/warm_memory.c).
# Each round, once after the machine was idle IDLE seconds ("idle") and once right after
# writing and freeing 1 GiB ("warmed"):
#   write      build/bench/warm_memory 1024: 1 GiB advised MADV_HUGEPAGE written, in ms
#   numpy      bench/real_numpy.py 128 (bench/real.sh's numpy workload; Debian's python3-numpy),
#              its work's seconds
# Printed: each round's figures, then the medians and the ratio idle/warmed. Besides, the
# balloon's free page reporting, where the machine has it: the KiB it handed back to its host
# (/sys/module/page_reporting/parameters/reported_kib) while the script ran.
#
# Usage: sh bench/memory_given.sh (after make; `make bench-memory-given`). MEMORY_ROUNDS
# (default 5) rounds, MEMORY_IDLE (default 20) seconds idle.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
warm=$root/build/bench/warm_memory
rounds=${MEMORY_ROUNDS:-5}
idle=${MEMORY_IDLE:-20}
python=/usr/bin/python3
reported=/sys/module/page_reporting/parameters/reported_kib
needs "$warm" "$python"
"$python" -c 'import numpy' 2>/dev/null || { echo "bench: no numpy for $python (python3-numpy)" >&2; exit 1; }
scratch memory

# numpy_s: the seconds of real_numpy.py's work.
numpy_s() {
    "$python" "$root/bench/real_numpy.py" 128 | sed -n 's/^numpy_s=\([0-9.]*\) .*/\1/p'
}
# write_ms: the milliseconds warm_memory took to write its 1 GiB.
write_ms() {
    "$warm" 1024 | sed -n 's/.* in \([0-9]*\) ms$/\1/p'
}
reported_kib() { cat "$reported" 2>/dev/null || echo 0; }

echo "memory_given: $rounds rounds, $idle s idle ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r))"
before=$(reported_kib)
for r in $(seq "$rounds"); do
    sleep "$idle"
    idle_write=$(write_ms)
    warmed_write=$(write_ms)
    sleep "$idle"
    idle_numpy=$(numpy_s)
    "$warm" 1024 >/dev/null
    warmed_numpy=$(numpy_s)
    for v in "$idle_write" "$warmed_write" "$idle_numpy" "$warmed_numpy"; do
        [ -n "$v" ] || { echo "bench: round $r printed no figure" >&2; exit 1; }
    done
    echo "$idle_write $warmed_write $idle_numpy $warmed_numpy" >>"$tmp/rounds"
    echo "  round $r: write idle $idle_write ms, warmed $warmed_write ms; numpy idle $idle_numpy s, warmed $warmed_numpy s"
done
printf '%-8s %-5s %10s %10s %7s\n' figure unit idle warmed ratio
awk -v a="$(median "$tmp/rounds" 1)" -v b="$(median "$tmp/rounds" 2)" \
    'BEGIN { printf "%-8s %-5s %10.0f %10.0f %7.2f\n", "write", "ms", a, b, a / b }'
awk -v a="$(median "$tmp/rounds" 3)" -v b="$(median "$tmp/rounds" 4)" \
    'BEGIN { printf "%-8s %-5s %10.3f %10.3f %7.2f\n", "numpy", "s", a, b, a / b }'
echo "(medians of $rounds rounds; ratio: idle over warmed)"
if [ -r "$reported" ]; then
    echo "free page reporting: $(($(reported_kib) - before)) KiB handed back to the host meanwhile"
else
    echo "free page reporting: none on this machine ($reported)"
fi
