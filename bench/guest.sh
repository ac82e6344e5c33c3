#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/guest.sh: migration and tracking -- how fast pages migrate, what tracking costs --
# in QEMU guests with a CPU-less memory node (tests/guest/run.sh, topology cdm with node 0:
# the 2 CPUs and 3G, node 1: 2G and no CPUs), each against its baseline in the same guest.
#
#   migrate_rate  node 1 -> node 0 in one process: the library's batches of move_pages (with
#                 and without their status query), one move_pages call, mbind(MPOL_MF_MOVE)
#                 over the range, memcpy; 64 and 256 MiB, 4 KiB pages and THP; rounds
#                 alternated, medians and their ratios; then what one call costs when it
#                 moves nothing (the fixed cost each batch pays)
#   library       migrate_rate --preloaded: the library itself (follow-cpu rule, bind cdm)
#                 moves a written buffer to DRAM; the trace's `migrate` events summed (pages,
#                 ns), compared with the in-process figures above
#   track_loop    a STREAM triad over 3 arrays bound to DRAM with migrate = follow-cpu (so the
#                 tracker runs and no page moves), track = off vs wp-async vs wp vs off again
#                 (the control), epoch 100ms; runs alternated (order rotated); the first pass
#                 apart from the later ones (STREAM's way), medians, each run against the off
#                 run next to it; goal wp-async/off <= 1.03 for the later passes
# The 6.12 guest runs all three; the 6.1 guest runs track_loop with off and wp (6.1 has no
# wp-async). TCG makes the guests some 50 times slower than the host, and not evenly: only
# ratios within one guest run mean anything.
#
# Run from anywhere after `make build/bench/migrate_rate build/bench/track_loop` (or `make
# bench`); about 10-15 minutes on an idle 2-core host. Knobs (environment):
#   BENCH_ROUNDS   rounds of migrate_rate (default 5)
#   BENCH_MIB      migrate_rate sizes in MiB (default "64 256")
#   TRACK_MIB      MiB per track_loop array (default 64)
#   TRACK_ITERS    triad passes per run (default 5, at least 2)
#   TRACK_RUNS     runs of each tracker (default 5)
#   TRACK_THP      the guests' transparent_hugepage/enabled during track_loop (default
#                  madvise, as Debian's hosts: the arrays get no huge page)
#   BENCH_LIB      the library to preload (default build/libcdmplace.so; an absolute path
#                  under the repository, which the guests see at the same place)
#   BENCH_PARTS    what the guests run (default "migrate track"; "track": track_loop alone)
#   TRACK_BACKENDS --host: the trackers track_loop compares with off (default "wp-async wp",
#                  those the kernel allows)
# `sh bench/guest.sh --host` runs on this machine what needs no CDM node, undistorted by
# emulation: the fixed cost of a call (migrate_rate --call-costs) and track_loop (off,
# wp-async, wp as the kernel allows).
# The script fails when a benchmark fails (a crash, data changed, a page not where it must
# be, the wrong tracker, a page moved by track_loop); a goal not met is reported.
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
bin=build/bench
lib=${BENCH_LIB:-$root/build/libcdmplace.so}
rounds=${BENCH_ROUNDS:-5}
sizes=${BENCH_MIB:-64 256}
track_mib=${TRACK_MIB:-64}
track_iters=${TRACK_ITERS:-5}
track_runs=${TRACK_RUNS:-5}
track_thp=${TRACK_THP:-madvise}
parts=${BENCH_PARTS:-migrate track}

