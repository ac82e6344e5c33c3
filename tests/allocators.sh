#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/allocators.sh: programs that bring their own allocator must never hang, crash or
# change their output under the library (doc/design.md, "What a hook may call").
#
# jemalloc, tcmalloc and mimalloc call mmap, munmap and madvise with their own locks held, so
# the library's hooks run inside them; a redis-server with jemalloc once hung there (the hook
# named a frame with libunwind, which called malloc: jemalloc's lock again). The programs:
#   redis            Debian's redis-server (linked with libjemalloc.so.2) on a Unix socket
#                    (no port to collide with another program's): redis-benchmark (SET and
#                    GET of 4 KiB values), a BGSAVE (a fork inside a jemalloc process; the
#                    dump read back by redis-check-rdb), a shutdown
#   tcmalloc         tests/alloc_churn.c (4 threads through the malloc family, mmap, madvise,
#                    a fork while they run) with libtcmalloc.so.4 in LD_PRELOAD; `cdmplace
#                    run` puts the library ahead of it (LD_PRELOAD=libcdmplace.so:libtcmalloc
#                    .so.4), so the library serves the buffers of min_size and more itself and
#                    tcmalloc the rest; TCMALLOC_SKIP_SBRK=true: tcmalloc grows its heap with
#                    sbrk otherwise, which is no hook of ours, and never maps 1M through one
#   mimalloc         the same with libmimalloc.so.2 and MIMALLOC_EAGER_COMMIT_DELAY=0:
#                    otherwise a thread's first segment is a PROT_NONE reservation that
#                    mprotect commits, and no mapping of mimalloc's is ever placed
#   jemalloc-python  python3 with libjemalloc.so.2 in LD_PRELOAD: 3 threads churning
#                    bytearrays of 1-9 MiB, and a fork (while they run) whose child churns too
# each under `cdmplace run -c CONFIG`, CONFIG one of
#   size        [rule big] size = 1M-, policy = bind 0
#   caller      the same with caller = *libjemalloc* (*libtcmalloc*, *libmimalloc*): a
#               frame inside the allocator, so the library names frames on the hook path
#   follow-cpu  the size rule with migrate = follow-cpu (the tracker's threads, the faults)
#   profile     no rules: the profiling run
# with the trace (log = DIR/trace.%p.jsonl) and the report (report = DIR/report.%p.txt) on.
# A check is NAME/CONFIG, e.g. redis/caller, run ALLOC_REPEAT times (default 3; `make stress`
# runs 20); it fails if any run fails, and says which. Each run must end within ALLOC_TIMEOUT
# seconds (default 60): on a hang every thread of every process of the run is printed (gdb;
# first, one `stuck:` line per thread inside the library or fork, from its innermost frame
# to the library's or fork's), then the run is killed and counted as failed ("hung"), and the
# check's remaining runs are not made (a hang is proof enough, and each costs ALLOC_TIMEOUT).
# Checked in every run: exit status 0 (redis: the benchmark's SET and GET lines, the BGSAVE,
# the server's exit); the output equal to a plain run's (alloc_churn, python: one plain run
# per program); the library loaded (a trace with a start event) and placing (an applied
# place event in a trace of the program itself: redis-server, alloc_churn, python3; not in
# profile); for caller, an applied placement of the program's whose caller or stack names a
# frame in the allocator's object; a report file; `cdmplace report` over the traces exits 0.
#
# Usage: sh tests/allocators.sh [CASE-GLOB...]   e.g. 'redis/*', '*/caller', 'mimalloc/size'
# (from anywhere; after `make tests`). Prints `ok NAME` or `FAIL NAME (why)` with each failed
# run's evidence indented under it, and `N passed, M failed`; exits 1 if any failed.
# ALLOC_REPEAT, ALLOC_TIMEOUT as above; ALLOC_REDIS_REQUESTS (default 100000) per benchmark
# test (about 7 s a run; the library of before a6cde76 hung in a quarter of such runs, in one
# in twenty of 20000-request runs: jemalloc maps a new extent, with its lock held, each time
# the heap grows); ALLOC_KEEP=1 keeps the scratch directory (runs/NAME.CONFIG.N/: config,
# outputs, traces); ALLOC_CLI another cdmplace (it preloads the library next to it: an older
# build, to see this suite fail), ALLOC_LIBRARY another library (CDMPLACE_LIBRARY of `cdmplace
# run`).

