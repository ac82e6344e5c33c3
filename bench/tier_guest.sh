#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/tier_guest.sh: tier accuracy over time: how much of a shifting hot
# set is on DRAM slot by slot, and how soon after a shift, under three mechanisms run one
# after the other in ONE boot of the 6.12 `tiers` guest (node 0: the CPUs and DRAM; nodes 1
# and 2: CPU-less lower tiers by HMAT), on the same workload (bench/tier_accuracy.c):
#
#   cdmplace   the workload under `build/cdmplace run`: its malloc bound to node 2,
#              migrate = tier, hot_set = the window, epoch 100ms; track = wp-async when the
#              window is written, track = damon when it is read
#   numa-bal   kernel.numa_balancing = 2 (memory tiering), no preload: the kernel promotes
#              pages whose hinting faults come soon after its scan; it demotes only under
#              memory pressure, which this guest never has
#   damon      DAMOS migrate_hot (to node 0) and migrate_cold (to node 2) on kdamonds of the
#              "paddr" operations, the way the kernel's own tiering sample
#              (samples/damon/mtier.c) does it. 6.12 implements both actions only for paddr:
#              a short probe first shows that a "vaddr" scheme on the workload's pid tries
#              regions and applies nothing
#
# Each run: the workload fills its buffer, moves it all to node 2, says `ready`; the
# mechanism is set up; a file says go; after a quiet 2 s a hot window is busy for
# TIER_SECONDS, then shifts, TIER_SHIFTS times; a move_pages query every 100 ms (a slot)
# samples it. Contenders alternate, in an order rotated each round. A table compares them:
# per shift, the time and slots until 95% of the window was on DRAM (median, worst), the
# mean share over each shift's last second, and the DRAM pages outside the window.
#
# Run on the host, from the repository, after `make -j2 all tests` and
#   cc -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -std=gnu11 -o build/bench/tier_accuracy \
#       bench/tier_accuracy.c -lnuma
# with
#   sh tests/guest/run.sh --kernel 6.12 --topology tiers --mem 1G,512M,512M --timeout 1500 \
#       -- sh bench/tier_guest.sh
# (7.5 minutes at a host load of 3, 11 at 6). Knobs (--env NAME=VALUE): TIER_ROUNDS
# (default 3), TIER_SHIFTS (5), TIER_SECONDS (3), TIER_MIB (64), TIER_WINDOW_MIB (8),
# TIER_MODES ("write read"), TIER_CONTENDERS ("cdmplace numa-bal damon"). It refuses to run
# where node 2 is missing or somebody has a kdamond: the DAMON interface is one per machine,
# and this takes it over.
# Fails when a run fails (the workload died, data changed, a mechanism could not be set up);
# the goal (cdmplace ahead of both) is reported, met or not.
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root" || exit 1
bin=build/bench/tier_accuracy
cli=build/cdmplace
rounds=${TIER_ROUNDS:-3}
shifts=${TIER_SHIFTS:-5}
seconds=${TIER_SECONDS:-3}
mib=${TIER_MIB:-64}
window=${TIER_WINDOW_MIB:-8}
modes=${TIER_MODES:-write read}
contenders=${TIER_CONTENDERS:-cdmplace numa-bal damon}
admin=/sys/kernel/mm/damon/admin
balancing=/proc/sys/kernel/numa_balancing

for file in "$bin" "$cli" build/libcdmplace.so; do
    [ -e "$file" ] || { echo "tier_guest: $file is missing (see the header for the build)" >&2; exit 1; }
done
# Before anything touches DAMON: this is a guest of the tiers topology, run as root.
if [ ! -d /sys/devices/system/node/node2 ] || [ "$(id -u)" -ne 0 ]; then
    echo "tier_guest: needs root and node 2 (the guest's tiers topology); see the header" >&2
    exit 1
