#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/real.sh: third-party programs from Debian packages under the library. On this host:
# what the library costs each of them, against itself without it. In the cdm guest (node 1:
# memory, no CPUs): whether each one's large buffers land where the rule says.
#
# The programs (a few seconds a run here):
#   mbw       mbw -q -n 20 256: memcpy, a loop and memcpy in blocks between two 256 MiB
#             arrays, 20 copies each: the mean seconds a copy, per method
#   hpcc      HPC Challenge under `mpirun -np 2` (Open MPI; each rank under `cdmplace run`,
#             as the README has it for a job), an hpccinf.txt of N = 2000 on a 1 x 2 grid
#             written for it: StarSTREAM triad GB/s, MPIRandomAccess GUP/s, StarDGEMM Gflop/s
#             and MPIFFT Gflop/s from its hpccoutf.txt
#   sysbench  sysbench memory: one 64 MiB block written over, 32 GiB in all: MiB/s
#   numpy     bench/real_numpy.py 128: a triad over 128 MiB arrays, a sort, an FFT, a matrix
#             product (Debian's numpy): the work's seconds
#   redis     bench/redis.sh (redis-server, linked with jemalloc, driven by redis-benchmark on
#             a Unix socket): SET and GET requests per second
# The configurations, alternated in each round with the order rotated by one each round:
#   plain        the program alone
#   plain-again  the same again: the control, what two plain configurations differ by
#   placed       cdmplace run, [rule big] size = 1M-, policy = bind 0 (this host has node 0
#                alone: what is measured is the placing path, not a slower node)
#   follow-cpu   the same rule with migrate = follow-cpu (tracked: the tracker's threads,
#                write-protect faults, an epoch every 100 ms)
#   profile      cdmplace run with a config of no rule (the profiling default: every large
#                buffer recorded and tracked, none placed)
#   glibc-mapped not run unless REAL_CONFIGS names it: the program alone, with glibc's
#                malloc mapping every buffer of 1 MiB or more afresh (MALLOC_MMAP_THRESHOLD_=
#                1048576: no threshold raised after a free, so no large chunk is reused), as
#                a placed buffer is a mapping of its own; no verdict (it is not the library)
# Every run under the library has `report = off` and no trace. Before the rounds, one run of
# each program under each library configuration, with a trace, checks that the library did
# its part (placed: a place event applied; follow-cpu: that, and an epoch event; profile: a
# place event, unplaced); its figures are not counted. redis runs its rounds in
# bench/redis.sh, after the others, and checks its own runs so. On the host each timed run of
# the others is given memory its machine backs: warm_memory writes and frees 1 GiB just
# before it (bench/warm_memory.c; on a machine whose balloon hands freed memory back to its
# host, a run's first writes otherwise cost what the machine's idle time before it decides).
#
# Printed: each run's figures; then per program and figure the median over the rounds under
# plain and each configuration's ratio to it as a time ratio (configuration over plain for
# seconds, plain over configuration for a rate: above 1 is slower either way); then the
# verdicts: for each program and configuration, its worst figure's ratio against the goal
# <= 1.03, with the control's ratio on that figure beside it. A goal not met is printed NOT
# met, not failed: timings on a shared machine are noisy. The script fails when a run fails.
#
# In the guest (`sh bench/real.sh guest`): the same programs, smaller (TCG is 10-50 times
# slower), each run once under `size = 1M-, policy = bind cdm`, while every 0.2 s their
# processes' /proc/PID/numa_maps are read. What is counted: the pages present in a process's
# anonymous mappings of 1 MiB or more (/proc/PID/maps: no file, no name such as [heap] or
# [stack]; glibc's thread stacks are among them), per node, at the sample where the process
# had the most (its peak), summed over the program's processes that have the library loaded
# (hpcc's two ranks). Verdict:
# at least 95% of them on node 1, the CDM node the rule names.
#
# Usage: sh bench/real.sh [PROGRAM...]        this host (`make bench-real`); after make
#        sh bench/real.sh guest [PROGRAM...]  the cdm guest (`make bench-real GUEST=1`); after
#                                             make and make guest-kernels
# PROGRAM: mbw hpcc sysbench numpy redis (default: all). REAL_ROUNDS (default 7) rounds;
# REAL_CONFIGS the configurations (default "plain plain-again placed follow-cpu profile"; plain
# and plain-again first);
# CDMPLACE_LIBRARY another libcdmplace.so (a build of an older commit), as `cdmplace run`
# reads. A program missing is installed when run as root (apt-get), else named with the
# command that installs it.
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
. "$root/bench/lib.sh"
cli=$root/build/cdmplace
rounds=${REAL_ROUNDS:-7}
configs=${REAL_CONFIGS:-plain plain-again placed follow-cpu profile}
# The library's configurations among them: checked, and judged against the goal.
library_configs=$(for config in $configs; do
    case $config in placed | follow-cpu | profile) echo "$config" ;; esac
