#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/soft_dirty.sh: soft-dirty bits as a write tracker (build/bench/soft_dirty), beside the
# workload alone and the library's own tracker, in the QEMU guests (this host's kernel may
# lack CONFIG_MEM_SOFT_DIRTY), as root and as an ordinary user (nobody).
#
#   random   SD_RANDOM_MIB (default 128) MiB advised MADV_HUGEPAGE, filled, then
#            SD_RANDOM_ROUNDS (default 1) rounds of random 8-byte updates
#   triad    STREAM's triad over 3 x SD_TRIAD_MIB (default 32) MiB, filled, then
#            SD_TRIAD_PASSES (default 10) passes
# Configurations, those the kernel and the user allow:
#   plain            the workload alone
#   plain-again      the same again: the control, what two plain runs differ by
#   soft-dirty       a thread that each 100 ms epoch reads the buffers' pagemap entries (bit
#                    55), then clears the soft-dirty bits of the whole process (clear_refs)
#   soft-dirty-scan  the same, reading with PAGEMAP_SCAN and PAGE_IS_SOFT_DIRTY (6.12)
#   clear-accessed   a control: each epoch "1" to clear_refs (accessed bits: the same walk of
#                    the process, no write-protection, no TLB flush on x86), no read
#   tlb-flush        a control: each epoch two whole-TLB flushes of the process (a protection
#                    change over 64 side pages), nothing else: TCG's emulated TLB is resized
#                    only when flushed, so a flush alone can speed a program up there
#   TRACKER          the library: cdmplace run, [rule big] size = 1M-, policy = bind 0,
#                    migrate = follow-cpu, track = the tracker `track = auto` picks for this
#                    user (wp-async on 6.12, wp for root on 6.1, none for nobody there),
#                    named so that DAMON does not join it; on the CPUs' node nothing moves
# One run of each workload plain comes first, not counted (a fresh guest's first run is the
# slowest). The runs alternate, the order rotated by one each round; a run still going after
# SD_RUN_TIMEOUT seconds (default 120) is stopped and counted as that long (its row says how
# many, its time and ratio are then at least that). The time of a run is the
# program's own fill and rounds (the CLI's start is not in it). Printed per workload and
# configuration (medians over the runs): the time, its ratio to plain's, the share of the
# buffers in huge pages at the end (AnonHugePages, /proc/self/smaps), and for soft-dirty the
# epochs, the cost of one read and one clear (us, and per GiB tracked), and per epoch the
# pages written (the workload's own marks), reported, missed (written, not reported: the
# write fell between the read and the clear) and extra (reported, not written: the rest of
# a huge page). Verdicts against the goals of bench/thp_random.sh (random: time ratio <= 1.05)
# and bench/stream_run.sh (triad: <= 1.03), and huge pages within 5 points of plain's. A goal
# not met is reported, not failed; the script fails when a run fails. TCG makes every figure
# a guest's: only ratios within one guest run compare.
#
# Usage: sh bench/soft_dirty.sh (from anywhere, after make; `make bench-soft-dirty`): both
# guests, SD_KERNELS (default "6.12 6.1"), users SD_USERS (default "root nobody"),
# SD_RUNS (default 3) runs of each configuration; SD_TIMEOUT (default 1500) seconds a guest.
#        sh bench/soft_dirty.sh --here: the same on this machine, as this user.
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
. "$root/bench/lib.sh"
cli=$root/build/cdmplace
bin=$root/build/bench/soft_dirty
runs=${SD_RUNS:-3}
run_limit=${SD_RUN_TIMEOUT:-120}
random_args="${SD_RANDOM_MIB:-128} ${SD_RANDOM_ROUNDS:-1}"
triad_args="${SD_TRIAD_MIB:-32} ${SD_TRIAD_PASSES:-10}"
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
needs "$cli" "$bin" "$root/build/libcdmplace.so"

