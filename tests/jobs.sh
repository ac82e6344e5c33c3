#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/jobs.sh: cdmplace in the processes of a job. A real MPI job under Debian 12's Open MPI
# (tests/mpi_ranks.c, whose ranks allocate buffers of rank-dependent sizes through the rule
# of tests/jobs.conf), Slurm's variables as srun sets them, and a fork inside a rank:
#
#   openmpi-traces       mpirun -np 4 cdmplace run --log DIR/trace.%r.jsonl: one trace per
#                        rank, named by Open MPI's rank, "rank":R in its start event
#   openmpi-report       `cdmplace report DIR/trace.*.jsonl`: one table, not four, with the
#                        min / mean / max that the known sizes give and the rank holding each max
#   report-rank-order    traces given in any order (trace.10 before trace.2): ties for a max
#                        name the lowest rank
#   slurm-traces         SLURM_JOB_ID and SLURM_PROCID in each rank's environment:
#                        --log trace.%j.%r.jsonl names, "job" and "rank" in the start events
#   slurm-report         the report's header names the job; --report report.%j.%r.txt
#   slurm-over-ompi      SLURM_PROCID wins over OMPI_COMM_WORLD_RANK (preload/trace.c rank_id)
#   template-precedence  %r: SLURM_PROCID, else OMPI_COMM_WORLD_RANK, else PMI_RANK, else 0;
#                        %j: SLURM_JOB_ID, else PBS_JOBID, else "local"
#   fork-own-trace       a fork in a rank with %p in the template: a trace per process
#   fork-shared-trace    without %p: both processes in one file, told apart by the report
#
# Usage: sh tests/jobs.sh   (from anywhere, after `make tests`; mpirun from `make deps`)
# Prints `ok NAME` or `FAIL NAME (why)` and at the end `N passed, M failed`; exits 1 if any
# failed. JOBS_KEEP=1 keeps the temporary directory (each case's traces and outputs).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=$ROOT/build/cdmplace
APP=$ROOT/build/tests/mpi_ranks
CONF=$ROOT/tests/jobs.conf

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
# Run inside a Slurm allocation, or under another mpirun, we would inherit a job's variables:
# the cases set the ones they mean, and mpirun must see none of Slurm's (below).
for var in $(env | sed -n 's/^\(\(SLURM\|PBS\|OMPI\|PMI\|PMIX\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$var"
done

# Open MPI 4.1 (Debian 12) as root in a container with 2 CPUs; what each setting is for:
#  --allow-run-as-root  mpirun refuses to run as root without it (CI runs as root).
#  --oversubscribe      4 ranks on 2 cores; without it mpirun stops: "not enough slots".
#  plm isolated         starts the ranks on this host without ssh: the default launcher (plm
#                       rsh) aborts mpirun when its agent is missing, even for local ranks.
#  btl self,vader       one host: shared memory only, whatever the container's network.
#  vader single copy    none: CMA (process_vm_readv) needs ptrace rights between the ranks,
#                       which containers may deny; the job's messages are small anyway.
# Slurm's variables reach only the ranks (`env` in each of mpirun's MPMD contexts, as srun
# gives each task its own): with SLURM_JOB_ID in mpirun's own environment, its ras/slurm takes
# this for a Slurm allocation and mpirun fails.
export OMPI_MCA_plm=isolated OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
mpirun_job() {
    timeout -k 10 120 mpirun --allow-run-as-root --oversubscribe "$@" </dev/null
}

for file in "$CLI" "$APP" "$ROOT/build/libcdmplace.so"; do
    if [ ! -e "$file" ]; then
        echo "jobs: $file is missing: run make tests" >&2
        exit 1
    fi
done
if ! command -v mpirun >/dev/null 2>&1; then
    echo "jobs: mpirun is not installed: run make deps (openmpi-bin)" >&2
    exit 1
fi

. "$ROOT/tests/suite.sh"
scratch jobs "${JOBS_KEEP:-}"
MiB=1048576

# What tests/mpi_ranks.c allocates in MPI rank R: its number of buffers and their size.
buffers_of() { echo $((1 + ($1 + 1) % 4)); }
size_of() { echo $(((2 + ($1 + 2) % 4) * MiB)); }
# 4 ranks: 2, 3, 4, 1 buffers (max in rank 2) of 4, 5, 2, 3 MiB: 8, 15, 8, 3 MiB (max in rank 1).
TOTAL=$((8 * MiB + 15 * MiB + 8 * MiB + 3 * MiB))


# placed_ok FILE RANK: FILE holds exactly the placements tests/mpi_ranks.c makes in RANK,
# each through the rule and applied; says what is wrong, else nothing.
placed_ok() {
    count=$(grep '"ev":"place"' "$1" | grep -c '"rule":"ranks"')
    sized=$(grep '"ev":"place"' "$1" | grep '"rule":"ranks"' | grep "\"size\":$(size_of "$2")," |
        grep -c '"result":"applied"')
    if [ "$count" -ne "$(buffers_of "$2")" ] || [ "$sized" -ne "$count" ]; then
        echo "$1: $count placements by rule ranks, $sized of $(size_of "$2") bytes applied;" \
            "rank $2 makes $(buffers_of "$2");"
    fi
}

# ------------------------------------------------------------------ Open MPI
# ranks_job DIR N: N ranks of the app under `cdmplace run`, one trace each in DIR; the
# launcher's status in $status, its output in DIR/out and DIR/err.
ranks_job() {
    mkdir -p "$1"
    mpirun_job -np "$2" "$CLI" run -c "$CONF" --log "$1/trace.%r.jsonl" -- "$APP" \
        >"$1/out" 2>"$1/err"
    status=$?
}

dir=$TMP/openmpi
ranks_job "$dir" 4
why=""
if [ "$status" -ne 0 ] || ! grep -qx "total $TOTAL bytes" "$dir/out"; then
    why="mpirun exited $status, stdout $(tr '\n' ' ' <"$dir/out"), stderr $(head -c 400 "$dir/err")"
elif [ "$(find "$dir" -name 'trace.*.jsonl' | wc -l)" -ne 4 ]; then
    why="$(cd "$dir" && echo trace.*): not 4 traces"
else
    for rank in 0 1 2 3; do
        file=$dir/trace.$rank.jsonl
        if ! start_of "$file" | grep -q "\"job\":null,\"rank\":$rank}"; then
            why="$why $file: start event without \"job\":null,\"rank\":$rank;"
        fi
        why="$why$(placed_ok "$file" "$rank")"
    done
fi
if [ -z "$why" ]; then pass openmpi-traces; else fail openmpi-traces "$why"; fi

"$CLI" report "$dir"/trace.*.jsonl >"$dir/report" 2>"$dir/report.err"
status=$?
pid1=$(pid_of "$dir/trace.1.jsonl")
pid2=$(pid_of "$dir/trace.2.jsonl")
why=""
if [ "$status" -ne 0 ]; then
    why="report exited $status: $(head -c 400 "$dir/report.err")"
elif [ "$(grep -c '^  RULE ' "$dir/report")" -ne 1 ] ||
    ! grep -q '^4 processes from 4 traces, longest ' "$dir/report"; then
    why="not one table of 4 processes: $(head -n 3 "$dir/report" | tr '\n' ' ')"
fi
why="$why$(expect_row "$dir/report" ranks allocs "1|2.5|4|rank 2 (pid $pid2,")"
why="$why$(expect_row "$dir/report" ranks bytes "3M|8.50M|15M|rank 1 (pid $pid1,")"
why="$why$(expect_row "$dir/report" ranks peak "3M|8.50M|15M|rank 1 (pid $pid1,")"
if [ -z "$why" ]; then pass openmpi-report; else fail openmpi-report "$why"; sed 's/^/    /' "$dir/report"; fi

# 12 ranks: ranks 2, 6 and 10 allocate 4 buffers each, ranks 1, 5 and 9 15 MiB each; the
# traces given in reverse order, trace.10 and trace.11 among them.
dir=$TMP/order
ranks_job "$dir" 12
why=""
if [ "$status" -ne 0 ] || [ "$(find "$dir" -name 'trace.*.jsonl' | wc -l)" -ne 12 ]; then
    why="mpirun exited $status with $(cd "$dir" && echo trace.*): $(head -c 400 "$dir/err")"
else
    # shellcheck disable=SC2046 # the file names are ours, without spaces
    "$CLI" report $(ls -r "$dir"/trace.*.jsonl) >"$dir/report" 2>&1
    why="$(expect_row "$dir/report" ranks allocs "1|2.5|4|rank 2 (")"
    why="$why$(expect_row "$dir/report" ranks bytes "3M|8.50M|15M|rank 1 (")"
fi
if [ -z "$why" ]; then pass report-rank-order; else fail report-rank-order "$why"; fi

# ------------------------------------------------------------------ Slurm
# slurm_job DIR RANK-EXPRESSION: 4 ranks under mpirun, each started as srun starts a task
# (SLURM_JOB_ID, SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID in its environment), with
# SLURM_PROCID the shell arithmetic RANK-EXPRESSION of the MPI rank R. Contexts of mpirun's
# MPMD syntax ("-np 1 A : -np 1 B ...") take MPI ranks in order.
slurm_job() {
    job_dir=$1 expression=$2 separator=""
    set --
    for rank in 3 2 1 0; do
        procid=$(($(echo "$expression" | sed "s/R/$rank/g")))
        set -- -np 1 env SLURM_JOB_ID=4242 SLURM_PROCID=$procid SLURM_NTASKS=4 \
            SLURM_LOCALID=$procid "$CLI" run -c "$CONF" --log "$job_dir/trace.%j.%r.jsonl" \
            --report "$job_dir/report.%j.%r.txt" -- "$APP" $separator "$@"
        separator=:
    done
    mkdir -p "$job_dir"
    mpirun_job "$@" >"$job_dir/out" 2>"$job_dir/err"
}

# slurm_traces DIR RANK-EXPRESSION: what is wrong with the traces of slurm_job, else nothing.
slurm_traces() {
    if ! grep -qx "total $TOTAL bytes" "$1/out"; then
        echo "the job failed: stdout $(tr '\n' ' ' <"$1/out"), stderr $(head -c 400 "$1/err")"
        return
    fi
    [ "$(find "$1" -name 'trace.*' | wc -l)" -eq 4 ] || echo "$(cd "$1" && echo trace.*): not 4;"
    for rank in 0 1 2 3; do
        procid=$(($(echo "$2" | sed "s/R/$rank/g")))
        file=$1/trace.4242.$procid.jsonl
        if ! start_of "$file" | grep -q "\"job\":\"4242\",\"rank\":$procid}"; then
            echo "$file: no start event with \"job\":\"4242\",\"rank\":$procid;"
        fi
        placed_ok "$file" "$rank"
    done
}

# As srun: SLURM_PROCID is the MPI rank.
dir=$TMP/slurm
slurm_job "$dir" R
why=$(slurm_traces "$dir" R)
if [ -z "$why" ]; then pass slurm-traces; else fail slurm-traces "$why"; fi

"$CLI" report "$dir"/trace.*.jsonl >"$dir/report" 2>&1
why=""
grep -q '^4 processes from 4 traces, job 4242, longest ' "$dir/report" ||
    why="the header names no job: $(head -n 1 "$dir/report")"
why="$why$(expect_row "$dir/report" ranks allocs "1|2.5|4|rank 2 (")"
for rank in 0 1 2 3; do
    file=$dir/report.4242.$rank.txt
    # "cdmplace: ranks   ALLOCS   BYTES ...": the library's own report of that rank
    allocs=$(sed -n 's/^cdmplace: ranks  *\([0-9]*\) .*/\1/p' "$file" 2>/dev/null)
    [ "$allocs" = "$(buffers_of $rank)" ] ||
        why="$why $file: allocations of rule ranks '$allocs', want $(buffers_of $rank);"
done
if [ -z "$why" ]; then pass slurm-report; else fail slurm-report "$why"; sed 's/^/    /' "$dir/report"; fi

# SLURM_PROCID = 3 - R while Open MPI says R: the names, the start events and the report
# follow Slurm's rank (preload/trace.c rank_id: SLURM_PROCID first).
dir=$TMP/slurm-over-ompi
slurm_job "$dir" "3 - R"
why=$(slurm_traces "$dir" "3 - R")
"$CLI" report "$dir"/trace.*.jsonl >"$dir/report" 2>&1
why="$why$(expect_row "$dir/report" ranks allocs "1|2.5|4|rank 1 (")"
why="$why$(expect_row "$dir/report" ranks bytes "3M|8.50M|15M|rank 2 (")"
if [ -z "$why" ]; then pass slurm-over-ompi; else fail slurm-over-ompi "$why"; fi

# One process per line: the variables set, and the trace name and the start event's job and
# rank they give. `true` allocates nothing; the start event is written when it starts.
dir=$TMP/precedence
mkdir -p "$dir"
why=""
while read -r variables name job rank; do
    rm -f "$dir"/*.jsonl
    # shellcheck disable=SC2046 # $variables is a list of assignments
    env $(echo "$variables" | tr , ' ') "$CLI" run -c "$CONF" --log "$dir/t.%j.%r.jsonl" -- true
    if [ ! -f "$dir/$name" ] || ! start_of "$dir/$name" | grep -q "\"job\":$job,\"rank\":$rank}"; then
        why="$why $variables: $(cd "$dir" && echo *.jsonl), want $name with job $job, rank $rank;"
    fi
done <<'CASES'
SLURM_PROCID=2,OMPI_COMM_WORLD_RANK=5,PMI_RANK=9 t.local.2.jsonl null 2
OMPI_COMM_WORLD_RANK=5,PMI_RANK=9 t.local.5.jsonl null 5
PMI_RANK=9 t.local.9.jsonl null 9
CDMPLACE_DEBUG=0 t.local.0.jsonl null null
SLURM_JOB_ID=77,PBS_JOBID=88.pbs,SLURM_PROCID=1 t.77.1.jsonl "77" 1
PBS_JOBID=88.pbs t.88.pbs.0.jsonl "88.pbs" null
CASES
if [ -z "$why" ]; then pass template-precedence; else fail template-precedence "$why"; fi

# ------------------------------------------------------------------ fork in a rank
# Rank 1 forks a child that places one 7 MiB buffer (tests/mpi_ranks.c --fork 1).
ppid_of() { start_of "$1" | sed -n 's/.*"ppid":\([0-9]*\).*/\1/p'; }

dir=$TMP/fork-own
mkdir -p "$dir"
mpirun_job -np 4 "$CLI" run -c "$CONF" --log "$dir/trace.%r.%p.jsonl" -- "$APP" --fork 1 \
    >"$dir/out" 2>"$dir/err"
status=$?
why=""
set -- "$dir"/trace.1.*.jsonl
if [ "$status" -ne 0 ] || [ "$(find "$dir" -name 'trace.*.jsonl' | wc -l)" -ne 5 ] || [ $# -ne 2 ]; then
    why="mpirun exited $status with $(cd "$dir" && echo trace.*): want 5 traces, 2 of rank 1"
else
    # The child is the one whose start event names the other as its parent.
    if [ "$(ppid_of "$2")" = "$(pid_of "$1")" ]; then
        parent=$1 child=$2
    else
        parent=$2 child=$1
    fi
    pid=$(pid_of "$child")
    if [ "$(ppid_of "$child")" != "$(pid_of "$parent")" ] || [ "$pid" = "$(pid_of "$parent")" ]; then
        why="neither trace of rank 1 is the other's child"
    fi
    [ "$(grep -c '"ev":"start"' "$child")" -eq 1 ] || why="$why $child: not one start event;"
    start_of "$child" | grep -q '"rank":1}' || why="$why $child: its start event says no rank 1;"
    [ "$(grep '"ev":"place"' "$child" | grep '"rule":"ranks"' | grep -c "\"size\":$((7 * MiB)),")" -eq 1 ] ||
        why="$why $child: not one 7 MiB placement;"
    ! grep -q "\"size\":$((7 * MiB))," "$parent" || why="$why $parent: holds the child's buffer;"
    grep -q '"ev":"exit"' "$child" || why="$why $child: no exit event;"
    ! grep '"ev"' "$child" | grep -qv "\"pid\":$pid," || why="$why $child: events of another pid;"
    why="$why$(placed_ok "$parent" 1)"
    "$CLI" report "$dir"/trace.*.jsonl >"$dir/report" 2>&1
    grep -q '^5 processes from 5 traces' "$dir/report" || why="$why report: $(head -n 1 "$dir/report")"
fi
if [ -z "$why" ]; then pass fork-own-trace; else fail fork-own-trace "$why"; fi

# Without %p the child appends to its rank's file, after a start event of its own.
dir=$TMP/fork-shared
mkdir -p "$dir"
mpirun_job -np 4 "$CLI" run -c "$CONF" --log "$dir/trace.%r.jsonl" -- "$APP" --fork 1 \
    >"$dir/out" 2>"$dir/err"
status=$?
"$CLI" report "$dir/trace.1.jsonl" >"$dir/report" 2>&1
starts=$(grep -c '"ev":"start"' "$dir/trace.1.jsonl" 2>/dev/null)
why=""
if [ "$status" -ne 0 ] || [ "${starts:-0}" -ne 2 ]; then
    why="mpirun exited $status; ${starts:-no} start events in trace.1.jsonl, want 2"
elif ! grep -q '^2 processes from 1 traces' "$dir/report"; then
    why="report: $(head -n 1 "$dir/report")"
else
    why="$(expect_row "$dir/report" ranks allocs "1|2.0|3|rank 1 (")"
fi
if [ -z "$why" ]; then pass fork-shared-trace; else fail fork-shared-trace "$why"; fi

finish
