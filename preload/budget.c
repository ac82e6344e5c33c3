/* SPDX-License-Identifier: MIT */
/* What each rule's placed buffers take: their live bytes (rule_stats.c), the bytes its
 * `budget` caps, and the free memory left on its nodes for a strict bind. Placement asks
 * before it applies a policy and gives back when a buffer goes; everything here is atomics,
 * no lock, no system call but a sysfs read every ROOM_REFRESH_NS. */
#include "internal.h"

/* Bytes of live buffers with the rule's policy applied: what `budget` caps. */
static uint64_t budget_used[CDM_MAX_RULES];

/* Room on a rule's nodes for a strict bind, computed from sysfs at most every ROOM_REFRESH_NS
 * (a read costs four system calls a node) and lowered by what the rule places in between.
 *
 * MemFree counts a bound buffer only once the program writes it, so a room read from it alone
 * forgets every buffer bound and not written yet: three such buffers, each fitting what was
 * free, filled the node past its end and the kernel killed the program. So the room is also
 * at most the most free memory ever read on the nodes less every live buffer bound there:
 * what a node has free without our buffers is at least its MemFree at any time, and the most
 * read, from before anything was bound there on, is the best such bound known (it misses what
 * other programs took since; MemFree, the second bound, sees that once written). MemFree also
 * leaves out the pages on the kernel's per-CPU free lists (a few MiB a node): the room errs
 * low. */
#define ROOM_REFRESH_NS 20000000ull
static struct {
    uint64_t free_bytes, read_ns;
} room[CDM_MAX_RULES];
static uint64_t most_free[CDM_MAX_NODES];

/* What a strict bind leaves free on its nodes: a node drained to its watermarks has no page
 * to give, and under MPOL_BIND the kernel's answer to that is the OOM killer. */
#define ROOM_HEADROOM (4ull << 20)

/* The live bytes every bind rule sharing a node with `nodes` keeps bound there. */
static uint64_t bound_on(const cdm_nodemask *nodes)
{
    uint64_t total = 0;
    for (int rule = 0; rule < cdm__rt.config.n_rules; rule++) {
        const struct cdm_rule *other = &cdm__rt.config.rules[rule];
        if (other->policy == CDM_POLICY_BIND && cdm__nodemask_intersects(&other->nodes, nodes))
            total += __atomic_load_n(&budget_used[rule], __ATOMIC_RELAXED);
    }
    return total;
}

static uint64_t read_room(const cdm_nodemask *nodes)
{
    uint64_t free_now = 0, most = 0;
    for (int node = 0; node <= cdm__rt.topology.max_node; node++) {
        if (!cdm__nodemask_has(nodes, node))
            continue;
        uint64_t node_free = cdm__topology_node_free(node);
        uint64_t node_most = __atomic_load_n(&most_free[node], __ATOMIC_RELAXED);
        if (node_free > node_most)
            __atomic_store_n(&most_free[node], node_most = node_free, __ATOMIC_RELAXED);
        free_now += node_free;
        most += node_most;
    }
    uint64_t bound = bound_on(nodes);
    uint64_t without_unwritten = most > bound ? most - bound : 0;
    return free_now < without_unwritten ? free_now : without_unwritten;
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
        __atomic_store_n(&room[rule].free_bytes, read_room(&cdm__rt.config.rules[rule].nodes),
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

void cdm__budget_release_kept(int rule, size_t bytes)
{
    cdm__rule_stats_live(rule, -(int64_t)bytes);
    __atomic_fetch_sub(&budget_used[rule], bytes, __ATOMIC_RELAXED);
}

void cdm__budget_room_back(int rule, size_t bytes)
{
    if (cdm__rt.config.rules[rule].policy == CDM_POLICY_BIND)
        __atomic_fetch_add(&room[rule].free_bytes, bytes, __ATOMIC_RELAXED);
}

void cdm__budget_release(int rule, bool applied, size_t bytes)
{
    if (!applied) {
        cdm__rule_stats_live(rule, -(int64_t)bytes);
        return;
    }
    cdm__budget_release_kept(rule, bytes);
    cdm__budget_room_back(rule, bytes);
}
