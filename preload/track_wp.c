/* SPDX-License-Identifier: MIT */
/* The synchronous trackers (track.h): a fault stops the program's thread until the tracker
 * thread (tracker.c) has marked its page and let it go on.
 *   wp       a write to a write-protected page; the page is protected again when its next
 *            write matters (half `idle` after the last), in runs.
 *   missing  the first touch of a page; nothing to protect.
 * Also the write-protection that wp-async (track_wp_async.c) uses. */
#include "track.h"

/* wp-async's ranges through PAGEMAP_SCAN, which changes only the entries not protected yet
 * (to the state UFFDIO_WRITEPROTECT leaves): UFFDIO_WRITEPROTECT rewrites every entry of the
 * range, protected or not, and a span re-protected whole after a random writer's epoch holds
 * mostly protected ones (6.18, 256 MiB with a ninth written: 0.3 ms against 2.5-10 ms). The
 * price is a TLB flush per 2 MiB page table it changed, where UFFDIO_WRITEPROTECT flushes
 * once a call. Only pages that are there (or swapped) are protected: WP_ASYNC implies
 * WP_UNPOPULATED, so an empty entry would get a marker, the page the program makes there would
 * be made protected, and its making write would fault twice (redis under follow-cpu: 10,700
 * of its 108,000 pages); a page made unprotected reads as written all the same. The kernel
 * looks at the categories only when it has regions to report (without, it protects every
 * entry), so the matches are asked for, and ignored. False when it cannot: a synchronous
 * userfaultfd's ranges (wp's, huge ranges), or before 6.7. */
static bool protect_unprotected(const struct cdm_tracked *range, uintptr_t start, size_t len)
{
    struct plat_page_region ignored[32]; /* on a program's stack too (range_adopt) */
    if (range->huge || cdm__tracker_backend() != CDM_TRACK_WP_ASYNC)
        return false;
    for (uintptr_t at = start, walk_end; at < start + len; at = walk_end) {
        size_t n;
        walk_end = start + len;
        if (plat_pagemap_scan(cdm__track_pagemap(), at, start + len, 0,
                              PLAT_PAGE_IS_PRESENT | PLAT_PAGE_IS_SWAPPED, 0, true, ignored,
                              sizeof ignored / sizeof ignored[0], &n, &walk_end) != 0 ||
            walk_end <= at)
            return false;
    }
    return true;
}

void cdm__track_protect(const struct cdm_tracked *range, uintptr_t start, size_t len)
{
    size_t page = plat_page_size();
    int uffd = cdm__track_uffd(range);
    if (protect_unprotected(range, start, len) ||
        plat_uffd_writeprotect(uffd, start, len, true) == 0)
        return;
    /* A range the kernel refuses as a whole (split into several mappings before Linux 6.4). */
    for (uintptr_t at = start; at < start + len; at += page)
        plat_uffd_writeprotect(uffd, at, page, true);
}

void cdm__track_protect_flush(struct cdm_protect_run *run)
{
    if (run->end > run->start)
        cdm__track_protect(run->range, run->start, run->end - run->start);
    run->start = run->end = 0;
}

void cdm__track_protect_add(struct cdm_protect_run *run, uintptr_t start, size_t len)
{
    if (start != run->end) {
        cdm__track_protect_flush(run);
        run->start = start;
    }
    run->end = start + len;
}

/* A page written lately needs no fault before it could become idle: it is looked at again
 * half `idle` after its last write, so a page in use costs one fault per half `idle`, not one
 * per epoch, and a loop over the buffer has the other half to come back to it. (tier: 0,
 * every epoch: the ranking needs each epoch's bit of heat.) */
int32_t cdm__track_look_after(const struct cdm_tracked *range)
{
    return (int32_t)(cdm__migrate_idle_epochs(range->rule) / 2);
}

/* Pages already there (MAP_POPULATE, a grown buffer, written before the threads ran) were
 * not written since now. */
static void wp_registered(struct cdm_tracked *range)
{
    cdm__track_protect(range, range->start, range->n_pages * plat_page_size());
}

/* A range whose every page was seen and protected at a collection stays protected until a
 * fault releases part of it or a discard empties part of it: the next collections skip it.
 * Protecting it again would change nothing, yet each UFFDIO_WRITEPROTECT flushes the TLB of
 * every CPU running the program while no fault is served (doc/design.md, "What tracking may
 * cost": thousands of idle buffers). A page never seen may have been made since (before 6.4
 * the making write is no fault): its range is looked at every epoch. */
