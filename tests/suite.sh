# SPDX-License-Identifier: MIT
# What the script suites share (sourced; POSIX sh): a scratch directory, the lines
# `ok NAME`, `FAIL NAME (why)` and `skip NAME (why)`, and the closing `N passed, M failed`
# that tests/run-all.sh counts.
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

pass() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+ ($2)}"; failed=$((failed + 1)); }
skip() { echo "skip $1 ($2)"; skipped=$((skipped + 1)); }

# The closing line; its status is the suite's.
finish() {
    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
}
