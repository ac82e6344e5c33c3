/* SPDX-License-Identifier: MIT */
/* The follow-cpu and tier decisions (preload/decide.c) over page state built with pages.h:
 * which side each page wants, how tier cuts its heat at hot_set, and the node a page goes to. */
#include "decide.h"
#include "testutil.h"

#define FIRST (1u << 20) /* the library's first epoch */
#define PAGES 64

static uint8_t bytes[PAGES];
static struct cdm_pages pages;

static void follow_range(uint32_t idle)
{
    memset(bytes, 0, sizeof bytes);
    cdm_pages_init(&pages, bytes, PAGES, FIRST, cdm_pages_quantum(idle), false);
}

static void tier_range(void)
{
    memset(bytes, 0, sizeof bytes);
    cdm_pages_init(&pages, bytes, PAGES, FIRST, 1, true);
}

Test(follow, never_seen_is_left_where_it_is)
{
    follow_range(2);
    cr_assert_eq(cdm_decide_follow(&pages, 0, FIRST + 5, 2), CDM_SIDE_LEAVE);
}

Test(follow, used_within_idle_wants_dram_then_home)
{
    follow_range(2);
    cdm_pages_touch(&pages, 3, FIRST + 1);
    cr_assert_eq(cdm_decide_follow(&pages, 3, FIRST + 1, 2), CDM_SIDE_DRAM);
    cr_assert_eq(cdm_decide_follow(&pages, 3, FIRST + 2, 2), CDM_SIDE_DRAM);
    cr_assert_eq(cdm_decide_follow(&pages, 3, FIRST + 3, 2), CDM_SIDE_HOME);
}

Test(follow, made_or_cooled_goes_home)
{
    follow_range(2);
    cdm_pages_cool(&pages, 1); /* the write that made it: not a use */
    cr_assert_eq(cdm_decide_follow(&pages, 1, FIRST + 1, 2), CDM_SIDE_HOME);
    cdm_pages_touch(&pages, 2, FIRST + 1);
    cdm_pages_cool(&pages, 2); /* advised cold */
    cr_assert_eq(cdm_decide_follow(&pages, 2, FIRST + 1, 2), CDM_SIDE_HOME);
}

Test(follow, a_long_idle_is_held_past_the_stamps_window)
{
    /* 10 s of idle at 100 ms epochs: 100 epochs, more than the window's 62 ticks of one. */
    follow_range(100);
    cdm_pages_touch(&pages, 0, FIRST + 10);
    for (uint32_t e = FIRST + 11; e < FIRST + 100; e++)
        cdm_pages_touch(&pages, 1, e); /* another page's uses move the window along */
    cr_assert_eq(cdm_decide_follow(&pages, 0, FIRST + 100, 100), CDM_SIDE_DRAM,
                 "page 0 was used 90 epochs ago, idle is 100");
    cr_assert_eq(cdm_decide_follow(&pages, 0, FIRST + 120, 100), CDM_SIDE_HOME);
}

Test(tier, without_hot_set_every_warm_page_is_hot)
{
    uint64_t histogram[CDM_PAGE_HEAT_MAX + 1] = {[0] = 10, [4] = 3, [16] = 2};
    struct cdm_tier_cut cut = cdm_decide_tier_cut(histogram, 0);
    cr_assert_eq(cut.threshold, 0);
    tier_range();
    cdm_pages_touch(&pages, 0, FIRST + 1);
    cdm_pages_cool(&pages, 1);
    cdm_pages_cool(&pages, 2);
    cdm_pages_set_node(&pages, 2, 1);
    cr_assert_eq(cdm_decide_tier(&pages, 0, &cut), CDM_SIDE_DRAM);
    cr_assert_eq(cdm_decide_tier(&pages, 1, &cut), CDM_SIDE_LEAVE,
                 "made, never used, nowhere known: where placement put it");
    cr_assert_eq(cdm_decide_tier(&pages, 2, &cut), CDM_SIDE_HOME, "cold, on a known node");
    cr_assert_eq(cdm_decide_tier(&pages, 3, &cut), CDM_SIDE_LEAVE, "never seen");
}

Test(tier, the_cut_keeps_the_hottest_that_fit)
{
    /* 2 pages at 31, 5 at 16, 8 at 8: 4 fit, so the cut is at 16 with 2 of its 5. */
    uint64_t histogram[CDM_PAGE_HEAT_MAX + 1] = {[31] = 2, [16] = 5, [8] = 8};
    struct cdm_tier_cut cut = cdm_decide_tier_cut(histogram, 4);
    cr_assert_eq(cut.threshold, 16);
    cr_assert_eq(cut.quota, 2);
    /* Everything fits: no cut. */
    cut = cdm_decide_tier_cut(histogram, 100);
    cr_assert_eq(cut.threshold, 0);
}

