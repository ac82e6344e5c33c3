/* SPDX-License-Identifier: MIT */
/* preload/pages.c, the byte a tracked page: stamps and their moving window, ticks of several
 * epochs, tier heat and its halving, the node slots, copies; checked against pages.h. */
#include "pages.h"
#include "testutil.h"

#define FIRST (1u << 20) /* the library's first epoch (CDM_EPOCH_FIRST) */
#define PAGES 16

/* A range of stamps (quantum epochs a tick) or of heat, made at `epoch`, on zeroed `bytes`. */
static void stamps_at(struct cdm_pages *pages, uint8_t *bytes, size_t n, uint32_t epoch,
                      uint32_t quantum)
{
    memset(bytes, 0, n);
    cdm_pages_init(pages, bytes, n, epoch, quantum, false);
}

static void heat_at(struct cdm_pages *pages, uint8_t *bytes, size_t n, uint32_t epoch)
{
    memset(bytes, 0, n);
    cdm_pages_init(pages, bytes, n, epoch, 1, true);
}

/* ------------------------------------------------------------------------ init */

Test(pages, init_knows_nothing)
{
    for (int heat = 0; heat < 2; heat++) {
        uint8_t bytes[PAGES];
        struct cdm_pages pages;
        memset(bytes, 0, sizeof bytes);
        cdm_pages_init(&pages, bytes, PAGES, FIRST, 1, heat);
        cr_assert_eq(pages.n, PAGES);
        for (size_t i = 0; i < PAGES; i++) {
            cr_assert_not(cdm_pages_seen(&pages, i), "heat %d, page %zu", heat, i);
            cr_assert_eq(cdm_pages_node(&pages, i), -1, "heat %d, page %zu", heat, i);
            cr_assert_eq(cdm_pages_heat(&pages, i), 0, "heat %d, page %zu", heat, i);
            for (int32_t n = 1; n <= 40; n++)
                cr_assert(cdm_pages_idle(&pages, i, FIRST + 1, n), "never used: idle %d", n);
            for (uint32_t e = FIRST - 2; e <= FIRST + 2; e++)
                cr_assert_not(cdm_pages_used_in(&pages, i, e), "heat %d, page %zu, epoch %d",
                              heat, i, (int)(e - FIRST));
        }
    }
}

/* ---------------------------------------------------------------- stamps, quantum 1 */

Test(pages, stamps_a_use_is_in_its_epoch_only)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    stamps_at(&pages, bytes, PAGES, FIRST, 1);
    uint32_t e = FIRST + 5;
    cr_assert(cdm_pages_touch(&pages, 3, e), "the first use in the epoch");
    cr_assert_not(cdm_pages_touch(&pages, 3, e), "the second use in the same epoch");
    cr_assert(cdm_pages_seen(&pages, 3));
    cr_assert(cdm_pages_used_in(&pages, 3, e));
    cr_assert_not(cdm_pages_used_in(&pages, 3, e - 1));
    cr_assert_not(cdm_pages_used_in(&pages, 3, e + 1));
    cr_assert(cdm_pages_touch(&pages, 3, e + 1), "the first use in the next epoch");
    cr_assert(cdm_pages_used_in(&pages, 3, e + 1));
    cr_assert_not(cdm_pages_used_in(&pages, 3, e + 2));
    for (size_t i = 0; i < PAGES; i++)
        if (i != 3) {
            cr_assert_not(cdm_pages_seen(&pages, i), "page %zu: its neighbours are untouched", i);
            cr_assert_not(cdm_pages_used_in(&pages, i, e + 1), "page %zu", i);
        }
}

Test(pages, stamps_idle_is_told_to_the_epoch)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    stamps_at(&pages, bytes, PAGES, FIRST, 1);
    uint32_t e = FIRST + 3;
    cdm_pages_touch(&pages, 0, e);
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 1, 2));
    cr_assert(cdm_pages_idle(&pages, 0, e + 2, 2));
    for (int32_t n = 1; n <= (int32_t)CDM_PAGE_KEPT_TICKS; n++)
        for (int32_t k = 0; k <= n + 2; k++)
            cr_assert_eq(cdm_pages_idle(&pages, 0, e + (uint32_t)k, n), k >= n,
                         "used at E, idle %d at E + %d", n, k);
    cr_assert(cdm_pages_idle(&pages, 0, e, 0), "epochs <= 0: idle");
    cr_assert(cdm_pages_idle(&pages, 0, e, -1), "epochs <= 0: idle");
}

Test(pages, stamps_a_use_marked_ahead_stays)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    stamps_at(&pages, bytes, PAGES, FIRST, 1);
    uint32_t e = FIRST + 6;
    cdm_pages_touch(&pages, 0, e + 1); /* a fault served while the lock was busy */
    cdm_pages_touch(&pages, 0, e);
    cr_assert(cdm_pages_used_in(&pages, 0, e + 1), "the later use is kept");
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 1, 1));
    cr_assert_not(cdm_pages_idle(&pages, 0, e, 1), "a use ahead of the epoch is recent");
    cr_assert_not(cdm_pages_idle(&pages, 0, e, CDM_PAGE_KEPT_TICKS));
    cr_assert(cdm_pages_idle(&pages, 0, e, 0), "epochs <= 0: idle, even a use ahead");
}

/* ----------------------------------------------------------------- the stamps' window */

