/* SPDX-License-Identifier: MIT */
/* The wp-async tracker (track.h): write-protected pages lose their protection when written,
 * in the kernel, and PAGEMAP_SCAN (Linux 6.7) reads back which did; no fault ever waits for
 * us. A span in use is watched through one page of it (see arm_spans). */
#include "track.h"

#include <string.h>

/* wp-async watches a range in its spans (range->span_pages: a huge page's worth, which
 * migrates as a whole anyway, or a whole number of them in a range too large for 512 of
 * those, so that their state is a constant a range: cdm_pages_spans), each in one of four
 * ways:
 *   WHOLE      every page protected: the scan tells exactly which were written
 *   PROBED     the span's cohort, the pages seen used at its last sighting, is watched
 *              through one of its pages, all marked again when that one is written; every
 *              other page of the span is protected and seen on its own
 *   SHARED     the span was written whole in the same epoch as its neighbours (a loop
 *              streaming through the buffer): one of them, PROBED, watches them all
 *   UNWATCHED  the span was seen written lately, and needs no look before its pages could
 *              become idle (as wp's protect_due); written pages are left unprotected
 * Each protected page the program writes costs it a minor fault (some 1 us natively), and
 * each protecting call a TLB flush on every CPU running the program (milliseconds in a busy
 * emulated guest): protecting every written page again each epoch made a streaming loop 2.9
 * times slower natively (bench/RESULTS.md, "Migration and tracking"); a span the program
 * keeps writing costs it one fault and one call per half `idle`, and up to SHARED_SPANS spans
 * it writes whole together share those (on this project's machine each call cost a streaming
 * loop some 20 us: 1-2% at one call per span). */
#define SHARED_SPANS 16
/* A span just made keeps its probe this many epochs at least (`idle` beyond) after the last
 * page of its range was made, so while its range is being filled too, up to MADE_EPOCHS_MAX
 * from its own making: the pages a fill made first must still be watched through it when the
 * program's first pass reaches them, or they are protected whole and that pass takes a fault a
 * page. Counted from the span's own making, a fill longer than MADE_EPOCHS (three arrays of
 * 250 MiB took 23-34 epochs on a host where making a page was slow) had its first spans
 * protected whole by its end, and the loop's first pass took 25 times a plain one
 * (bench/RESULTS.md, "A streaming loop's whole run"). The price: a later write that misses
 * the probe is seen only then. */
#define MADE_EPOCHS 10
#define MADE_EPOCHS_MAX 160

enum span_watch { UNWATCHED, PROBED, WHOLE, SHARED };

struct cdm_span {
    uint32_t cohort;     /* the epoch the span was last seen used; 0: not in use */
    uint32_t probe : 24; /* PROBED: the page watched for the cohort, an index in the span */
    uint32_t watch : 2;  /* enum span_watch */
    /* The cohort is the pages made in its epoch (every page seen), none used yet: the span
     * was filled, and is probed at once, so that the program's first pass over what it filled
     * costs a fault a span (or fewer, shared), not one a page (follow-cpu and profiles). */
    uint32_t made : 1;
    /* SHARED: where the span watching it is (PROBED; a huge range's: WHOLE), fewer than
     * SHARED_SPANS away */
    int32_t prober : 5;
};
_Static_assert(sizeof(struct cdm_span) == 8, "a span's state is 8 bytes");
_Static_assert(CDM_PAGE_SPAN_PAGES_MAX <= 1u << 24, "a probe's index fits its field");

/* Each protected page the program writes is an in-kernel fault, some 1-2 us natively (more
 * while a protecting call is in flight: the fault then flushes the TLB of every CPU running
 * the program). A program that writes more pages at random an epoch than it has time to take
 * faults for falls behind, writes fewer pages an epoch, so its spans look scattered and stay
 * protected whole: it never catches up (bench/RESULTS.md, "Random updates"). So the faults
 * of each epoch are counted, and above a budget (FAULT_SHARE_NS of each second at what a
 * fault costs here, measured at the first collection: 12 us in a PVM guest, where a fixed
 * 20,000 faults a second cost a quarter of a CPU) a span written at random counts whole,
 * until COARSE_EPOCHS after the last one did: the pages of it seen before join the pages seen
 * used at its last sighting (when at least 1/COARSE_SHARE of them were used in the last
 * COARSE_EPOCHS), and it is probed as a span written whole. Within the budget every page is
 * seen on its own. */
