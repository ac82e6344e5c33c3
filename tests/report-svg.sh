#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/report-svg.sh: `cdmplace report --svg` looked at in a real browser.
#
# tests/data/seed-flow.jsonl is a real trace of the seed flow in the `cdm` guest (node 0
# DRAM, node 1 CDM; recorded with `cdmplace run -c config/seed-flow.conf --log`): the buffer
# starts on node 1, moves to node 0, back to node 1 and to node 0 again. Its picture is
# rendered by headless Chromium at its own size, and the screenshot must show both nodes'
# lines inside the plot and migration marks each way inside the strip under it, in the
# colors the picture's labels give them. The negative control, the same trace with every
# page on node 0 and no migration, must show no node 1 and no marks: the checks can fail.
# Also: the SVG is well-formed XML, and a FILE that cannot be written fails the command.
#
# Usage: sh tests/report-svg.sh (from anywhere; the build must exist). Prints `ok NAME`,
# `FAIL NAME (why)`, and at the end `N passed, M failed`; skips, saying why, without
# Chromium (chromium-headless-shell) or python3-pil, which `make deps` installs.
set -u
# Debian's python3 (with python3-pil), not whatever a user's PATH puts first (pyenv shims).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=$ROOT/build/cdmplace
TRACE=$ROOT/tests/data/seed-flow.jsonl
PICTURE="python3 $ROOT/tests/svg_picture.py"
CHROMIUM=chromium-headless-shell
# Pixels of a color that make a line or a set of marks: the lines run for hundreds of pixels,
# the marks are bars 3 pixels wide; a stray anti-aliased pixel is not a series.
ENOUGH=30

if ! command -v "$CHROMIUM" >/dev/null 2>&1 || ! python3 -c 'import PIL' 2>/dev/null; then
    echo "skip report-svg ($CHROMIUM or python3-pil is not installed: make deps)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
[ -x "$CLI" ] || { echo "report-svg: $CLI is missing: run make first" >&2; exit 1; }

. "$ROOT/tests/suite.sh"
scratch svg

check() { # NAME WHY CONDITION...: CONDITION's status is the check's
    name=$1 why=$2
    shift 2
    if "$@"; then
        pass "$name"
    else
        fail "$name" "$why"
    fi
}
at_least() { [ "${1:-0}" -ge "$2" ] 2>/dev/null; }
none() { [ "${1:-1}" -eq 0 ] 2>/dev/null; }
all_set() {
    for value; do [ -n "$value" ] || return 1; done
}
no_label() { ! $PICTURE color "$1" "$2" >/dev/null 2>&1; }

# screenshot SVG PNG: the picture as a browser shows it, at the size the SVG gives itself.
screenshot() {
    height=$(sed -n 's/.*<svg [^>]* height="\([0-9]*\)".*/\1/p' "$1")
    width=$(sed -n 's/.*<svg [^>]* width="\([0-9]*\)".*/\1/p' "$1")
    # Root needs --no-sandbox; the profile goes to our directory, not $HOME.
    timeout 120 "$CHROMIUM" --no-sandbox --disable-gpu --hide-scrollbars \
        --force-device-scale-factor=1 --user-data-dir="$TMP/profile" \
        --window-size="${width:-960},${height:-600}" --screenshot="$2" "file://$1" \
        >"$TMP/chromium.log" 2>&1 && [ -s "$2" ]
}

# series_check PICTURE NAME CLASS COLOR TEST: TEST (at_least or none) of the pixels of COLOR
# in PICTURE's png inside its rects of CLASS. An unknown COLOR fails either TEST.
series_check() {
    n=$($PICTURE count "$TMP/$1.svg" "$TMP/$1.png" "$3" "$4")
    check "$2" "$n pixels of ${4:-(no color)} in the $3 area" "$5" "$n" "$ENOUGH"
}

# The real trace: two nodes, migrations both ways.
"$CLI" report --svg "$TMP/seed.svg" "$TRACE" >"$TMP/report.out" 2>&1
report_status=$?
check report-exits-0 "exit $report_status: $(tail -n 3 "$TMP/report.out")" [ "$report_status" -eq 0 ]
check svg-written "no $TMP/seed.svg" [ -s "$TMP/seed.svg" ]
check well-formed "$($PICTURE well-formed "$TMP/seed.svg" 2>&1)" \
    $PICTURE well-formed "$TMP/seed.svg"
check screenshot "$(tail -n 3 "$TMP/chromium.log" 2>/dev/null)" \
    screenshot "$TMP/seed.svg" "$TMP/seed.png"
node0=$($PICTURE color "$TMP/seed.svg" "node 0 (DRAM)")
node1=$($PICTURE color "$TMP/seed.svg" "node 1 (CDM)")
to_dram=$($PICTURE color "$TMP/seed.svg" "to DRAM")
to_cdm=$($PICTURE color "$TMP/seed.svg" "to CDM")
check labels "colors of node 0 (DRAM), node 1 (CDM), to DRAM, to CDM: '$node0' '$node1' \
'$to_dram' '$to_cdm'" \
    all_set "$node0" "$node1" "$to_dram" "$to_cdm"
check nodes-distinct "node 0 and node 1 drawn in one color, $node0" [ "$node0" != "$node1" ]
series_check seed node0-shown plot "$node0" at_least
series_check seed node1-shown plot "$node1" at_least
series_check seed to-dram-shown migrations "$to_dram" at_least
series_check seed to-cdm-shown migrations "$to_cdm" at_least

# The negative control: every page on node 0, nothing migrated.
grep -v '"ev":"migrate"' "$TRACE" |
    sed '/"ev":"epoch"/s/"nodes":{"1":/"nodes":{"0":/' >"$TMP/node0.jsonl"
"$CLI" report --svg "$TMP/node0.svg" "$TMP/node0.jsonl" >"$TMP/report.out" 2>&1
check control-report "exit $?: $(tail -n 3 "$TMP/report.out")" [ -s "$TMP/node0.svg" ]
check control-screenshot "$(tail -n 3 "$TMP/chromium.log" 2>/dev/null)" \
    screenshot "$TMP/node0.svg" "$TMP/node0.png"
check control-no-node1-label "the picture names node 1" \
    no_label "$TMP/node0.svg" "node 1"
series_check node0 control-node0-shown plot "$node0" at_least
series_check node0 control-no-node1 plot "$node1" none
series_check node0 control-no-to-dram migrations "$to_dram" none
series_check node0 control-no-to-cdm migrations "$to_cdm" none

# A FILE that cannot be written: exit 1 and why.
"$CLI" report --svg "$TMP/no/such/dir.svg" "$TRACE" >/dev/null 2>"$TMP/err"
status=$?
said_why() {
    [ "$status" -eq 1 ] &&
        grep -qx "cdmplace: cannot write $TMP/no/such/dir.svg: No such file or directory" "$TMP/err"
}
check unwritable-fails "exit $status, said: $(cat "$TMP/err")" said_why

finish
