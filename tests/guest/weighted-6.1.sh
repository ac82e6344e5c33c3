#!/bin/sh
# SPDX-License-Identifier: MIT
# In the 6.1 guest (no weighted interleave, Linux 6.9): a weighted-interleave rule gives one
# clear message naming the cause, and the program runs with its buffer.
set -u
passed=0 failed=0
check() {
    if eval "$2"; then passed=$((passed + 1)); echo "ok $1"
    else failed=$((failed + 1)); echo "FAIL $1"; fi
}
out=$(build/cdmplace run -c tests/guest_place.conf -- build/tests/probe alloc 11 2>/tmp/err)
status=$?
check "the program ran" "[ $status -eq 0 ]"
check "with its buffer placed" "[ '$out' = 'placed=1' ]"
check "one message" "[ \$(grep -c . /tmp/err) -eq 1 ]"
check "naming the cause and the kernel that has it" \
    "grep -q \"^cdmplace: rule 'weighted': the kernel refused weighted-interleave 0-1 (weighted-interleave needs Linux 6.9)\" /tmp/err"
[ "$failed" -eq 0 ] || cat /tmp/err
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
