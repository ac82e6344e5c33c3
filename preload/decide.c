/* SPDX-License-Identifier: MIT */
/* The follow-cpu and tier decisions (decide.h). */
#include "decide.h"

enum cdm_side cdm_decide_follow(const struct cdm_pages *pages, size_t i, uint32_t epoch,
                                int32_t idle)
{
    if (!cdm_pages_seen(pages, i))
        return CDM_SIDE_LEAVE;
    return cdm_pages_idle(pages, i, epoch, idle) ? CDM_SIDE_HOME : CDM_SIDE_DRAM;
}

struct cdm_tier_cut cdm_decide_tier_cut(const uint64_t *histogram, uint64_t hot_pages)
{
    struct cdm_tier_cut cut = {0}; /* no hot_set: every page used lately */
    uint64_t above = 0;
    for (unsigned heat = CDM_PAGE_HEAT_MAX; hot_pages && heat > 0; heat--) {
        if (above + histogram[heat] > hot_pages)
            return (struct cdm_tier_cut){.threshold = heat, .quota = hot_pages - above};
        above += histogram[heat];
    }
    return cut;
}

enum cdm_side cdm_decide_tier(const struct cdm_pages *pages, size_t i, struct cdm_tier_cut *cut)
{
    unsigned heat = cdm_pages_heat(pages, i);
    if (heat == 0 && cdm_pages_node(pages, i) < 0)
        return CDM_SIDE_LEAVE;
    if (heat > cut->threshold)
        return CDM_SIDE_DRAM;
    if (heat && heat == cut->threshold && cut->quota) {
        cut->quota--;
        return CDM_SIDE_DRAM;
    }
    return CDM_SIDE_HOME;
}

int cdm_decide_target(enum cdm_side side, int node, bool on_home, int dram, int home_pick)
{
    switch (side) {
    case CDM_SIDE_DRAM: return dram >= 0 && node != dram ? dram : -1;
    case CDM_SIDE_HOME: return node < 0 || !on_home ? home_pick : -1;
    case CDM_SIDE_LEAVE: break;
    }
    return -1;
}
