#!/bin/sh
# The demo: an unmodified program's large buffers placed by rules, with the machine's
# topology, the decision trace and the end-of-run report on screen. `make demo` runs it in
# the multi-node guest (tests/guest/run.sh), where node 1 is a CDM node; the report's last
# column shows the weights' pages on it. `make demo-host` runs it on this machine.
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
(cd "$work" && "$OLDPWD/build/cdmplace" run -c "$OLDPWD/config/demo.conf" -- "$OLDPWD/build/examples/buffers")

step "The decision trace: one JSON line per event (placements shown)"
grep -h '"ev":"place"\|"ev":"start"' "$work"/cdmplace-demo.*.jsonl |
    sed 's/,"stack":\[[^]]*\]//' | cut -c1-220
