/* SPDX-License-Identifier: MIT */
/* Where a tracked page should live, from what is known of it (pages.h): the follow-cpu and
 * tier decisions. Pure code: no system calls, no globals, unit-tested on the host
 * (tests/unit_decide.c); migrate.c applies them with move_pages. */
#ifndef CDM_DECIDE_H
#define CDM_DECIDE_H

#include "pages.h"

#include <stdbool.h>
#include <stdint.h>

enum cdm_side {
    CDM_SIDE_LEAVE = -1, /* nothing known of it: where placement put it */
    CDM_SIDE_HOME = 0,   /* the rule's nodes */
    CDM_SIDE_DRAM = 1,   /* the DRAM node the rule's pages go to when the CPU uses them */
};

/* follow-cpu: DRAM while used within the last `idle` epochs up to `epoch`, home once seen
 * and left alone longer. */
enum cdm_side cdm_decide_follow(const struct cdm_pages *pages, size_t i, uint32_t epoch,
                                int32_t idle);

/* tier: pages hotter than `threshold` go to DRAM, and `quota` more of those at exactly it. */
struct cdm_tier_cut {
    unsigned threshold;
    uint64_t quota;
};
/* From the rule's pages counted by heat (histogram[h], h up to CDM_PAGE_HEAT_MAX) and the
 * pages `hot_set` holds (0: no hot_set, every page used lately is hot). */
struct cdm_tier_cut cdm_decide_tier_cut(const uint64_t *histogram, uint64_t hot_pages);
/* Uses up the cut's quota as it gives pages at the threshold to DRAM. */
enum cdm_side cdm_decide_tier(const struct cdm_pages *pages, size_t i, struct cdm_tier_cut *cut);

/* The node a page on `node` (-1 not known; `on_home`: one of the rule's) goes to for `side`:
 * `dram`, or `home_pick` (the rule's node for it), or -1 when it stays. */
int cdm_decide_target(enum cdm_side side, int node, bool on_home, int dram, int home_pick);

#endif