done | tr '\n' ' ')
all_programs="mbw hpcc sysbench numpy redis"
limit=600 # seconds, any one run
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
# Open MPI 4.1 as root on 2 cores, as tests/jobs.sh explains each; and ranks that wait by
# yielding their CPU: busy-polling ranks on a shared 2-core machine made one hpcc run last 20
# to 110 s instead of 8.
export OMPI_MCA_plm=isolated OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mpi_yield_when_idle=1

mode=host
case ${1:-} in
guest | --in-guest) mode=$1; shift ;;
esac
programs=${*:-$all_programs}
for program in $programs; do
    case " $all_programs " in
    *" $program "*) ;;
    *) echo "bench: no program $program (one of: $all_programs)" >&2; exit 2 ;;
    esac
done

# Sizes: the host's, and the guest's (TCG), which only has to fill the buffers.
if [ "$mode" = --in-guest ]; then
    mbw_args="-q -n 10 64" hpcc_n=600 sysbench_block=4M sysbench_total=16G numpy_mib=16
    redis_requests=10000 nodes=cdm
else
    mbw_args="-q -n 20 256" hpcc_n=2000 sysbench_block=64M sysbench_total=32G numpy_mib=128
    redis_requests=200000 nodes=0
    # Written and freed before each timed run (bench/warm_memory.c): more than any of these
    # programs allocates (numpy's some 700 MiB).
    warm_mib=1024
fi

# provide: installs what the chosen programs need (root), else names it and stops.
provide() {
    missing=""
    for program in $programs; do
        case $program in
        mbw) needed="mbw:mbw" ;;
        hpcc) needed="hpcc:hpcc mpirun:openmpi-bin" ;;
        sysbench) needed="sysbench:sysbench" ;;
        numpy) needed="python3:python3-numpy" ;;
        redis) needed="redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools" ;;
        esac
        [ "$mode" = guest ] && needed="$needed gawk:gawk pgrep:procps"
        for pair in $needed; do
            command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
        done
        if [ "$program" = numpy ] && ! python3 -c 'import numpy' 2>/dev/null; then
            missing="$missing python3-numpy"
        fi
    done
    [ -n "$missing" ] || return 0
    # shellcheck disable=SC2086 # one package a word
    missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: missing packages: $missing; as root: apt-get install $missing" >&2
        exit 1
    fi
    echo "bench: installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # one package a word
    if ! { apt-get update -q >/dev/null &&
        apt-get install -y -q --no-install-recommends $missing >/dev/null; }; then
        echo "bench: apt-get install $missing failed" >&2
        exit 1
    fi
}

needs "$cli" "$root/build/libcdmplace.so" "$root/build/bench/warm_memory"
if [ "$mode" = guest ]; then
    provide
    cd "$root" || exit 1
    # shellcheck disable=SC2086 # one program a word
    exec sh tests/guest/run.sh --kernel 6.12 --topology cdm --timeout 1800 -- \
        sh bench/real.sh --in-guest $programs
fi
[ "$mode" = host ] && provide
scratch real

# conf CONFIG [LOG]: the config of a run under the library (LOG: its trace's path template).
conf() {
    printf '[settings]\nreport = off\n'
    [ -n "${2:-}" ] && printf 'log = %s\n' "$2"
    case $1 in
    placed | follow-cpu) printf '\n[rule big]\nsize = 1M-\npolicy = bind %s\n' "$nodes" ;;
    esac
    [ "$1" = follow-cpu ] && printf 'migrate = follow-cpu\n'
}