struct wp_range {
    bool settled;       /* at the last collection: every page seen, idle and protected */
    uint32_t releases;  /* the range's, and the lost ones, at that collection */
    uint32_t discards;
    uint32_t lost;
};

/* The pages that faults making a page since the last collection counted made with their own
 * (tracker.c, mark_fault), in [from, to), and that are still not there were not made: they are
 * forgotten, and once protected the write making one is a fault of its own (a fill's front
 * across a collection would otherwise count its block used). One the program makes between
 * the scan and the protection counts made at its next fault instead: one use not seen. Before
 * PAGEMAP_SCAN (6.7) only the migrator forgets them, when it finds them not there, after they
 * were protected again. */
static void forget_unmade(struct cdm_tracked *range, uintptr_t from, uintptr_t to)
{
    size_t page = plat_page_size(), n = 16;
    struct plat_page_region regions[16];
    for (uintptr_t at = from, walk_end; at < to && n == 16; at = walk_end) {
        walk_end = to;
        if (cdm__track_pagemap() < 0 ||
            plat_pagemap_scan(cdm__track_pagemap(), at, to, 0, 0,
                              PLAT_PAGE_IS_PRESENT | PLAT_PAGE_IS_SWAPPED, false, regions, 16,
                              &n, &walk_end) != 0)
            return;
        for (size_t r = 0; r < n; r++)
            for (uintptr_t p = regions[r].start; p < regions[r].end; p += page)
                cdm_pages_forget(&range->pages, (p - range->start) / page);
    }
}

static void wp_collect_range(struct cdm_tracked *range, uint32_t epoch)
{
    struct wp_range *own = range->backend_state;
    uint32_t lost = cdm__track_releases_lost();
    if (own->settled && own->releases == range->releases && own->discards == range->discards &&
        own->lost == lost)
        return;
    size_t page = plat_page_size();
    /* The page the last making fault made waits for the next collection: its thread may not
     * be back from the fault to write it yet, and that write would count as a use. */
    size_t making = SIZE_MAX;
    if (range->making_to > range->making_from) {
        forget_unmade(range, range->making_from, range->making_to);
        making = (range->making_page - range->start) / page;
        range->making_from = range->making_to = 0;
    }
    int32_t after = cdm__track_look_after(range);
    struct cdm_protect_run run = {.range = range};
    bool settled = true;
    for (size_t i = 0; i < range->n_pages; i++) {
        if (cdm_pages_idle(&range->pages, i, epoch, after) && i != making)
            cdm__track_protect_add(&run, range->start + i * page, page);
        else
            settled = false;
        settled &= cdm_pages_seen(&range->pages, i);
    }
    cdm__track_protect_flush(&run);
    *own = (struct wp_range){.settled = settled, .releases = range->releases,
                             .discards = range->discards, .lost = lost};
}

/* Before the ranges' collections: the new ones in huge pages become huge ranges. */
static void wp_collect(uint32_t epoch, bool ended)
{
    cdm__track_find_huge(epoch);
}

/* A huge range (tracker.c, "huge ranges"): a fault releases the aligned 2 MiB block around
 * it (cut at the range's ends), so its pages are used together, and the block is protected
 * again only whole, once all its pages are due (a write-protect change over part of a huge
 * page splits it). */
static void wp_huge_collect_range(struct cdm_tracked *range, uint32_t epoch)
{
    size_t page = plat_page_size();
    int32_t after = cdm__track_look_after(range);
    uintptr_t end = range->start + range->n_pages * page;
    struct cdm_protect_run run = {.range = range};
    for (uintptr_t block = range->start & ~(uintptr_t)(CDM_HUGE_BLOCK - 1); block < end;
         block += CDM_HUGE_BLOCK) {
        uintptr_t from = block > range->start ? block : range->start;
        uintptr_t to = block + CDM_HUGE_BLOCK < end ? block + CDM_HUGE_BLOCK : end;
        bool due = true;
        for (size_t i = (from - range->start) / page; due && i < (to - range->start) / page; i++)
            due = cdm_pages_idle(&range->pages, i, epoch, after);
        if (due)
            cdm__track_protect_add(&run, from, to - from);
    }
    cdm__track_protect_flush(&run);
}

static const struct cdm_track_ops wp_huge = {
    .collect_range = wp_huge_collect_range,
};

const struct cdm_track_ops cdm__track_wp = {
    .range_state_bytes = sizeof(struct wp_range),
    .registered = wp_registered,
    .collect = wp_collect,
    .collect_range = wp_collect_range,
    .huge = &wp_huge,
};

/* missing: the faults are all there is (tracker.c serves them). */
const struct cdm_track_ops cdm__track_missing = {0};
