# SPDX-License-Identifier: MIT
# What the guest scripts that run examples/seed_flow.c share (sourced; POSIX sh).
# share NODE PHASE FILE: the percent of the buffer's pages on NODE after PHASE, from the
# program's own lines ("cpu phase 1: node 0: 2040 node 1: 8 absent: 0"); -1 when FILE has no
# such line, so that a missing phase fails every comparison.
share() {
    awk -v phase="$2:" -v node="$1" '
        index($0, phase) == 1 {
            total = 0; on = 0; found = 1
            for (i = 1; i <= NF; i++)
                if ($i == "node" || $i == "absent:") {
                    count = $(i + ($i == "node" ? 2 : 1)); total += count
                    if ($i == "node" && $(i + 1) == node ":") on = count
                }
            result = total ? int(100 * on / total) : -1
        }
        END { print found ? result : -1 }' "$3"
}
