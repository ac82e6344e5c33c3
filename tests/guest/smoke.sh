#!/bin/sh
# SPDX-License-Identifier: MIT
# smoke.sh TOPOLOGY: run in a guest (tests/guest/suites.txt), checks that the guest is the
# machine the guest suites expect: the topology's nodes as `cdmplace topo` sees them, the
# kernel's features, and the harness's own promises (root, a writable /tmp, read-only host
# files). Prints one line per check and "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
topology=${1:?usage: smoke.sh cdm|tiers|small-cdm|sockets|sockets-hmat}
. tests/suite.sh

topo=$(build/cdmplace topo 2>&1)
topo_status=$?
echo "$topo"
echo
# field NODE COLUMN: a column of the node's row in `cdmplace topo` (2 CPUS, 4 MEMORY,
# 6 KIND, 7 TIER).
field() {
    echo "$topo" | awk -v node="$1" -v column="$2" '$1 == node && ($6 == "cdm" || $6 == "dram") { print $column }'
}
is() { [ "$1" = "$2" ]; }
# memory_kib NODE: the node's MemTotal in KiB, from sysfs.
memory_kib() {
    awk '/MemTotal/ { print $4 }' "/sys/devices/system/node/node$1/meminfo" 2>/dev/null
}
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
less() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" -lt "$2" ]; }
# says PATTERN: a line of `cdmplace topo` matches.
says() { echo "$topo" | grep -q "$1"; }

check "runs as root" is "$(id -u)" 0
check "/tmp is writable" sh -c 'file=$(mktemp /tmp/smoke-XXXXXX) && rm "$file"'
check "the host's files are read-only" sh -c 'if touch build/.smoke 2>/dev/null; then rm build/.smoke; exit 1; fi'
check "cdmplace topo runs" is "$topo_status" 0
check "a program runs with the library preloaded" env LD_PRELOAD="$PWD/build/libcdmplace.so" true
case $topology in sockets*) ;; *) false ;; esac ||
    check "node 0 has the 2 CPUs and is dram" is "$(field 0 2) $(field 0 6)" "2 dram"

case $(uname -r) in
6.1.*)
    check "6.1: no /sys/kernel/mm/mempolicy/weighted_interleave" test ! -e /sys/kernel/mm/mempolicy/weighted_interleave
    check "6.1: topo says weighted interleave is not available" says '^weighted interleave: not available' ;;
6.12.*)
    check "6.12: /sys/kernel/mm/mempolicy/weighted_interleave exists" test -d /sys/kernel/mm/mempolicy/weighted_interleave
    check "6.12: topo says weighted interleave is available" says '^weighted interleave: available' ;;
*)
    check "kernel $(uname -r) is 6.1 or 6.12" false ;;
esac

case $topology in
cdm)
    check "nodes 0-1 online" is "$(cat /sys/devices/system/node/online)" 0-1
    check "node 1 is cdm with no CPUs" is "$(field 1 2) $(field 1 6)" "0 cdm"
    check "node 1 has about 1G" between "$(memory_kib 1)" 900000 1048576
    check "topo lists cdm nodes: 1" says '^cdm nodes: 1$'
    check "topo says node 1 is near node 0" says '^cdm node 1: nearest dram node 0 (distance 20)$'
    check "memory binds to node 1" numactl --membind=1 true ;;
tiers)
    check "nodes 0-2 online" is "$(cat /sys/devices/system/node/online)" 0-2
    check "nodes 1 and 2 are cdm with no CPUs" is "$(field 1 2) $(field 1 6) $(field 2 2) $(field 2 6)" "0 cdm 0 cdm"
    check "topo lists cdm nodes: 1-2" says '^cdm nodes: 1-2$'
    case $(uname -r) in
    6.1.*)
        check "6.1: one memory tier for all nodes" is "$(field 1 7) $(field 2 7)" "$(field 0 7) $(field 0 7)" ;;
    *)
        check "node 1 is in a lower tier than node 0" less "$(field 0 7)" "$(field 1 7)"
        check "node 2 is in a lower tier than node 1" less "$(field 1 7)" "$(field 2 7)" ;;
    esac ;;
small-cdm)
    check "nodes 0-1 online" is "$(cat /sys/devices/system/node/online)" 0-1
    check "node 1 is cdm with no CPUs" is "$(field 1 2) $(field 1 6)" "0 cdm"
    check "node 1 has at most 48M and at least 32M" between "$(memory_kib 1)" 32768 49152
    check "memory binds to node 1" numactl --membind=1 true ;;
sockets | sockets-hmat)
    check "nodes 0-3 online" is "$(cat /sys/devices/system/node/online)" 0-3
    check "nodes 0 and 1 are dram with a CPU each" is "$(field 0 2) $(field 0 6) $(field 1 2) $(field 1 6)" "1 dram 1 dram"
    check "CPU 0 is on node 0, CPU 1 on node 1" test -e /sys/devices/system/node/node0/cpu0 -a -e /sys/devices/system/node/node1/cpu1
    check "nodes 2 and 3 are cdm with no CPUs" is "$(field 2 2) $(field 2 6) $(field 3 2) $(field 3 6)" "0 cdm 0 cdm"
    check "distances from node 0: 10 32 20 40" is "$(cat /sys/devices/system/node/node0/distance)" "10 32 20 40"
    check "distances from node 1: 32 10 40 20" is "$(cat /sys/devices/system/node/node1/distance)" "32 10 40 20"
    check "distances from node 2: 20 40 10 40" is "$(cat /sys/devices/system/node/node2/distance)" "20 40 10 40"
    check "memory binds to node 3" numactl --membind=3 true
    check "topo says node 2 is near node 0" says '^cdm node 2: nearest dram node 0 (distance 20)$'
    check "topo says node 3 is near node 1" says '^cdm node 3: nearest dram node 1 (distance 20)$'
    check "topo --json says node 3 is near node 1" sh -c "build/cdmplace topo --json |
        grep -q '{\"node\":3,[^{}]*\"nearest_dram\":{\"node\":1,\"distance\":20}}'"
    if [ "$topology" = sockets-hmat ]; then
        check "HMAT: node 2's initiator is node 0" test -e /sys/devices/system/node/node2/access0/initiators/node0
        check "HMAT: node 3's initiator is node 1" test -e /sys/devices/system/node/node3/access0/initiators/node1
        check "HMAT: nodes 2 and 3 are in a lower tier than 0 and 1" less "$(field 1 7)" "$(field 3 7)"
    fi ;;
*)
    check "topology $topology is cdm, tiers, small-cdm, sockets or sockets-hmat" false ;;
esac

finish