#define FAULT_SHARE_NS 20000000u /* 2% */
#define FAULTS_PER_SECOND_MAX 20000u
#define FAULTS_PER_SECOND_MIN 1000u
#define COARSE_EPOCHS 20
#define COARSE_SHARE 8
/* Over the budget a probe is kept `probe_epochs`, COARSE_EPOCHS at first. Faults over the
 * budget for COARSE_EPOCHS / 4 epochs in a row double it, up to COARSE_EPOCHS_MAX: a loop
 * whose pass over its buffers takes longer than that comes back to each span after its probe
 * expired, faults on every page of it, and never catches up (a pass over 1.1 GB on a host
 * where a fault took 8 us: 281,600 faults a pass, every pass). */
#define COARSE_EPOCHS_MAX 160

static struct {
    uint32_t per_second;   /* the budget; 0: not set yet */
    size_t faults;         /* protected pages seen written in this epoch's scans */
    uint32_t coarse_to;    /* spans written at random count whole before this epoch */
    uint32_t probe_epochs; /* a probe's life over the budget */
    uint32_t over_run;     /* epochs over the budget in a row */
} pressure = {.probe_epochs = COARSE_EPOCHS};

static struct cdm_span *spans_of(const struct cdm_tracked *range)
{
    return range->backend_state;
}

/* The spans from the range's start (its blocks, from the boundary below, are n_spans). */
static size_t range_spans(const struct cdm_tracked *range)
{
    return (range->n_pages + range->span_pages - 1) / range->span_pages;
}

/* Span s of the range: its pages [*first, *last), the last span cut at the range's end. */
static void span_pages_of(const struct cdm_tracked *range, size_t s, size_t *first, size_t *last)
{
    *first = s * range->span_pages;
    *last = *first + range->span_pages < range->n_pages ? *first + range->span_pages
                                                        : range->n_pages;
}

/* Whether page i is in the cohort of `span` (its own). */
static bool in_cohort(const struct cdm_tracked *range, const struct cdm_span *span, size_t i)
{
    return span->made ? cdm_pages_seen(&range->pages, i)
                      : cdm_pages_used_in(&range->pages, i, span->cohort);
}

/* Marks the cohorts of the spans that span s watches (SHARED, on either side of it). */
static void mark_shared(struct cdm_tracked *range, size_t s, uint32_t epoch)
{
    size_t page = plat_page_size(), n_spans = range_spans(range);
    for (int dir = -1; dir <= 1; dir += 2) {
        for (long t = (long)s + dir; t >= 0 && (size_t)t < n_spans; t += dir) {
            struct cdm_span *other = &spans_of(range)[t];
            if (other->watch != SHARED || t + other->prober != (long)s)
                break;
            size_t first, last;
            span_pages_of(range, (size_t)t, &first, &last);
            for (size_t i = first; i < last; i++)
                if (in_cohort(range, other, i))
                    cdm__track_mark_inferred(range, range->start + i * page,
                                             range->start + (i + 1) * page, epoch);
            *other = (struct cdm_span){.watch = UNWATCHED, .cohort = epoch};
        }
    }
}

/* wp-async: what PAGEMAP_SCAN reports written in span s: present and written pages, those
 * unprotected since they were protected (6.12 reports a range's never-touched holes as
 * written, and such a sighting would use up the page's first write). In a PROBED span the
 * cohort's pages other than the probe were left unprotected: their report means nothing.
 * The scan protects nothing (arm_spans does). Returns whether a written page was part of a
 * huge page. */
