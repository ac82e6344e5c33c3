/* SPDX-License-Identifier: MIT */
/* The table of placed buffers: by address in a red-black tree (ordered walks: what overlaps a
 * range, every buffer of a rule) and by size class in a hash (the buffer at an address in a few
 * cache misses however many are live). Entries come from the table's own slab; nothing here calls
 * the host's allocator or takes a lock: the caller (placement.c) holds its own. Unit-tested on the
 * host (tests/unit_buffer_table.c); why two indexes: doc/design.md, "The table of placed buffers".
 */
#ifndef CDM_BUFFER_TABLE_H
#define CDM_BUFFER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bsd/sys/tree.h>

#include "internal.h"

/* A lookup reads the first cache line only: the tree's links, the range and the hash's. */
struct cdm_placed {
    RB_ENTRY(cdm_placed) by_start;
    uintptr_t start;         /* key */
    size_t mapped;           /* bytes of whole pages */
    uintptr_t same_block[2]; /* the hash's chains, one per block the buffer touches */
    size_t size;             /* bytes asked for */
    int rule;
    enum cdm_kind kind;
    bool applied;  /* the policy is on the range (counts against the budget) */
    bool watched;  /* a profiling run's buffer: no policy, tracked (profile.c) */
    bool huge_tlb; /* MAP_HUGETLB: placed, never tracked (it moves as a whole) */
    int error;
} __attribute__((aligned(64)));

RB_HEAD(cdm_buffers_by_start, cdm_placed);

struct cdm_buffer_table {
    struct cdm_buffers_by_start by_start;
    uintptr_t *buckets; /* chain heads: an entry's address | which of its blocks */
    unsigned bucket_bits;
    size_t count;
    size_t in_class[64]; /* buffers of each size class */
    uint64_t classes;    /* the size classes with buffers */
    struct cdm_slab slab;
};

#define CDM_BUFFER_TABLE_INIT(t)                                                                   \
    {                                                                                              \
        .by_start = RB_INITIALIZER(&(t).by_start), .slab = {                                       \
            .object_size = sizeof(struct cdm_placed)                                               \
        }                                                                                          \
    }

/* A copy of `entry` added (its links and size class are the table's); NULL if an entry starts there
 * already or there is no memory. */
struct cdm_placed *cdm__buffers_put(struct cdm_buffer_table *t, const struct cdm_placed *entry);
void cdm__buffers_del(struct cdm_buffer_table *t, struct cdm_placed *p);
/* An entry's range changed in place (a cut): it moves in both indexes. */
void cdm__buffers_move(struct cdm_buffer_table *t, struct cdm_placed *p, uintptr_t start,
                       size_t mapped);
/* The entry starting at `start`, or NULL. */
struct cdm_placed *cdm__buffers_at(struct cdm_buffer_table *t, uintptr_t start);
/* The first entry in address order overlapping [start, end) (end <= start: the one holding start);
 * the others follow it through cdm__buffers_next while they start before `end`. */
struct cdm_placed *cdm__buffers_first_overlapping(struct cdm_buffer_table *t, uintptr_t start,
                                                  uintptr_t end);
struct cdm_placed *cdm__buffers_first(struct cdm_buffer_table *t);
struct cdm_placed *cdm__buffers_next(struct cdm_placed *p);

#endif