# field NAME LINE: the value of NAME=VALUE in a soft_dirty line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run WORKLOAD CONFIG: one run; appends "TOTAL_MS HUGE_END EPOCHS READ_US CLEAR_US WRITTEN
# REPORTED MISSED EXTRA" to $tmp/WORKLOAD-CONFIG.
run() {
    workload=$1 config=$2
    eval "args=\$${workload}_args"
    # shellcheck disable=SC2086,SC2154 # the arguments are words; args is set by eval
    case $config in
    plain | plain-again) set -- "$bin" "$workload" plain $args ;;
    soft-dirty) set -- "$bin" "$workload" pagemap $args ;;
    soft-dirty-scan) set -- "$bin" "$workload" scan $args ;;
    clear-accessed) set -- "$bin" "$workload" accessed $args ;;
    tlb-flush) set -- "$bin" "$workload" flush $args ;;
    warm-up) set -- "$bin" "$workload" plain $args ;;
    *) set -- "$cli" run -c "$tmp/$config.conf" -- "$bin" "$workload" plain $args ;;
    esac
    line=$(cd "$tmp" && timeout "$run_limit" "$@" 2>"$tmp/err")
    case $? in
    0) ;;
    124)
        echo "$((run_limit * 1000)) -1 0 0 0 0 0 0 0" >>"$tmp/$workload-$config"
        echo "$config" >>"$tmp/$workload-timed-out"
        echo "  $config: timed out after ${run_limit}s"
        return 0 ;;
    *)
        echo "bench: $workload $config failed: $(cat "$tmp/err")" >&2
        return 1 ;;
    esac
    echo "$(field total_ms "$line") $(field huge "$line" | cut -d, -f2) $(field epochs "$line")" \
        "$(field read_us "$line") $(field clear_us "$line") $(field written "$line")" \
        "$(field reported "$line") $(field missed "$line") $(field extra "$line")" \
        >>"$tmp/$workload-$config"
    echo "  $config: $line"
}

# table WORKLOAD: the medians of each configuration, against plain's.
table() {
    workload=$1 goal=1.05
    [ "$workload" = triad ] && goal=1.03
    # Pages tracked: one array for random, three for the triad.
    gib=$(echo "$random_args" | awk '{ print $1 / 1024 }')
    [ "$workload" = triad ] && gib=$(echo "$triad_args" | awk '{ print 3 * $1 / 1024 }')
    plain_ms=$(median "$tmp/$workload-plain" 1) plain_huge=$(median "$tmp/$workload-plain" 2)
    printf '%-16s %9s %6s %5s %6s %8s %8s %9s %9s %9s %9s %7s %7s %7s %6s\n' \
        "$workload" total_ms ratio huge epochs read_us clear_us read/GiB clear/GiB written \
        reported missed extra "<=$goal" huge
    for c in $configs; do
        # shellcheck disable=SC2046 # the nine medians, one a word
        set -- $(for col in 1 2 3 4 5 6 7 8 9; do median "$tmp/$workload-$c" $col; done)
        late=$(grep -cx -- "$c" "$tmp/$workload-timed-out")
        awk -v late="$late" -v runs="$runs" -v c="$c" -v p="$plain_ms" -v ph="$plain_huge" \
            -v g="$goal" -v gib="$gib" -v ms="$1" -v huge="$2" -v ep="$3" -v rd="$4" -v cl="$5" \
            -v w="$6" -v r="$7" -v m="$8" -v x="$9" 'BEGIN {
            ratio = ms / p
            t = (c ~ /^plain/) ? "" : (ratio <= g ? "met" : "NOT met")
            h = (c ~ /^plain/) ? "" : (huge >= ph - 5 ? "met" : "NOT met")
            f = "%-16s %9.0f %6.3f %4.0f%% "
            if (late) {
                v = (ratio > g) ? "NOT met" : "-"
                printf "%-16s %9s %6s %5s %6s %8s %8s %9s %9s %9s %9s %7s %7s %7s %6s",
                    c, ">=" int(ms), ">=" sprintf("%.2f", ratio), "-", "-", "-", "-", "-", "-",
                    "-", "-", "-", "-", v, "-"
                printf " (%d of %d runs timed out)\n", late, runs
                exit
            }
            if (c == "clear-accessed" || c == "tlb-flush") {
                printf f "%6.0f %8s %8.0f %9s %9.0f %9s %9s %7s %7s %7s %6s\n", c, ms, ratio,
                    huge, ep, "-", cl, "-", cl / gib, "-", "-", "-", "-", t, h
                exit
            }
            if (c !~ /^soft-dirty/) {
                printf f "%6s %8s %8s %9s %9s %9s %9s %7s %7s %7s %6s\n", c, ms, ratio, huge,
                    "-", "-", "-", "-", "-", "-", "-", "-", "-", t, h
                exit
            }
            printf f "%6.0f %8.0f %8.0f %9.0f %9.0f %9.0f %9.0f %6.2f%% %6.2f%% %7s %6s\n",
                c, ms, ratio, huge, ep, rd, cl, rd / gib, cl / gib, w, r,
                w ? 100 * m / w : 0, r ? 100 * x / r : 0, t, h
        }'
    done
}