static bool collect_span(struct cdm_tracked *range, size_t s, uint32_t epoch)
{
    struct cdm_span *span = &spans_of(range)[s];
    struct plat_page_region regions[256];
    size_t page = plat_page_size(), first, last, used = 0, made = 0;
    span_pages_of(range, s, &first, &last);
    uintptr_t from = range->start + first * page, to = range->start + last * page;
    uintptr_t probe = from + span->probe * page;
    bool seen = false, probe_seen = false, huge = false;
    while (from < to) {
        size_t n = 0;
        uintptr_t walk_end = to;
        int err = plat_pagemap_scan(cdm__track_pagemap(), from, to,
                                    PLAT_PAGE_IS_WRITTEN | PLAT_PAGE_IS_PRESENT, 0,
                                    PLAT_PAGE_IS_PFNZERO, false, regions,
                                    sizeof regions / sizeof regions[0], &n, &walk_end);
        if (err) {
            cdm__warn_once(CDM_WARN_TRACKER, "PAGEMAP_SCAN failed (%s): pages written from "
                                             "now on are not seen",
                           strerrorname_np(err));
            break;
        }
        for (size_t r = 0; r < n; r++) {
            huge |= (regions[r].categories & PLAT_PAGE_IS_HUGE) != 0;
            if (span->watch == WHOLE) {
                seen = true;
                size_t marked = cdm__track_mark(range, regions[r].start, regions[r].end, epoch);
                pressure.faults += marked;
                used += marked;
                made += (regions[r].end - regions[r].start) / page - marked;
                continue;
            }
            probe_seen |= probe >= regions[r].start && probe < regions[r].end;
            for (uintptr_t at = regions[r].start; at < regions[r].end; at += page) {
                if (in_cohort(range, span, (at - range->start) / page))
                    continue;
                seen = true;
                size_t marked = cdm__track_mark(range, at, at + page, epoch);
                pressure.faults += marked;
                used += marked;
                made += 1 - marked;
            }
        }
        if (walk_end <= from)
            break;
        from = walk_end;
    }
    for (size_t i = first; probe_seen && i < last; i++)
        if (in_cohort(range, span, i))
            used += cdm__track_mark(range, range->start + i * page, range->start + (i + 1) * page,
                                 epoch);
    if (seen || probe_seen)
        span->watch = UNWATCHED; /* what was seen written is unprotected now */
    if (made)
        range->made_epoch = epoch;
    if (used) {
        span->cohort = epoch;
        span->made = false;
    } else if (made && !span->cohort && !range->pages.heat) { /* tier ranks pages' own heat */
        span->cohort = epoch;
        span->made = true;
    }
    if (probe_seen)
        mark_shared(range, s, epoch);
    return huge;
}

/* Runs of pages outside span s's cohort: a cohort of pages written here and there (a
 * program updating records at random) leaves as many, and probing it would take a call for
 * each; such a span is protected whole instead, one call, and each page its program writes
 * again costs a fault, which is cheaper. */
#define PROBED_GAPS 4

static size_t scattered(const struct cdm_tracked *range, size_t s)
{
    size_t first, last, runs = 0;
    span_pages_of(range, s, &first, &last);
    const struct cdm_span *span = &spans_of(range)[s];
    for (size_t i = first; i < last; i++)
        runs += !in_cohort(range, span, i) && (i == first || in_cohort(range, span, i - 1));
    return runs;
}

/* Span s, written at random while faults are over budget, counts as written whole: the
 * pages of it seen before join its cohort, when 1/COARSE_SHARE of them were used in the last
 * COARSE_EPOCHS (not only in the cohort's epoch: a writer our faults slow down writes a few
 * pages of each span an epoch, and its spans then never looked dense enough to join; 512 MiB
 * at random took 0.1 million writes a second, against 70 million plain, on a host where a fault
 * cost 8 us). Returns whether they did. */
static bool join_cohort(struct cdm_tracked *range, size_t s, uint32_t epoch)
{
    size_t first, last, seen = 0, recent = 0, page = plat_page_size();
    uint32_t cohort = spans_of(range)[s].cohort;
    if ((int32_t)(pressure.coarse_to - epoch) <= 0)
        return false;
    span_pages_of(range, s, &first, &last);
    for (size_t i = first; i < last; i++) {
        seen += cdm_pages_seen(&range->pages, i);
        recent += !cdm_pages_idle(&range->pages, i, epoch, COARSE_EPOCHS);
    }
    if (recent * COARSE_SHARE < seen)
        return false;
    /* Still needed: a span that falls back to whole protection (its probe missed while its
     * program was off the CPU) is counted whole again at its next look, not after a storm. */
    pressure.coarse_to = epoch + COARSE_EPOCHS;
    for (size_t i = first; i < last; i++)
        if (cdm_pages_seen(&range->pages, i) && !cdm_pages_used_in(&range->pages, i, cohort))
            cdm__track_mark_inferred(range, range->start + i * page,
                                     range->start + (i + 1) * page, cohort);
    /* The pages that joined are still protected from the span's last look, and a write to one
     * would be a fault no scan counts (a PROBED span's cohort reports nothing): without this the
     * writer above kept taking 40,000 faults a second, its scans finding a tenth of them. */
    plat_uffd_writeprotect(cdm__track_uffd(range), range->start + first * page,
                           (last - first) * page, false);
    return true;
}

