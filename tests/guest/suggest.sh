#!/bin/sh
# SPDX-License-Identifier: MIT
# cdmplace suggest in the cdm guest (node 1: memory only). examples/hot_cold.c fills a table
# once and rewrites a scratch buffer all along: a profiling run of the built-in default (no
# config) watches both and moves nothing, `suggest` turns its trace into a config that
# `check` accepts, and the program run again with that config has the table on the CDM node
# and the scratch buffer on DRAM, as the program's own move_pages queries report.
set -u
. tests/suite.sh
# rule NAME: the lines of [rule NAME] in the suggested config.
rule() {
    awk -v header="[rule $1]" '$0 == header { on = 1; next } /^\[/ { on = 0 } on' /tmp/job.conf
}
rm -f /tmp/profile.*.jsonl /tmp/placed.jsonl
[ -e /etc/cdmplace.conf ] && { fail "/etc/cdmplace.conf exists: not the built-in default"; finish; exit; }
env -u CDMPLACE_CONFIG build/cdmplace run --log '/tmp/profile.%p.jsonl' --report off \
    -- build/examples/hot_cold 8 3 >/tmp/profile.out 2>/tmp/profile.err
status=$?
cat /tmp/profile.out
check "the profiling run ran, its data intact" eval "[ $status -eq 0 ] && grep -qx 'data intact: yes' /tmp/profile.out"
check "it watched both buffers with wp-async" \
    eval "[ \$(grep -c '\"ev\":\"access\".*\"tracker\":\"wp-async\"' /tmp/profile.*.jsonl) -eq 2 ]"
check "it placed and moved nothing: both on node 0" \
    eval "grep -qx 'table: node 0: 2048' /tmp/profile.out && grep -qx 'scratch: node 0: 2048' /tmp/profile.out && ! grep -q '\"ev\":\"migrate\"' /tmp/profile.*.jsonl"
build/cdmplace suggest /tmp/profile.*.jsonl >/tmp/job.conf 2>/tmp/suggest.err
status=$?
cat /tmp/job.conf
check "suggest wrote a config" eval "[ $status -eq 0 ] && [ ! -s /tmp/suggest.err ]"
check "the config passes check" eval "build/cdmplace check /tmp/job.conf >/dev/null"
check "the table's call site goes to CDM" \
    eval "rule load_table | grep -qx 'policy = bind cdm' && rule load_table | grep -qx 'caller = \*hot_cold:load_table'"
check "the scratch buffer's stays on DRAM" \
    eval "rule alloc_scratch | grep -qx 'policy = bind dram' && rule alloc_scratch | grep -qx 'caller = \*hot_cold:alloc_scratch'"
check "each rule carries its figures" eval "[ \$(grep -c '^# hot_cold:[a-z_]*: 1 buffer, 8M, in 1 process; use ' /tmp/job.conf) -eq 2 ]"
build/cdmplace run -c /tmp/job.conf --log /tmp/placed.jsonl --report off \
    -- build/examples/hot_cold 8 1 >/tmp/placed.out 2>/tmp/placed.err
status=$?
cat /tmp/placed.out
check "the program ran with the suggested config, its data intact" \
    eval "[ $status -eq 0 ] && grep -qx 'data intact: yes' /tmp/placed.out"
check "the table is on the CDM node" eval "grep -qx 'table: node 1: 2048' /tmp/placed.out"
check "the scratch buffer is on DRAM" eval "grep -qx 'scratch: node 0: 2048' /tmp/placed.out"
check "both placed by their rules" \
    eval "grep -q '\"rule\":\"load_table\",\"policy\":\"bind\",\"nodes\":\"1\".*\"result\":\"applied\"' /tmp/placed.jsonl && grep -q '\"rule\":\"alloc_scratch\",\"policy\":\"bind\",\"nodes\":\"0\".*\"result\":\"applied\"' /tmp/placed.jsonl"
[ "$failed" -eq 0 ] || { cat /tmp/profile.err /tmp/suggest.err /tmp/placed.err; grep -hv '"ev":"place"' /tmp/profile.*.jsonl | cut -c1-240; }
finish
