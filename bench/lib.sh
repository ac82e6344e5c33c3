# SPDX-License-Identifier: MIT
# What the benchmark scripts share (sourced; POSIX sh): medians, and the order of an
# alternated round.

# median_of: the median of the numbers on stdin, one a line.
median_of() {
    sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# median FILE COLUMN: the median of a column of numbers.
median() {
    awk -v c="$2" '{ print $c }' "$1" | median_of
}

# rotated R WORD...: the words rotated left by R - 1, so that over the rounds of an
# alternated run each configuration takes each place in turn.
rotated() {
    r=$1
    shift
    echo "$@" | awk -v r="$r" '{ for (k = 0; k < NF; k++) printf "%s%s", (k ? " " : ""), $((k + r - 1) % NF + 1) }'
}

# needs FILE...: stops, naming it, when a file the benchmark runs is missing.
needs() {
    for need in "$@"; do
        [ -e "$need" ] || { echo "bench: $need is missing: run make bench" >&2; exit 1; }
    done
}

# scratch NAME: $tmp, a fresh directory removed at exit (an interrupt exits with 130).
scratch() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-$1.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM
}

# warm_memory MIB: writes and frees MIB MiB just before a timed run, so that the run is given
# memory its machine backs, whatever the machine did before it (bench/warm_memory.c), on a
# virtual machine with a balloon, which may take freed memory back (this project's machines;
# not bare metal, not the test guests, which have none). Needs $root.
warm_memory() {
    ls -d /sys/bus/virtio/drivers/virtio_balloon/virtio* >/dev/null 2>&1 || return 0
    # shellcheck disable=SC2154 # root: set by the script that sources this file
    needs "$root/build/bench/warm_memory"
    "$root/build/bench/warm_memory" "$1" >/dev/null
}