/* The next probe: the cohort's first page from some 5/8 of the span past the last probe,
 * so that successive probes spread over the cohort (a cohort the program has stopped
 * writing in part soon gets a probe there, which is not written, and the span is watched
 * whole again); -1 when no page of the cohort is left (discarded or hinted since). */
static long next_in_cohort(const struct cdm_tracked *range, size_t s)
{
    const struct cdm_span *span = &spans_of(range)[s];
    size_t first, last;
    span_pages_of(range, s, &first, &last);
    size_t pages = last - first, from = span->probe + (pages * 5 / 8 | 1);
    for (size_t k = 0; k < pages; k++) {
        size_t i = (from + k) % pages;
        if (in_cohort(range, span, first + i))
            return (long)i;
    }
    return -1;
}

/* Whether span s is in use and due for a look (a span just made is at once), and written
 * (or made) whole in its cohort's epoch. */
static bool due_whole(const struct cdm_tracked *range, size_t s, int32_t after, uint32_t epoch)
{
    const struct cdm_span *span = &spans_of(range)[s];
    if (span->watch != UNWATCHED || !span->cohort ||
        (!span->made && (int32_t)(epoch - span->cohort) < after))
        return false;
    size_t first, last;
    span_pages_of(range, s, &first, &last);
    for (size_t i = first; i < last; i++)
        if (!in_cohort(range, span, i))
            return false;
    return true;
}

/* Spans from s on that can share one probe: due, written whole in the same epoch; tier
 * rules (ranking each span's own heat) share none. */
static size_t shared_run(const struct cdm_tracked *range, size_t s, int32_t after,
                         uint32_t epoch)
{
    size_t n = 0, n_spans = range_spans(range);
    if (range->pages.heat)
        return 1;
    while (n < SHARED_SPANS && s + n < n_spans && due_whole(range, s + n, after, epoch) &&
           spans_of(range)[s + n].cohort == spans_of(range)[s].cohort &&
           spans_of(range)[s + n].made == spans_of(range)[s].made &&
           cdm__track_same_writer(range, s * range->span_pages, (s + n) * range->span_pages))
        n++;
    return n ? n : 1;
}

/* wp-async: protect what the next scan must see. A span seen used lately is left alone
 * until its next write matters, then probed, which leaves the program the other half of
 * `idle` to write it; spans written whole together are probed through one of them, a
 * different one each look (by the cohort's epoch), so a part the program has left soon
 * holds the probe. A span not in use, or whose probe was not written by the epoch before
 * its cohort would be idle, is protected whole: the pages written in that last epoch are
 * seen in time, when the probe fell on a part the program has left. */