Test(pages, stamps_a_use_past_the_window_makes_the_old_long_ago)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    uint32_t e = FIRST;
    stamps_at(&pages, bytes, PAGES, e, 1);
    cdm_pages_touch(&pages, 0, e);
    cdm_pages_touch(&pages, 1, e + 100); /* past the window: it moves */
    cr_assert(cdm_pages_used_in(&pages, 1, e + 100));
    cr_assert(cdm_pages_seen(&pages, 0), "a use before the window is still seen");
    cr_assert_not(cdm_pages_used_in(&pages, 0, e));
    for (int32_t n = 1; n <= 100; n++)
        cr_assert(cdm_pages_idle(&pages, 0, e + 100, n), "used 100 epochs ago: idle %d", n);
    cr_assert_not(cdm_pages_idle(&pages, 1, e + 100, 1));
}

Test(pages, stamps_the_window_keeps_the_recent_past_exact)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    uint32_t e = FIRST;
    stamps_at(&pages, bytes, PAGES, e, 1);
    cdm_pages_touch(&pages, 0, e + 60);
    cdm_pages_touch(&pages, 1, e + 80);
    cdm_pages_touch(&pages, 2, e + 100); /* 20 epochs after page 1's use: it stays exact */
    cr_assert(cdm_pages_used_in(&pages, 1, e + 80));
    cr_assert_not(cdm_pages_used_in(&pages, 1, e + 79));
    cr_assert_not(cdm_pages_used_in(&pages, 1, e + 81));
    cr_assert_not(cdm_pages_idle(&pages, 1, e + 100, 21));
    cr_assert(cdm_pages_idle(&pages, 1, e + 100, 20));
    cr_assert(cdm_pages_used_in(&pages, 2, e + 100));
    cr_assert(cdm_pages_seen(&pages, 0));
    cr_assert(cdm_pages_idle(&pages, 0, e + 100, CDM_PAGE_KEPT_TICKS), "used 40 epochs ago");
}

/* The window moves by the touch of another page: every use in the CDM_PAGE_KEPT_TICKS ticks
 * before it stays exact, wherever the move falls. */
Test(pages, stamps_a_move_keeps_the_kept_ticks)
{
    for (uint32_t jump = 1; jump <= 200; jump++) {
        uint8_t bytes[CDM_PAGE_KEPT_TICKS + 1];
        struct cdm_pages pages;
        stamps_at(&pages, bytes, sizeof bytes, FIRST, 1);
        uint32_t now = FIRST + jump + CDM_PAGE_KEPT_TICKS;
        /* page k used k epochs before `now`, 1 <= k < CDM_PAGE_KEPT_TICKS (oldest first) */
        for (uint32_t k = CDM_PAGE_KEPT_TICKS - 1; k >= 1; k--)
            cdm_pages_touch(&pages, k, now - k);
        cdm_pages_touch(&pages, 0, now);
        for (uint32_t k = 0; k < CDM_PAGE_KEPT_TICKS; k++) {
            cr_assert(cdm_pages_used_in(&pages, k, now - k), "jump %u: page used %u ago", jump, k);
            cr_assert_not(cdm_pages_idle(&pages, k, now, (int32_t)k + 1), "jump %u, page %u",
                          jump, k);
            if (k)
                cr_assert(cdm_pages_idle(&pages, k, now, (int32_t)k), "jump %u, page %u", jump,
                          k);
        }
    }
}

Test(pages, stamps_ten_thousand_epochs)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    stamps_at(&pages, bytes, PAGES, FIRST, 1);
    cdm_pages_touch(&pages, 1, FIRST);
    for (uint32_t e = FIRST; e < FIRST + 10000; e++) {
        cdm_pages_touch(&pages, 0, e);
        cr_assert(cdm_pages_used_in(&pages, 0, e), "epoch %u", e - FIRST);
        cr_assert_not(cdm_pages_idle(&pages, 0, e, 1), "epoch %u", e - FIRST);
        if (e - FIRST >= 2)
            cr_assert(cdm_pages_idle(&pages, 1, e, 2), "epoch %u", e - FIRST);
    }
    uint32_t last = FIRST + 9999;
    cr_assert(cdm_pages_used_in(&pages, 0, last));
    cr_assert_not(cdm_pages_idle(&pages, 0, last, 1));
    cr_assert(cdm_pages_idle(&pages, 0, last + 1, 1));
    cr_assert(cdm_pages_seen(&pages, 1));
    cr_assert(cdm_pages_idle(&pages, 1, last, 1), "used once, 10,000 epochs ago");
    cr_assert(cdm_pages_idle(&pages, 1, last, CDM_PAGE_KEPT_TICKS));
    cr_assert_not(cdm_pages_used_in(&pages, 1, FIRST));
}

/* Many pages, uses in every order the tracker makes (the current epoch, the next one for a
 * fault served late, now and then a page cooled or forgotten), against the exact last use:
 * with quantum 1 every idle up to CDM_PAGE_KEPT_TICKS and the last use are exact. */