# Re-run under bash when started as `sh tests/allocators.sh`: arrays, wait -n -p.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -u
ulimit -c 0 # a crash must not leave core files behind

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=${ALLOC_CLI:-$ROOT/build/cdmplace}
case $CLI in /*) ;; *) CLI=$PWD/$CLI ;; esac
LIB=${ALLOC_LIBRARY:-${CDMPLACE_LIBRARY:-$(dirname "$CLI")/libcdmplace.so}}
case $LIB in /*) ;; *) LIB=$PWD/$LIB ;; esac
CHURN=$ROOT/build/tests/alloc_churn
REPEAT=${ALLOC_REPEAT:-3}
TIMEOUT=${ALLOC_TIMEOUT:-60}
REQUESTS=${ALLOC_REDIS_REQUESTS:-100000}
LIBS=/usr/lib/x86_64-linux-gnu

# The Debian programs, not whatever a user's PATH puts first (pyenv shims, /usr/local).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C TZ=UTC
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG
unset DEBUGINFOD_URLS TCMALLOC_SKIP_SBRK MIMALLOC_EAGER_COMMIT_DELAY
export CDMPLACE_LIBRARY=$LIB

for need in "$CLI" "$LIB" "$CHURN"; do
    if [ ! -f "$need" ]; then
        echo "allocators: $need is missing: run make tests" >&2
        exit 1
    fi
done

. "$ROOT/tests/suite.sh"
scratch allocators "${ALLOC_KEEP:-}"

select_from "$@"

# --- The programs -----------------------------------------------------------------------------
CASES=(redis tcmalloc mimalloc jemalloc-python)
CONFIGS=(size caller follow-cpu profile)
# What each needs, its allocator's object (the caller glob, the frame a caller run must name),
# the environment it runs in, and the command (redis is driven by run_redis).
declare -A NEEDS=([redis]="/usr/bin/redis-server /usr/bin/redis-benchmark /usr/bin/redis-cli /usr/bin/redis-check-rdb $LIBS/libjemalloc.so.2"
                  [tcmalloc]=$LIBS/libtcmalloc.so.4 [mimalloc]=$LIBS/libmimalloc.so.2
                  [jemalloc-python]="$LIBS/libjemalloc.so.2 /usr/bin/python3")
declare -A OBJECT=([redis]=libjemalloc [tcmalloc]=libtcmalloc [mimalloc]=libmimalloc
                   [jemalloc-python]=libjemalloc)
# The program whose trace ("program" of its start event) must show the placements.
declare -A PROGRAM=([redis]=redis-server [tcmalloc]=alloc_churn [mimalloc]=alloc_churn
                    [jemalloc-python]=python3)
declare -A ENVIRONMENT=([tcmalloc]="LD_PRELOAD=$LIBS/libtcmalloc.so.4 TCMALLOC_SKIP_SBRK=true"
                        [mimalloc]="LD_PRELOAD=$LIBS/libmimalloc.so.2 MIMALLOC_EAGER_COMMIT_DELAY=0"
                        [jemalloc-python]="LD_PRELOAD=$LIBS/libjemalloc.so.2")
declare -A COMMAND=([tcmalloc]=$CHURN [mimalloc]=$CHURN [jemalloc-python]="python3 $TMP/churn.py")

cat >"$TMP/churn.py" <<'EOF'
import os, sys, threading, zlib

def churn(seed, rounds):
    """Buffers of 1-9 MiB made, written on every page, grown, copied, checked and freed."""
    total = 0
    for r in range(rounds):
        size = (1 + (seed * 5 + r) % 8) << 20
        buf = bytearray(size)                       # malloc and memset: every page touched
        if buf[0] or buf[size // 2] or buf[-1]:
            raise SystemExit("bytearray not zeroed")
        for i in range(0, size, 4096):
            buf[i] = (seed * 31 + r * 7 + i // 4096) & 0xff
        buf += bytes([r & 0xff]) * (1 << 20)        # realloc, one MiB more
        copy = bytes(buf)                           # a second buffer as large
        if copy[::4096] != buf[::4096]:
            raise SystemExit("copy differs")
        total = zlib.adler32(copy, total)
        del buf, copy
    return total

results = [None] * 3
running = threading.Barrier(len(results) + 1)
def work(n):
    running.wait()
    results[n] = churn(n + 1, 16)
threads = [threading.Thread(target=work, args=(n,)) for n in range(len(results))]
for t in threads:
    t.start()
running.wait()                                      # fork while the threads churn
child = os.fork()
if child == 0:
    os._exit(0 if churn(9, 6) else 3)
for t in threads:
    t.join()
after = churn(5, 6)
status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
print("python churn:", " ".join("%08x" % x for x in results), "after fork: %08x" % after,
      "child:", status)
sys.exit(0 if status == 0 and None not in results else 1)
EOF

# config NAME CASE DIR: the config of one run, its trace and report in DIR.
config() {
    printf '[settings]\nlog = %s/trace.%%p.jsonl\nreport = %s/report.%%p.txt\n' "$3" "$3"
    case $1 in
    size) printf '\n[rule big]\nsize = 1M-\npolicy = bind 0\n' ;;
    caller) printf '\n[rule inside]\ncaller = *%s*\nsize = 1M-\npolicy = bind 0\n' "${OBJECT[$2]}" ;;
    follow-cpu) printf '\n[rule big]\nsize = 1M-\npolicy = bind 0\nmigrate = follow-cpu\n' ;;
    profile) ;;
    esac
}

# --- Hangs ------------------------------------------------------------------------------------
# tree PID: PID and its descendants, then whatever else is left in its session (the run
# starts with setsid: a child that left the tree, e.g. a daemon's, is still in the session).
tree() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END { found[root] = 1; print root
              do { more = 0
                   for (p in parent) if (!(p in found) && (parent[p] in found)) {
                       found[p] = 1; print p; more = 1 } } while (more) }'
    pgrep -s "$1"
}

# stacks PID: every thread's stack of every process in the run's tree (PID: its first).
stacks() {
    local pid pids
    pids=$(tree "$1" | sort -nu | while read -r pid; do [ -d "/proc/$pid" ] && echo "$pid"; done)
    [ -n "$pids" ] || { echo "    (no process left of $1)"; return; }
    for pid in $pids; do
        echo "    process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
        if command -v gdb >/dev/null 2>&1; then
            timeout -k 5 60 gdb -p "$pid" -batch -nx -ex 'set pagination off' \
                -ex 'thread apply all -ascending bt 40' </dev/null 2>/dev/null |
                grep -E '^(Thread |#)' | sed 's/^/      /'
        else # the kernel's side only
            local task
            for task in /proc/"$pid"/task/*; do
                echo "      thread ${task##*/} ($(cat "$task/comm" 2>/dev/null)): $(cat "$task/wchan" 2>/dev/null)"
                sed 's/^/        /' "$task/stack" 2>/dev/null
            done
        fi
    done
}