static void arm_spans(struct cdm_tracked *range, uint32_t epoch)
{
    size_t page = plat_page_size();
    int32_t idle = (int32_t)cdm__migrate_idle_epochs(range->rule), after = cdm__track_look_after(range);
    /* Over the fault budget a probe is kept `probe_epochs` at least: a loop that takes longer
     * than `idle` over its buffers reaches a span after its probe expired, and protecting it
     * whole made the loop fault on every page and slow down further (a profile's `idle` is
     * one epoch; process_lifecycle's `loop_slower_than_idle_*`). Tier ranks each page's own
     * heat: its probes keep COARSE_EPOCHS, riding no longer. */
    int32_t coarse = range->pages.heat ? COARSE_EPOCHS : (int32_t)pressure.probe_epochs;
    int32_t probed_idle = (int32_t)(pressure.coarse_to - epoch) > 0 && idle < coarse ? coarse
                                                                                      : idle;
    int32_t made_idle = probed_idle > MADE_EPOCHS ? probed_idle : MADE_EPOCHS;
    struct cdm_protect_run run = {.range = range};
    for (size_t s = 0; s < range_spans(range); s++) {
        struct cdm_span *span = &spans_of(range)[s];
        size_t first, last;
        span_pages_of(range, s, &first, &last);
        bool made = span->watch == UNWATCHED && span->made;
        bool in_use = span->watch == UNWATCHED && span->cohort && !made;
        int32_t age = (int32_t)(epoch - span->cohort);
        /* A made span's probe ages from its range's last making, within MADE_EPOCHS_MAX. */
        int32_t since_made = (int32_t)(epoch - range->made_epoch);
        int32_t probe_age = span->made && age < MADE_EPOCHS_MAX && since_made < age ? since_made
                                                                                    : age;
        if (span->watch == WHOLE || (in_use && age < after) ||
            ((span->watch == PROBED || span->watch == SHARED) &&
             probe_age < (span->made ? made_idle : probed_idle) - 1))
            continue;
        bool spread = in_use && scattered(range, s) > PROBED_GAPS;
        if (spread && join_cohort(range, s, epoch))
            spread = scattered(range, s) > PROBED_GAPS;
        bool probed = made || (in_use && !spread);
        long next = probed ? next_in_cohort(range, s) : -1;
        if (next < 0) {
            cdm__track_protect_add(&run, range->start + first * page, (last - first) * page);
            span->watch = WHOLE;
            span->made = false;
            continue;
        }
        size_t sharing = shared_run(range, s, after, epoch), sharing_end = s + sharing;
        if (sharing > 1) {
            uint32_t cohort = span->cohort;
            /* A different one each look: the cohort's epoch hashed (Knuth's multiplier). */
            long prober = (long)(s + (cohort * 2654435761u >> 16) % sharing);
            for (size_t t = s; t < sharing_end; t++)
                spans_of(range)[t] = (struct cdm_span){.watch = SHARED, .cohort = cohort,
                                                    .made = made,
                                                    .prober = (int32_t)(prober - (long)t)};
            s = (size_t)prober;
            span = &spans_of(range)[s];
            span_pages_of(range, s, &first, &last);
            next = next_in_cohort(range, s);
        }
        /* The probe, and the pages outside the cohort. */
        span->probe = (uint32_t)next;
        span->watch = PROBED;
        for (size_t i = first; i < last; i++)
            if (!in_cohort(range, span, i) || i == first + span->probe)
                cdm__track_protect_add(&run, range->start + i * page, page);
        s = sharing_end - 1; /* past the spans it watches */
    }
    cdm__track_protect_flush(&run);
}

/* ------------------------------------------------------------------ huge ranges */

/* A huge range's blocks: span-sized, from the huge page's boundary at or below its start,
 * so that none splits a huge page; there are n_spans of them (one more than its spans where
 * the range does not start on a boundary). Block k's state is the k-th span's entry. */
static uintptr_t blocks_base(const struct cdm_tracked *range)
{
    return range->start & ~(uintptr_t)(CDM_HUGE_BLOCK - 1);
}

static size_t block_bytes(const struct cdm_tracked *range)
{
    return (size_t)range->span_pages * plat_page_size();
}

/* Block k's pages [*first, *last), cut at the range's ends. */
static void block_pages_of(const struct cdm_tracked *range, size_t k, size_t *first,
                           size_t *last)
{
    size_t page = plat_page_size();
    uintptr_t end = range->start + range->n_pages * page;
    uintptr_t from = blocks_base(range) + k * block_bytes(range), to = from + block_bytes(range);
    *first = (from > range->start ? from - range->start : 0) / page;
    *last = ((to < end ? to : end) - range->start) / page;
}

/* Whether a page of block k was used in `epoch`. */
static bool block_used_in(const struct cdm_tracked *range, size_t k, uint32_t epoch)
{
    size_t first, last;
    block_pages_of(range, k, &first, &last);
    for (size_t i = first; i < last; i++)
        if (cdm_pages_used_in(&range->pages, i, epoch))
            return true;
    return false;
}

/* Whether blocks j and k may share a probe (cdm__track_same_writer). */
static bool blocks_same_writer(const struct cdm_tracked *range, size_t j, size_t k)
{
    size_t first_j, first_k, last;
    block_pages_of(range, j, &first_j, &last);
    block_pages_of(range, k, &first_k, &last);
    return cdm__track_same_writer(range, first_j, first_k);
}

/* A huge range (tracker.c, "huge ranges") is watched in blocks of whole huge pages (one, or
 * a span's worth in a larger range) through the synchronous userfaultfd, where a fault marks
 * and releases its aligned 2 MiB (a block of several takes a fault for each written). A block is
 * protected again, whole, once its pages are due (a write-protect change over part of a huge
 * page splits it); one not there yet is protected to no effect (its making is not seen, and
 * is not a use). Each protected block a program keeps writing costs it a fault round trip
 * per half `idle` (bench/RESULTS.md, "Random updates"), so due blocks side by side that were
 * written in the same epoch share one protected block, as SHARED spans share a probe: when
 * it is written they all count as written; when it is not by the epoch before they would be
 * idle, each is protected on its own. tier ranks each block's own heat: none share. */
