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
# Traces made from it: three ranks of a job whose rule has a long name, with a second rule,
# placing in rank 1 only, whose node set was empty on its host (`bind cdm` where no node is
# CDM: the trace records "nodes":"" and the result no-node) and that has no epochs; the same
# ranks without
# its epochs; and one process whose migrations are one range at 1 s and a burst of four
# ranges just before 2 s. Their pictures must keep every text inside the canvas (measured in
# the font Chromium uses, and seen in the screenshot), name an empty node set as such, have a
# legend that names only what the panels draw, and draw migration bars as tall as the pages
# they moved: the burst four times the single range.
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
scratch svg "${SVG_KEEP:-}"

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
    check_why "$2" "$n pixels of ${4:-(no color)} in the $3 area" "$5" "$n" "$ENOUGH"
}

# The real trace: two nodes, migrations both ways.
"$CLI" report --svg "$TMP/seed.svg" "$TRACE" >"$TMP/report.out" 2>&1
report_status=$?
check_why report-exits-0 "exit $report_status: $(tail -n 3 "$TMP/report.out")" [ "$report_status" -eq 0 ]
check_why svg-written "no $TMP/seed.svg" [ -s "$TMP/seed.svg" ]
check_why well-formed "$($PICTURE well-formed "$TMP/seed.svg" 2>&1)" \
    $PICTURE well-formed "$TMP/seed.svg"
check_why screenshot "$(tail -n 3 "$TMP/chromium.log" 2>/dev/null)" \
    screenshot "$TMP/seed.svg" "$TMP/seed.png"
node0=$($PICTURE color "$TMP/seed.svg" "node 0 (DRAM)")
node1=$($PICTURE color "$TMP/seed.svg" "node 1 (CDM)")
to_dram=$($PICTURE color "$TMP/seed.svg" "to DRAM")
to_cdm=$($PICTURE color "$TMP/seed.svg" "to CDM")
check_why labels "colors of node 0 (DRAM), node 1 (CDM), to DRAM, to CDM: '$node0' '$node1' \
'$to_dram' '$to_cdm'" \
    all_set "$node0" "$node1" "$to_dram" "$to_cdm"
check_why nodes-distinct "node 0 and node 1 drawn in one color, $node0" [ "$node0" != "$node1" ]
series_check seed node0-shown plot "$node0" at_least
series_check seed node1-shown plot "$node1" at_least
series_check seed to-dram-shown migrations "$to_dram" at_least
series_check seed to-cdm-shown migrations "$to_cdm" at_least

# The negative control: every page on node 0, nothing migrated.
grep -v '"ev":"migrate"' "$TRACE" |
    sed '/"ev":"epoch"/s/"nodes":{"1":/"nodes":{"0":/' >"$TMP/node0.jsonl"
"$CLI" report --svg "$TMP/node0.svg" "$TMP/node0.jsonl" >"$TMP/report.out" 2>&1
check_why control-report "exit $?: $(tail -n 3 "$TMP/report.out")" [ -s "$TMP/node0.svg" ]
check_why control-screenshot "$(tail -n 3 "$TMP/chromium.log" 2>/dev/null)" \
    screenshot "$TMP/node0.svg" "$TMP/node0.png"
check_why control-no-node1-label "the picture names node 1" \
    no_label "$TMP/node0.svg" "node 1"
series_check node0 control-node0-shown plot "$node0" at_least
series_check node0 control-no-node1 plot "$node1" none
series_check node0 control-no-to-dram migrations "$to_dram" none
series_check node0 control-no-to-cdm migrations "$to_cdm" none

# texts NAME: the texts of NAME's picture, a line each; legend NAME: those above the first
# panel (whose heading is the first line that starts with "rule "). has TEXT PATTERN and
# lacks TEXT PATTERN: whether a line of TEXT matches PATTERN (grep -E), or none does.
texts() { $PICTURE texts "$TMP/$1.svg"; }
legend() { texts "$1" | sed '/^rule /,$d'; }
has() { printf '%s\n' "$1" | grep -q -E "$2"; }
lacks() { ! has "$@"; }
# picture NAME TRACE...: NAME.svg and NAME.png from the traces, checked to exist.
picture() {
    picture=$1
    shift
    "$CLI" report --svg "$TMP/$picture.svg" "$@" >"$TMP/report.out" 2>&1
    check_why "$picture-report" "exit $?: $(tail -n 3 "$TMP/report.out")" [ -s "$TMP/$picture.svg" ]
    check_why "$picture-screenshot" "$(tail -n 3 "$TMP/chromium.log" 2>/dev/null)" \
        screenshot "$TMP/$picture.svg" "$TMP/$picture.png"
}
# inside NAME: no text of NAME's picture runs past its canvas, by the font's measure and in
# the screenshot (where a text cut by the canvas leaves pixels in its last columns).
fits() { $PICTURE outside "$1" 2>/dev/null; }
inside() {
    check_why "$1-texts-inside" "past the canvas: $($PICTURE outside "$TMP/$1.svg" 2>&1)" \
        fits "$TMP/$1.svg"
    n=$($PICTURE margin "$TMP/$1.png" "$MARGIN")
    check_why "$1-margin-empty" "$n pixels drawn in the last $MARGIN columns" none "$n"
}
MARGIN=4

inside seed
check_why seed-legend-nodes "legend: $(legend seed)" has "$(legend seed)" "DRAM nodes in blues"
check_why seed-legend-no-live "legend: $(legend seed)" lacks "$(legend seed)" live

