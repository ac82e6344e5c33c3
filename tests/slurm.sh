#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/slurm.sh: the SPANK plugin (build/spank_cdmplace.so) in a real Slurm 22.05 (Debian 12)
# of one node, this host, with its own munged, slurmctld and slurmd, all in a temporary
# directory. The job: 2 tasks of `srun --multi-prog`, task 0 build/examples/buffers (heap
# buffers of 64M and 16M and a 32M mapping, then a checksum), task 1 build/tests/probe alloc 96
# (a 96M heap buffer, and whether the library placed it), under tests/slurm-job.conf's rule:
#
#   help-srun, -sbatch, -salloc  COMMAND --help lists --cdmplace=FILE and --cdmplace-report
#   plain-step           without --cdmplace a task has no LD_PRELOAD and no CDMPLACE_ variable
#   traces               srun --cdmplace=FILE: one trace per task, cdmplace.JOB.0.RANK.jsonl in
#                        srun's directory, its start event naming the job, the rank and FILE
#   placed               each task's heap buffers placed by the rule (bind 0, applied), task 1's
#                        seen placed by the program itself (cdm_query)
#   output               the program's output is that of the same step without --cdmplace
#                        (but for probe's placed=0/1): the plugin adds nothing to stdout
#   report               --cdmplace-report: when the step is over, one report over both
#                        traces on srun's stderr and in cdmplace.JOB.0.report.txt: the job,
#                        2 processes, rule big's rows with the rank holding each max (allocs
#                        in rank 0, bytes in rank 1), rank 0's weights on node 0 at exit
#   task-environment     LD_PRELOAD=LIB:WHAT-WAS-THERE, CDMPLACE_CONFIG and CDMPLACE_LOG; srun's
#                        SLURM_CDMPLACE_* and a CDMPLACE_CONFIG_TEXT gone
#   steps                two srun steps in one salloc, the second with --export=NONE: traces and
#                        a report per step, the buffers of both placed
#   sbatch               sbatch --cdmplace=FILE --cdmplace-report: the script's srun places
#                        its tasks, traces and a report as srun's own options give, and the
#                        script itself runs without the library
#   salloc               salloc --cdmplace=FILE: the same for the srun of salloc's command
#   bad-config           a config `cdmplace check` refuses: srun fails with FILE:LINE before
#                        any allocation, and no task runs
#   sbatch-bad-config    the same config: sbatch fails with FILE:LINE and submits no job
#   missing-config       a config that is not there: the same, naming the file
#   report-alone         --cdmplace-report without --cdmplace: srun refuses
#   daemons-stopped      at the end no munged, slurmctld (slurmscriptd), slurmd or slurmstepd
#                        of ours is left
#
# Slurm as root in a container: proctrack/linuxproc and task/none need no cgroup (no
# cgroup.conf, no systemd scope), select/cons_tres hands out the CPUs alone; SlurmUser and
# SlurmdUser are root, the ports not Slurm's defaults, every state, spool, log and pid file and
# munged's socket and key are in the temporary directory; SLURM_CONF names the config for every
# command. Each wait and each srun is bounded.
#
# Usage: sh tests/slurm.sh   (as root, after `make tests`; Slurm from `make deps`)
# Prints `ok NAME` or `FAIL NAME (why)` and at the end `N passed, M failed`; exits 1 if any
# failed. Not root: one skip. SLURM_KEEP=1 keeps the temporary directory (configs, logs,
# traces, outputs).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=$ROOT/build/cdmplace
LIB=$ROOT/build/libcdmplace.so
PLUGIN=$ROOT/build/spank_cdmplace.so
BUFFERS=$ROOT/build/examples/buffers
PROBE=$ROOT/build/tests/probe
MiB=1048576

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
keep=${SLURM_KEEP:-}
# Inside someone else's allocation srun would take its job for ours.
for var in $(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$var"
done

. "$ROOT/tests/suite.sh"
if [ "$(id -u)" -ne 0 ]; then
    skip slurm "needs root: it starts munged, slurmctld and slurmd of its own"
    finish
    exit
fi
for file in "$CLI" "$LIB" "$BUFFERS" "$PROBE"; do
    if [ ! -e "$file" ]; then
        echo "slurm: $file is missing: run make tests" >&2
        exit 1
    fi
done
for program in munged slurmctld slurmd slurmstepd srun sinfo; do
    if ! command -v "$program" >/dev/null 2>&1; then
        echo "slurm: $program is not installed: run make deps (munge slurmctld slurmd" \
            "slurm-client)" >&2
        exit 1
    fi
done
if [ ! -e "$PLUGIN" ]; then
    echo "slurm: $PLUGIN is missing: make builds it where <slurm/spank.h> is (libslurm-dev)" >&2
    exit 1
fi

scratch slurm "$keep"
# munged wants every directory above its socket searchable by all.
chmod 711 "$TMP"
# Our daemons: munged, slurmctld (and its slurmscriptd), slurmd and slurmstepd that name our
# directory in their command line (munged) or their environment (SLURM_CONF, which the Slurm
# daemons pass on), so that a Slurm of the host's, or another run of this test, is not ours.
daemons() {
    for proc in /proc/[0-9]*; do
        case $(cat "$proc/comm" 2>/dev/null) in
        munged|slurmctld|slurmscriptd|slurmd|slurmstepd)
            tr '\0' '\n' 2>/dev/null <"$proc/cmdline" | grep -qF "$TMP/" ||
                tr '\0' '\n' 2>/dev/null <"$proc/environ" | grep -qx "SLURM_CONF=$TMP/slurm.conf" ||
                continue
            echo "${proc#/proc/}" ;;
        esac
    done
}
started=""
# Stops the daemons we started, each by its pid, and waits for them: at exit, however we exit.
stop_daemons() {
    for pid in $started; do
        kill "$pid" 2>/dev/null
    done
    for pid in $started; do
        wait "$pid" 2>/dev/null
    done
    started=""
}
if [ -n "$keep" ]; then
    trap 'stop_daemons' EXIT
