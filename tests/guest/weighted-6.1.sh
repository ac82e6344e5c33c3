#!/bin/sh
# SPDX-License-Identifier: MIT
# In the 6.1 guest (no weighted interleave, Linux 6.9): a weighted-interleave rule gives one
# clear message naming the cause, and the program runs with its buffer.
set -u
. tests/suite.sh
out=$(build/cdmplace run -c tests/guest_place.conf -- build/tests/probe alloc 11 2>/tmp/err)
status=$?
check "the program ran" eval "[ $status -eq 0 ]"
check "with its buffer placed" eval "[ '$out' = 'placed=1' ]"
check "one message" eval "[ \$(grep -c . /tmp/err) -eq 1 ]"
check "naming the cause and the kernel that has it" \
    eval "grep -q \"^cdmplace: rule 'weighted': the kernel refused weighted-interleave 0-1 (weighted-interleave needs Linux 6.9)\" /tmp/err"
[ "$failed" -eq 0 ] || cat /tmp/err
finish
