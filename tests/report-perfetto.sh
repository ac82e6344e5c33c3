#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/report-perfetto.sh: `cdmplace report --perfetto FILE` writes Chrome trace-event JSON
# that follows the Trace Event Format (tests/trace_event_check.py, written from the format's
# document) and that a real consumer loads: the trace engine of Chrome DevTools' Performance
# panel, npm's @paulirish/trace_engine, installed under build/trace-engine on the first run
# and driven by tests/trace_engine_load.mjs.
#
# The traces: one recorded here (build/examples/buffers preloaded with a tracked rule:
# counters and buffers; one node, so nothing migrates), and tests/data/seed-flow-perfetto.jsonl,
# the seed flow recorded in the multi-node `cdm` guest (config/seed-flow.conf, 16 MiB,
# 1.5 s phases: 12 migrations between nodes 0 and 1). Expected counts come from the JSON
# lines themselves, not from the reader under test.
#
# Usage: sh tests/report-perfetto.sh (from anywhere; `make tests` first). Prints `ok NAME`,
# `FAIL NAME (why)` or `skip NAME (why)`, then `N passed, M failed`; exits 1 if any failed.
# Without npm or the registry the consumer's checks are skipped, except under CI=true, where
# they fail.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The sanitizer build when there is one: the writer's leaks and overflows fail the test too.
CLI=$ROOT/build/asan/cdmplace
[ -x "$CLI" ] || CLI=$ROOT/build/cdmplace
export ASAN_OPTIONS=detect_leaks=1
CHECK="python3 $ROOT/tests/trace_event_check.py"
SEED=$ROOT/tests/data/seed-flow-perfetto.jsonl
ENGINE=$ROOT/build/trace-engine
ENGINE_VERSION=0.0.65
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN

if [ ! -x "$CLI" ] || [ ! -x "$ROOT/build/examples/buffers" ]; then
    echo "report-perfetto: build/cdmplace or build/examples/buffers is missing: run make tests" >&2
    exit 1
fi
. "$ROOT/tests/suite.sh"
scratch perfetto
# expect NAME CONDITION WHY: passes when the shell condition holds.
expect() { if eval "$2"; then pass "$1"; else fail "$1" "$3"; fi; }
# has NAME FILE TEXT: passes when FILE holds TEXT.
has() { if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "no $3"; fi; }

# events FILE EV: the number of events `EV` in JSON lines FILE(s).
events() {
    name=$1
    shift
    cat "$@" | grep -c "\"ev\":\"$name\""
}
# counters FILE: counter events expected: each epoch, and the totals at exit, of a rule that
# had pages somewhere (the traces here have one rule each).
counters() {
    if grep -E '"ev":"(epoch|totals)"' "$1" | grep -q '"nodes":{"'; then
        echo $(($(events epoch "$1") + $(events totals "$1")))
    else
        echo 0
    fi
}
# buffers FILE: buffer slices expected: placements that mapped something, and remaps.
buffers() {
    echo $(($(events place "$1") - $(grep '"ev":"place"' "$1" | grep -c '"result":"unmapped"') +
        $(events remap "$1")))
}

# convert NAME JSON LOG...: `cdmplace report --perfetto JSON LOG...` succeeds and JSON passes
# the checker; its summary is left in $TMP/NAME.summary.
convert() {
    name=$1 json=$2
    shift 2
    if ! "$CLI" report --perfetto "$json" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
        fail "$name" "report exited $?: $(head -c 300 "$TMP/$name.err")"
        return 1
    fi
    if ! $CHECK "$json" >"$TMP/$name.summary" 2>"$TMP/$name.err"; then
        fail "$name" "the checker: $(head -n 5 "$TMP/$name.err")"
        return 1
    fi
    pass "$name"
}
# summary NAME FIELD: a figure of the checker's summary ("processes", "migrate", ...).
summary() {
    tr ',()' '\n\n\n' <"$TMP/$1.summary" | awk -v field="$2" '
        { sub(/^ +/, ""); sub(/ +$/, "") } $0 ~ "^" field " [0-9]+$" { print $NF; found = 1 }
        END { if (!found) print 0 }'
}

# ---------------------------------------------------------------- a trace recorded here

HOST=$TMP/host.jsonl
(cd "$TMP" && "$ROOT/build/cdmplace" run -c "$ROOT/tests/report-perfetto.conf" --log "$HOST" \
    --report off -- "$ROOT/build/examples/buffers" >/dev/null 2>"$TMP/run.err")
