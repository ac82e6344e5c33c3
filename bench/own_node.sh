#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/own_node.sh: on two sockets, the share of a written buffer's pages that end on the
# writer's own DRAM node. In the sockets guest (tests/guest/run.sh --topology sockets: CPU 0
# on node 0, CPU 1 on node 1, device node 2 near node 0, 3 near node 1), build/bench/own_node
# runs a writer pinned to CPU 1, then one pinned to CPU 0, each writing a 16 MiB buffer that
# the rule `size = 16M-16M, kind = heap, policy = bind 2, migrate = follow-cpu` places on node
# 2, for OWN_SECONDS (default 3); per tracker (wp-async and wp on 6.12, wp on 6.1) and per
# library: the one under test and, as the baseline, OWN_BEFORE (a build of an older commit,
# e.g. the one before several sockets were told apart), run side by side in one guest.
#
# Usage: sh bench/own_node.sh (after make bench); OWN_BEFORE=/abs/path/libcdmplace.so under
# the repository (the guest sees the host's files at the same paths). Prints a line per
# kernel, tracker, library and CPU: `own=` is the goal's figure, the percent on the writer's
# node (100 met; the DRAM nearest the rule's node was the old answer for every writer).
set -u
root=$(cd "$(dirname "$0")/.." && pwd -P)
seconds=${OWN_SECONDS:-3}
after=$root/build/libcdmplace.so
before=${OWN_BEFORE:-}
. "$root/bench/lib.sh"
needs "$root/build/bench/own_node" "$after" ${before:+"$before"}
cd "$root" || exit 1
echo "own_node: 16 MiB written for ${seconds}s by a thread pinned to CPU 1, then CPU 0 ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) host cores)"
for kernel in 6.12 6.1; do
    trackers="wp-async wp"
    [ "$kernel" = 6.1 ] && trackers=wp
    # shellcheck disable=SC2016 # expanded in the guest
    sh tests/guest/run.sh --kernel "$kernel" --topology sockets --timeout 900 \
        --env OWN_TRACKERS="$trackers" --env OWN_LIBS="$after${before:+ $before}" --env OWN_S="$seconds" -- sh -c '
        for track in $OWN_TRACKERS; do
            printf "[settings]\nepoch = 100ms\nreport = off\ntrack = %s\n\n[rule follow]\nsize = 16M-16M\nkind = heap\npolicy = bind 2\nmigrate = follow-cpu\nidle = 5s\n" "$track" >/tmp/own.conf
            for lib in $OWN_LIBS; do
                which=after; [ "$lib" = "${OWN_LIBS%% *}" ] || which=before
                env LD_PRELOAD="$lib" CDMPLACE_CONFIG=/tmp/own.conf build/bench/own_node "$OWN_S" 1 0 |
                    sed "s/^/kernel=$(uname -r | cut -d. -f1-2) track=$track lib=$which /"
            done
        done'
done
