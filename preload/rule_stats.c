/* SPDX-License-Identifier: MIT */
/* Each rule's figures, and the profile's (allocations no rule matched, index CDM_MAX_RULES):
 * what was placed and how it went, live and peak bytes, pages moved, faults served. Placement,
 * budget, migration and the trackers count; the exit report and the trace's `totals` and
 * `exit` events read. Atomics only: any thread, no lock, no system call. */
#include "internal.h"

struct cdm_rule_stats cdm__rule_stats[CDM_MAX_RULES + 1];

static struct cdm_rule_stats *stats_of(int rule)
{
    return &cdm__rule_stats[rule < 0 ? CDM_MAX_RULES : rule];
}

static void add(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void cdm__rule_stats_allocation(int rule, size_t bytes, enum cdm_allocation_end end)
{
    struct cdm_rule_stats *stats = stats_of(rule);
    add(&stats->allocations, 1);
    add(&stats->bytes, bytes);
    if (end == CDM_ALLOCATION_FALLBACK)
        add(&stats->fallbacks, 1);
    else if (end == CDM_ALLOCATION_FAILED)
        add(&stats->failures, 1);
    else if (end == CDM_ALLOCATION_ERROR)
        add(&stats->errors, 1);
}

void cdm__rule_stats_live(int rule, int64_t bytes)
{
    struct cdm_rule_stats *stats = stats_of(rule);
    uint64_t live = __atomic_add_fetch(&stats->live_bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
    uint64_t peak = __atomic_load_n(&stats->peak_bytes, __ATOMIC_RELAXED);
    while (live > peak && !__atomic_compare_exchange_n(&stats->peak_bytes, &peak, live, true,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void cdm__rule_stats_moved(int rule, bool to_dram, uint64_t pages)
{
    struct cdm_rule_stats *stats = stats_of(rule);
    add(to_dram ? &stats->pages_to_dram : &stats->pages_to_policy, pages);
}

void cdm__rule_stats_fault(int rule)
{
    add(&stats_of(rule)->faults, 1);
}

void cdm__rule_stats_sum(struct cdm_rule_stats *sum)
{
    *sum = (struct cdm_rule_stats){0};
    for (int i = 0; i <= CDM_MAX_RULES; i++) {
        const struct cdm_rule_stats *stats = &cdm__rule_stats[i];
        sum->allocations += __atomic_load_n(&stats->allocations, __ATOMIC_RELAXED);
        sum->bytes += __atomic_load_n(&stats->bytes, __ATOMIC_RELAXED);
        sum->fallbacks += __atomic_load_n(&stats->fallbacks, __ATOMIC_RELAXED);
        sum->failures += __atomic_load_n(&stats->failures, __ATOMIC_RELAXED);
        sum->errors += __atomic_load_n(&stats->errors, __ATOMIC_RELAXED);
    }
}

/* A fork's child counts from there on; the buffers it inherited stay live. */
void cdm__rule_stats_after_fork_child(void)
{
    for (int i = 0; i <= CDM_MAX_RULES; i++) {
        struct cdm_rule_stats *stats = &cdm__rule_stats[i];
        uint64_t live = stats->live_bytes;
        *stats = (struct cdm_rule_stats){.live_bytes = live, .peak_bytes = live};
    }
}
