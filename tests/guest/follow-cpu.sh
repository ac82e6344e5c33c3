#!/bin/sh
# SPDX-License-Identifier: MIT
# follow-cpu in the cdm guest (node 1: memory only): the seed flow of examples/seed_flow.c,
# checked from the program's own move_pages queries and from the trace.
#   follow-cpu.sh                  track = auto must pick what the kernel allows: wp-async
#                                  where its userfaultfd has WP_ASYNC (6.12), else wp (6.1)
#   follow-cpu.sh TRACKER          track = auto must pick TRACKER
#   follow-cpu.sh TRACKER TRACK    track = TRACK (wp; missing, which sees only the first touch,
#                                  a page's creation, which is no use: nothing moves)
# FOLLOW_READ=1: the CPU phases only read the buffer, which auto sees where DAMON runs beside
# wp-async (root, 6.12); where it does not (6.1), the phases are skipped with topo's reason.
# FOLLOW_PRELOAD names an allocator to preload behind the library (jemalloc). In the sockets
# guest FOLLOW_CPU pins the program to a CPU, FOLLOW_CDM binds the buffer to that device node
# instead of `cdm`, and FOLLOW_DRAM is the DRAM node the CPU phases must find it on (default 0).
set -u
tracker=${1:-} track=${2:-auto}
dram=${FOLLOW_DRAM:-0} cdm=${FOLLOW_CDM:-1}
pin=""
[ -n "${FOLLOW_CPU:-}" ] && pin="taskset -c $FOLLOW_CPU"
. tests/suite.sh
. tests/guest/phases.sh
if [ -z "$tracker" ]; then
    # Asked of the kernel, not of the library under test (tests/kernel_features.h).
    if said=$(build/tests/probe wp-async); then tracker=wp-async; else tracker=wp; fi
    echo "track = auto must pick $tracker: $said"
fi
# Synchronous faults (wp) are slow under TCG, the slower the busier the machine: a pass of the
# CPU loop may take most of a second, so idle and the phases are longer there.
idle=1s seconds=3
[ "$tracker" = wp ] && idle=2s seconds=5
sed -e "s/^\[settings\]/[settings]\ntrack = $track/" -e "s/^idle .*/idle    = $idle/" \
    -e "s/^policy  = bind cdm/policy  = bind ${FOLLOW_CDM:-cdm}/" tests/guest_follow.conf > /tmp/follow.conf
conf=/tmp/follow.conf
rm -f /tmp/follow.jsonl /tmp/follow.report
mode="" reads=no busy=""
if [ -n "${FOLLOW_READ:-}" ]; then
    mode=read
    build/cdmplace topo --json | grep -q '"reads_too":true' && reads=yes
    # DAMON sees a read when the CPU walks the page table. Hardware's TLB loses a reader's
    # translations to its own working set and to other processes; TCG's keeps them until the
    # address space changes, so a reader alone on its CPU is seen once after each migration
    # (and its buffer goes back idle while it reads). A busy process on each CPU switches the
    # address space under the reader wherever the scheduler puts it, as other programs would;
    # unpinned, two of them at times shared one CPU and left the reader alone on the other.
    for each in $(seq 0 $(($(nproc) - 1))); do
        taskset -c "$each" sh -c 'while :; do :; done' & busy="$busy $!"
    done
fi
LD_PRELOAD=${FOLLOW_PRELOAD:-} $pin build/cdmplace run -c $conf -- build/examples/seed_flow 8 $seconds $mode \
    >/tmp/follow.out 2>/tmp/follow.err
status=$?
[ -n "$busy" ] && kill $busy
cat /tmp/follow.out
check "the program ran" eval "[ $status -eq 0 ]"
check "its data intact after every migration" eval "grep -qx 'data intact: yes' /tmp/follow.out"
check "the trace names the tracker" \
    eval "grep -q '\"ev\":\"start\".*\"tracker\":\"$tracker\"' /tmp/follow.jsonl"
check "the report names the tracker" eval "grep -q '^cdmplace: tracker: $tracker ' /tmp/follow.report"
check "no page failed to move" eval "! grep '\"ev\":\"migrate\"' /tmp/follow.jsonl | grep -qv '\"failed\":0,'"
if [ "$tracker" = missing ]; then
    # The first touch is all `missing` sees, and a page's creation is not a use.
    check "the first touch is seen as faults" \
        eval "awk '\$1 == \"cdmplace:\" && \$2 == \"seed\" { found = 1; faults = \$8 }
              END { exit !(found && faults > 0) }' /tmp/follow.report"
    check "no page moved: the fill made them, no use followed that missing sees" \
        eval "! grep -q '\"ev\":\"migrate\"' /tmp/follow.jsonl"
    for phase in allocated 'cpu phase 1' 'device phase' 'cpu phase 2'; do
        on=$(share $cdm "$phase" /tmp/follow.out)
        check_why "$phase: the buffer is on the CDM node (>= 95%)" "$on%" eval "[ $on -ge 95 ]"
    done
elif [ "$mode" = read ] && [ "$reads" = no ]; then
    check "auto sees writes only here" \
        eval "grep -q '\"ev\":\"start\".*\"sees\":\"writes\"' /tmp/follow.jsonl"
    skip "the CPU phases that only read" "$(build/cdmplace topo | grep '^tracker damon:')"
else
    check "pages moved to DRAM because the CPU touched them" \
        eval "grep -q '\"ev\":\"migrate\".*\"to\":$dram,.*\"reason\":\"touched\"' /tmp/follow.jsonl"
    check "pages went back to the CDM node when idle" \
        eval "grep -q '\"ev\":\"migrate\".*\"from\":$dram,\"to\":$cdm,.*\"reason\":\"idle\"' /tmp/follow.jsonl"
    on=$(share $cdm allocated /tmp/follow.out)
    check_why "after allocation the buffer is on the CDM node (>= 95%)" "$on%" eval "[ $on -ge 95 ]"
    on=$(share $dram 'cpu phase 1' /tmp/follow.out)
    check_why "while the CPU computes it is on DRAM (>= 95%)" "$on%" eval "[ $on -ge 95 ]"
    on=$(share $cdm 'device phase' /tmp/follow.out)
    check_why "after the device phase it is back on the CDM node (>= 95%)" "$on%" \
        eval "[ $on -ge 95 ]"
    on=$(share $dram 'cpu phase 2' /tmp/follow.out)
    check_why "and on DRAM again for the second CPU phase (>= 95%)" "$on%" eval "[ $on -ge 95 ]"
fi
if [ "$reads" = yes ]; then
    check "the trace says DAMON sees the reads" \
        eval "grep -q '\"ev\":\"start\".*\"sees\":\"writes, and reads sampled by DAMON\"' /tmp/follow.jsonl"
    check "cdmplace topo says what auto sees for migrating rules" \
        eval "build/cdmplace topo | grep -qx 'tracker (track = auto, migrating rules): $tracker with damon, sees writes, and reads sampled by DAMON'"
    check "our kdamond is gone after the run" \
        eval "[ \$(cat /sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds) -eq 0 ]"
fi
if [ "$tracker" = wp ] && [ "$track" = auto ]; then
    check "auto's fallback is said once, with the version that has wp-async" \
        eval "[ \$(grep -c 'track = auto: wp-async: async write-protect and PAGEMAP_SCAN need Linux 6.7; tracking with wp' /tmp/follow.err) -eq 1 ]"
fi
[ "$failed" -eq 0 ] || { cat /tmp/follow.err /tmp/follow.report; grep -v '"ev":"place"' /tmp/follow.jsonl | cut -c1-240 | tail -40; }
finish