else
    trap 'stop_daemons; rm -rf "$TMP"' EXIT
fi
# Killed, or our reader gone (`| head`): the EXIT trap still stops the daemons.
trap 'exit 129' HUP
trap 'exit 141' PIPE

# ------------------------------------------------------------------ the cluster
HOST=$(hostname -s)
# ports_in_use: the local port of every TCP socket on this host, listening or connected, one a
# line in decimal.
ports_in_use() {
    for hex in $(awk 'FNR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 \
        2>/dev/null); do
        echo $((0x$hex))
    done
}
# Ports of their own, so that a Slurm already on this host (default 6817, 6818) is not ours:
# two free ones side by side, below the ephemeral range (32768 up), where no socket of another
# program's connections takes them while the daemons start.
in_use=$(ports_in_use)
PORT=$((20000 + $$ % 12000 / 2 * 2))
while printf '%s\n' "$in_use" | grep -qx -e "$PORT" -e "$((PORT + 1))"; do
    PORT=$((PORT + 2))
    [ "$PORT" -lt 32767 ] || PORT=20000
done
mkdir -p "$TMP/state" "$TMP/spool" "$TMP/job"
# munged checks its directories: the socket's must be searchable by all, the key only ours.
mkdir -m 711 "$TMP/munge"
head -c 1024 /dev/urandom >"$TMP/munge/munge.key"
chmod 400 "$TMP/munge/munge.key"
cat >"$TMP/slurm.conf" <<EOF
ClusterName=cdmplace
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$TMP/munge/munge.socket
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
PlugStackConfig=$TMP/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
NodeName=$HOST CPUs=$(nproc) RealMemory=1024 State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=10 State=UP
EOF
echo "required $PLUGIN library=$LIB cli=$CLI" >"$TMP/plugstack.conf"
export SLURM_CONF=$TMP/slurm.conf

# alive: whether every daemon we started still runs.
alive() {
    for pid in $started; do
        kill -0 "$pid" 2>/dev/null || return 1
    done
}
# up_by DEADLINE CONDITION...: waits for CONDITION until the time DEADLINE (date +%s) while
# the daemons are alive.
up_by() {
    deadline=$1
    shift
    until "$@"; do
        alive && [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
node_idle() { [ "$(timeout 10 sinfo -h -n "$HOST" -o %t 2>/dev/null)" = idle ]; }
broken() {
    fail cluster "$1: $(tail -n 5 "$TMP/munged.err" "$TMP/slurmctld.log" "$TMP/slurmd.log" \
        2>&1 | tr '\n' ' ')"
    finish
    exit
}

munged --foreground --socket="$TMP/munge/munge.socket" --key-file="$TMP/munge/munge.key" \
    --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/munge/munged.log" \
    --seed-file="$TMP/munge/munged.seed" 2>"$TMP/munged.err" &
started="$started $!"
up_by $(($(date +%s) + 30)) test -S "$TMP/munge/munge.socket" || broken "munged did not start"
slurmctld -D -i >"$TMP/slurmctld.out" 2>&1 &
started="$started $!"
slurmd -D -N "$HOST" >"$TMP/slurmd.out" 2>&1 &
started="$started $!"
# The node idle: the daemons are up and have met. 60 s at most (a loaded 2-core machine).
up_by $(($(date +%s) + 60)) node_idle || broken "node $HOST not idle within 60 s"

# run_srun DIR SRUN-OPTIONS...: srun, in DIR, bounded; its status in $status, its output in
# DIR/out and DIR/err.
run_srun() {
    dir=$1
    shift
    mkdir -p "$dir"
    (cd "$dir" && timeout -k 10 120 srun "$@" >out 2>err </dev/null)
    status=$?
}

cp "$ROOT/tests/slurm-job.conf" "$TMP/job/job.conf"
printf '0 %s\n1 %s alloc 96\n' "$BUFFERS" "$PROBE" >"$TMP/job/tasks"

# ------------------------------------------------------------------ without the option
for command in srun sbatch salloc; do
    if timeout 30 $command --help 2>&1 |
        grep -q '^ *--cdmplace=FILE  *Run every task under libcdmplace.so' &&
        timeout 30 $command --help 2>&1 | grep -q '^ *--cdmplace-report  *With --cdmplace: '; then
        pass "help-$command"
    else
        fail "help-$command" "$command --help does not list --cdmplace=FILE and --cdmplace-report"
    fi
done

dir=$TMP/plain
run_srun "$dir" -N1 -n1 sh -c 'echo "LD_PRELOAD=${LD_PRELOAD:-}"; env | grep ^CDMPLACE_; true'
if [ "$status" -ne 0 ] || ! grep -qx 'LD_PRELOAD=' "$dir/out" ||
    grep -q CDMPLACE_ "$dir/out"; then
    fail plain-step "srun exited $status, the task saw: $(tr '\n' ' ' <"$dir/out")"
else
    pass plain-step
fi
# The same job as below without the plugin: its output, to compare with.
dir=$TMP/plain-job
run_srun "$dir" -N1 -n2 --label --multi-prog "$TMP/job/tasks"
sort "$dir/out" >"$dir/out.sorted"

# ------------------------------------------------------------------ the job under cdmplace
dir=$TMP/job
run_srun "$dir" -N1 -n2 --label --cdmplace=job.conf --cdmplace-report --multi-prog tasks
job=$(start_of "$dir"/cdmplace.*.0.0.jsonl 2>/dev/null | sed -n 's/.*"job":"\([0-9]*\)".*/\1/p')
traces=$(cd "$dir" && ls cdmplace.*.jsonl 2>/dev/null | tr '\n' ' ')
why=""
if [ "$status" -ne 0 ]; then
    why="srun exited $status: $(head -c 600 "$dir/err");"
elif [ -z "$job" ] || [ "$traces" != "cdmplace.$job.0.0.jsonl cdmplace.$job.0.1.jsonl " ]; then
    why="traces '$traces' in $dir, not cdmplace.JOB.0.0.jsonl and cdmplace.JOB.0.1.jsonl;"
else
    for rank in 0 1; do
        start=$(start_of "$dir/cdmplace.$job.0.$rank.jsonl")
        case $start in
        *"\"config\":\"$dir/job.conf\""*"\"job\":\"$job\",\"rank\":$rank}") ;;
        *) why="$why rank $rank's start event: $start;" ;;
        esac
    done
fi
if [ -z "$why" ]; then pass traces; else fail traces "$why"; fi

# placed_count FILE SIZE: the placements of SIZE bytes that rule big applied, bound to node 0.
placed_count() {
    grep '"ev":"place"' "$1" 2>/dev/null | grep "\"size\":$2," | grep '"rule":"big"' |
        grep '"policy":"bind","nodes":"0"' | grep -c '"result":"applied"'
}
why=""
for size in $((64 * MiB)) $((16 * MiB)); do
    [ "$(placed_count "$dir/cdmplace.$job.0.0.jsonl" "$size")" -eq 1 ] ||
        why="$why rank 0: no applied placement of $size bytes;"
done
[ "$(placed_count "$dir/cdmplace.$job.0.1.jsonl" $((96 * MiB)))" -eq 1 ] ||
    why="$why rank 1: no applied placement of $((96 * MiB)) bytes;"
grep -qx '1: placed=1' "$dir/out" || why="$why task 1 did not see its buffer placed;"
if [ -z "$why" ]; then pass placed; else fail placed "$why"; fi

# Under the plugin only probe's own answer to "is it placed" differs.
sort "$dir/out" >"$dir/out.sorted"
plain=$TMP/plain-job/out.sorted
if grep -q '^0: checksum ' "$dir/out" &&
    sed 's/^1: placed=0$/1: placed=1/' "$plain" | cmp -s - "$dir/out.sorted"; then
    pass output
else
    with=$(tr '\n' ' ' <"$dir/out")
    without=$(tr '\n' ' ' <"$TMP/plain-job/out")
    fail output "with the plugin: $with; without: $without"
fi

report=$dir/cdmplace.$job.0.report.txt
pid0=$(pid_of "$dir/cdmplace.$job.0.0.jsonl" 2>/dev/null)
pid1=$(pid_of "$dir/cdmplace.$job.0.1.jsonl" 2>/dev/null)
why=""
if [ ! -s "$report" ]; then
    why="no report $report;"
else
    grep -q "^2 processes from 2 traces, job $job," "$report" ||
        why="$why header: $(head -n 1 "$report");"
    why="$why$(expect_row "$report" big allocs "1|1.5|2|rank 0 (pid $pid0, $HOST)")"
    why="$why$(expect_row "$report" big bytes "80M|88M|96M|rank 1 (pid $pid1, $HOST)")"
    # buffers leaves its 64M of weights for exit to free: 16384 pages, on the rule's node.
    why="$why$(expect_row "$report" big "pages on node 0 at exit" "0|8192.0|16384|rank 0 (")"
    # srun's stderr holds the same report, and says where the file is; besides, srun's own
    # lines ("queued and waiting for resources" on a busy node) and the tasks' (labelled).
    grep -v -e '^cdmplace: this report is also in ' -e '^srun: ' -e '^[01]: ' "$dir/err" \
        >"$dir/err.report"
    cmp -s "$report" "$dir/err.report" ||
        why="$why srun's stderr is not the report: $(head -c 400 "$dir/err");"
    grep -qx "cdmplace: this report is also in $report" "$dir/err" ||
        why="$why stderr does not name $report;"
fi
if [ -z "$why" ]; then pass report; else fail report "$why"; fi

# A task's environment under the plugin: the library put first in an LD_PRELOAD that was
# there, the config's absolute path, the trace's template, and neither srun's hand-over
# variables nor a config text (which the library would read before the file).
dir=$TMP/env
mkdir -p "$dir"
cp "$ROOT/tests/slurm-job.conf" "$dir/job.conf"
fixture=$ROOT/build/tests/libcallsite_fixture.so
run_srun "$dir" -N1 -n1 --cdmplace=job.conf \
    --export=ALL,LD_PRELOAD="$fixture",CDMPLACE_CONFIG_TEXT=x \
    sh -c 'env | grep -e ^LD_PRELOAD= -e ^CDMPLACE_ -e ^SLURM_CDMPLACE_ | sort'
step=$(sed -n 's/^CDMPLACE_LOG=.*\/cdmplace\.%j\.\([0-9]*\)\.%r\.jsonl$/\1/p' "$dir/out")
printf '%s\n' "CDMPLACE_CONFIG=$dir/job.conf" "CDMPLACE_LOG=$dir/cdmplace.%j.$step.%r.jsonl" \
    "LD_PRELOAD=$LIB:$fixture" >"$dir/expected"
if [ "$status" -eq 0 ] && [ -n "$step" ] && cmp -s "$dir/expected" "$dir/out"; then
    pass task-environment
else
    fail task-environment "srun exited $status, the task saw: $(tr '\n' ' ' <"$dir/out")"
fi

# step_placed DIR JOB STEP SIZE: adds to $why unless both ranks of the step placed a buffer of
# SIZE bytes and the step's report in DIR is of 2 processes.
step_placed() {
    for rank in 0 1; do
        [ "$(placed_count "$1/cdmplace.$2.$3.$rank.jsonl" "$4")" -eq 1 ] ||
            why="$why step $3 rank $rank: no applied placement of $4 bytes;"
    done
    grep -q "^2 processes from 2 traces, job $2," "$1/cdmplace.$2.$3.report.txt" ||
        why="$why step $3: no report of 2 processes;"
}
# traces_in DIR N: adds to $why unless DIR holds N traces.
traces_in() {
    [ "$(find "$1" -name 'cdmplace.*.jsonl' | wc -l)" -eq "$2" ] ||
        why="$why traces: $(ls "$1" | tr '\n' ' ');"
}

# Two steps of one allocation, the second under --export=NONE (srun's environment withheld
# from the tasks but for SLURM_*): each step its own traces (the step id in their names) and
# its own report of 2 processes, the second's buffers placed too.
dir=$TMP/steps
mkdir -p "$dir"
cp "$ROOT/tests/slurm-job.conf" "$dir/job.conf"
(cd "$dir" && timeout -k 10 120 salloc -N1 -n2 sh -c "
    srun -n2 --cdmplace=job.conf --cdmplace-report '$PROBE' alloc 16 &&
    srun -n2 --export=NONE --cdmplace=job.conf --cdmplace-report '$PROBE' alloc 24
" >out 2>err </dev/null)
status=$?
job=$(start_of "$dir"/cdmplace.*.0.0.jsonl 2>/dev/null | sed -n 's/.*"job":"\([0-9]*\)".*/\1/p')
why=""
if [ "$status" -ne 0 ] || [ "$(grep -cx 'placed=1' "$dir/out")" -ne 4 ]; then
    why="salloc exited $status, stdout $(tr '\n' ' ' <"$dir/out"), stderr $(head -c 400 "$dir/err")"
else
    for step in 0 1; do
        step_placed "$dir" "$job" "$step" $(((16 + 8 * step) * MiB))
    done
    traces_in "$dir" 4
fi
if [ -z "$why" ]; then pass steps; else fail steps "$why"; fi

# sbatch and salloc take the options for every srun of their job (srun reads them from the
# job's environment), and leave the script or shell itself unplaced.
dir=$TMP/batch
mkdir -p "$dir"
cp "$ROOT/tests/slurm-job.conf" "$dir/job.conf"
printf '#!/bin/sh\necho "script LD_PRELOAD=${LD_PRELOAD:-}"\nsrun -n2 %s alloc 16\n' \
    "$PROBE" >"$dir/job.sh"
(cd "$dir" && timeout -k 10 120 sbatch --wait -N1 -n2 --output=out --cdmplace=job.conf \
    --cdmplace-report job.sh >submitted 2>err </dev/null)
status=$?
job=$(sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' "$dir/submitted")
why=""
if [ "$status" -ne 0 ] || [ -z "$job" ]; then
    why="sbatch exited $status: $(cat "$dir/submitted") $(head -c 400 "$dir/err")"
else
    grep -qx 'script LD_PRELOAD=' "$dir/out" || why="$why the script was preloaded;"
    [ "$(grep -cx 'placed=1' "$dir/out")" -eq 2 ] || why="$why output: $(tr '\n' ' ' <"$dir/out");"
    step_placed "$dir" "$job" 0 $((16 * MiB))
    traces_in "$dir" 2
fi
if [ -z "$why" ]; then pass sbatch; else fail sbatch "$why"; fi

dir=$TMP/salloc
mkdir -p "$dir"
cp "$ROOT/tests/slurm-job.conf" "$dir/job.conf"
(cd "$dir" && timeout -k 10 120 salloc -N1 -n1 --cdmplace=job.conf \
    sh -c "echo \"shell LD_PRELOAD=\${LD_PRELOAD:-}\"; srun -n1 '$PROBE' alloc 8" \
    >out 2>err </dev/null)
status=$?
why=""
[ "$status" -eq 0 ] || why="salloc exited $status: $(head -c 400 "$dir/err");"
grep -qx 'shell LD_PRELOAD=' "$dir/out" || why="$why the shell was preloaded;"
grep -qx 'placed=1' "$dir/out" || why="$why output: $(tr '\n' ' ' <"$dir/out");"
traces_in "$dir" 1
if [ -z "$why" ]; then pass salloc; else fail salloc "$why"; fi

# ------------------------------------------------------------------ refused before any task
# refused NAME DIR CONFIG MESSAGE: srun with CONFIG fails, says MESSAGE, and its task (which
# would make DIR/ran) never runs.
refused() {
    run_srun "$2" -N1 -n1 --cdmplace="$3" touch "$2/ran"
    if [ "$status" -eq 0 ] || [ -e "$2/ran" ] || ! grep -qF "$4" "$2/err"; then
        ran=no
        [ -e "$2/ran" ] && ran=yes
        fail "$1" "srun exited $status, task ran: $ran, stderr: $(head -c 400 "$2/err")"
    else
        pass "$1"
    fi
}
mkdir -p "$TMP/bad"
printf '[settings]\nmin_size = 1M\n\n[rule big]\nsize = 1M-\npolicy = sideways 0\n' \
    >"$TMP/bad/bad.conf"
refused bad-config "$TMP/bad" bad.conf "cdmplace: bad.conf:6: "
refused missing-config "$TMP/missing" nowhere.conf "cdmplace: nowhere.conf: cannot open"

# sbatch refuses a config the CLI refuses before it submits a job.
dir=$TMP/batch-bad
mkdir -p "$dir"
printf '#!/bin/sh\ntouch "%s/ran"\n' "$dir" >"$dir/job.sh"
(cd "$dir" && timeout -k 10 60 sbatch --wait --cdmplace="$TMP/bad/bad.conf" job.sh \
    >submitted 2>err </dev/null)
status=$?
if [ "$status" -eq 0 ] || [ -s "$dir/submitted" ] || [ -e "$dir/ran" ] ||
    ! grep -qF "cdmplace: $TMP/bad/bad.conf:6: " "$dir/err"; then
    why="sbatch exited $status: $(cat "$dir/submitted")"
    fail sbatch-bad-config "$why $(head -c 400 "$dir/err")"
else
    pass sbatch-bad-config
fi

dir=$TMP/report-alone
run_srun "$dir" -N1 -n1 --cdmplace-report touch "$dir/ran"
if [ "$status" -eq 0 ] || [ -e "$dir/ran" ] ||
    ! grep -q 'cdmplace: --cdmplace-report needs --cdmplace=FILE' "$dir/err"; then
    fail report-alone "srun exited $status, stderr: $(head -c 400 "$dir/err")"
else
    pass report-alone
fi

# ------------------------------------------------------------------ nothing left behind
stop_daemons
# A slurmstepd outlives its step by a moment: 10 s for the last to go.
for _ in $(seq 20); do
    extra=$(daemons)
    [ -z "$extra" ] && break
    sleep 0.5
done
if [ -n "$extra" ]; then
    fail daemons-stopped "still running: $(ps -o pid=,comm= -p "$(echo $extra | tr ' ' ,)" |
        tr '\n' ' ')"
else
    pass daemons-stopped
fi
finish
