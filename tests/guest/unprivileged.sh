#!/bin/sh
# SPDX-License-Identifier: MIT
# Tracking as an ordinary user (nobody), with vm.unprivileged_userfaultfd = 0:
#   unprivileged.sh tracked     (6.12) wp-async asks for user-mode-only userfaultfd, which
#                               every user has: the seed flow's pages still follow the CPU
#   unprivileged.sh untracked   (6.1) no tracker is allowed: the program runs, its buffer
#                               placed and not moved, and one message says how to allow one
#   unprivileged.sh             tracked where user-mode-only userfaultfd has WP_ASYNC (what
#                               wp-async needs), else untracked
set -u
expect=${1:-}
. tests/suite.sh
if [ -z "$expect" ]; then
    # Asked of the kernel, not of the library under test (tests/kernel_features.h).
    if said=$(build/tests/probe wp-async); then expect=tracked; else expect=untracked; fi
    echo "$expect: $said"
fi
repo=$PWD
. tests/guest/phases.sh
sysctl -q -w vm.unprivileged_userfaultfd=0
mkdir -p /tmp/nobody && chown 65534:65534 /tmp/nobody
cd /tmp/nobody
setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$repo/build/cdmplace" run -c "$repo/config/seed-flow.conf" --log /tmp/nobody/trace.jsonl --report off \
    -- "$repo/build/examples/seed_flow" 8 2 >out 2>err
status=$?
cat out
check "the program ran as nobody" eval "[ $status -eq 0 ] && grep -qx 'data intact: yes' out"
check "its buffer was placed on the CDM node" eval "grep -q '^allocated: node 1: 2048$' out"
if [ "$expect" = tracked ]; then
    check "wp-async tracked it" eval "grep -q '\"tracker\":\"wp-async\"' trace.jsonl"
    check "its pages followed the CPU (>= 95% on node 0)" eval "[ $(share 0 'cpu phase 1' out) -ge 95 ]"
    check "nothing was said" eval "! grep -q . err"
else
    check "nothing tracked it" eval "grep -q '\"tracker\":\"off\"' trace.jsonl"
    check "no page moved" eval "grep -q '^cpu phase 2: node 1: 2048$' out && ! grep -q '\"ev\":\"migrate\"' trace.jsonl"
    check "one message, naming the kernel and the permission that would allow a tracker" \
        eval "[ \$(grep -c . err) -eq 1 ] && grep -q 'no access tracker is allowed here (wp-async: async write-protect and PAGEMAP_SCAN need Linux 6.7; wp: synchronous faults need full userfaultfd (set sysctl vm.unprivileged_userfaultfd=1' err"
fi
[ "$failed" -eq 0 ] || cat err
finish