Test(pages, stamps_against_the_exact_last_use)
{
    enum { N = 48, NEVER = -1, LONG_AGO = -2 };
    uint8_t bytes[N];
    struct cdm_pages pages;
    int64_t last[N];
    stamps_at(&pages, bytes, N, FIRST - 1, 1);
    for (size_t i = 0; i < N; i++)
        last[i] = NEVER;
    uint32_t seed = 12345;
    for (uint32_t e = FIRST; e < FIRST + 3000; e++) {
        int uses = (int)(e % 7); /* some epochs see nothing */
        for (int u = 0; u < uses * 3; u++) {
            seed = seed * 1103515245u + 12345u;
            size_t i = (seed >> 8) % N;
            uint32_t what = (seed >> 20) % 64;
            if (what == 0) {
                cdm_pages_cool(&pages, i);
                last[i] = LONG_AGO;
            } else if (what == 1) {
                cdm_pages_forget(&pages, i);
                last[i] = NEVER;
            } else {
                uint32_t at = what < 8 ? e + 1 : e;
                cdm_pages_touch(&pages, i, at);
                if (last[i] < (int64_t)at)
                    last[i] = at;
            }
        }
        for (size_t i = 0; i < N; i++) {
            cr_assert_eq(cdm_pages_seen(&pages, i), last[i] != NEVER, "epoch %u, page %zu",
                         e - FIRST, i);
            for (int32_t n = 1; n <= (int32_t)CDM_PAGE_KEPT_TICKS; n++) {
                bool idle = last[i] < 0 || (int64_t)e - last[i] >= n;
                cr_assert_eq(cdm_pages_idle(&pages, i, e, n), idle,
                             "epoch %u, page %zu used at %lld, idle %d", e - FIRST, i,
                             (long long)(last[i] - FIRST), n);
            }
            if (last[i] >= (int64_t)e - (int64_t)CDM_PAGE_KEPT_TICKS + 1)
                cr_assert(cdm_pages_used_in(&pages, i, (uint32_t)last[i]), "epoch %u, page %zu",
                          e - FIRST, i);
            for (int64_t at = last[i] < 0 ? e - 40 : last[i] + 1; at <= e + 1; at++)
                cr_assert_not(cdm_pages_used_in(&pages, i, (uint32_t)at),
                              "epoch %u, page %zu used at %lld: not in %lld", e - FIRST, i,
                              (long long)(last[i] - FIRST), (long long)(at - FIRST));
        }
    }
}

Test(pages, stamps_follow_the_epoch_counter_across_its_wrap)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    uint32_t e = UINT32_MAX - 10;
    stamps_at(&pages, bytes, PAGES, e, 1);
    cdm_pages_touch(&pages, 0, e + 5);
    cdm_pages_touch(&pages, 1, e + 20); /* 9, after the wrap */
    cr_assert(cdm_pages_used_in(&pages, 0, e + 5));
    cr_assert(cdm_pages_used_in(&pages, 1, e + 20));
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 20, 16));
    cr_assert(cdm_pages_idle(&pages, 0, e + 20, 15));
    for (uint32_t k = 21; k < 200; k++)
        cdm_pages_touch(&pages, 1, e + k);
    cr_assert(cdm_pages_used_in(&pages, 1, e + 199));
    cr_assert_not(cdm_pages_idle(&pages, 1, e + 199, 1));
    cr_assert(cdm_pages_idle(&pages, 0, e + 199, CDM_PAGE_KEPT_TICKS));

    stamps_at(&pages, bytes, PAGES, e, 10);
    cdm_pages_touch(&pages, 0, e);
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 250, 300), "across the wrap, quantum 10");
    cr_assert(cdm_pages_idle(&pages, 0, e + 310, 300), "across the wrap, quantum 10");
}

/* ---------------------------------------------------------------------- quantum */

Test(pages, quantum_of_an_idle)
{
    cr_assert_eq(cdm_pages_quantum(0), 1);
    cr_assert_eq(cdm_pages_quantum(1), 1);
    cr_assert_eq(cdm_pages_quantum(2), 1);
    cr_assert_eq(cdm_pages_quantum(30), 1);
    cr_assert_eq(cdm_pages_quantum(CDM_PAGE_KEPT_TICKS), 1);
    cr_assert_eq(cdm_pages_quantum(31), 2);
    cr_assert_eq(cdm_pages_quantum(60), 2);
    cr_assert_eq(cdm_pages_quantum(61), 3);
    cr_assert_eq(cdm_pages_quantum(300), 10);
    /* the most the tracker asks for (cdm__migrate_idle_epochs caps at INT32_MAX) */
    cr_assert_eq(cdm_pages_quantum(INT32_MAX), (INT32_MAX + 29u) / 30u);
}

/* pages.h: "1 up to CDM_PAGE_KEPT_TICKS epochs ...; more beyond", for any uint32_t. */
Test(pages, quantum_of_the_longest_idle)
{
    uint32_t longest = cdm_pages_quantum(UINT32_MAX);
    cr_assert_eq(longest, (uint32_t)(((uint64_t)UINT32_MAX + 29) / 30),
                 "cdm_pages_quantum(UINT32_MAX) is %u", longest);
    uint32_t near = cdm_pages_quantum(UINT32_MAX - 20);
    cr_assert_gt(near, 1, "cdm_pages_quantum(UINT32_MAX - 20) is %u", near);
}

