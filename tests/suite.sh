# SPDX-License-Identifier: MIT
# What the script suites share (sourced; POSIX sh): a scratch directory, the lines
# `ok NAME`, `FAIL NAME (why)` and `skip NAME (why)`, a check whose verdict is a command's
# status, the closing `N passed, M failed` that tests/run-all.sh counts, and a trace's start
# event and the rows of a many-process report.
passed=0 failed=0 skipped=0

# scratch NAME [KEEP]: $TMP, a fresh directory, removed at exit unless KEEP is not empty.
scratch() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-$1.XXXXXX") || exit 1
    if [ -n "${2:-}" ]; then
        echo "$1: keeping $TMP" >&2
    else
        trap 'rm -rf "$TMP"' EXIT
    fi
    trap 'exit 130' INT TERM
}

# select_from GLOB...: the checks to run, as the script's arguments name them (none: all);
# selected NAME: whether NAME is one of them.
select_from() { selection=$(printf '%s\n' "$@"); }
selected() {
    [ -z "${selection:-}" ] && return 0
    printf '%s\n' "$selection" | {
        while IFS= read -r pattern; do
            # shellcheck disable=SC2254 # the pattern is a glob on purpose
            case $1 in $pattern) exit 0 ;; esac
        done
        exit 1
    }
}

# start_of TRACE: its start event; pid_of TRACE: the pid that wrote it.
start_of() { grep -m 1 '"ev":"start"' "$1"; }
pid_of() { start_of "$1" | sed -n 's/^{"t":[0-9]*,"pid":\([0-9]*\),.*/\1/p'; }

# row REPORT RULE FIGURE: "MIN|MEAN|MAX|MAX IN" of a row of the many-process table of
# `cdmplace report` (tests/jobs.sh, tests/slurm.sh).
row() {
    awk -v rule="$2" -v figure="$3" '
        /^  RULE / { table = 1; next }
        /^top call sites/ { table = 0 }
        table {
            n = split($0, cell, /  +/)
            first = 2
            if ($0 ~ /^  [^ ]/) { current = cell[2]; first = 3 }
            if (current == rule && cell[first] == figure) {
                printf "%s|%s|%s|%s\n", cell[first + 1], cell[first + 2], cell[first + 3], cell[first + 4]
                exit
            }
        }' "$1"
}

# expect_row REPORT RULE FIGURE "MIN|MEAN|MAX|MAX IN prefix": a table row as expected;
# prints nothing when it is, else what differs.
expect_row() {
    got=$(row "$1" "$2" "$3")
    case $got in
    "$4"*) ;;
    *) echo "row $2/$3: got '$got', want '$4...';" ;;
    esac
}

pass() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+ ($2)}"; failed=$((failed + 1)); }
skip() { echo "skip $1 ($2)"; skipped=$((skipped + 1)); }

# check NAME COMMAND...: COMMAND's status is the verdict (a shell expression: `eval '...'`).
check() {
    check_name=$1
    shift
    if "$@"; then pass "$check_name"; else fail "$check_name"; fi
}

# check_why NAME WHY COMMAND...: the same, with WHY (what the command saw) when it fails.
check_why() {
    check_name=$1 check_reason=$2
    shift 2
    if "$@"; then pass "$check_name"; else fail "$check_name" "$check_reason"; fi
}

# The closing line; its status is the suite's.
finish() {
    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
}