if [ -s "$HOST" ] && [ "$(events start "$HOST")" -eq 1 ]; then
    pass host-trace-recorded
    if convert host "$TMP/host.json" "$HOST"; then
        n=$(summary host processes)
        expect host-one-process '[ "$n" -eq 1 ]' "processes: $n"
        n=$(summary host buffer) want=$(buffers "$HOST")
        expect host-buffer-slices '[ "$n" -eq "$want" ] && [ "$n" -gt 0 ]' \
            "$n slices, $want placements"
        n=$(summary host "counter events") want=$(counters "$HOST")
        expect host-counters '[ "$n" -eq "$want" ]' "$n counter events, $want expected"
        expect host-process-named \
            'grep -q "\"process_name\",\"args\":{\"name\":\"pid [0-9]* buffers\"}" "$TMP/host.json"' \
            "no process_name 'pid N buffers'"
    fi
else
    fail host-trace-recorded "no trace from build/examples/buffers: $(head -c 300 "$TMP/run.err")"
fi

# ---------------------------------------------------------------- the guest's trace

if convert seed "$TMP/seed.json" "$SEED"; then
    n=$(summary seed migrate) want=$(events migrate "$SEED")
    expect seed-migration-slices '[ "$n" -eq "$want" ] && [ "$n" -eq 12 ]' \
        "$n slices, $want migrations"
    n=$(summary seed "counter events") want=$(counters "$SEED")
    expect seed-counters '[ "$n" -eq "$want" ] && [ "$n" -gt 0 ]' "$n counter events, $want expected"
    # The first migration ends at t 322262366 ns after 75325513 ns; the first epoch, at
    # 154531985 ns, had the buffer's 4096 pages on node 1 and none on node 0.
    has seed-migration-time "$TMP/seed.json" \
        '"name":"migrate 1→0 1022 pages","cat":"migrate","ts":246936.853,"dur":75325.513,'
    has seed-migration-args "$TMP/seed.json" \
        '"args":{"reason":"idle","from":0,"to":1,"pages":1022,"busy":2,"failed":0}}'
    has seed-counter-series "$TMP/seed.json" \
        '"name":"seed pages","ts":154531.985,"args":{"node 0":0,"node 1":4096}}'
    has seed-buffer-call-site "$TMP/seed.json" '"call site":"main'
fi

# Many processes: two of them share a pid (the same trace twice, as an exec'd program would).
if [ -s "$HOST" ] && convert many "$TMP/many.json" "$HOST" "$SEED" "$SEED"; then
    n=$(summary many processes) want=$(events start "$HOST" "$SEED" "$SEED")
    expect many-distinct-pids '[ "$n" -eq "$want" ] && [ "$n" -eq 3 ]' \
        "$n pids for $want processes"
    n=$(summary many migrate)
    expect many-migration-slices '[ "$n" -eq 24 ]' "$n slices"
fi

# ---------------------------------------------------------------- the checker can fail

# rejects NAME SED-SCRIPT MESSAGE: the seed's JSON edited by SED-SCRIPT fails the checker,
# which says MESSAGE.
rejects() {
    sed "$2" "$TMP/seed.json" >"$TMP/broken.json"
    if [ "$(cmp -s "$TMP/seed.json" "$TMP/broken.json"; echo $?)" -eq 0 ]; then
        fail "checker-rejects-$1" "the edit changed nothing"
    elif $CHECK "$TMP/broken.json" >/dev/null 2>"$TMP/broken.err"; then
        fail "checker-rejects-$1" "accepted"
    elif ! grep -q "$3" "$TMP/broken.err"; then
        fail "checker-rejects-$1" "said: $(head -n 2 "$TMP/broken.err")"
    else
        pass "checker-rejects-$1"
    fi
}
if [ -s "$TMP/seed.json" ]; then
    rejects x-without-dur '0,/"dur":[0-9.]*,/s///' 'without a numeric dur'
    rejects negative-dur '0,/"dur":[0-9.]*/s//"dur":-1/' 'negative dur'
    rejects ts-as-string '0,/"ts":\([0-9.]*\)/s//"ts":"\1"/' 'ts is not a number'
    rejects counter-not-numeric '0,/"node 1":4096/s//"node 1":"4096"/' \
        "series 'node 1' is not a number"
    rejects unknown-phase '0,/"ph":"X"/s//"ph":"Q"/' "is not a phase"
    rejects unknown-metadata 's/"thread_name"/"thread_title"/' "metadata name 'thread_title'"
    rejects overlapping-slices '0,/"dur":75325.513/s//"dur":95325.513/' 'without nesting'
    rejects tid-in-two-processes 's/"pid":164,"tid":166/"pid":165,"tid":165/' 'is a thread of pid'
    rejects truncated '$d' 'not JSON'