# field NAME LINE: the value of NAME=VALUE in a track_loop line.
field() {
    echo "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}

# ------------------------------------------------------------------ in a guest (or --host)
# Files go to $work: the guest's own /tmp, or a directory of ours on the host.

migrate_part() {
    # shellcheck disable=SC2086 # $sizes is a list on purpose
    "$bin/migrate_rate" "$rounds" $sizes >"$work/rate.out" || return 1
    cat "$work/rate.out"
    mib=$(echo "$sizes" | awk '{ print $NF }') # the library moves the largest size
    echo
    echo "library: migrate_rate --preloaded $mib MiB, rule: size = 4M-, policy = bind cdm,"
    echo "  migrate = follow-cpu, idle = 3600s; epoch 100ms, track = auto; the trace's migrate"
    echo "  events of reason \"touched\" summed (ns: the move_pages calls alone)"
    cat >"$work/moves.conf" <<EOF
[settings]
min_size = 1M
epoch    = 100ms
log      = $work/moves-%p.jsonl
report   = $work/moves-%p.report

[rule moved]
size    = 4M-
policy  = bind cdm
migrate = follow-cpu
idle    = 3600s
EOF
    failed=0
    for pages in 4k thp; do
        rm -f "$work"/moves-*.jsonl "$work"/moves-*.report
        env LD_PRELOAD="$lib" CDMPLACE_CONFIG="$work/moves.conf" \
            "$bin/migrate_rate" --preloaded "$mib" $pages >"$work/moves.out" 2>&1 || failed=1
        sed 's/^/  /' "$work/moves.out"
        if [ $failed -ne 0 ]; then
            # What the library last decided, for whoever looks into it.
            cat "$work"/moves-*.report
            grep -h '"ev":"epoch"' "$work"/moves-*.jsonl | tail -n 3
            grep -h '"ev":"migrate"' "$work"/moves-*.jsonl | grep -v '"busy":0,"failed":0' | tail -n 5
            return 1
        fi
        grep -h '"ev":"start"' "$work"/moves-*.jsonl | sed -n 's/.*"tracker":"\([^"]*\)".*/  tracker: \1/p'
        early=$(sed -n 's/.*before the second write: \([0-9]*\);.*/\1/p' "$work/moves.out")
        [ "${early:-0}" -eq 0 ] ||
            echo "  NOTE: the library moved $early pages to DRAM before they were written twice"
        # column 6 of a migrate_rate row: the method's median GB/s
        batch=$(awk -v m="$mib" -v p=$pages '$1 == m && $3 == p && $4 == "batch-only" { print $6 }' \
            "$work/rate.out")
        raw=$(awk -v m="$mib" -v p=$pages '$1 == m && $3 == p && $4 == "move_pages" { print $6 }' \
            "$work/rate.out")
        grep -h '"ev":"migrate"' "$work"/moves-*.jsonl | grep '"reason":"touched"' |
            awk -v batch="$batch" -v raw="$raw" -v m="$mib" -v p=$pages '
            function num(key,   s) {
                if (!match($0, "\"" key "\":[0-9]+")) return 0
                s = substr($0, RSTART, RLENGTH); sub(/.*:/, "", s); return s + 0
            }
            {
                calls++; pages += num("pages"); busy += num("busy"); failed += num("failed")
                ns += num("ns")
            }
            END {
                if (!ns) { print "  no migrate events in the trace"; exit 1 }
                rate = pages * 4096 / ns
                printf "  trace %-3s: %d move_pages calls, %d pages moved, %d busy, %d failed,", p,
                    calls, pages, busy, failed
                printf " %.1f ms in move_pages: %.3f GB/s\n", ns / 1e6, rate
                printf "  trace %-3s: library/batch-only %.3f, library/move_pages %.3f", p,
                    rate / batch, rate / raw
                printf " (%d MiB %s in-process medians above)\n", m, p
            }' || return 1
    done
}

# track_part BACKEND...: track_loop under each backend and under `off` once more (the
# control: its ratio to the first says how far the host's noise reaches), runs alternated.
track_part() {
    echo "track_loop: 3 x $track_mib MiB arrays (malloc), $track_iters triad passes a run, $track_runs runs"
    echo "  of each, alternated (order rotated each run); rule: size = 1M-, policy = bind dram,"
    echo "  migrate = follow-cpu (idle 200ms by default), epoch 100ms; off-again: off once more"
    set -- "$@" off-again
    for backend in "$@"; do
        cat >"$work/track-$backend.conf" <<EOF
[settings]
min_size = 1M
epoch    = 100ms
track    = ${backend%-again}
report   = $work/track-$backend.report

[rule arrays]
size    = 1M-
policy  = bind dram
migrate = follow-cpu
EOF
        : >"$work/track-$backend.runs"
    done
    run=0
    while [ $run -lt "$track_runs" ]; do
        shift_by=$((run % $#))
        order=$(echo "$@" | awk -v k=$shift_by '{ for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
        for backend in $order; do
            line=$(env LD_PRELOAD="$lib" CDMPLACE_CONFIG="$work/track-$backend.conf" \
                "$bin/track_loop" "$track_mib" "$track_iters" 2>"$work/track.err") ||
                { echo "bench: track_loop under $backend failed: $(cat "$work/track.err")" >&2; return 1; }
            report=$work/track-$backend.report
            tracker=$(sed -n 's/^cdmplace: tracker: \([^ ]*\).*/\1/p' "$report")
            # The rule's report row: cdmplace: arrays ALLOCS BYTES PEAK TO-DRAM TO-CDM FAULTS ...
            counts=$(awk '$1 == "cdmplace:" && $2 == "arrays" { print $6, $7, $8 }' "$report")
            if [ "$tracker" != "${backend%-again}" ]; then
                echo "bench: track = $backend ran tracker '$tracker'" >&2
                cat "$work/track.err" "$report" >&2
                return 1
            fi
            case $counts in
            "0 0 "*) ;;
            *) echo "bench: track_loop under $backend moved pages (to-dram to-cdm faults: $counts)" >&2; return 1 ;;
            esac
            echo "$(field median_ns "$line") $(field first_ns "$line") $(field total_ns "$line")" \
                "$(field fill_ns "$line") ${counts##* } $(field huge "$line")" >>"$work/track-$backend.runs"
        done
        run=$((run + 1))
    done
    # A .runs file's columns: the later passes' median, the first pass, all passes, the fill
    # (ns), faults, huge%. Each backend's line: medians over the runs, ratios to off's.
    printf '  %-9s %-32s %9s %6s %8s %6s %6s %6s %7s %8s\n' backend "later passes ms, each run's median" \
        "median ms" ratio "first ms" ratio all fill faults "huge%"
    for backend in "$@"; do
        paste "$work/track-off.runs" "$work/track-$backend.runs" | awk -v b="$backend" '
            function median(x, n,   i, j, t) {
                for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
                return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
            }
            {
                for (c = 1; c <= 5; c++) { off[c, NR] = $c; me[c, NR] = $(c + 6) }
                samples = samples (NR > 1 ? " " : "") sprintf("%.0f", $7 / 1e6)
                huge = $12
            }
            END {
                for (c = 1; c <= 5; c++) {
                    for (i = 1; i <= NR; i++) { x[i] = off[c, i]; y[i] = me[c, i] }
                    m_off[c] = median(x, NR); m[c] = median(y, NR)
                }
                printf "  %-9s %-32s %9.1f %6.3f %8.1f %6.3f %6.3f %6.3f %7d %8s\n", b, samples, m[1] / 1e6,
                    m[1] / m_off[1], m[2] / 1e6, m[2] / m_off[2], m[3] / m_off[3], m[4] / m_off[4], m[5], huge
            }'
    done
    echo "  (all: every pass, the first included; fill: each page's first write)"
    # Run by run: each run's later passes against the off run of the same round, which ran
    # next to it; the control's spread is the host's noise.
    for backend in "$@"; do
        [ "$backend" = off ] && continue
        paste "$work/track-off.runs" "$work/track-$backend.runs" | awk -v b="$backend" '
            { r[NR] = $7 / $1 }
            END {
                n = NR
                for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
                printf "  %s/off later passes run by run: median %.3f, middle half %.3f-%.3f, all %.3f-%.3f\n", b,
                    n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2, r[int((n + 3) / 4)],
                    r[int((3 * n + 3) / 4)], r[1], r[n] }' | tee "$work/track-$backend.paired"
    done
    if [ -f "$work/track-wp-async.paired" ]; then
        sed 's/.*median \([0-9.]*\),.*/\1/' "$work/track-wp-async.paired" | awk '{
            printf "  goal wp-async/off <= 1.03 at epoch 100ms (later passes, run by run): %s\n",
                ($1 <= 1.03 ? "met" : "NOT met") }'
    fi
}

if [ "${1:-}" = --inside ]; then
    work=/tmp
    cd "$root" || exit 1
    kernel=$(uname -r)
    echo "guest: kernel $kernel, $(nproc) CPUs, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)," \
        "numa_balancing $(cat /proc/sys/kernel/numa_balancing)"
    echo
    # QEMU gives the guest its memory at the first touch: touch what the benchmarks will use
    # (in files on the tmpfs, which follow the writer's policy), so that the first run of
    # each does not pay the host's page faults (the first fill of a fresh guest is twice as
    # slow as the next).
    for warm in 0:900 1:700; do
        if ! numactl --membind="${warm%:*}" dd if=/dev/zero of=/tmp/warm bs=1M count="${warm#*:}" 2>/dev/null; then
            echo "bench: could not warm node ${warm%:*}" >&2
            exit 1
        fi
        rm /tmp/warm
    done
    status=0
    case " $parts " in
    *" migrate "*)
        if [ "$2" = 6.12 ]; then
            migrate_part || status=1
            echo
        fi ;;
    esac
    case " $parts " in
    *" track "*)
        # Huge pages as on the host (madvise: the arrays get none), not the guest's default
        # (always): a write to a protected huge page splits it, and under TCG a loop over
        # split pages runs faster by itself, which made the tracked loop look faster than
        # the untracked one (0.59).
        echo "$track_thp" >/sys/kernel/mm/transparent_hugepage/enabled || exit 1
        case $2 in
        6.12) track_part off wp-async wp || status=1 ;;
        6.1) track_part off wp || status=1 ;;
        esac ;;
    esac
    exit $status