fi
if [ ! -d "$admin" ] || [ "$(cat "$admin/kdamonds/nr_kdamonds")" -ne 0 ]; then
    echo "tier_guest: DAMON's sysfs interface is missing or in use" >&2
    exit 1
fi

work=/tmp/tier
rm -rf "$work"
mkdir -p "$work" || exit 1
boot_balancing=$(cat "$balancing")
echo 0 >"$balancing"

# ------------------------------------------------------------------ DAMON through sysfs

# put VALUE FILE: one write to a sysfs file; DAMON answers EBUSY while its kdamond holds the
# lock, so a refused write is tried again for a second.
put() {
    tries=0
    until echo "$1" 2>/dev/null >"$2"; do
        tries=$((tries + 1))
        if [ $tries -ge 100 ]; then
            echo "tier_guest: could not write '$1' to $2" >&2
            return 1
        fi
        sleep 0.01
    done
}

# The physical range of a node's memory blocks: "START END" in bytes.
node_range() {
    size=$(printf '%d' "0x$(cat /sys/devices/system/memory/block_size_bytes)")
    for block in /sys/devices/system/node/node"$1"/memory[0-9]*; do echo "${block##*memory}"; done | sort -n |
        awk -v b="$size" 'NR == 1 { first = $1 } { last = $1 } END { printf "%.0f %.0f\n", first * b, (last + 1) * b }'
}

# damon_create N: N kdamonds to configure (only while none runs).
damon_create() {
    put "$1" "$admin/kdamonds/nr_kdamonds"
}

# kdamond K OPS ACTION NID MIN_ACCESSES MAX_ACCESSES MIN_AGE TARGET...: one kdamond of one
# context, 5 ms samples and 100 ms aggregations (the workload's slot), 100 to 1000 regions
# (as cdmplace's own DAMON backend; with the interface's default of 10 to start with, DAMON
# told the window from its neighbours later in a trial run), and one DAMOS scheme moving to
# node NID what it sees MIN..MAX times in the 20 samples of an aggregation, for at least
# MIN_AGE aggregations. TARGET: a pid for vaddr; for paddr a physical range START END, where
# only anonymous pages are acted on (6.12's filter: matching N excludes what is not anon),
# so that the guest's page cache stays put.
kdamond() {
    k=$admin/kdamonds/$1
    c=$k/contexts/0
    s=$c/schemes/0
    put 1 "$k/contexts/nr_contexts" &&
        put "$2" "$c/operations" &&
        put 5000 "$c/monitoring_attrs/intervals/sample_us" &&
        put 100000 "$c/monitoring_attrs/intervals/aggr_us" &&
        put 1000000 "$c/monitoring_attrs/intervals/update_us" &&
        put 1000 "$c/monitoring_attrs/nr_regions/max" &&
        put 100 "$c/monitoring_attrs/nr_regions/min" &&
        put 1 "$c/targets/nr_targets" &&
        put 1 "$c/schemes/nr_schemes" &&
        put "$3" "$s/action" &&
        put "$4" "$s/target_nid" &&
        put 4096 "$s/access_pattern/sz/min" &&
        put 18446744073709551615 "$s/access_pattern/sz/max" &&
        put "$6" "$s/access_pattern/nr_accesses/max" &&
        put "$5" "$s/access_pattern/nr_accesses/min" &&
        put 4294967295 "$s/access_pattern/age/max" &&
        put "$7" "$s/access_pattern/age/min" || return 1
    if [ "$2" = vaddr ]; then
        put "$8" "$c/targets/0/pid_target"
    else
        put 1 "$c/targets/0/regions/nr_regions" &&
            put "$9" "$c/targets/0/regions/0/end" &&
            put "$8" "$c/targets/0/regions/0/start" &&
            put 1 "$s/filters/nr_filters" &&
            put anon "$s/filters/0/type" &&
            put N "$s/filters/0/matching"
    fi
}

# damon_start N: kdamonds 0..N-1, configured, on.
damon_start() {
    k=0
    while [ $k -lt "$1" ]; do
        put on "$admin/kdamonds/$k/state" || return 1
        k=$((k + 1))
    done
}