# Three ranks, a long rule name, a rule bound to an empty node set that only rank 1 placed
# with (its heading takes the policy from there). The name is longer than the canvas is wide:
# cut, its policy kept.
LONG=weights_of_the_model_read_once_by_every_rank_of_the_job_at_its_start
LONG=${LONG}_then_left_alone_on_the_cdm_node_until_the_job_ends
for rank in 0 1 2; do
    sed -e "s/\"pid\":167/\"pid\":$((200 + rank))/" -e "s/\"rank\":null/\"rank\":$rank/" \
        -e 's/"job":null/"job":"4242"/' -e "s/\"seed\"/\"$LONG\"/g" \
        -e "s/\"rules\":\[\"$LONG\"\]/\"rules\":[\"$LONG\",\"spill\"]/" \
        "$TRACE" >"$TMP/rank$rank.jsonl"
done
spill_place='{"t":120000000,"pid":201,"tid":201,"ev":"place","addr":"0x7fda70000000",'\
'"size":8388608,"mapped":8388608,"kind":"heap","rule":"spill","policy":"bind","nodes":"",'\
'"caller":"seed_flow:main","stack":[],"result":"no-node","errno":19}'
spill_free='{"t":5033000000,"pid":201,"tid":201,"ev":"free","addr":"0x7fda70000000",'\
'"size":8388608,"kind":"heap","rule":"spill"}'
awk -v place="$spill_place" -v free="$spill_free" \
    '{ print } /"ev":"place"/ { print place } /"ev":"free"/ { print free }' \
    "$TMP/rank1.jsonl" >"$TMP/rank1-spill.jsonl"
picture ranks "$TMP/rank0.jsonl" "$TMP/rank1-spill.jsonl" "$TMP/rank2.jsonl"
inside ranks
headings=$(texts ranks | grep -E '^(rule|allocations) ')
check_why ranks-empty-node-set "headings: $headings" has "$headings" \
    '^rule spill \(bind to an empty node set'
check_why ranks-long-name-cut "headings: $headings" has "$headings" \
    "^rule weights_of_the_model_.*… \\(bind 1\\)\$"
check_why ranks-legend-nodes "legend: $(legend ranks)" has "$(legend ranks)" "DRAM nodes in blues"
check_why ranks-legend-live "legend: $(legend ranks)" has "$(legend ranks)" live

# Rank 1 alone: its heading from its own placement.
picture spill "$TMP/rank1-spill.jsonl"
headings=$(texts spill | grep -E '^(rule|allocations) ')
check_why spill-empty-node-set "headings: $headings" has "$headings" \
    '^rule spill \(bind to an empty node set'
check_why spill-no-empty-policy "headings: $headings" lacks "$headings" '\([a-z-]+ \)'

# No epochs at all: no node is drawn, and the legend says so.
cat "$TMP/rank0.jsonl" "$TMP/rank1-spill.jsonl" | grep -v '"ev":"epoch"' >"$TMP/untracked.jsonl"
picture untracked "$TMP/untracked.jsonl"
check_why untracked-legend-live "legend: $(legend untracked)" has "$(legend untracked)" live
check_why untracked-legend-no-nodes "legend: $(legend untracked)" lacks "$(legend untracked)" node

# Bars: one range of 1000 pages at 1 s; four of 1000 at 1.98, 1.99, 2.00 and 2.01 s, in
# columns of their own but, for this trace's 5.039 s, inside one bar of eight columns (288
# to 295); to CDM, one range of 1000 pages at 3 s.
migrate() { # T FROM TO: the fields the reader needs
    printf '{"t":%s,"pid":167,"tid":169,"ev":"migrate","from":%s,"to":%s,' "$@"
    echo '"pages":1000,"rule":"seed"}'
}
{
    grep -v -e '"ev":"migrate"' -e '"ev":"free"' -e '"ev":"totals"' -e '"ev":"exit"' "$TRACE"
    migrate 1000000000 1 0
    for t in 1980000000 1990000000 2000000000 2010000000; do migrate $t 1 0; done
    migrate 3000000000 0 1
    grep -e '"ev":"free"' -e '"ev":"totals"' -e '"ev":"exit"' "$TRACE"
} >"$TMP/bars.jsonl"
picture bars "$TMP/bars.jsonl"
inside bars
drawn_up=$($PICTURE bars "$TMP/bars.svg" "$to_dram")
drawn_down=$($PICTURE bars "$TMP/bars.svg" "$to_cdm")
# proportional "SINGLE BURST" DOWN SLACK: the burst four times the single range, and the range
# to CDM as tall as the single one, within SLACK.
proportional() {
    echo "$1 $2 $3" | awk '{ exit !(NF == 4 && $2 >= 20 && ($1 * 4 - $2) ^ 2 <= $4 ^ 2 &&
                                     ($1 - $3) ^ 2 <= $4 ^ 2) }'
}
check_why bars-drawn-proportional "heights of bars up: $drawn_up, down: $drawn_down" \
    proportional "$drawn_up" "$drawn_down" 0.1
seen_up=$($PICTURE bars "$TMP/bars.svg" "$TMP/bars.png" "$to_dram")
seen_down=$($PICTURE bars "$TMP/bars.svg" "$TMP/bars.png" "$to_cdm")
check_why bars-seen-proportional "pixel rows of bars up: $seen_up, down: $seen_down" \
    proportional "$seen_up" "$seen_down" 5 # an edge row may blend away: four of the single bar's

# A FILE that cannot be written: exit 1 and why.
"$CLI" report --svg "$TMP/no/such/dir.svg" "$TRACE" >/dev/null 2>"$TMP/err"
status=$?
said_why() {
    [ "$status" -eq 1 ] &&
        grep -qx "cdmplace: cannot write $TMP/no/such/dir.svg: No such file or directory" "$TMP/err"
}
check_why unwritable-fails "exit $status, said: $(cat "$TMP/err")" said_why

finish
