#!/bin/sh
# SPDX-License-Identifier: MIT
# A program with its own allocator in the cdm guest (node 1: memory only): Debian's
# redis-server, linked with jemalloc, under a rule that binds every buffer of 1M or more to the
# CDM node. jemalloc maps its extents itself, with its locks held, through our mmap hook:
# the server must answer a benchmark throughout, and its large mappings must carry the
# policy with their pages on node 1 (/proc/PID/numa_maps). The guest has no network: the
# server listens on a Unix socket.
set -u
. tests/suite.sh
scratch redis
socket=$TMP/redis.sock
cli() { timeout 60 redis-cli -s "$socket" "$@"; }
cat >"$TMP/cdm.conf" <<CONF
[settings]
min_size = 1M
log = $TMP/trace.%p.jsonl
report = $TMP/report.txt

[rule big]
size = 1M-
policy = bind cdm
CONF
build/cdmplace run -c "$TMP/cdm.conf" -- redis-server --port 0 --unixsocket "$socket" \
    --save '' --appendonly no --dir "$TMP" >"$TMP/server.log" 2>&1 &
server=$!
up=no
for _ in $(seq 300); do
    cli ping >/dev/null 2>&1 && { up=yes; break; }
    sleep 0.1
done
[ $up = yes ] && pass "the server started" || fail "the server started" "no PONG in 30 s"
# 10,000 SETs of 4 KiB values over up to 10,000 keys: some 40 MiB in jemalloc's extents.
timeout 600 redis-benchmark -s "$socket" -q -n 10000 -d 4096 -t set -r 10000 >"$TMP/bench.out" 2>&1
bench=$?
tr '\r' '\n' <"$TMP/bench.out" | grep 'requests per second' | tail -1
[ $bench -eq 0 ] && grep -q 'SET: .*requests per second' "$TMP/bench.out" &&
    pass "the benchmark ran to its end" || fail "the benchmark ran to its end" "exit $bench"
pid=$(cli info server | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }')
cat "/proc/$pid/numa_maps" >"$TMP/numa_maps" 2>/dev/null
cat "/proc/$pid/maps" >"$TMP/maps" 2>/dev/null
cli shutdown nosave >/dev/null 2>&1 || kill -9 $server
wait $server
status=$?
[ $status -eq 0 ] && pass "the server exited cleanly" || fail "the server exited cleanly" "exit $status"
# Pages of the mappings bound to node 1, and of those pages any on node 0.
set -- $(awk '/ bind:1 / { for (i = 1; i <= NF; i++) {
                  if ($i ~ /^N1=/) on += substr($i, 4); if ($i ~ /^N0=/) off += substr($i, 4) }
                  n++ }
              END { printf "%d %d %d", n, on, off }' "$TMP/numa_maps")
echo "numa_maps: $1 mappings bound to node 1, $2 pages on node 1, $3 on node 0"
[ "$1" -gt 0 ] && pass "its large mappings are bound to the CDM node" ||
    fail "its large mappings are bound to the CDM node" "none in numa_maps"
[ "$2" -ge 5120 ] && pass "their pages are on node 1 (at least 20 MiB of the 40 written)" ||
    fail "their pages are on node 1 (at least 20 MiB of the 40 written)" "$2 pages"
[ "$3" -eq 0 ] && pass "none of their pages is on node 0" ||
    fail "none of their pages is on node 0" "$3 pages"
# Every anonymous mapping of 1 MiB or more, bound or not: jemalloc maps its first arena in its
# own constructor, before ours has read the config (the library places it at the end of its
# constructor). What may stay off node 1 is the threads' stacks, a few pages each. Not
# counted: an object's .bss, which the loader maps right after the object's file (jemalloc's
# is 2.1 MiB, sometimes in a huge page): static data, no allocation.
set -- $(gawk 'FNR == NR { split($1, range, "-")
                           if (NF == 5 && strtonum("0x" range[2]) - strtonum("0x" range[1]) >= 1048576 &&
                               range[1] != after_file)
                               large[range[1]] = 1
                           after_file = NF == 6 && $6 ~ /^\// ? range[2] : ""
                           next }
               $1 in large { for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) {
                                 split($i, kv, "="); all += kv[2]; if (kv[1] == "N1") on += kv[2] } }
               END { printf "%d %d", on, all }' "$TMP/maps" "$TMP/numa_maps")
echo "large anonymous mappings: $1 of their $2 pages on node 1"
[ "$2" -gt 0 ] && [ $(($1 * 100)) -ge $(($2 * 99)) ] &&
    pass "99% of all its large anonymous pages are on node 1, jemalloc's first arena's included" ||
    fail "99% of all its large anonymous pages are on node 1, jemalloc's first arena's included" \
        "$1 of $2"
grep -h '"ev":"place"' "$TMP"/trace.*.jsonl | grep -q '"result":"applied"' &&
    pass "the trace records the placements" || fail "the trace records the placements"
# On a failure: the server's log, and the large mappings with pages off node 1, with sizes.
[ "$failed" -eq 0 ] || {
    cat "$TMP/server.log"
    gawk 'FNR == NR { split($1, range, "-"); size[range[1]] = strtonum("0x" range[2]) - strtonum("0x" range[1])
                      line[range[1]] = $0; next }
          size[$1] >= 1048576 && / N[02-9][0-9]*=/ { print size[$1] / 1048576 " MiB: " $0; print "  " line[$1] }' \
        "$TMP/maps" "$TMP/numa_maps"
}
finish