# damon_stats K: what kdamond K's scheme tried and applied so far, in a sentence.
damon_stats() {
    put update_schemes_stats "$admin/kdamonds/$1/state" || return 1
    s=$admin/kdamonds/$1/contexts/0/schemes/0/stats
    echo "tried $(cat "$s/nr_tried") regions ($(cat "$s/sz_tried") bytes), applied to" \
        "$(cat "$s/nr_applied") ($(cat "$s/sz_applied") bytes)"
}

# The bytes a scheme's action was applied to, as of the last damon_stats.
damon_applied() {
    cat "$admin/kdamonds/$1/contexts/0/schemes/0/stats/sz_applied"
}

damon_stop() {
    n=$(cat "$admin/kdamonds/nr_kdamonds")
    k=0
    while [ $k -lt "$n" ]; do
        [ "$(cat "$admin/kdamonds/$k/state")" = off ] || put off "$admin/kdamonds/$k/state"
        k=$((k + 1))
    done
    put 0 "$admin/kdamonds/nr_kdamonds"
}

# ------------------------------------------------------------------ one run

# The kernel's promotions and demotions so far: "PROMOTED DEMOTED" pages.
promoted_demoted() {
    awk '$1 == "pgpromote_success" { up = $2 } $1 ~ /^pgdemote_/ { down += $2 }
        END { print up + 0, down + 0 }' /proc/vmstat
}

# cdmplace's moves from its trace, by the window the batch starts in ("rest": the part of
# the buffer no window uses): where the pages it moved were, and so whether it moved any
# twice.
moves_by_window() {
    base=$(grep '"ev":"place"' "$work/cdmplace.jsonl" | grep "\"size\":$((mib << 20))," |
        sed -n 's/.*"addr":"\(0x[0-9a-f]*\)".*/\1/p')
    sed -n 's/.*"ev":"migrate".*"addr":"\(0x[0-9a-f]*\)".*"to":\([0-9]*\),"pages":\([0-9]*\).*/\1 \2 \3/p' \
        "$work/cdmplace.jsonl" | while read -r addr to pages; do
        echo "$(((addr - base) / (window << 20))) $to $pages"
    done | awk -v windows="$((shifts + 1))" '
        { w = $1 < windows ? "w" $1 : "rest"; if ($2 == 0) up[w] += $3; else down[w] += $3 }
        END {
            for (i = 0; i <= windows; i++) {
                w = i < windows ? "w" i : "rest"
                line = line sprintf(" %s %d/%d", w, up[w], down[w])
            }
            print "  cdmplace moves by window, pages to DRAM/to node 2:" line
        }'
}