fi

# ---------------------------------------------------------------- a real consumer

# The consumer's checks fail under CI (which reaches npm), and are skipped elsewhere.
unavailable() {
    if [ "${CI:-}" = true ]; then fail consumer "$*"; else skip consumer "$*"; fi
}
engine_ready() {
    grep -qs "\"version\": \"$ENGINE_VERSION\"" \
        "$ENGINE/node_modules/@paulirish/trace_engine/package.json"
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    unavailable "no node or npm: sh tests/install-deps.sh installs them"
elif ! engine_ready && ! timeout 300 npm install --prefix "$ENGINE" --no-save --no-audit \
        --no-fund "@paulirish/trace_engine@$ENGINE_VERSION" >"$TMP/npm.out" 2>&1; then
    unavailable "npm install @paulirish/trace_engine@$ENGINE_VERSION failed:" \
        "$(grep -m 2 error "$TMP/npm.out" | tr '\n' ' ')"
elif [ -s "$TMP/seed.json" ]; then
    # load NAME JSON: the engine's view of JSON in $TMP/NAME.engine.
    load() {
        node "$ROOT/tests/trace_engine_load.mjs" "$ENGINE" "$2" >"$TMP/$1.engine" \
            2>"$TMP/$1.engine-err"
    }
    # line NAME FILE ERE: passes when a whole line of FILE matches ERE.
    line() {
        if grep -Eqx -- "$3" "$2"; then pass "$1"; else fail "$1" "$(tr '\n' ';' <"$2")"; fi
    }
    if load seed "$TMP/seed.json"; then
        pass consumer-loads-seed
        line consumer-seed-process "$TMP/seed.engine" "process 164 pid 164 seed_flow"
        # 12 migration slices, all in the thread's call tree.
        line consumer-seed-migrations "$TMP/seed.engine" "thread 164 [0-9]+ 12 12 seed: migrations"
        line consumer-seed-buffers "$TMP/seed.engine" "thread 164 [0-9]+ 1 1 seed: buffers"
    else
        fail consumer-loads-seed "$(tail -n 5 "$TMP/seed.engine-err")"
    fi
    if [ -s "$TMP/many.json" ] && load many "$TMP/many.json"; then
        n=$(grep -c '^process ' "$TMP/many.engine")
        expect consumer-many-processes '[ "$n" -eq 3 ]' "$n processes"
        # Every slice the checker counted is in the engine's call trees: none overlapped.
        n=$(awk '/^thread / { n += $5 } END { print n + 0 }' "$TMP/many.engine")
        want=$(summary many "complete events")
        expect consumer-many-slices '[ "$n" -eq "$want" ]' "$n slices in the trees of $want"
    else
        fail consumer-many-processes "$(tail -n 5 "$TMP/many.engine-err" 2>/dev/null)"
    fi
    # The engine notices what the checker calls overlapping: its tree leaves the slice out.
    sed '0,/"dur":75325.513/s//"dur":95325.513/' "$TMP/seed.json" >"$TMP/overlap.json"
    load overlap "$TMP/overlap.json"
    line consumer-sees-overlap "$TMP/overlap.engine" "thread 164 [0-9]+ 12 11 seed: migrations"
    echo "consumer: @paulirish/trace_engine $ENGINE_VERSION on node $(node --version)"
fi

# ---------------------------------------------------------------- the command line

# exits NAME STATUS MESSAGE ARGS...: `cdmplace report ARGS...` exits STATUS and says
# MESSAGE (a line of its standard error).
exits() {
    name=$1 want=$2 message=$3
    shift 3
    "$CLI" report "$@" >/dev/null 2>"$TMP/err"
    status=$?
    if [ "$status" -eq "$want" ] && grep -qxF -- "$message" "$TMP/err"; then
        pass "$name"
    else
        fail "$name" "exit $status: $(head -n 2 "$TMP/err" | tr '\n' ' ')"
    fi
}
exits cannot-write-dir 1 \
    "cdmplace: cannot write $TMP/no/such/x.json: No such file or directory" \
    --perfetto "$TMP/no/such/x.json" "$SEED"
[ -w /dev/full ] && exits cannot-write-full 1 \
    "cdmplace: cannot write /dev/full: No space left on device" --perfetto /dev/full "$SEED"
exits perfetto-without-file 2 "cdmplace: report: option '--perfetto' needs an argument" \
    --perfetto

finish
