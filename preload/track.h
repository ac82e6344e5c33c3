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

/* What a backend does at each point of a range's and an epoch's life; NULL: nothing. */
struct cdm_track_ops {
    /* Bytes of state of its own a range of n_pages needs, and making it (range->backend_state,
     * zeroed). */
    size_t (*state_size)(size_t n_pages);
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
    /* At exit, and in a fork's child (what the parent's backend runs is not the child's). */
    void (*stop)(void);
    void (*forget)(void);
};

CDM_HIDDEN extern const struct cdm_track_ops cdm__track_wp, cdm__track_missing,
    cdm__track_wp_async, cdm__track_damon;

/* ---------------------------------------------------------------- tracker.c, for backends */
/* The userfaultfd and /proc/self/pagemap (wp-async), -1 when not open. */
CDM_HIDDEN int cdm__track_uffd(void);
CDM_HIDDEN int cdm__track_pagemap(void);
/* Pages of `range` in [from, to) seen used in `epoch` (the first write of a fresh page where
 * the backend sees it: made, not used); returns how many count as used. The lock held. */
CDM_HIDDEN size_t cdm__track_mark(struct cdm_tracked *range, uintptr_t from, uintptr_t to,
                                  uint32_t epoch);
/* The same over every range in [from, to), for each of n regions; takes the lock. */
CDM_HIDDEN void cdm__track_mark_regions(const uintptr_t *from, const uintptr_t *to, int n,
                                        uint32_t epoch);
/* The registered ranges in at most `max` spans of addresses (neighbours merged when there
 * are more), and whether they changed since the last call; takes the lock. */
CDM_HIDDEN int cdm__track_spans(uintptr_t *starts, uintptr_t *ends, int max, bool *changed);

/* ---------------------------------------------------------------- track_wp.c */
/* Write-protect [start, start + len) (page by page where the kernel refuses it whole). */
CDM_HIDDEN void cdm__track_protect(uintptr_t start, size_t len);
/* Pages to protect, gathered in address order so that neighbours make one call: each call
 * that changes an entry flushes the TLB of every CPU running the program. */
struct cdm_protect_run {
    uintptr_t start, end;
};
CDM_HIDDEN void cdm__track_protect_add(struct cdm_protect_run *run, uintptr_t start, size_t len);
CDM_HIDDEN void cdm__track_protect_flush(struct cdm_protect_run *run);
/* Epochs after a use before a page's next write matters (half the rule's `idle`). */
CDM_HIDDEN int32_t cdm__track_look_after(const struct cdm_tracked *range);

#endif