# launch NAME ACCESS SHIFTS [PREFIX...]: the workload in the background, PREFIX before it;
# waits for its `ready` (it has filled its buffer and moved it to node 2) and sets $pid.
launch() {
    out=$work/$1.out
    go=$work/go
    rm -f "$go"
    name=$1 access=$2 n_shifts=$3
    shift 3
    flag=
    [ "$access" = read ] && flag=-r
    # shellcheck disable=SC2086 # $flag is empty or one word
    "$@" "$bin" $flag -m "$mib" -w "$window" -k "$n_shifts" -s "$seconds" -g "$go" >"$out" 2>&1 &
    pid=$!
    waited=0
    until grep -q '^ready' "$out"; do
        if ! kill -0 $pid 2>/dev/null || [ $waited -ge 1200 ]; then
            kill $pid 2>/dev/null
            echo "tier_guest: $name never became ready:" >&2
            cat "$out" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# finish: go, then wait for the workload; its output checked.
finish() {
    : >"$go"
    wait $pid
    rc=$?
    if [ $rc -ne 0 ] || ! grep -q '^data intact' "$out"; then
        echo "tier_guest: $name ($access-hot) failed (exit $rc):" >&2
        tail -n 20 "$out" >&2
        return 1
    fi
}

cdmplace_config() {
    cat >"$work/cdmplace-$1.conf" <<EOF
[settings]
min_size = 1M
epoch    = 100ms
track    = $2
report   = $work/cdmplace.report
log      = $work/cdmplace.jsonl

[rule tiered]
size    = ${mib}M-${mib}M
policy  = bind 2
migrate = tier
hot_set = ${window}M
EOF
}

# run CONTENDER ACCESS ROUND: one run; its window lines go to $work/windows.
run() {
    contender=$1
    case $contender in
    cdmplace)
        rm -f "$work/cdmplace.report" "$work/cdmplace.jsonl"
        # Others may rebuild the library while this runs: which one each run had.
        echo "  cdmplace: library $(sha256sum build/libcdmplace.so | cut -c1-12), track = $(sed -n 's/^track *= *//p' "$work/cdmplace-$2.conf")"
        launch "$contender" "$2" "$shifts" "$cli" run -c "$work/cdmplace-$2.conf" -- || return 1
        finish || return 1
        grep -q 'placed=1 tracked=1' "$out" ||
            { echo "tier_guest: cdmplace did not place and track the buffer" >&2; return 1; }
        # The report's row: cdmplace: tiered ALLOCS BYTES PEAK TO-DRAM TO-CDM ...
        moved=$(awk '$1 == "cdmplace:" && $2 == "tiered" { print $6, $7 }' "$work/cdmplace.report")
        ;;
    numa-bal)
        echo 2 >"$balancing"
        before=$(promoted_demoted)
        launch "$contender" "$2" "$shifts" && finish
        failed=$?
        echo 0 >"$balancing"
        [ $failed -eq 0 ] || return 1
        moved=$(echo "$before $(promoted_demoted)" | awk '{ print $3 - $1, $4 - $2 }')
        echo "  numa-bal: pgpromote_success +${moved% *}, pgdemote_* +${moved#* }"
        ;;
    damon)
        launch "$contender" "$2" "$shifts" || return 1
        # kdamond 0 promotes from nodes 1-2 what was accessed in an aggregation; kdamond 1
        # demotes from node 0 what went 10 aggregations (1 s) without access (3 let pages
        # of the window go back and forth in a trial run). No quota: one that capped
        # promotions at the window's size a second kept the window from ever reaching 95%.
        # shellcheck disable=SC2086 # the ranges are two numbers each
        if ! { damon_create 2 && kdamond 0 paddr migrate_hot 0 1 4294967295 0 $slow_range &&
            kdamond 1 paddr migrate_cold 2 0 0 10 $dram_range && damon_start 2; }; then
            kill $pid
            damon_stop
            return 1
        fi
        finish
        failed=$?
        echo "  damon: migrate_hot $(damon_stats 0)"
        echo "  damon: migrate_cold $(damon_stats 1)"
        # Bytes migrated (6.12's paddr migrate counts the pages it moved), in pages.
        moved="$(($(damon_applied 0) / 4096)) $(($(damon_applied 1) / 4096))"
        damon_stop
        [ $failed -eq 0 ] || return 1
        ;;
    esac
    awk -v c="$contender" -v a="$2" -v r="$3" '$1 == "window" { print a, c, r, $0 }' "$out" >>"$work/windows"
    echo "moves $2 $contender $3 $moved" >>"$work/windows"
    # The share of each window on DRAM, slot by slot (percent, rounded).
    awk -v c="$contender" '
        $1 == "sample" {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            if (!started || v["window"] != w) {
                if (started) print line
                started = 1; w = v["window"]; line = sprintf("  %-8s w%s:", c, w)
            }
            line = line sprintf(" %d", v["hot_on_dram"] + 0.5)
        }
        END { print line }' "$out"
    if [ "$contender" = cdmplace ]; then
        sed -n 's/^cdmplace: /  cdmplace report: /p' "$work/cdmplace.report"
        grep -h '"ev":"migrate"' "$work/cdmplace.jsonl" | awk '
            function num(key,   s) {
                if (!match($0, "\"" key "\":[0-9]+")) return 0
                s = substr($0, RSTART, RLENGTH); sub(/.*:/, "", s); return s + 0
            }
            { calls++; pages += num("pages"); busy += num("busy"); failed += num("failed"); ns += num("ns") }
            END { printf "  cdmplace trace: %d move_pages calls, %d pages moved, %d busy, %d failed, %.0f ms in move_pages\n", calls, pages, busy, failed, ns / 1e6 }'
        moves_by_window
    fi
}