Test(pages, quantum_ticks_of_several_epochs)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    uint32_t e = FIRST;
    stamps_at(&pages, bytes, PAGES, e, cdm_pages_quantum(300));
    cdm_pages_touch(&pages, 0, e);
    cr_assert(cdm_pages_used_in(&pages, 0, e));
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 250, 300), "used 250 epochs ago");
    cr_assert(cdm_pages_idle(&pages, 0, e + 310, 300), "used 310 epochs ago");

    /* the same, with the window moved along by another page's uses */
    stamps_at(&pages, bytes, PAGES, e, cdm_pages_quantum(300));
    cdm_pages_touch(&pages, 0, e);
    uint32_t at = e;
    for (; at <= e + 250; at += 7)
        cdm_pages_touch(&pages, 1, at);
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 250, 300), "used 250 epochs ago");
    for (; at <= e + 310; at += 7)
        cdm_pages_touch(&pages, 1, at);
    cr_assert(cdm_pages_idle(&pages, 0, e + 310, 300), "used 310 epochs ago");
    cr_assert_not(cdm_pages_idle(&pages, 1, e + 310, 300));

    /* an idle not a whole number of ticks: no more than a tick early */
    stamps_at(&pages, bytes, PAGES, e, 10);
    cdm_pages_touch(&pages, 0, e + 9);
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 30, 35), "used 21 epochs ago, idle 35");
    cr_assert(cdm_pages_idle(&pages, 0, e + 50, 35), "used 41 epochs ago, idle 35");
}

Test(pages, quantum_a_tick_is_one_use)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    stamps_at(&pages, bytes, PAGES, FIRST, 10);
    cr_assert(cdm_pages_touch(&pages, 0, FIRST + 20));
    cr_assert_not(cdm_pages_touch(&pages, 0, FIRST + 25), "the same tick");
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 20));
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 29), "used in its tick");
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST + 30));
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST + 19));
    cr_assert(cdm_pages_touch(&pages, 0, FIRST + 30), "the next tick");
}

/* ----------------------------------------------------------------- cool and forget */

Test(pages, cool_and_forget)
{
    for (int heat = 0; heat < 2; heat++) {
        uint8_t bytes[PAGES];
        struct cdm_pages pages;
        memset(bytes, 0, sizeof bytes);
        cdm_pages_init(&pages, bytes, PAGES, FIRST, 1, heat);
        uint32_t e = FIRST + 1;
        cdm_pages_touch(&pages, 0, e);
        cdm_pages_set_node(&pages, 0, 1);
        cdm_pages_cool(&pages, 0);
        cr_assert(cdm_pages_seen(&pages, 0), "heat %d", heat);
        cr_assert_not(cdm_pages_used_in(&pages, 0, e), "heat %d", heat);
        for (int32_t n = 1; n <= 100; n++)
            cr_assert(cdm_pages_idle(&pages, 0, e, n), "heat %d: cooled, idle %d", heat, n);
        cr_assert_eq(cdm_pages_heat(&pages, 0), 0, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 0), 1, "heat %d: cooling keeps where it is", heat);

        cdm_pages_cool(&pages, 2); /* never used: only made */
        cr_assert(cdm_pages_seen(&pages, 2));
        cr_assert(cdm_pages_idle(&pages, 2, e, 1));

        cdm_pages_forget(&pages, 0);
        cr_assert_not(cdm_pages_seen(&pages, 0), "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 0), -1, "heat %d", heat);
        cr_assert(cdm_pages_idle(&pages, 0, e, 1), "heat %d", heat);
        cr_assert(cdm_pages_seen(&pages, 2), "forget is of one page");
    }
}

/* ------------------------------------------------------------------------ heat */

Test(pages, heat_a_touch_sets_the_top_bit)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST - 1); /* as the tracker does: the last epoch ended */
    cr_assert(cdm_pages_touch(&pages, 0, FIRST), "the first use since the last halving");
    cr_assert_not(cdm_pages_touch(&pages, 0, FIRST), "the second");
    cr_assert(cdm_pages_seen(&pages, 0));
    cr_assert_eq(cdm_pages_heat(&pages, 0), (CDM_PAGE_HEAT_MAX + 1) / 2);
    cr_assert_eq(cdm_pages_heat(&pages, 0), 16);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST));
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST - 1));
    cr_assert_eq(cdm_pages_heat(&pages, 1), 0);
    cr_assert_not(cdm_pages_seen(&pages, 1));
}

Test(pages, heat_halves_at_each_age)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST - 1);
    cdm_pages_touch(&pages, 0, FIRST);
    unsigned expect = 16;
    for (uint32_t e = FIRST; e < FIRST + 7; e++) {
        cr_assert_eq(cdm_pages_heat(&pages, 0), expect, "before the end of epoch %u", e - FIRST);
        cdm_pages_age(&pages, e);
        expect /= 2;
        cr_assert_eq(cdm_pages_heat(&pages, 0), expect, "after the end of epoch %u", e - FIRST);
        cr_assert(cdm_pages_seen(&pages, 0), "seen after %u halvings", e - FIRST + 1);
    }
    cr_assert_eq(cdm_pages_heat(&pages, 0), 0);
    cr_assert(cdm_pages_idle(&pages, 0, FIRST + 7, 1));
    cr_assert_not(cdm_pages_seen(&pages, 1), "an unseen page stays unseen");
    cr_assert_eq(cdm_pages_heat(&pages, 1), 0);
}

