/* SPDX-License-Identifier: MIT */
/* The tracker's inside (doc/design.md, "Tracking"): tracker.c owns the tracked ranges, their
 * lock, the epoch clock, the userfaultfd and the two threads; each way of seeing accesses is
 * a backend of its own file behind one table of operations:
 *   track_wp.c        wp (and the write-protection both wp backends use), missing
 *   track_wp_async.c  wp-async: PAGEMAP_SCAN over spans watched whole or through a probe
 *   track_damon.c     damon: the kernel's DAMON, through damon.c
 * Only tracker.c and those files include this. */
#ifndef CDM_TRACK_H
#define CDM_TRACK_H

#include "internal.h"

#include "decide.h"

/* What a backend does at each point of a range's and an epoch's life; NULL: nothing. */
struct cdm_track_ops {
    /* Bytes of state of its own a range needs, and more for each of its spans
     * (cdm_pages_spans); making it (range->backend_state, zeroed). */
    size_t range_state_bytes, span_state_bytes;
    void (*state_init)(struct cdm_tracked *range);
    /* A range was registered with the userfaultfd; the lock held. */
    void (*registered)(struct cdm_tracked *range);
    /* A range made of part of another (cut, moved) joined the registry; the lock held. */
    void (*adopted)(struct cdm_tracked *range);
    /* The descriptor the tracker thread waits on besides its own (-1: none), and whether
     * what came on it ended an epoch (DAMON's traced aggregations). */
    int (*event_fd)(void);
    bool (*epoch_ended)(void);
    /* When the epoch after one that began at `began` is due (0: an epoch after the last). */
    uint64_t (*next_epoch)(uint64_t began, uint64_t epoch_ns);
    /* Each epoch, no lock held (what blocks: DAMON's sysfs calls). */
    void (*collect)(uint32_t epoch, bool ended);
    /* Each epoch, each registered range, the lock held. */
    void (*collect_range)(struct cdm_tracked *range, uint32_t epoch);
    /* Page i was advised cold; the lock held. */
    void (*cooled)(struct cdm_tracked *range, size_t i);
    /* Whether the backend saw pages near [from, to) (inside the range) written lately, so that
     * DAMON's sighting of a region there may be those writes (doc/design.md, "Reads beside
     * writes"); the lock held, after the epoch's scans. NULL: never. */
    bool (*written_lately)(const struct cdm_tracked *range, uintptr_t from, uintptr_t to,
                           uint32_t epoch);
    /* At exit, and in a fork's child (what the parent's backend runs is not the child's). */
    void (*stop)(void);
    void (*forget)(void);
    /* The operations of its huge ranges (cdm__track_go_huge), or NULL: it has none. */
    const struct cdm_track_ops *huge;
};

CDM_HIDDEN extern const struct cdm_track_ops cdm__track_wp, cdm__track_missing,
    cdm__track_wp_async, cdm__track_damon;

/* ---------------------------------------------------------------- tracker.c, for backends */
/* The userfaultfd a range is registered with, and /proc/self/pagemap (wp-async), -1 when
 * not open. */
CDM_HIDDEN int cdm__track_uffd(const struct cdm_tracked *range);
/* What a write-protect fault costs a thread on this machine, in ns (0: not known); measured on
 * the tracker thread, with pages of our own. */
CDM_HIDDEN uint64_t cdm__track_fault_ns(void);
/* wp-async found huge pages in `range`: it goes to the synchronous userfaultfd (opened with
 * the first such range), so that writes do not split them; false when it cannot. The lock
 * held, on the tracker thread. */
CDM_HIDDEN bool cdm__track_go_huge(struct cdm_tracked *range);
/* wp, which has no PAGEMAP_SCAN: the ranges in their first epochs that /proc/self/smaps finds
 * in huge pages go to huge ranges. No lock held. */