# launch CONFIG DIR RANKS PROGRAM ARGS...: PROGRAM in DIR under $tmp/CONFIG.conf (plain: alone),
# as RANKS ranks of mpirun (0: by itself); its stdout in DIR/out, its stderr in DIR/err.
launch() {
    config=$1 dir=$2 ranks=$3
    shift 3
    threshold=""
    case $config in
    plain*) ;;
    glibc-mapped) threshold=1048576 ;;
    *) set -- "$cli" run -c "$tmp/$config.conf" -- "$@" ;;
    esac
    if [ "$ranks" -gt 0 ]; then
        set -- mpirun --allow-run-as-root --oversubscribe ${threshold:+-x MALLOC_MMAP_THRESHOLD_} \
            -np "$ranks" "$@"
    fi
    [ -n "$threshold" ] && set -- env MALLOC_MMAP_THRESHOLD_="$threshold" "$@"
    (cd "$dir" && exec timeout -k 10 "$limit" "$@") </dev/null >"$dir/out" 2>"$dir/err"
}

# hpccinf: HPC Challenge's input, HPL's lines with one problem of N = $hpcc_n on a 1 x 2 grid
# (hpcc sizes its other tests from it), then PTRANS's (none of its own).
hpccinf() {
    cat <<EOF
HPLinpack benchmark input file
Innovative Computing Laboratory, University of Tennessee
HPL.out      output file name (if any)
8            device out (6=stdout,7=stderr,file)
1            # of problems sizes (N)
$hpcc_n      Ns
1            # of NBs
80           NBs
0            PMAP process mapping (0=Row-,1=Column-major)
1            # of process grids (P x Q)
1            Ps
2            Qs
16.0         threshold
1            # of panel fact
2            PFACTs (0=left, 1=Crout, 2=Right)
1            # of recursive stopping criterium
4            NBMINs (>= 1)
1            # of panels in recursion
2            NDIVs
1            # of recursive panel fact.
1            RFACTs (0=left, 1=Crout, 2=Right)
1            # of broadcast
1            BCASTs (0=1rg,1=1rM,2=2rg,3=2rM,4=Lng,5=LnM)
1            # of lookahead depth
1            DEPTHs (>=0)
2            SWAP (0=bin-exch,1=long,2=mix)
64           swapping threshold
0            L1 in (0=transposed,1=no-transposed) form
0            U  in (0=transposed,1=no-transposed) form
1            Equilibration (0=no,1=yes)
8            memory alignment in double (> 0)
##### This line (no. 32) is ignored (it serves as a separator). ######
0            Number of additional problem sizes for PTRANS
1200         values of N
0            number of additional blocking sizes for PTRANS
40           values of NB
EOF
}

# figures_of PROGRAM: how many figures a run of PROGRAM gives.
figures_of() {
    case $1 in mbw) echo 3 ;; hpcc) echo 4 ;; *) echo 1 ;; esac
}

# measure PROGRAM CONFIG DIR: one run of PROGRAM (not redis) in the fresh directory DIR;
# prints its figures, "FIGURE UNIT VALUE" a line (UNIT s: a time, else a rate).
measure() {
    program=$1 config=$2 dir=$3
    mkdir -p "$dir"
    case $program in
    mbw)
        # shellcheck disable=SC2086 # the arguments, a word each
        launch "$config" "$dir" 0 mbw $mbw_args || return 1
        awk '/^AVG/ { for (i = 1; i < NF; i++) {
                          if ($i == "Method:") method = tolower($(i + 1))
                          if ($i == "Elapsed:") seconds = $(i + 1) }
                      print method, "s", seconds }' "$dir/out" ;;
    hpcc)
        hpccinf >"$dir/hpccinf.txt"
        launch "$config" "$dir" 2 hpcc || return 1
        grep -q '^Success=1' "$dir/hpccoutf.txt" 2>/dev/null || return 1
        awk -F= '$1 == "StarSTREAM_Triad" { print "STREAM-triad GB/s", $2 }
                 $1 == "MPIRandomAccess_GUPs" { print "RandomAccess GUP/s", $2 }
                 $1 == "StarDGEMM_Gflops" { print "DGEMM Gflop/s", $2 }
                 $1 == "MPIFFT_Gflops" { print "FFT Gflop/s", $2 }' "$dir/hpccoutf.txt" ;;
    sysbench)
        launch "$config" "$dir" 0 sysbench memory --memory-block-size="$sysbench_block" \
            --memory-total-size="$sysbench_total" --time=0 run || return 1
        sed -n 's|.*(\([0-9.]*\) MiB/sec)$|write MiB/s \1|p' "$dir/out" ;;
    numpy)
        launch "$config" "$dir" 0 python3 "$root/bench/real_numpy.py" "$numpy_mib" || return 1
        sed -n 's/^numpy_s=\([0-9.]*\) .*/work s \1/p' "$dir/out" ;;
    esac
}