Test(tier, pages_at_the_threshold_use_up_the_quota)
{
    tier_range();
    for (size_t i = 0; i < 4; i++)
        cdm_pages_touch(&pages, i, FIRST + 1); /* heat 16 each */
    cdm_pages_heat_up(&pages, 4, FIRST + 1);     /* heat 31 */
    struct cdm_tier_cut cut = {.threshold = 16, .quota = 2};
    cr_assert_eq(cdm_decide_tier(&pages, 4, &cut), CDM_SIDE_DRAM);
    int dram = 0;
    for (size_t i = 0; i < 4; i++)
        dram += cdm_decide_tier(&pages, i, &cut) == CDM_SIDE_DRAM;
    cr_assert_eq(dram, 2, "the quota lets 2 of the 4 at the threshold in");
    cr_assert_eq(cut.quota, 0);
}

Test(tier, a_cooled_page_on_a_known_node_goes_home)
{
    tier_range();
    cdm_pages_touch(&pages, 0, FIRST + 1);
    cdm_pages_set_node(&pages, 0, 0);
    for (uint32_t e = FIRST + 1; e < FIRST + 7; e++)
        cdm_pages_age(&pages, e);
    cr_assert_eq(cdm_pages_heat(&pages, 0), 0);
    struct cdm_tier_cut cut = {0};
    cr_assert_eq(cdm_decide_tier(&pages, 0, &cut), CDM_SIDE_HOME);
}

Test(target, dram_unless_there)
{
    cr_assert_eq(cdm_decide_target(CDM_SIDE_DRAM, 2, true, 0, -1), 0);
    cr_assert_eq(cdm_decide_target(CDM_SIDE_DRAM, -1, false, 0, -1), 0, "not known: asked");
    cr_assert_eq(cdm_decide_target(CDM_SIDE_DRAM, 0, false, 0, -1), -1);
    cr_assert_eq(cdm_decide_target(CDM_SIDE_DRAM, 2, true, -1, -1), -1, "no DRAM node");
}

Test(target, home_unless_on_one_of_the_rules_nodes)
{
    cr_assert_eq(cdm_decide_target(CDM_SIDE_HOME, 0, false, 0, 2), 2);
    cr_assert_eq(cdm_decide_target(CDM_SIDE_HOME, -1, false, 0, 2), 2);
    cr_assert_eq(cdm_decide_target(CDM_SIDE_HOME, 3, true, 0, 2), -1);
    cr_assert_eq(cdm_decide_target(CDM_SIDE_LEAVE, 0, false, 0, 2), -1);
}

/* The epoch counter is 32 bits: a range tracked across its wrap decides as anywhere else. */
Test(follow, decisions_hold_across_the_epoch_counters_wrap)
{
    uint32_t idles[] = {2, 100}; /* a tick of one epoch, and of four */
    for (size_t k = 0; k < sizeof idles / sizeof idles[0]; k++) {
        uint32_t idle = idles[k], start = UINT32_MAX - 50;
        memset(bytes, 0, sizeof bytes);
        cdm_pages_init(&pages, bytes, PAGES, start, cdm_pages_quantum(idle), false);
        /* Page 1 used every epoch through the wrap; page 0 once, just before it. */
        cdm_pages_touch(&pages, 0, UINT32_MAX - 1);
        for (uint32_t e = start; e != 200; e++)
            cdm_pages_touch(&pages, 1, e);
        cr_assert_eq(cdm_decide_follow(&pages, 1, 199, (int32_t)idle), CDM_SIDE_DRAM,
                     "idle %u: used every epoch", idle);
        cr_assert(cdm_pages_used_in(&pages, 1, 199), "idle %u", idle);
        cr_assert_eq(cdm_decide_follow(&pages, 0, 199 + idle, (int32_t)idle), CDM_SIDE_HOME,
                     "idle %u: unused for 200 epochs", idle);
        cdm_pages_touch(&pages, 0, 250);
        cr_assert_eq(cdm_decide_follow(&pages, 0, 250 + idle / 2, (int32_t)idle), CDM_SIDE_DRAM,
                     "idle %u: used again after the wrap", idle);
    }
}
