/* SPDX-License-Identifier: MIT */
/* A profiling run: dry_run, or a config without rules (the built-in default is "profile
 * only"). It places nothing and moves nothing, and it is what `cdmplace suggest` reads: so
 * that a suggestion can tell the buffers used all the time from those left alone, every
 * large anonymous buffer it records is watched by the tracker like a migrating rule's
 * (placement.c gives heap buffers a mapping of their own for that), and when a buffer
 * leaves the tracker an `access` event says how much it was used:
 *   epochs       epochs collected while it was watched
 *   page_epochs  pages seen touched in an epoch, summed over those epochs: a page in use
 *                all along counts `epochs` times, one never used again after it was
 *                filled counts 0 (the write that makes a page is not use, see tracker.c)
 *   touched      pages ever seen touched, that write included
 * with the tracker and what it sees: writes only (wp-async, wp), first touch only (missing,
 * where page_epochs is at most the pages), or sampled reads and writes (damon). */
#include "internal.h"

#include <stdio.h>

bool cdm__profiling(void)
{
    return cdm__rt.config.settings.dry_run || cdm__rt.config.n_rules == 0;
}

void cdm__profile_record(const struct cdm_tracked *range, uint32_t epoch, enum cdm_track backend,
                         bool reads_too)
{
    size_t touched = 0;
    for (size_t i = 0; i < range->n_pages; i++)
        touched += cdm_pages_seen(&range->pages, i);
    char rule[CDM_NAME_MAX + 3];
    cdm__trace(access, (unsigned long)range->start, range->n_pages * plat_page_size(),
               range->n_pages, cdm__rule_json(range->rule, rule, sizeof rule),
               epoch - range->added_epoch, (unsigned long long)range->page_epochs, touched,
               cdm__track_name(backend), cdm__backend_sees(backend, reads_too));
}