# end PID: the run's processes killed and PID reaped.
end() {
    local pids
    pids=$(tree "$1" | sort -nu)
    # shellcheck disable=SC2086 # one pid a word
    kill -KILL $pids 2>/dev/null
    wait "$1" 2>/dev/null
}

# stuck: from stacks' output, one line per thread that is inside the library or forking: its
# frames from the innermost to the first of the library's (a frame of preload/*.c or
# libcdmplace) or to fork's, runs of frames in one object without symbols folded (e.g.
# libjemalloc.so.2:?? x9); not our own threads waiting for work (tracker_main in poll). A
# fork's thread may hold our locks (our prepare handler ran) while it waits in another's
# handler: both ends of such a cycle are shown.
stuck() {
    awk '
        function flush() {
            if (hit && !idle) print "    stuck: " where ": " chain
            chain = ""; hit = 0; idle = 0; last = ""; repeat = 0; frames = 0
        }
        function add(label) {
            if (label == last) { repeat++; return }
            if (repeat) chain = chain " x" (repeat + 1)
            chain = chain (chain == "" ? "" : " < ") label
            last = label; repeat = 0; frames++
        }
        /^    process / { flush(); pid = $2; sub(/:$/, "", pid) }
        /^      Thread / { flush(); lwp = $0; sub(/.*\(LWP /, "", lwp); sub(/\).*/, "", lwp)
                           name = $0; sub(/^[^"]*"/, "", name); sub(/".*/, "", name)
                           where = "process " pid " thread " lwp " (" name ")"; done = 0 }
        /^      #/ && !done {
            line = $0; sub(/^ *#[0-9]+ +/, "", line); sub(/^0x[0-9a-f]+ in /, "", line)
            file = ""
            if (match(line, / at [^ ]+$/)) file = substr(line, RSTART + 4)
            else if (match(line, / from [^ ]+$/)) { file = substr(line, RSTART + 6); sub(/.*\//, "", file) }
            fn = line; sub(/ \(.*/, "", fn); sub(/\(.*/, "", fn) # C: "f (args)"; C++: "f(int) ()"
            ours = file ~ /(^|\/)preload\/[a-z_]+\.c:/ || file ~ /libcdmplace/
            if (fn == "??") add(file ":??")
            else if (ours) add(fn " (" file ")")
            else add(fn)
            if (ours || fn ~ /^(__libc_fork|_Fork|fork)$/) {
                hit = 1; done = 1; if (repeat) chain = chain " x" (repeat + 1); repeat = 0
                idle = ours && frames <= 2 && fn ~ /_main$/ # our own thread, waiting for work
            }
        }
        END { flush() }' "$1"
}

# hung PID WHAT: a run past its time: the stacks of its processes (first the threads inside
# the library or fork, in one line each), then they are killed (PID leads a session of its
# own).
hung() {
    local out=$TMP/stacks.$1
    echo "hung: $2 still running after ${TIMEOUT}s"
    stacks "$1" >"$out"
    stuck "$out" | head -n 8 | cut -c1-400 | grep . || echo "    stuck: no thread is inside the library"
    echo "    every thread of every process of the run (gdb):"
    cut -c1-240 "$out"
    rm -f "$out"
    end "$1"
}

# left DEADLINE: seconds left before DEADLINE ($SECONDS), at least 1.
left() { local n=$(($1 - SECONDS)); [ $n -ge 1 ] && echo $n || echo 1; }

# --- One run ----------------------------------------------------------------------------------
# Each writes why it failed to stdout, the first line the summary; status 0 when it did not.

# run_program CASE DIR: the program under DIR/config, stdout compared with the plain run's.
run_program() {
    local name=$1 dir=$2 pid timer finished status
    # shellcheck disable=SC2086 # ENVIRONMENT and COMMAND are words on purpose
    setsid env ${ENVIRONMENT[$name]} "$CLI" run -c "$dir/config" -- ${COMMAND[$name]} \
        </dev/null >"$dir/out" 2>"$dir/err" &
    pid=$!
    sleep "$TIMEOUT" &
    timer=$!
    wait -n -p finished "$pid" "$timer"
    status=$?
    if [ "$finished" = "$timer" ]; then
        hung "$pid" "${COMMAND[$name]}"
        return 1
    fi
    kill "$timer" 2>/dev/null
    wait "$timer" 2>/dev/null
    if [ "$status" -ne 0 ]; then
        echo "exit status $status"
        [ "$status" -gt 128 ] && echo "    (signal $((status - 128)))"
        sed 's/^/    stderr: /' "$dir/err" | head -n 10
        return 1
    fi
    if ! cmp -s "$TMP/$name.plain" "$dir/out"; then
        echo "stdout differs from the plain run's"
        diff "$TMP/$name.plain" "$dir/out" | head -n 6 | sed 's/^/    /'
        return 1
    fi
}

# run_redis DIR: the server under DIR/config, the benchmark, a BGSAVE, a shutdown.
run_redis() {
    local dir=$1 server socket=$1/redis.sock deadline=$((SECONDS + TIMEOUT)) status reply keys
    # redis ARGS...: one request, bounded by the run's time left (124: it timed out).
    redis() { timeout -k 2 "$(left "$deadline")" redis-cli -s "$socket" "$@" 2>&1 | tr -d '\r'; }
    gone() { # the server is no more: why
        wait "$server"
        echo "the server exited with status $? $1"
        sed 's/^/    server: /' "$dir/server.out" "$dir/server.err" | tail -n 10
    }
    setsid "$CLI" run -c "$dir/config" -- redis-server --port 0 --unixsocket "$socket" \
        --save '' --appendonly no --dir "$dir" --dbfilename dump.rdb \
        </dev/null >"$dir/server.out" 2>"$dir/server.err" &
    server=$!
    until [ "$(redis ping 2>/dev/null)" = PONG ]; do
        kill -0 "$server" 2>/dev/null || { gone "at start-up"; return 1; }
        [ $SECONDS -ge $deadline ] && { hung "$server" "redis-server's start-up"; return 1; }
        sleep 0.1
    done
    timeout -k 2 "$(left "$deadline")" redis-benchmark -s "$socket" -q -n "$REQUESTS" \
        -d 4096 -t set,get -r 100000 </dev/null 2>&1 | tr '\r' '\n' >"$dir/bench.out"
    status=${PIPESTATUS[0]}
    if [ "$status" -eq 124 ]; then hung "$server" "redis-server, under redis-benchmark"; return 1; fi
    if [ "$status" -ne 0 ] || ! grep -q '^SET: .* requests per second' "$dir/bench.out" ||
        ! grep -q '^GET: .* requests per second' "$dir/bench.out"; then
        kill -0 "$server" 2>/dev/null || { gone "during the benchmark"; return 1; }
        echo "redis-benchmark: exit status $status, no SET and GET lines"
        grep -v '^ *$' "$dir/bench.out" | tail -n 4 | sed 's/^/    /'
        end "$server"
        return 1
    fi
    keys=$(redis dbsize)
    reply=$(redis bgsave)
    if [ "$reply" != "Background saving started" ]; then
        kill -0 "$server" 2>/dev/null || { gone "at BGSAVE"; return 1; }
        [ $SECONDS -ge $deadline ] && { hung "$server" "redis-server, at BGSAVE"; return 1; }
        echo "BGSAVE: $reply"; end "$server"; return 1
    fi
    until redis info persistence | grep -qx 'rdb_bgsave_in_progress:0'; do
        kill -0 "$server" 2>/dev/null || { gone "during BGSAVE"; return 1; }
        [ $SECONDS -ge $deadline ] && { hung "$server" "redis-server's BGSAVE (the forked child)"; return 1; }
        sleep 0.1
    done
    redis info persistence >"$dir/persistence"
    if ! grep -qx 'rdb_last_bgsave_status:ok' "$dir/persistence" ||
        ! grep -qx 'rdb_saves:1' "$dir/persistence"; then
        echo "BGSAVE failed: $(grep -E '^rdb_(last_bgsave_status|saves):' "$dir/persistence" | tr '\n' ' ')"
        sed 's/^/    server: /' "$dir/server.out" | tail -n 5
        end "$server"; return 1
    fi
    redis shutdown nosave >/dev/null
    while kill -0 "$server" 2>/dev/null && [ "$(ps -o stat= -p "$server")" != Z ]; do
        [ $SECONDS -ge $deadline ] && { hung "$server" "redis-server's shutdown"; return 1; }
        sleep 0.1
    done
    wait "$server"
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "the server exited with status $status after shutdown"
        sed 's/^/    server: /' "$dir/server.out" "$dir/server.err" | tail -n 10
        return 1
    fi
    # The child's dump, read back: every key the server held.
    redis-check-rdb "$dir/dump.rdb" >"$dir/check-rdb" 2>&1
    if ! grep -q 'RDB looks OK' "$dir/check-rdb" || ! grep -q "^\[info\] $keys keys read" "$dir/check-rdb"; then
        echo "the dump does not read back with the server's $keys keys"
        tail -n 4 "$dir/check-rdb" | sed 's/^/    /'
        return 1
    fi
}

# evidence CASE CONFIG DIR: the library was loaded and acted; traces and report read back.
evidence() {
    local name=$1 conf=$2 dir=$3 traces=() mine=() trace object=${OBJECT[$1]} program=${PROGRAM[$1]}
    for trace in "$dir"/trace.*.jsonl; do
        [ -f "$trace" ] || continue
        traces+=("$trace")
        # The program's own traces (its forked children's too), not those of a shell or tool.
        grep -m 1 '"ev":"start"' "$trace" | grep -q "\"program\":\"$program\"" && mine+=("$trace")
    done
    if [ ${#traces[@]} -eq 0 ] || ! grep -qs '"ev":"start"' "${traces[@]}"; then
        echo "the library was not loaded: no trace with a start event in $dir"
        return 1
    fi
    if [ ${#mine[@]} -eq 0 ]; then
        echo "no trace of $program (a start event with \"program\":\"$program\") in $dir"
        return 1
    fi
    # "place" events are written for unplaced requests too: only "applied" counts.
    grep -h '"ev":"place"' "${mine[@]}" | grep '"result":"applied"' >"$dir/applied"
    if [ "$conf" != profile ] && [ ! -s "$dir/applied" ]; then
        echo "nothing was placed in $program: no place event with \"result\":\"applied\""
        grep -h '"ev":"place"' "${mine[@]}" | head -n 2 | cut -c1-400 | sed 's/^/    /'
        return 1
    fi
    # The caller rule matched a frame in the allocator: the hook named frames inside it.
    if [ "$conf" = caller ] && ! grep -Eq "\"(caller|at)\":\"[^\"]*/${object}[^/\"]*:" "$dir/applied"; then
        echo "no applied placement of $program whose caller or stack names a frame in $object"
        grep -h '"ev":"place"' "${mine[@]}" | head -n 2 | cut -c1-400 | sed 's/^/    /'
        return 1
    fi
    if ! ls "$dir"/report.*.txt >/dev/null 2>&1; then
        echo "no report file ($dir/report.*.txt)"
        return 1
    fi
    if ! "$CLI" report "${traces[@]}" >"$dir/cli-report" 2>&1; then
        echo "cdmplace report over the traces failed (exit status $?)"
        head -n 5 "$dir/cli-report" | sed 's/^/    /'
        return 1
    fi
}

# --- The checks -------------------------------------------------------------------------------
for name in "${CASES[@]}"; do
    wanted=()
    for conf in "${CONFIGS[@]}"; do selected "$name/$conf" && wanted+=("$conf"); done
    [ ${#wanted[@]} -eq 0 ] && continue
    missing=""
    for need in ${NEEDS[$name]}; do [ -e "$need" ] || missing="$missing $need"; done
    if [ -n "$missing" ]; then
        for conf in "${wanted[@]}"; do fail "$name/$conf" "missing:$missing: run make deps"; done
        continue
    fi
    plain_failed=""
    if [ "$name" != redis ]; then # the output every run must print
        # shellcheck disable=SC2086
        timeout -k 5 "$TIMEOUT" env ${ENVIRONMENT[$name]} ${COMMAND[$name]} </dev/null \
            >"$TMP/$name.plain" 2>"$TMP/$name.plain.err" ||
            plain_failed="the plain run failed (exit status $?): $(head -c 200 "$TMP/$name.plain.err")"
    fi
    for conf in "${wanted[@]}"; do
        if [ -n "$plain_failed" ]; then
            fail "$name/$conf" "$plain_failed"
            continue
        fi
        bad=() why=()
        for run in $(seq "$REPEAT"); do
            dir=$TMP/runs/$name.$conf.$run
            mkdir -p "$dir"
            config "$conf" "$name" "$dir" >"$dir/config"
            if [ "$name" = redis ]; then
                run_redis "$dir" >"$dir/why" 2>&1
            else
                run_program "$name" "$dir" >"$dir/why" 2>&1
            fi && evidence "$name" "$conf" "$dir" >"$dir/why" 2>&1 && continue
            bad+=("$run")
            why+=("$run: $(head -n 1 "$dir/why")")
            { echo "  $name/$conf run $run of $REPEAT:"; sed 's/^/    /' "$dir/why"; } >>"$TMP/evidence"
            # A hang costs ALLOC_TIMEOUT: once is proof enough, the next check goes on.
            if grep -q '^hung: ' "$dir/why" && [ "$run" -lt "$REPEAT" ]; then
                if [ $((run + 1)) -eq "$REPEAT" ]; then
                    why+=("run $REPEAT not run after the hang")
                else
                    why+=("runs $((run + 1))-$REPEAT not run after the hang")
                fi
                break
            fi
        done
        if [ ${#bad[@]} -eq 0 ]; then
            pass "$name/$conf"
        else
            summary=$(printf '%s; ' "${why[@]}")
            fail "$name/$conf" "${#bad[@]} of $REPEAT runs failed: ${summary%; }"
            cat "$TMP/evidence"
            rm -f "$TMP/evidence"
        fi
    done
done
finish
