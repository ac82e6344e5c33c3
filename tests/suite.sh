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