# run PROGRAM CONFIG DIR: measure, and the figures checked; prints them, or says what failed.
run() {
    if ! measure "$@" >"$3.figures" ||
        [ "$(awk '$3 > 0' "$3.figures" | wc -l)" -ne "$(figures_of "$1")" ]; then
        echo "bench: $1 under $2 failed ($3):" >&2
        tail -n 5 "$3/err" "$3/out" >&2
        return 1
    fi
    cat "$3.figures"
}

# ------------------------------------------------------------------ in the guest

# large_pages PID: the pages present per node ("N0=PAGES N1=PAGES") in PID's anonymous
# mappings of 1 MiB or more but an object's .bss (the anonymous mapping right after the
# object's file: static data, which the loader maps; jemalloc's is 2.1 MiB); nothing once
# PID is gone, or when the library is not loaded in it (redis.sh's `redis-server --version`).
large_pages() {
    gawk 'FNR == NR { split($1, range, "-")
                      if (NF == 5 && strtonum("0x" range[2]) - strtonum("0x" range[1]) >= 1048576 &&
                          range[1] != after_file)
                          large[range[1]] = 1
                      after_file = NF == 6 && $6 ~ /^\// ? range[2] : ""
                      if ($6 ~ /\/libcdmplace\.so$/) loaded = 1
                      next }
          $1 in large { for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split($i, kv, "="); n[kv[1]] += kv[2] } }
          END { if (loaded) { for (node in n) printf "%s=%d ", node, n[node]; print "" } }' \
        "/proc/$1/maps" "/proc/$1/numa_maps" 2>/dev/null
}

