/* SPDX-License-Identifier: MIT */
/* What is known of each tracked page, in one byte (preload/pages.c): stamps and their moving
 * window, ticks of several epochs, tier heat and its aging, the node slots, copies. */
#include "pages.h"
#include "testutil.h"

#define FIRST (1u << 20) /* the library's first epoch */
#define PAGES 64

static uint8_t bytes[PAGES], other_bytes[PAGES];
static struct cdm_pages pages, other;

static void stamps(uint32_t quantum)
{
    memset(bytes, 0, sizeof bytes);
    cdm_pages_init(&pages, bytes, PAGES, FIRST, quantum, false);
}

static void heat(void)
{
    memset(bytes, 0, sizeof bytes);
    cdm_pages_init(&pages, bytes, PAGES, FIRST, 1, true);
}

Test(pages, a_new_range_knows_nothing)
{
    stamps(1);
    for (size_t i = 0; i < PAGES; i++) {
        cr_assert_not(cdm_pages_seen(&pages, i));
        cr_assert_eq(cdm_pages_node(&pages, i), -1);
        cr_assert(cdm_pages_idle(&pages, i, FIRST + 1, 1));
        cr_assert_not(cdm_pages_used_in(&pages, i, FIRST));
    }
}

Test(pages, a_use_is_stamped_with_its_epoch)
{
    stamps(1);
    cr_assert(cdm_pages_touch(&pages, 3, FIRST + 5), "the first use in the epoch");
    cr_assert_not(cdm_pages_touch(&pages, 3, FIRST + 5), "the second use in the same epoch");
    cr_assert(cdm_pages_seen(&pages, 3));
    cr_assert(cdm_pages_used_in(&pages, 3, FIRST + 5));
    cr_assert_not(cdm_pages_used_in(&pages, 3, FIRST + 4));
    cr_assert_not(cdm_pages_used_in(&pages, 3, FIRST + 6));
    /* idle 2: not idle one epoch later, idle two epochs later */
    cr_assert_not(cdm_pages_idle(&pages, 3, FIRST + 6, 2));
    cr_assert(cdm_pages_idle(&pages, 3, FIRST + 7, 2));
    cr_assert(cdm_pages_idle(&pages, 3, FIRST + 6, 0), "epochs <= 0: always idle");
    cr_assert_not(cdm_pages_seen(&pages, 2), "its neighbours are untouched");
}

Test(pages, a_use_marked_ahead_stays)
{
    stamps(1);
    cdm_pages_touch(&pages, 0, FIRST + 6); /* a fault served while the lock was busy */
    cdm_pages_touch(&pages, 0, FIRST + 5);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 6));
    cr_assert_not(cdm_pages_idle(&pages, 0, FIRST + 6, 1));
    cr_assert_not(cdm_pages_idle(&pages, 0, FIRST + 5, 1), "a use ahead is recent");
}

Test(pages, the_window_moves_and_keeps_the_recent_past)
{
    stamps(1);
    cdm_pages_touch(&pages, 0, FIRST);
    cdm_pages_touch(&pages, 1, FIRST + 80);
    cdm_pages_touch(&pages, 2, FIRST + 100); /* past the window of 62 ticks: it moves */
    cr_assert(cdm_pages_used_in(&pages, 1, FIRST + 80),
              "at least CDM_PAGE_KEPT_TICKS ticks before the newest use are kept exactly");
    cr_assert(cdm_pages_used_in(&pages, 2, FIRST + 100));
    cr_assert(cdm_pages_seen(&pages, 0), "a use before the window is still a use");
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST));
    cr_assert(cdm_pages_idle(&pages, 0, FIRST + 100, 30), "and long ago");
    cr_assert_not(cdm_pages_idle(&pages, 1, FIRST + 100, 21));
    cr_assert(cdm_pages_idle(&pages, 1, FIRST + 100, 20));
}

Test(pages, ten_thousand_epochs_of_use)
{
    stamps(1);
    cdm_pages_touch(&pages, 1, FIRST);
    for (uint32_t e = FIRST; e < FIRST + 10000; e++)
        cdm_pages_touch(&pages, 0, e);
    uint32_t last = FIRST + 9999;
    cr_assert(cdm_pages_used_in(&pages, 0, last));
    cr_assert_not(cdm_pages_used_in(&pages, 0, last - 20), "a stamp holds the last use only");
    cr_assert_not(cdm_pages_idle(&pages, 0, last, 1));
    cr_assert(cdm_pages_idle(&pages, 1, last, 2), "used once, 10,000 epochs ago");
}

Test(pages, ticks_of_several_epochs_for_a_long_idle)
{
    cr_assert_eq(cdm_pages_quantum(2), 1);
    cr_assert_eq(cdm_pages_quantum(CDM_PAGE_KEPT_TICKS), 1);
    cr_assert_eq(cdm_pages_quantum(CDM_PAGE_KEPT_TICKS + 1), 2);
    cr_assert_eq(cdm_pages_quantum(300), 10);
    stamps(cdm_pages_quantum(300));
    cdm_pages_touch(&pages, 0, FIRST + 5);
    uint32_t e = FIRST + 5;
    for (; e <= FIRST + 250; e += 7)
        cdm_pages_touch(&pages, 1, e); /* moves the window along */
    cr_assert_not(cdm_pages_idle(&pages, 0, FIRST + 250, 300), "used 245 epochs ago");
    for (; e <= FIRST + 320; e += 7)
        cdm_pages_touch(&pages, 1, e);
    cr_assert(cdm_pages_idle(&pages, 0, FIRST + 320, 300), "used 315 epochs ago");
}