static void wp_async_huge_collect_range(struct cdm_tracked *range, uint32_t epoch)
{
    size_t page = plat_page_size(), n_spans = range->n_spans;
    int32_t after = cdm__track_look_after(range);
    int32_t idle = (int32_t)cdm__migrate_idle_epochs(range->rule);
    struct cdm_protect_run run = {.range = range};
    struct cdm_span *spans = spans_of(range);
    for (size_t s = 0; s < n_spans; s++) /* this epoch's faults */
        if (spans[s].watch != SHARED && block_used_in(range, s, epoch))
            spans[s] = (struct cdm_span){.watch = UNWATCHED, .cohort = epoch};
    for (size_t s = 0; s < n_spans; s++) {
        struct cdm_span *span = &spans[s];
        if (span->watch != SHARED)
            continue;
        size_t first, last;
        block_pages_of(range, s, &first, &last);
        if ((int32_t)(spans[s + span->prober].cohort - span->cohort) > 0) {
            cdm__track_mark_inferred(range, range->start + first * page,
                                     range->start + last * page, epoch);
            *span = (struct cdm_span){.watch = UNWATCHED, .cohort = epoch};
        } else if ((int32_t)(epoch - span->cohort) >= idle - 1) {
            span->watch = WHOLE;
        }
    }
    for (size_t s = 0; s < n_spans; s++) {
        struct cdm_span *span = &spans[s];
        uint32_t cohort = span->cohort;
        if (span->watch == SHARED || (cohort && (int32_t)(epoch - cohort) < after))
            continue;
        size_t sharing = 1;
        while (!range->pages.heat && cohort && span->watch == UNWATCHED &&
               sharing < SHARED_SPANS && s + sharing < n_spans &&
               spans[s + sharing].watch == UNWATCHED && spans[s + sharing].cohort == cohort &&
               blocks_same_writer(range, s, s + sharing))
            sharing++;
        size_t prober = s + (cohort * 2654435761u >> 16) % sharing;
        for (size_t t = s; t < s + sharing; t++)
            spans[t] = (struct cdm_span){.watch = SHARED, .cohort = cohort,
                                         .prober = (int32_t)((long)prober - (long)t)};
        spans[prober].watch = WHOLE;
        size_t first, last;
        block_pages_of(range, prober, &first, &last);
        cdm__track_protect_add(&run, range->start + first * page, (last - first) * page);
        s += sharing - 1;
    }
    cdm__track_protect_flush(&run);
}

/* wp-async: page i was hinted cold while its span's cohort pages may be unprotected, and
 * its next report would count as a write: the span is watched whole from its next look. */
static void wp_async_cooled(struct cdm_tracked *range, size_t i)
{
    struct cdm_span *span = &spans_of(range)[i / range->span_pages];
    if (span->watch != WHOLE)
        *span = (struct cdm_span){.watch = UNWATCHED};
}

/* Watched whole from the start, with nothing protected: the pages are not there yet, or were
 * written before; either way what the first scan reports is the write that made them
 * (cdm__track_mark). */
static void wp_async_state_init(struct cdm_tracked *range)
{
    for (size_t s = 0; s < range_spans(range); s++)
        spans_of(range)[s] = (struct cdm_span){.watch = WHOLE};
}

/* Protected whole, so that its spans start again from what is known (written pages left
 * unprotected would read as written at the next scan). */
static void wp_async_adopted(struct cdm_tracked *range)
{
    if (range->registered)
        cdm__track_protect(range, range->start, range->n_pages * plat_page_size());
}

/* The faults a second that cost the program FAULT_SHARE_NS at what one costs here. */
static uint32_t faults_per_second(void)
{
    if (!pressure.per_second) {
        uint64_t fault_ns = cdm__track_fault_ns();
        uint64_t n = fault_ns ? FAULT_SHARE_NS / fault_ns : FAULTS_PER_SECOND_MAX;
        pressure.per_second = n > FAULTS_PER_SECOND_MAX ? FAULTS_PER_SECOND_MAX
                              : n < FAULTS_PER_SECOND_MIN ? FAULTS_PER_SECOND_MIN
                                                          : (uint32_t)n;
        cdm__debug(1, "wp-async: a write-protect fault costs %llu ns here: a budget of %u faults "
                   "a second", (unsigned long long)fault_ns, pressure.per_second);
    }
    return pressure.per_second;
}