# watch PID NAME FILE: while PID runs, appends "PROC N0=PAGES ..." to FILE every 0.2 s for
# each process named NAME.
watch() {
    while [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; do
        for proc in $(pgrep -x "$2"); do
            echo "$proc $(large_pages "$proc")" >>"$3"
        done
        sleep 0.2
    done
}

# share PROGRAM FILE STATUS: the line of the guest's table for PROGRAM's samples in FILE
# (procs: the processes seen with pages in such mappings).
share() {
    awk -v program="$1" -v status="$3" '
        { total = 0; for (i = 2; i <= NF; i++) { split($i, kv, "="); total += kv[2] }
          if (!($1 in peak) || total > peak[$1]) { peak[$1] = total; line[$1] = $0 } }
        END {
            for (proc in line) {
                if (peak[proc]) procs++
                n = split(line[proc], word, " ")
                for (i = 2; i <= n; i++) { split(word[i], kv, "="); pages[kv[1]] += kv[2]; all += kv[2] }
            }
            on = all ? pages["N1"] / all : 0
            printf "  %-9s %5d %9d %8.1f%% %8.1f%%  %s\n", program, procs, all,
                all ? 100 * pages["N0"] / all : 0, 100 * on,
                status ? "NOT met (the run failed)" : (all && on >= 0.95 ? "met" : "NOT met")
        }' "$2"
}

if [ "$mode" = --in-guest ]; then
    cd "$root" || exit 1
    # Open MPI wants a host name ("(none)" is refused) and a loopback interface (PMIx listens
    # on it), which the guest's init leaves unset and down.
    [ "$(hostname)" = "(none)" ] && hostname cdm-guest
    ip link set lo up || exit 1
    conf placed >"$tmp/placed.conf"
    echo "guest: kernel $(uname -r), $(nproc) CPUs, THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)"
    echo "rule: size = 1M-, policy = bind cdm (node 1); each program run once, its processes'"
    echo "  /proc/PID/numa_maps read every 0.2 s: pages in anonymous mappings of 1 MiB or more"
    echo "  at each process's peak, summed over its processes; goal: >= 95% on node 1"
    echo
    for program in $programs; do
        case $program in
        numpy) name=python3 ;;
        redis) name=redis-server ;;
        *) name=$program ;;
        esac
        : >"$tmp/$program.samples"
        if [ "$program" = redis ]; then
            env REDIS_ROUNDS=1 REDIS_REQUESTS="$redis_requests" REDIS_CONFIGS=placed \
                REDIS_NODES=cdm sh bench/redis.sh >"$tmp/redis.out" 2>&1 &
        else
            run "$program" placed "$tmp/$program" >"$tmp/$program.out" 2>&1 &
        fi
        pid=$!
        watch "$pid" "$name" "$tmp/$program.samples"
        wait "$pid"
        echo "$? $program" >>"$tmp/status"
        echo "$program: $(tr '\n' ' ' <"$tmp/$program.out")"
    done
    echo
    printf '  %-9s %5s %9s %9s %9s  %s\n' program procs pages "node 0" "node 1" "verdict (>= 95% on node 1)"
    while read -r status program; do
        share "$program" "$tmp/$program.samples" "$status"
    done <"$tmp/status"
    awk '$1 != 0 { failed = 1 } END { exit failed }' "$tmp/status"
    exit
fi

# ------------------------------------------------------------------ on the host

echo "bench/real.sh: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)," \
    "$(nproc) cores, kernel $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "programs: $programs; $rounds rounds of: $configs (the order rotated each round)"
for config in placed follow-cpu profile; do
    conf "$config" >"$tmp/$config.conf"
    conf "$config" "$tmp/trace.$config.%p.jsonl" >"$tmp/check-$config.conf"
done
status=0
: >"$tmp/data"
# shellcheck disable=SC2086 # one program a word
others=$(echo $programs | tr ' ' '\n' | grep -vx redis | tr '\n' ' ')

# The check: a run of each program under each library configuration, with a trace.
for program in $others; do
    for checked in $library_configs; do
        rm -f "$tmp"/trace.*
        run "$program" "check-$checked" "$tmp/check-$program-$checked" >/dev/null || { status=1; continue; }
        case $checked in
        placed) wanted='"result":"applied"' ;;
        follow-cpu) wanted='"result":"applied" "ev":"epoch"' ;;
        profile) wanted='"result":"unplaced"' ;;
        esac
        for want in $wanted; do
            grep -qh "$want" "$tmp"/trace.*.jsonl 2>/dev/null && continue
            echo "bench: $program under $checked: no trace holds $want" >&2
            status=1
        done
    done
done
[ $status -eq 0 ] || { echo "bench: a check failed" >&2; exit 1; }
echo "checked: each program under $library_configs(placed: placed; follow-cpu: placed and"
echo "  tracked; profile: recorded; one traced run each, not counted)"

round=1
while [ "$round" -le "$rounds" ]; do
    # shellcheck disable=SC2086 # one configuration a word
    order=$(rotated "$round" $configs)
    for program in $others; do
        for config in $order; do
            warm_memory "$warm_mib" || exit 1
            figures=$(run "$program" "$config" "$tmp/$program-$config-$round") || { status=1; continue; }
            echo "$figures" | sed "s/^/$program $config /" >>"$tmp/data"
            echo "  round $round $program $config: $(echo "$figures" | awk '{ printf "%s%s %s %s", (NR > 1 ? ", " : ""), $1, $3, $2 }')"
        done
    done
    round=$((round + 1))
done
if [ -n "$others" ] && [ $status -ne 0 ]; then
    echo "bench: a run failed" >&2
    exit 1
fi