Test(pages, cooled_and_forgotten)
{
    stamps(1);
    cdm_pages_touch(&pages, 0, FIRST + 1);
    cdm_pages_set_node(&pages, 0, 1);
    cdm_pages_cool(&pages, 0);
    cr_assert(cdm_pages_seen(&pages, 0));
    cr_assert(cdm_pages_idle(&pages, 0, FIRST + 1, 1), "cooled: not used lately");
    cr_assert_eq(cdm_pages_node(&pages, 0), 1, "cooling keeps where it is");
    cdm_pages_forget(&pages, 0);
    cr_assert_not(cdm_pages_seen(&pages, 0));
    cr_assert_eq(cdm_pages_node(&pages, 0), -1);
}

Test(pages, heat_counts_the_last_five_epochs)
{
    heat();
    cr_assert(cdm_pages_touch(&pages, 0, FIRST + 1));
    cr_assert_not(cdm_pages_touch(&pages, 0, FIRST + 1));
    cr_assert_eq(cdm_pages_heat(&pages, 0), 16);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 1));
    cdm_pages_age(&pages, FIRST + 1);
    cr_assert_eq(cdm_pages_heat(&pages, 0), 8);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 1), "its bit moved down with the halving");
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST + 2));
    cdm_pages_touch(&pages, 0, FIRST + 2);
    cr_assert_eq(cdm_pages_heat(&pages, 0), 24);
    for (uint32_t e = FIRST + 2; e < FIRST + 8; e++)
        cdm_pages_age(&pages, e);
    cr_assert_eq(cdm_pages_heat(&pages, 0), 0);
    cr_assert(cdm_pages_seen(&pages, 0), "cold, but seen");
    cr_assert(cdm_pages_idle(&pages, 0, FIRST + 8, 1));
    cdm_pages_heat_up(&pages, 1, FIRST + 8);
    cr_assert_eq(cdm_pages_heat(&pages, 1), CDM_PAGE_HEAT_MAX);
    cdm_pages_cool(&pages, 1);
    cr_assert_eq(cdm_pages_heat(&pages, 1), 0);
    cr_assert(cdm_pages_seen(&pages, 1));
}

Test(pages, heat_idle_follows_the_latest_use)
{
    heat();
    cdm_pages_touch(&pages, 0, FIRST + 1);
    cdm_pages_age(&pages, FIRST + 1);
    cdm_pages_age(&pages, FIRST + 2);
    cr_assert_not(cdm_pages_idle(&pages, 0, FIRST + 2, 2));
    cr_assert(cdm_pages_idle(&pages, 0, FIRST + 3, 2));
    cr_assert_eq(cdm_pages_heat(&pages, 2), 0, "stamps give no heat");
}

Test(pages, three_nodes_are_told_apart)
{
    stamps(1);
    cdm_pages_set_node(&pages, 0, 5);
    cdm_pages_set_node(&pages, 1, 0);
    cdm_pages_set_node(&pages, 2, 7);
    cdm_pages_set_node(&pages, 3, 9); /* a fourth: not known */
    cdm_pages_set_node(&pages, 4, 0);
    cr_assert_eq(cdm_pages_node(&pages, 0), 5);
    cr_assert_eq(cdm_pages_node(&pages, 1), 0);
    cr_assert_eq(cdm_pages_node(&pages, 2), 7);
    cr_assert_eq(cdm_pages_node(&pages, 3), -1);
    cr_assert_eq(cdm_pages_node(&pages, 4), 0);
    cdm_pages_set_node(&pages, 0, -1);
    cr_assert_eq(cdm_pages_node(&pages, 0), -1);
}

Test(pages, node_and_use_are_apart)
{
    stamps(1);
    cdm_pages_touch(&pages, 0, FIRST + 3);
    cdm_pages_set_node(&pages, 0, 2);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 3));
    cdm_pages_touch(&pages, 0, FIRST + 4);
    cr_assert_eq(cdm_pages_node(&pages, 0), 2);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 4));
}

Test(pages, a_copy_keeps_each_pages_history)
{
    for (int mode = 0; mode < 2; mode++) {
        if (mode)
            heat();
        else
            stamps(1);
        for (size_t i = 0; i < PAGES; i++) {
            if (i % 3 == 0)
                cdm_pages_touch(&pages, i, FIRST + 1 + (uint32_t)(i % 5));
            if (i % 4 == 0)
                cdm_pages_set_node(&pages, i, (int)(i % 8));
        }
        memset(other_bytes, 0xff, sizeof other_bytes);
        cdm_pages_init(&other, other_bytes, 20, FIRST, 1, false);
        cdm_pages_copy(&other, &pages, 10, 20);
        cr_assert_eq(other.n, 20);
        for (size_t i = 0; i < 20; i++) {
            cr_assert_eq(cdm_pages_seen(&other, i), cdm_pages_seen(&pages, 10 + i), "page %zu", i);
            cr_assert_eq(cdm_pages_node(&other, i), cdm_pages_node(&pages, 10 + i), "page %zu", i);
            cr_assert_eq(cdm_pages_heat(&other, i), cdm_pages_heat(&pages, 10 + i), "page %zu", i);
            for (uint32_t e = FIRST + 1; e <= FIRST + 5; e++)
                cr_assert_eq(cdm_pages_used_in(&other, i, e), cdm_pages_used_in(&pages, 10 + i, e),
                             "page %zu, epoch %u", i, e - FIRST);
        }
    }
}