Test(pages, heat_counts_the_last_five_epochs)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST - 1);
    /* page 0 used in every epoch, page 1 in every other one, page 2 in the first only */
    for (uint32_t e = FIRST; e < FIRST + 8; e++) {
        cdm_pages_touch(&pages, 0, e);
        if ((e - FIRST) % 2 == 0)
            cdm_pages_touch(&pages, 1, e);
        if (e == FIRST)
            cdm_pages_touch(&pages, 2, e);
        if (e - FIRST >= 4)
            cr_assert_eq(cdm_pages_heat(&pages, 0), CDM_PAGE_HEAT_MAX, "epoch %u", e - FIRST);
        cdm_pages_age(&pages, e);
    }
    /* after the end of epoch 7: used in 7, 6, 5, 4 (bits 8, 4, 2, 1) */
    cr_assert_eq(cdm_pages_heat(&pages, 0), 15);
    cr_assert_eq(cdm_pages_heat(&pages, 1), 4 | 1, "used in 6 and 4");
    cr_assert_eq(cdm_pages_heat(&pages, 2), 0);
    cr_assert(cdm_pages_seen(&pages, 2));
}

Test(pages, heat_used_in_reads_the_count)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST - 1);
    uint32_t a = FIRST + 1;
    cdm_pages_age(&pages, FIRST);
    cdm_pages_touch(&pages, 0, a); /* since the halving at the end of FIRST: in `a` */
    cr_assert(cdm_pages_used_in(&pages, 0, a), "the top bit: the epoch after `aged`");
    cr_assert_not(cdm_pages_used_in(&pages, 0, a - 1));
    cdm_pages_age(&pages, a);
    cr_assert(cdm_pages_used_in(&pages, 0, a), "a use in A, after aging at A, is in A");
    cr_assert_not(cdm_pages_used_in(&pages, 0, a + 1));
    cr_assert_not(cdm_pages_used_in(&pages, 0, a - 1));
    for (uint32_t k = 1; k < 4; k++) {
        cdm_pages_age(&pages, a + k);
        cr_assert(cdm_pages_used_in(&pages, 0, a), "%u epochs later", k);
        cr_assert_not(cdm_pages_used_in(&pages, 0, a + k), "%u epochs later", k);
    }
    cdm_pages_age(&pages, a + 4);
    cr_assert_not(cdm_pages_used_in(&pages, 0, a), "past the count's five epochs");
    cr_assert_eq(cdm_pages_heat(&pages, 0), 0);
}

Test(pages, heat_idle_follows_the_latest_use)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST - 1);
    uint32_t a = FIRST + 1;
    cdm_pages_age(&pages, FIRST);
    cdm_pages_touch(&pages, 0, a);
    cr_assert_not(cdm_pages_idle(&pages, 0, a, 1), "used in this epoch");
    cdm_pages_age(&pages, a);
    cr_assert(cdm_pages_idle(&pages, 0, a + 1, 1));
    cr_assert_not(cdm_pages_idle(&pages, 0, a + 1, 2));
    cdm_pages_age(&pages, a + 1);
    cr_assert_not(cdm_pages_idle(&pages, 0, a + 2, 3));
    cr_assert(cdm_pages_idle(&pages, 0, a + 2, 2));
    cr_assert_not(cdm_pages_idle(&pages, 0, a - 1, 1), "a use ahead of the epoch is recent");
    /* the latest use counts, not an older one */
    cdm_pages_touch(&pages, 0, a + 2);
    cr_assert_not(cdm_pages_idle(&pages, 0, a + 2, 1));
    cdm_pages_age(&pages, a + 2);
    cr_assert(cdm_pages_idle(&pages, 0, a + 3, 1));
    cr_assert_not(cdm_pages_idle(&pages, 0, a + 3, 2));
    cr_assert(cdm_pages_idle(&pages, 0, a + 3, 0), "epochs <= 0: idle");
    cr_assert(cdm_pages_idle(&pages, 1, a + 3, 1), "never used");
}

Test(pages, heat_up_and_cool)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST - 1);
    cdm_pages_age(&pages, FIRST);
    cdm_pages_heat_up(&pages, 1, FIRST + 1);
    cr_assert_eq(cdm_pages_heat(&pages, 1), CDM_PAGE_HEAT_MAX);
    cr_assert(cdm_pages_seen(&pages, 1));
    cr_assert(cdm_pages_used_in(&pages, 1, FIRST + 1), "advised hot: used in the epoch");
    cr_assert_not(cdm_pages_idle(&pages, 1, FIRST + 1, 1));
    cr_assert_not(cdm_pages_touch(&pages, 1, FIRST + 1), "already used since the halving");
    cdm_pages_age(&pages, FIRST + 1);
    cr_assert_eq(cdm_pages_heat(&pages, 1), CDM_PAGE_HEAT_MAX / 2);

    cdm_pages_cool(&pages, 3);
    cr_assert_eq(cdm_pages_heat(&pages, 3), 0, "only cooled: no heat");
    cr_assert(cdm_pages_seen(&pages, 3));
    cr_assert(cdm_pages_idle(&pages, 3, FIRST + 2, 1));
    cdm_pages_cool(&pages, 1);
    cr_assert_eq(cdm_pages_heat(&pages, 1), 0, "advised cold: no heat");
    cr_assert(cdm_pages_seen(&pages, 1));

    /* stamps: heat_up is a use in the epoch, and there is no heat */
    stamps_at(&pages, bytes, PAGES, FIRST, 1);
    cdm_pages_heat_up(&pages, 0, FIRST + 2);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 2));
    cr_assert_eq(cdm_pages_heat(&pages, 0), 0);
    cdm_pages_age(&pages, FIRST + 2);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 2), "stamps: aging is nothing");
}

