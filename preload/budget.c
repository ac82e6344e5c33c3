/* SPDX-License-Identifier: MIT */
/* What each rule's placed buffers take: their live bytes (rule_stats.c), the bytes its
 * `budget` caps, and the free memory left on its nodes for a strict bind. Placement asks
 * before it applies a policy and gives back when a buffer goes; everything here is atomics,
 * no lock, no system call but a sysfs read every ROOM_REFRESH_NS. */
#include "internal.h"

/* Bytes of live buffers with the rule's policy applied: what `budget` caps. */
static uint64_t budget_used[CDM_MAX_RULES];

/* Free memory on a rule's nodes, read from sysfs at most every ROOM_REFRESH_NS and lowered
 * by what the rule places in between: a read per placement costs four system calls. MemFree
 * leaves out the pages on the kernel's per-CPU free lists (a few MiB a node), so the room
 * read errs low. */
#define ROOM_REFRESH_NS 20000000ull
static struct {
    uint64_t free_bytes, read_ns;
} room[CDM_MAX_RULES];

/* What a strict bind leaves free on its nodes: a node drained to its watermarks has no page
 * to give, and under MPOL_BIND the kernel's answer to that is the OOM killer. */
#define ROOM_HEADROOM (4ull << 20)

static uint64_t nodes_free(const cdm_nodemask *nodes, int max_node)
{
    uint64_t total = 0;
    for (int node = 0; node <= max_node; node++)
        if (cdm__nodemask_has(nodes, node))
            total += cdm__topology_node_free(node);
    return total;
}

bool cdm__budget_over(int rule, size_t mapped)
{
    uint64_t budget = cdm__rt.config.rules[rule].budget;
    return budget && __atomic_load_n(&budget_used[rule], __ATOMIC_RELAXED) + mapped > budget;
}

bool cdm__budget_take_room(int rule, size_t mapped)
{
    uint64_t now = cdm__now_ns();
    if (now - __atomic_load_n(&room[rule].read_ns, __ATOMIC_RELAXED) > ROOM_REFRESH_NS) {
        __atomic_store_n(&room[rule].free_bytes,
                         nodes_free(&cdm__rt.config.rules[rule].nodes, cdm__rt.topology.max_node),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&room[rule].read_ns, now, __ATOMIC_RELAXED);
    }
    uint64_t free_bytes = __atomic_load_n(&room[rule].free_bytes, __ATOMIC_RELAXED);
    do {
        if (free_bytes < mapped + ROOM_HEADROOM)
            return false;
    } while (!__atomic_compare_exchange_n(&room[rule].free_bytes, &free_bytes,
                                          free_bytes - mapped, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return true;
}

void cdm__budget_take(int rule, bool applied, size_t bytes)
{
    cdm__rule_stats_live(rule, (int64_t)bytes);
    if (applied)
        __atomic_fetch_add(&budget_used[rule], bytes, __ATOMIC_RELAXED);
}

void cdm__budget_release(int rule, bool applied, size_t bytes)
{
    cdm__rule_stats_live(rule, -(int64_t)bytes);
    if (!applied)
        return;
    __atomic_fetch_sub(&budget_used[rule], bytes, __ATOMIC_RELAXED);
    if (cdm__rt.config.rules[rule].policy == CDM_POLICY_BIND)
        __atomic_fetch_add(&room[rule].free_bytes, bytes, __ATOMIC_RELAXED);
}