# here: every configuration this user may run, alternated, then the tables.
here() {
    scratch soft-dirty
    configs="plain plain-again"
    check=$("$bin" check 2>"$tmp/err") || { cat "$tmp/err" >&2; exit 1; }
    case $check in *pagemap=yes*) configs="$configs soft-dirty" ;; esac
    case $check in *scan=yes*) configs="$configs soft-dirty-scan" ;; esac
    case $check in *pagemap=yes*) configs="$configs clear-accessed" ;; esac
    configs="$configs tlb-flush"
    tracker=$("$cli" topo | sed -n 's/^tracker (track = auto): \([a-z-]*\).*/\1/p')
    case $tracker in
    "" | off) tracker="" ;;
    *)
        configs="$configs $tracker"
        cat >"$tmp/$tracker.conf" <<EOF
[settings]
report = off
track = $tracker

[rule big]
size = 1M-
policy = bind 0
migrate = follow-cpu
EOF
        ;;
    esac
    thp=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)
    echo "soft_dirty: $(id -un) on kernel $(uname -r), THP $thp," \
        "$(date -u +%Y-%m-%dT%H:%MZ); check: $check ($(tr '\n' ' ' <"$tmp/err"));" \
        "library tracker: ${tracker:-none}; random $random_args, triad $triad_args, $runs runs"
    status=0
    for w in random triad; do
        for c in $configs; do : >"$tmp/$w-$c"; done
        : >"$tmp/$w-timed-out"
        run "$w" warm-up || status=1
    done
    i=1
    while [ "$i" -le "$runs" ]; do
        # shellcheck disable=SC2086 # one configuration a word
        order=$(rotated "$i" $configs)
        for w in random triad; do
            for c in $order; do
                run "$w" "$c" || status=1
            done
        done
        i=$((i + 1))
    done
    [ $status -eq 0 ] || { echo "bench: a run failed" >&2; exit 1; }
    for w in random triad; do
        table "$w"
    done
}

case ${1:-} in
--here)
    here
    exit $? ;;
--guest)
    # QEMU gives the guest its memory at the first touch: touch node 0's (as bench/guest.sh
    # does), or the first runs pay the host's faults.
    numactl --membind=0 dd if=/dev/zero of=/tmp/warm bs=1M count=800 2>/dev/null && rm /tmp/warm
    status=0
    for user in ${SD_USERS:-root nobody}; do
        echo
        if [ "$user" = root ]; then
            sh "$0" --here || status=1
            continue
        fi
        # As tests/guest/unprivileged.sh runs an ordinary user: no full userfaultfd.
        sysctl -q -w vm.unprivileged_userfaultfd=0
        mkdir -p "/tmp/$user" && chown "$user:" "/tmp/$user"
        setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
            env TMPDIR="/tmp/$user" sh "$0" --here || status=1
    done
    exit $status ;;
"") ;;
*) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac

echo "soft_dirty: guests ${SD_KERNELS:-6.12 6.1}, host $(nproc) cores, kernel $(uname -r)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "tree at $(git -C "$root" describe --always --dirty 2>/dev/null)"
status=0
cd "$root" || exit 1
for kernel in ${SD_KERNELS:-6.12 6.1}; do
    echo
    echo "=== $kernel guest (tests/guest/run.sh --kernel $kernel)"
    sh tests/guest/run.sh --kernel "$kernel" --timeout "${SD_TIMEOUT:-1500}" \
        --env "SD_RUNS=$runs" --env "SD_USERS=${SD_USERS:-root nobody}" \
        --env "SD_RUN_TIMEOUT=$run_limit" \
        --env "SD_RANDOM_MIB=${random_args% *}" --env "SD_RANDOM_ROUNDS=${random_args#* }" \
        --env "SD_TRIAD_MIB=${triad_args% *}" --env "SD_TRIAD_PASSES=${triad_args#* }" \
        -- sh bench/soft_dirty.sh --guest || status=1
    echo "(host load average after the $kernel guest: $(cut -d' ' -f1-3 /proc/loadavg))"
done
exit $status