CDM_HIDDEN void cdm__track_find_huge(uint32_t epoch);
CDM_HIDDEN int cdm__track_pagemap(void);
/* Faults resolved while no range could be told (range->releases counts the others). */
CDM_HIDDEN uint32_t cdm__track_releases_lost(void);
/* Pages of `range` in [from, to) seen used in `epoch` (the first write of a fresh page where
 * the backend sees it: made, not used); returns how many count as used. The lock held. */
CDM_HIDDEN size_t cdm__track_mark(struct cdm_tracked *range, uintptr_t from, uintptr_t to,
                                  uint32_t epoch);
/* The same for pages counted used without being seen (the probe watching their span was
 * written, or their span joins its cohort): no writer is named for them, where the epoch's one
 * user may not be theirs. */
CDM_HIDDEN size_t cdm__track_mark_inferred(struct cdm_tracked *range, uintptr_t from,
                                           uintptr_t to, uint32_t epoch);
/* Where range->users keeps page i's writer: its span's entry, or in a huge range its block's
 * (blocks start at huge pages' boundaries, spans at the range's start: a span held parts of two
 * huge pages, and the writer of one moved the other's pages with it). */
CDM_HIDDEN size_t cdm__track_user_slot(const struct cdm_tracked *range, size_t i);
/* Whether the spans of pages i and j may share a probe: with several sockets only when both
 * have the same known writer, since a probe's write names its own span's writer alone (two
 * writers' halves of one buffer sharing one probe kept one half on the other's DRAM). */
CDM_HIDDEN bool cdm__track_same_writer(const struct cdm_tracked *range, size_t i, size_t j);
/* The same over every range in [from, to), for each of n regions; takes the lock. */
CDM_HIDDEN void cdm__track_mark_regions(const uintptr_t *from, const uintptr_t *to, int n,
                                        uint32_t epoch);
/* The registered ranges in at most `max` spans of addresses (neighbours merged when there
 * are more), and whether they changed since the last call; takes the lock. */
CDM_HIDDEN int cdm__track_spans(uintptr_t *starts, uintptr_t *ends, int max, bool *changed);

/* ---------------------------------------------------------------- migrate.c, for tracker.c */
/* Pages per move_pages call: each call has a fixed cost (28-45 us natively, 5 ms under TCG,
 * bench/RESULTS.md), and faults never wait for the migrator, so few large calls. A discard
 * waits for the call in flight on its pages: 4 MiB at most. */
#define CDM_MOVE_BATCH 1024
/* Nodes counted per rule in `epoch` events. */
#define CDM_EPOCH_NODES 64

/* Pages of one rule going one way, from any number of its ranges. */
struct cdm_move_batch {
    int rule;
    bool to_dram;
    uint32_t epoch;
    const char *reason;
    int n;        /* pages */
    int n_ranges; /* the ranges they are in, in the order they were added */
    struct {
        struct cdm_range_ref ref;
        uint32_t discards;         /* the range's count when its first page was added */
        struct cdm_tracked *range; /* while the lock is held; NULL: gone, or discarded */
    } ranges[CDM_MOVE_BATCH];
    uint16_t in[CDM_MOVE_BATCH]; /* page k is in ranges[in[k]] */
    size_t index[CDM_MOVE_BATCH];
    void *pages[CDM_MOVE_BATCH];
    int nodes[CDM_MOVE_BATCH];
    int status[CDM_MOVE_BATCH];
    int16_t before[CDM_MOVE_BATCH]; /* where the page was when it was added; -1 not known */
};

/* One rule's epoch: what it decides from (tier's cut), and what it counted. */
struct cdm_rule_epoch {
    bool tier;
    int32_t idle;            /* follow-cpu: epochs without use before a page goes back */
    struct cdm_tier_cut cut; /* tier: which heat goes to DRAM */
    uint64_t hot, cold;      /* pages wanted on DRAM, on the rule's nodes */
    uint64_t unknown;        /* seen, but where they are is not known */
    uint64_t per_node[CDM_EPOCH_NODES];
};