/* Before the epoch's scans: the last epoch's faults against the budget. */
static void wp_async_collect(uint32_t epoch, bool ended)
{
    uint64_t budget = faults_per_second() * cdm__rt.config.settings.epoch_ns / 1000000000u;
    if (pressure.faults > (budget ? budget : 1)) {
        if (++pressure.over_run >= COARSE_EPOCHS / 4 &&
            pressure.probe_epochs < COARSE_EPOCHS_MAX) {
            pressure.probe_epochs *= 2;
            pressure.over_run = 0;
        }
        pressure.coarse_to = epoch + COARSE_EPOCHS;
    } else {
        pressure.over_run = 0;
    }
    pressure.faults = 0;
}

/* A range written in huge pages leaves: protected here, the program's first write to each
 * would split its huge page (an asynchronous write-protect fault is served on 4 KiB pages). */
static void wp_async_collect_range(struct cdm_tracked *range, uint32_t epoch)
{
    bool huge = false;
    for (size_t s = 0; s < range_spans(range); s++)
        if (spans_of(range)[s].watch == PROBED || spans_of(range)[s].watch == WHOLE)
            huge |= collect_span(range, s, epoch);
    if (!huge || !cdm__track_go_huge(range)) {
        arm_spans(range, epoch);
        return;
    }
    /* Its spans start again as blocks (wp_async_huge_collect_range): used now, or not lately. */
    for (size_t k = 0; k < range->n_spans; k++)
        spans_of(range)[k] = (struct cdm_span){
            .watch = UNWATCHED, .cohort = block_used_in(range, k, epoch) ? epoch : 0};
}

/* ------------------------------------------------------------------ beside DAMON */

/* A span's cohort is what wp-async holds in use, unlooked at, until its pages would be idle:
 * looked at again `after` epochs on (arm_spans), a SHARED span's or a slow loop's probe
 * later, up to an epoch before `idle`. Within that a sighting of pages near it may be its
 * writes; from then on DAMON's sightings count, an epoch before its pages would go back. */
static bool lately(const struct cdm_tracked *range, const struct cdm_span *span, uint32_t epoch)
{
    return span->cohort && (int32_t)(epoch - span->cohort) <
                               (int32_t)cdm__migrate_idle_epochs(range->rule) - 1;
}

/* Spans [first, last] of the range, or its blocks when huge: whether one was written lately. */
static bool spans_written_lately(const struct cdm_tracked *range, size_t first, size_t last,
                                 uint32_t epoch)
{
    for (size_t s = first; s <= last; s++)
        if (lately(range, &spans_of(range)[s], epoch))
            return true;
    return false;
}

/* DAMON's sighting of a region is one sampled page's access, any page's of the region: where
 * wp-async saw pages of the region's spans written lately (made, or in use), the sighting may
 * be those writes, and the other pages there are not known read (doc/design.md, "Reads beside
 * writes"). Called after the epoch's scans, so this epoch's writes are among them; [from, to)
 * is inside the range. */
static bool wp_async_written_lately(const struct cdm_tracked *range, uintptr_t from, uintptr_t to,
                                    uint32_t epoch)
{
    size_t span = block_bytes(range); /* a span's bytes */
    return spans_written_lately(range, (from - range->start) / span, (to - 1 - range->start) / span,
                                epoch);
}

static bool wp_async_huge_written_lately(const struct cdm_tracked *range, uintptr_t from,
                                         uintptr_t to, uint32_t epoch)
{
    size_t block = block_bytes(range);
    return spans_written_lately(range, (from - blocks_base(range)) / block,
                                (to - 1 - blocks_base(range)) / block, epoch);
}

/* A huge range's: only its collection, in blocks. */
static const struct cdm_track_ops wp_async_huge = {
    .collect_range = wp_async_huge_collect_range,
    .written_lately = wp_async_huge_written_lately,
};

const struct cdm_track_ops cdm__track_wp_async = {
    .span_state_bytes = sizeof(struct cdm_span), /* a block's each (its spans: one fewer at most) */
    .state_init = wp_async_state_init,
    .adopted = wp_async_adopted,
    .collect = wp_async_collect,
    .collect_range = wp_async_collect_range,
    .cooled = wp_async_cooled,
    .written_lately = wp_async_written_lately,
    .huge = &wp_async_huge,
};