/* pages.h: cdm_pages_init's `epoch` is "the current one", and a touch in it is a use in it.
 * (The tracker passes its last ended epoch instead; the header says the current one.) */
/* A range made when epoch FIRST has ended (as the tracker makes them): the first use is in
 * FIRST + 1, and after that epoch's halving it is read as a use in FIRST + 1, not later. */
Test(pages, heat_a_use_in_the_range_s_first_epoch)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    heat_at(&pages, bytes, PAGES, FIRST);
    cdm_pages_touch(&pages, 0, FIRST + 1);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 1), "touched in the range's first epoch");
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST), "not in the one before it");
    cdm_pages_age(&pages, FIRST + 1);
    cr_assert(cdm_pages_used_in(&pages, 0, FIRST + 1), "still FIRST + 1 after its halving");
    cr_assert_not(cdm_pages_used_in(&pages, 0, FIRST + 2), "not in the next one");
}

Test(pages, heat_follows_the_epoch_counter_across_its_wrap)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    uint32_t e = UINT32_MAX - 1;
    heat_at(&pages, bytes, PAGES, e);
    cdm_pages_touch(&pages, 0, e + 1);
    cdm_pages_age(&pages, e + 1);
    cdm_pages_age(&pages, e + 2); /* 0 */
    cr_assert(cdm_pages_used_in(&pages, 0, e + 1));
    cr_assert_not(cdm_pages_used_in(&pages, 0, e + 2));
    cr_assert_not(cdm_pages_idle(&pages, 0, e + 3, 3));
    cr_assert(cdm_pages_idle(&pages, 0, e + 3, 2));
}

/* ---------------------------------------------------------------------- nodes */

Test(pages, node_set_and_read)
{
    uint8_t bytes[PAGES];
    struct cdm_pages pages;
    stamps_at(&pages, bytes, PAGES, FIRST, 1);
    cdm_pages_set_node(&pages, 0, 5);
    cr_assert_eq(cdm_pages_node(&pages, 0), 5);
    cr_assert_eq(cdm_pages_node(&pages, 1), -1, "another page is not moved");
    cdm_pages_set_node(&pages, 0, -1);
    cr_assert_eq(cdm_pages_node(&pages, 0), -1);
    cdm_pages_set_node(&pages, 0, 5);
    cr_assert_eq(cdm_pages_node(&pages, 0), 5, "the slot is kept");
}

Test(pages, node_three_are_told_apart_a_fourth_is_not_known)
{
    for (int heat = 0; heat < 2; heat++) {
        uint8_t bytes[PAGES];
        struct cdm_pages pages;
        memset(bytes, 0, sizeof bytes);
        cdm_pages_init(&pages, bytes, PAGES, FIRST, 1, heat);
        cdm_pages_set_node(&pages, 0, 5);
        cdm_pages_set_node(&pages, 1, 0);
        cdm_pages_set_node(&pages, 2, 7);
        cdm_pages_set_node(&pages, 3, 9); /* a fourth: not known */
        cdm_pages_set_node(&pages, 4, 0);
        cdm_pages_set_node(&pages, 5, 7);
        cr_assert_eq(cdm_pages_node(&pages, 0), 5, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 1), 0, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 2), 7, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 3), -1, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 4), 0, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 5), 7, "heat %d", heat);
        cdm_pages_set_node(&pages, 0, 9); /* a page known moves to a fourth */
        cr_assert_eq(cdm_pages_node(&pages, 0), -1, "heat %d", heat);
        cdm_pages_set_node(&pages, 0, 7);
        cr_assert_eq(cdm_pages_node(&pages, 0), 7, "heat %d", heat);
        cdm_pages_set_node(&pages, 2, -1);
        cr_assert_eq(cdm_pages_node(&pages, 2), -1, "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, 5), 7, "heat %d: one page's node", heat);
    }
}

Test(pages, node_and_use_are_apart)
{
    for (int heat = 0; heat < 2; heat++) {
        uint8_t bytes[PAGES];
        struct cdm_pages pages;
        memset(bytes, 0, sizeof bytes);
        cdm_pages_init(&pages, bytes, PAGES, FIRST - 1, 1, heat);
        uint32_t e = FIRST; /* heat: aged at the end of every epoch, as the migrator does */
        cdm_pages_touch(&pages, 0, e);
        unsigned heat_before = cdm_pages_heat(&pages, 0);
        for (int node = -1; node < 4; node++) {
            cdm_pages_set_node(&pages, 0, node);
            cdm_pages_set_node(&pages, 1, node);
            cr_assert(cdm_pages_seen(&pages, 0), "heat %d, node %d", heat, node);
            cr_assert(cdm_pages_used_in(&pages, 0, e), "heat %d, node %d", heat, node);
            cr_assert_not(cdm_pages_idle(&pages, 0, e, 1), "heat %d, node %d", heat, node);
            cr_assert_eq(cdm_pages_heat(&pages, 0), heat_before, "heat %d, node %d", heat, node);
            cr_assert_not(cdm_pages_seen(&pages, 1), "heat %d, node %d", heat, node);
        }
        cdm_pages_set_node(&pages, 0, 2);
        cdm_pages_set_node(&pages, 1, 1);
        cdm_pages_age(&pages, e);
        cdm_pages_touch(&pages, 0, e + 1);
        cdm_pages_touch(&pages, 1, e + 1);
        cdm_pages_age(&pages, e + 1);
        cdm_pages_cool(&pages, 1);
        cr_assert_eq(cdm_pages_node(&pages, 0), 2, "heat %d: a use keeps where", heat);
        cr_assert_eq(cdm_pages_node(&pages, 1), 1, "heat %d: cooling keeps where", heat);
        cdm_pages_heat_up(&pages, 0, e + 2);
        cr_assert_eq(cdm_pages_node(&pages, 0), 2, "heat %d: heat_up keeps where", heat);
    }
}

