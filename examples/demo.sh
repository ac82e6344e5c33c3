#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: an unmodified program's large buffers placed by rules, with the machine's
# topology, the decision trace and the end-of-run report on screen. `make demo` runs it in
# the multi-node guest (tests/guest/run.sh), where node 1 is a CDM node; the report's last
# column shows the weights' pages on it. Then the seed flow (examples/seed_flow.c): a buffer
# on the CDM node follows the CPU to DRAM and back. `make demo-host` runs it on this machine
# (one node: nothing to move there).
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The machine: nodes, CPUs, memory, which nodes are CDM (cdmplace topo)"
build/cdmplace topo

step "The config, checked against this machine (cdmplace check config/demo.conf)"
build/cdmplace check config/demo.conf

step "The program, unmodified, run under cdmplace (cdmplace run -c config/demo.conf -- build/examples/buffers)"
(cd "$work" && "$OLDPWD/build/cdmplace" run -c "$OLDPWD/config/demo.conf" -- "$OLDPWD/build/examples/buffers" 2>&1)

step "The decision trace: one JSON line per event (placements shown)"
grep -h '"ev":"place"\|"ev":"start"' "$work"/cdmplace-demo.*.jsonl |
    sed 's/,"stack":\[[^]]*\]//' | cut -c1-220

step "The seed flow: allocate, CPU, device, CPU, free (cdmplace run -c config/seed-flow.conf -- build/examples/seed_flow)"
printf 'The program prints where its pages are after each phase (move_pages queries).\n'
printf 'Its buffer is bound to the CDM node and follows the CPU: migrate = follow-cpu.\n\n'
(cd "$work" && "$OLDPWD/build/cdmplace" run -c "$OLDPWD/config/seed-flow.conf" \
    --log "$work/seed.jsonl" -- "$OLDPWD/build/examples/seed_flow" 16 1.5 2>&1)

step "The trace of the seed flow: each epoch's pages per node, and the migrations between"
grep -h '"ev":"start"' "$work/seed.jsonl" | sed 's/.*"tracker":"\([^"]*\)","sees":"\([^"]*\)".*/tracker: \1 (sees \2)/'
# Runs of migrate events in one direction are summed into one line.
awk -F'[:,{}]' '
    function field(name,   i, value) { for (i = 1; i < NF; i++) if ($i == "\"" name "\"") value = $(i + 1); return value }
    function flush() { if (pages) printf "%6d ms  migrated %5d pages, node %s -> %s (%s) in %.1f ms\n", first, pages, from, to, reason, ns / 1e6; pages = ns = 0 }
    /"ev":"migrate"/ {
        key = field("from") field("to") field("reason")
        if (key != last) { flush(); first = int(field("t") / 1e6); from = field("from"); to = field("to"); reason = field("reason") }
        gsub(/"/, "", reason); last = key; pages += field("pages"); ns += field("ns"); next
    }
    /"ev":"epoch"/ {
        flush(); last = ""
        nodes = $0; sub(/.*"nodes":\{/, "", nodes); sub(/\}.*/, "", nodes); gsub(/"/, "", nodes)
        printf "%6d ms  epoch %3d: pages per node {%s}, hot %s, cold %s\n", field("t") / 1e6, field("epoch"), nodes, field("hot"), field("cold")
    }
    END { flush() }' "$work/seed.jsonl"

step "The same trace read back (cdmplace report seed.jsonl)"
build/cdmplace report "$work/seed.jsonl"
printf '\n(report --svg FILE draws pages per node over time; --perfetto FILE writes a timeline\n'
printf 'for ui.perfetto.dev; cdmplace suggest turns a profiling run into a config.)\n'