fi

# ------------------------------------------------------------------ on the host

for program in migrate_rate track_loop; do
    if [ ! -x "$root/$bin/$program" ] || [ ! -f "$lib" ]; then
        echo "bench: $root/$bin/$program or $lib is missing: run make build/bench/$program" >&2
        exit 1
    fi
done
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
echo "cdmplace guest benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), host: $(nproc) cores," \
    "kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "library: $lib ($(sha256sum "$lib" | cut -c1-12)), tree at $(git -C "$root" describe --always --dirty 2>/dev/null)"
if [ "${1:-}" = --host ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-bench.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    cd "$root" || exit 1
    backends=off
    for backend in ${TRACK_BACKENDS:-wp-async wp}; do
        build/cdmplace topo | grep -q "^tracker $backend: available" && backends="$backends $backend"
    done
    echo
    "$bin/migrate_rate" --call-costs || exit 1
    echo
    # shellcheck disable=SC2086 # a list on purpose
    track_part $backends
    exit $?
fi
cd "$root" || exit 1
status=0
for kernel in 6.12 6.1; do
    echo
    echo "=== $kernel guest (tests/guest/run.sh --kernel $kernel --topology cdm --mem 3G,2G)"
    sh "$root/tests/guest/run.sh" --kernel $kernel --topology cdm --mem 3G,2G --timeout 900 \
        --env "BENCH_ROUNDS=$rounds" --env "BENCH_MIB=$sizes" --env "TRACK_MIB=$track_mib" \
        --env "TRACK_ITERS=$track_iters" --env "TRACK_RUNS=$track_runs" --env "BENCH_LIB=$lib" \
        --env "BENCH_PARTS=$parts" --env "TRACK_THP=$track_thp" \
        -- sh bench/guest.sh --inside $kernel || status=1
    echo "(host load average after the $kernel guest: $(cut -d' ' -f1-3 /proc/loadavg))"
done
exit $status