Test(pages, seen_all_on_names_the_pages_that_would_move)
{
    for (int heat = 0; heat < 2; heat++) {
        uint8_t bytes[PAGES];
        struct cdm_pages pages;
        if (heat)
            heat_at(&pages, bytes, PAGES, FIRST);
        else
            stamps_at(&pages, bytes, PAGES, FIRST, 1);
        const bool none[CDM_PAGE_NODES] = {false}, all[CDM_PAGE_NODES] = {true, true, true};
        cr_assert(cdm_pages_seen_all_on(&pages, none), "heat %d: nothing seen", heat);
        cdm_pages_set_node(&pages, 3, 5); /* slot 0, never seen */
        cr_assert(cdm_pages_seen_all_on(&pages, none), "heat %d: a page never seen stays", heat);
        cdm_pages_touch(&pages, 1, FIRST + 1); /* seen, where not known */
        cr_assert_not(cdm_pages_seen_all_on(&pages, all), "heat %d: not known", heat);
        cdm_pages_set_node(&pages, 1, 5);
        cr_assert(cdm_pages_seen_all_on(&pages, all), "heat %d", heat);
        const bool first[CDM_PAGE_NODES] = {true, false, false};
        const bool second[CDM_PAGE_NODES] = {false, true, false};
        cr_assert(cdm_pages_seen_all_on(&pages, first), "heat %d: on node 5", heat);
        cr_assert_not(cdm_pages_seen_all_on(&pages, second), "heat %d: 5 is not named", heat);
        cdm_pages_cool(&pages, 2); /* seen long ago, then on a second node */
        cdm_pages_set_node(&pages, 2, 7);
        cr_assert_not(cdm_pages_seen_all_on(&pages, first), "heat %d: one on 7", heat);
        const bool both[CDM_PAGE_NODES] = {true, true, false};
        cr_assert(cdm_pages_seen_all_on(&pages, both), "heat %d", heat);
        cdm_pages_set_node(&pages, 2, 9);
        cdm_pages_set_node(&pages, 0, 9); /* the third slot is 9 now */
        cdm_pages_set_node(&pages, 2, 11); /* a fourth: not known */
        cr_assert_not(cdm_pages_seen_all_on(&pages, all), "heat %d: on a fourth", heat);
        cdm_pages_forget(&pages, 2);
        cr_assert(cdm_pages_seen_all_on(&pages, both), "heat %d: forgotten", heat);
    }
}

/* ---------------------------------------------------------------------- copies */

Test(pages, copy_keeps_each_page)
{
    enum { N = 40, FROM = 10, COPIED = 20, TO = 24 };
    for (int heat = 0; heat < 2; heat++) {
        uint8_t bytes[N], to_bytes[TO];
        struct cdm_pages pages, to;
        memset(bytes, 0, sizeof bytes);
        cdm_pages_init(&pages, bytes, N, FIRST - 1, 1, heat);
        uint32_t e = FIRST;
        for (; e < FIRST + 90; e++) { /* stamps: the window moves */
            for (size_t i = 0; i < N; i++)
                if ((i * 7 + e) % 11 == 0)
                    cdm_pages_touch(&pages, i, e);
            cdm_pages_age(&pages, e);
        }
        for (size_t i = 0; i < N; i++) {
            if (i % 4 == 0)
                cdm_pages_set_node(&pages, i, (int)(i % 12) / 4 * 3);
            if (i % 9 == 0)
                cdm_pages_cool(&pages, i);
        }
        cdm_pages_touch(&pages, FROM + 1, e);
        memset(to_bytes, 0, sizeof to_bytes);
        cdm_pages_init(&to, to_bytes, TO, e, 1, heat); /* made later, as the tracker does */
        cdm_pages_copy(&to, &pages, FROM, COPIED);
        cr_assert_eq(to.n, TO, "the copy's own size");
        cr_assert_eq(to.byte, to_bytes, "the copy's own bytes");
        for (size_t i = 0; i < COPIED; i++) {
            size_t j = FROM + i;
            cr_assert_eq(cdm_pages_seen(&to, i), cdm_pages_seen(&pages, j), "heat %d, page %zu",
                         heat, i);
            cr_assert_eq(cdm_pages_node(&to, i), cdm_pages_node(&pages, j), "heat %d, page %zu",
                         heat, i);
            cr_assert_eq(cdm_pages_heat(&to, i), cdm_pages_heat(&pages, j), "heat %d, page %zu",
                         heat, i);
            for (uint32_t at = e - 35; at <= e + 1; at++)
                cr_assert_eq(cdm_pages_used_in(&to, i, at), cdm_pages_used_in(&pages, j, at),
                             "heat %d, page %zu, epoch %u", heat, i, at - FIRST);
            for (int32_t n = 1; n <= 40; n++)
                cr_assert_eq(cdm_pages_idle(&to, i, e + 1, n), cdm_pages_idle(&pages, j, e + 1, n),
                             "heat %d, page %zu, idle %d", heat, i, n);
        }
        for (size_t i = COPIED; i < TO; i++) {
            cr_assert_not(cdm_pages_seen(&to, i), "heat %d: page %zu past the copy", heat, i);
            cr_assert_eq(cdm_pages_node(&to, i), -1, "heat %d: page %zu past the copy", heat, i);
        }
        cr_assert(cdm_pages_used_in(&to, 1, e), "heat %d: the last use copied", heat);
        /* the copy goes on by itself: a node (one of the table's: 0, 3, 6) and a use */
        int node_before = cdm_pages_node(&pages, FROM + 2);
        bool used_before = cdm_pages_used_in(&pages, FROM + 3, e + 1);
        cdm_pages_set_node(&to, 2, node_before == 6 ? 3 : 6);
        cdm_pages_touch(&to, 3, e + 1);
        cr_assert_eq(cdm_pages_node(&to, 2), node_before == 6 ? 3 : 6, "heat %d", heat);
        cr_assert(cdm_pages_used_in(&to, 3, e + 1), "heat %d", heat);
        cr_assert_eq(cdm_pages_node(&pages, FROM + 2), node_before, "heat %d", heat);
        cr_assert_eq(cdm_pages_used_in(&pages, FROM + 3, e + 1), used_before, "heat %d", heat);
    }
}