case " $programs " in
*" redis "*)
    echo "redis: sh bench/redis.sh, $rounds rounds of its own, $configs:"
    env REDIS_ROUNDS="$rounds" REDIS_REQUESTS="$redis_requests" \
        REDIS_CONFIGS="$(echo "$configs" | tr ' ' '\n' | grep -vx glibc-mapped | tr '\n' ' ')" \
        sh "$root/bench/redis.sh" >"$tmp/redis.out" 2>&1 || status=1
    sed 's/^/  redis: /' "$tmp/redis.out"
    [ $status -eq 0 ] || { echo "bench: bench/redis.sh failed" >&2; exit 1; }
    # Its table's rows, "  CONFIG SET GET SET-RATIO GET-RATIO": the medians of its rounds.
    awk -v configs="$configs" 'BEGIN { split(configs, c, " "); for (i in c) known[c[i]] = 1 }
        NF == 5 && ($1 in known) && $2 ~ /^[0-9.]+$/ {
            print "redis", $1, "SET rps", $2; print "redis", $1, "GET rps", $3 }' \
        "$tmp/redis.out" >>"$tmp/data"
    ;;
esac

# The medians, "PROGRAM FIGURE UNIT CONFIG MEDIAN", in the order the figures came.
awk '{ print $1, $3, $4 }' "$tmp/data" | awk '!seen[$0]++' | while read -r program figure unit; do
    for config in $configs; do
        echo "$program $figure $unit $config $(awk -v p="$program" -v c="$config" -v f="$figure" \
            '$1 == p && $2 == c && $3 == f { print $5 }' "$tmp/data" | median_of)"
    done
done >"$tmp/medians"

echo
awk -v configs="$configs" -v rounds="$rounds" '
    # A time ratio: the configuration over plain for seconds, plain over it for a rate.
    function ratio(k, c) { return unit[k] == "s" ? m[k, c] / m[k, "plain"] : m[k, "plain"] / m[k, c] }
    BEGIN { nc = split(configs, c, " ") }
    {
        k = $1 SUBSEP $2
        if (!(k in unit)) { key[++n] = k; unit[k] = $3; program[k] = $1; figure[k] = $2 }
        m[k, $4] = $5
    }
    END {
        printf "%-9s %-13s %-8s %11s", "program", "figure", "unit", "plain"
        for (j = 2; j <= nc; j++) printf " %11s", (c[j] == "plain-again" ? "control" : c[j])
        print ""
        for (i = 1; i <= n; i++) {
            k = key[i]
            printf "%-9s %-13s %-8s %11.5g", program[k], figure[k], unit[k], m[k, "plain"]
            for (j = 2; j <= nc; j++) printf " %11.3f", ratio(k, c[j])
            print ""
        }
        printf "(plain: the median of %d runs; the others: the time ratio of their median to the plain\n", rounds
        print " median, above 1 is slower; control: plain-again, what two plain configurations differ by)"
        print ""
        print "goal: library/plain time ratio <= 1.03 for each program and configuration (its worst figure)"
        for (j = 3; j <= nc; j++) {
            if (c[j] == "glibc-mapped")
                continue
            for (i = 1; i <= n; i++) {
                k = key[i]; p = program[k]
                if (!((p, c[j]) in worst) || ratio(k, c[j]) > worst[p, c[j]]) {
                    worst[p, c[j]] = ratio(k, c[j]); at[p, c[j]] = k
                }
                if (!(p in listed)) { listed[p] = 1; programs[++np] = p }
            }
        }
        for (i = 1; i <= np; i++) {
            for (j = 3; j <= nc; j++) {
                if (c[j] == "glibc-mapped")
                    continue
                p = programs[i]; w = worst[p, c[j]]; k = at[p, c[j]]
                verdict = w <= 1.03 ? "met" : "NOT met"
                printf "  %-9s %-11s %-7s %6.3f %-13s (control %.3f on it)\n", p, c[j], verdict, w,
                    figure[k], ratio(k, "plain-again")
                total++; if (verdict == "met") met++; else missed = missed " " p "/" c[j]
            }
        }
        printf "met in %d of %d%s\n", met, total, missed ? "; NOT met:" missed : ""
    }' "$tmp/medians"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