# ------------------------------------------------------------------ the runs

echo "tier_guest: kernel $(uname -r), $(nproc) CPUs, numa_balancing at boot $boot_balancing" \
    "(0 except in numa-bal runs), THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
echo "  tiers: $(for t in /sys/devices/virtual/memory_tiering/memory_tier*; do printf '%s=%s ' "${t##*/}" "$(cat "$t/nodelist")"; done)"
echo "  library $(sha256sum build/libcdmplace.so | cut -c1-12), workload: $mib MiB buffer, $window MiB windows," \
    "$shifts shifts of $seconds s, $rounds rounds, modes: $modes"
slow_range="$(node_range 1 | cut -d' ' -f1) $(node_range 2 | cut -d' ' -f2)"
dram_range=$(node_range 0)
echo "  physical ranges: node 0 $dram_range, nodes 1-2 $slow_range"
cdmplace_config write wp-async
cdmplace_config read damon
status=0

# 6.12's vaddr operations do not implement migrate_hot: two windows of the workload,
# read-hot, under a vaddr scheme on its pid, show it (tried, never applied).
echo
echo "probe: DAMOS migrate_hot on \"vaddr\" (the workload's pid), read-hot, 2 windows of $seconds s"
if launch vaddr-probe read 1 && damon_create 1 && kdamond 0 vaddr migrate_hot 0 1 4294967295 0 "$pid" &&
    damon_start 1; then
    : >"$go"
    # Its kdamond stops when the process exits: the stats are read while window 1 runs.
    until grep -q '^window 0' "$out" || ! kill -0 $pid 2>/dev/null; do
        sleep 0.1
    done
    echo "  vaddr migrate_hot: $(damon_stats 0)"
    wait $pid
    sed -n 's/^window \([0-9]\) .* end=\([0-9.]*\) .*/  window \1: its share on DRAM at its end: \2%/p' "$out"
else
    status=1
fi
damon_stop

: >"$work/windows"
: >"$work/stats"
round=1
while [ $round -le "$rounds" ]; do
    for access in $modes; do
        order=$(echo "$contenders" |
            awk -v k=$((round - 1)) '{ for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
        echo
        echo "round $round, $access-hot: $order"
        for contender in $order; do
            run "$contender" "$access" "$round" || status=1
        done
    done
    round=$((round + 1))
done
echo 0 >"$balancing"

# ------------------------------------------------------------------ the comparison

echo
echo "Per shift (windows 1..$shifts of each run; window 0, from a buffer with nothing hot, apart)."
echo "at shift: the new window's share on DRAM when it became hot (median). 95%: time and 100 ms"
echo "slots until 95% of it was on DRAM (never: not within the window's $seconds s, counted as its"
echo "length). epochs: cdmplace's tracker epochs until then (median; they run late when the guest"
echo "is busy). last 1 s: its mean share on DRAM over the shift's last second. outside: DRAM pages"
echo "outside the window at the shift's end (median; max: most at any sample; the window is"
echo "$((window * 256)) pages). moved: pages moved to DRAM / to the slow tiers per window, all"
echo "windows of all runs. passes/s: the workload's passes over its window, what it got done."
for access in $modes; do
    echo
    printf '%-6s %-9s %6s %8s %17s %13s %8s %6s %8s %7s %6s %13s %8s\n' access contender shifts \
        "at shift" "95%: median ms(sl)" "worst ms(sl)" never epochs "last 1 s" outside max \
        "moved up/down" passes/s
    for contender in $contenders; do
        awk -v a="$access" -v c="$contender" -v len="$seconds" -v windows="$((shifts + 1))" \
            -v stats="$work/stats" '
            function median(v, n,   i, j, t) {
                for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
                return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            }
            $1 == "moves" && $2 == a && $3 == c { runs++; up += $5; down += $6 }
            $1 == a && $2 == c && $6 == "shift" {
                for (i = 7; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
                n++
                at[n] = f["at_shift"]
                ms[n] = f["ms95"] < 0 ? len * 1000 : f["ms95"]
                sl[n] = f["slot95"] < 0 ? len * 10 : f["slot95"]
                if (f["ms95"] < 0) never++
                if (ms[n] > worst_ms) worst_ms = ms[n]
                if (sl[n] > worst_sl) worst_sl = sl[n]
                last += f["last_second"]
                out[n] = f["outside_end"]
                if (f["outside_max"] > most) most = f["outside_max"]
                passes += f["passes"]
                if ("epochs95" in f && f["epochs95"] >= 0) ep[++n_ep] = f["epochs95"]
            }
            END {
                if (!n) { printf "%-6s %-9s %6s\n", a, c, "no runs"; exit }
                print a, c, median(ms, n), last / n, median(out, n) >>stats
                printf "%-6s %-9s %6d %7.1f%% %12.0f (%3.0f) %7.0f (%3.0f) %8s %6s %7.1f%% %7.0f %6d %13s %8.0f\n", a, c, n,
                    median(at, n), median(ms, n), median(sl, n), worst_ms, worst_sl, sprintf("%d/%d", never, n),
                    n_ep ? median(ep, n_ep) : "-", last / n, median(out, n), most,
                    sprintf("%.0f/%.0f", up / (runs * windows), down / (runs * windows)), passes / (n * len)
            }' "$work/windows"
    done
    awk -v a="$access" -v len="$seconds" '
        $1 == a && $2 == "cdmplace" && $4 == "window" {
            for (i = 7; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            epochs += f["epochs"]; n++
        }
        END { if (n) printf "  cdmplace: its tracker ran %.1f epochs a second (epoch = 100ms)\n", epochs / (n * len) }' "$work/windows"
    # The goal: ahead of both. Against each, no worse on the median time to 95%, the share
    # over the last second and the pages outside the window, and better on one of them.
    awk -v a="$access" '
        $1 == a { ms[$2] = $3; last[$2] = $4; out[$2] = $5 }
        END {
            if (!("cdmplace" in ms)) exit
            for (c in ms) {
                if (c == "cdmplace") continue
                if (ms["cdmplace"] > ms[c]) behind = behind sprintf(" time to 95%% (%.0f ms, %s %.0f ms);", ms["cdmplace"], c, ms[c])
                if (last["cdmplace"] < last[c]) behind = behind sprintf(" last second (%.1f%%, %s %.1f%%);", last["cdmplace"], c, last[c])
                if (out["cdmplace"] > out[c]) behind = behind sprintf(" pages outside (%d, %s %d);", out["cdmplace"], c, out[c])
                if (ms["cdmplace"] >= ms[c] && last["cdmplace"] <= last[c] && out["cdmplace"] >= out[c])
                    behind = behind sprintf(" even with %s;", c)
            }
            print "  goal, cdmplace ahead of both: " (behind == "" ? "met" : "NOT met:" behind)
        }' "$work/stats"
    awk -v a="$access" '
        $1 == a && $6 == "start" {
            for (i = 7; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            line = line sprintf(" %s r%s %s ms;", $2, $3, f["ms95"] < 0 ? "never" : f["ms95"])
        }
        END { print "  window 0 (start), 95% after:" line }' "$work/windows"
done
exit $status