/* ----------------------------------------------------------------------- spans */

#define KiB4 4096ul
#define BLOCK (2ul << 20)

/* Up to 1 GiB from a boundary a span is a huge page; past it a whole number of them, so that
 * the spans from the boundary stay at most 512 (wp-async's, on one socket). */
Test(pages, spans_a_huge_page_each_up_to_the_most)
{
    struct {
        uintptr_t start;
        size_t bytes;
        uint32_t span_pages;
        size_t spans;
    } cases[] = {
        {1ul << 30, 1ul << 20, 512, 1},                /* 1 MiB on a boundary */
        {(1ul << 30) + KiB4, BLOCK, 512, 2},           /* straddling one */
        {1ul << 30, 1ul << 30, 512, 512},              /* 1 GiB on a boundary */
        {(1ul << 30) + KiB4, 1ul << 30, 1024, 257},    /* a page past: 513 blocks */
        {1ul << 40, 64ul << 30, 32768, 512},           /* 64 GiB */
        {(1ul << 40) + 3 * KiB4, 64ul << 30, 33280, 505}, /* 32,769 blocks: 65 a span */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t span_pages = 0;
        size_t spans = cdm_pages_spans(cases[c].start, cases[c].bytes / KiB4, KiB4, BLOCK, 512,
                                       &span_pages);
        cr_assert_eq(span_pages, cases[c].span_pages, "case %zu: %u pages a span", c, span_pages);
        cr_assert_eq(spans, cases[c].spans, "case %zu: %zu spans", c, spans);
    }
}

/* Any start, size and most (512: wp-async's 8 bytes a span in 4 KiB; 455 with a byte more on
 * several sockets; 4080: that byte alone beside wp's 16): the spans cover the pages from the
 * boundary, there are at most the most of them, and the spans from the range's start are
 * never more. */
Test(pages, spans_cover_the_range_within_the_most)
{
    uint64_t x = 88172645463325252u;
    for (int k = 0; k < 100000; k++) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        uintptr_t start = (uintptr_t)(x % (1ul << 46)) & ~(KiB4 - 1);
        size_t n = (size_t)(x >> 20) % ((k % 2 ? 1ul << 20 : 1ul << 24) + 1); /* to 64 GiB */
        static const size_t mosts[] = {512, 455, 4080};
        size_t most = mosts[k % 3];
        uint32_t span_pages = 0;
        size_t spans = cdm_pages_spans(start, n, KiB4, BLOCK, most, &span_pages);
        size_t from_boundary = (start & (BLOCK - 1)) / KiB4 + n;
        cr_assert_eq(span_pages % 512, 0, "start %#lx, %zu pages: %u a span", start, n, span_pages);
        cr_assert_leq(spans, most, "start %#lx, %zu pages: %zu spans of %zu", start, n, spans, most);
        cr_assert_geq(spans * span_pages, from_boundary, "start %#lx, %zu pages", start, n);
        cr_assert_lt((spans - (spans > 0)) * span_pages, from_boundary + (n == 0),
                     "start %#lx, %zu pages: a span too many", start, n);
        cr_assert_leq((n + span_pages - 1) / span_pages, spans, "start %#lx, %zu pages", start, n);
        cr_assert(span_pages == 512 || from_boundary > most * 512,
                  "start %#lx, %zu pages: %u a span where a huge page does", start, n, span_pages);
    }
}

/* Past 32 TiB a span is at its largest, and there are more of them. */
Test(pages, spans_at_their_largest_past_32_tib)
{
    uint32_t span_pages = 0;
    size_t spans = cdm_pages_spans(0, (64ul << 40) / KiB4, KiB4, BLOCK, 512, &span_pages);
    cr_assert_eq(span_pages, CDM_PAGE_SPAN_PAGES_MAX);
    cr_assert_eq(spans, 1024);
}