/* With the tracker's lock held. The rule's ranges (tier ranks their pages by heat). */
CDM_HIDDEN void cdm__migrate_rule_start(struct cdm_rule_epoch *r, int rule,
                                        struct cdm_tracked *const *ranges, int n_ranges);
CDM_HIDDEN void cdm__migrate_batch_start(struct cdm_move_batch *b, int rule, bool to_dram,
                                         uint32_t epoch, bool epoch_end);
/* Adds the pages of `range` from page `from` on that should move the batch's way, until the
 * batch is full (n == CDM_MOVE_BATCH); returns where it stopped: n_pages, or the page after
 * the one that filled it. */
CDM_HIDDEN size_t cdm__migrate_plan(struct cdm_move_batch *b, struct cdm_tracked *range,
                                    struct cdm_range_ref ref, size_t from, uint32_t epoch,
                                    struct cdm_rule_epoch *r);
/* After the lock was released: the pages of ranges that went (range NULL) or were discarded
 * meanwhile leave the batch. */
CDM_HIDDEN void cdm__migrate_keep_live(struct cdm_move_batch *b);
/* Whether a page of the batch is where nothing is known of it (asked first). */
CDM_HIDDEN bool cdm__migrate_unknown(const struct cdm_move_batch *b);
CDM_HIDDEN void cdm__migrate_drop_there(struct cdm_move_batch *b);
/* Whether memory of the rule's nodes went offline since the last look (every few epochs): the
 * kernel moved its pages elsewhere; forget_nodes makes every page of a range asked where it
 * is before it moves again. */
CDM_HIDDEN bool cdm__migrate_nodes_shrank(int rule, uint32_t epoch);
CDM_HIDDEN void cdm__migrate_forget_nodes(struct cdm_tracked *range);
/* The counts of an epoch's end, and the pages' aging (tier), range by range; its event. */
CDM_HIDDEN void cdm__migrate_count(struct cdm_rule_epoch *r, struct cdm_tracked *range,
                                   uint32_t epoch);
CDM_HIDDEN void cdm__migrate_rule_end(const struct cdm_rule_epoch *r, int rule, uint32_t epoch);
/* With no lock held: the system calls, 0 or an errno (status[] per page). */
CDM_HIDDEN int cdm__migrate_query(struct cdm_move_batch *b);
CDM_HIDDEN int cdm__migrate_move(struct cdm_move_batch *b);
/* The lock held again, the ranges looked up anew: what cdm__migrate_move reported goes into
 * the pages' state, the rule's counts and a `migrate` event. */
CDM_HIDDEN void cdm__migrate_settle(struct cdm_move_batch *b, int err, uint64_t spent);

/* ---------------------------------------------------------------- track_wp.c */
/* Write-protect [start, start + len) of `range`, through the userfaultfd it is registered
 * with (page by page where the kernel refuses it whole). */
CDM_HIDDEN void cdm__track_protect(const struct cdm_tracked *range, uintptr_t start, size_t len);
/* Pages of `range` to protect, gathered in address order so that neighbours make one call:
 * each call that changes an entry flushes the TLB of every CPU running the program. */
struct cdm_protect_run {
    const struct cdm_tracked *range;
    uintptr_t start, end;
};
CDM_HIDDEN void cdm__track_protect_add(struct cdm_protect_run *run, uintptr_t start, size_t len);
CDM_HIDDEN void cdm__track_protect_flush(struct cdm_protect_run *run);
/* Epochs after a use before a page's next write matters (half the rule's `idle`). */
CDM_HIDDEN int32_t cdm__track_look_after(const struct cdm_tracked *range);

/* ---------------------------------------------------------------- track_wp_async.c */
/* Huge ranges: what a synchronous write-protect fault releases, and what is protected again
 * each epoch (the backends' `huge` operations): aligned blocks of a huge page, so that no huge
 * page is split. */
#define CDM_HUGE_BLOCK (2u << 20)

#endif
