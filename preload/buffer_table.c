/* SPDX-License-Identifier: MIT */
/* The table of placed buffers (see buffer_table.h).
 *
 * A descent of the tree reads a line per level: about 17 cache misses with 100,000 buffers live,
 * which an allocator's madvise or munmap pays on every call. So lookups that start at an address go
 * through a hash as well. A buffer's size class is its mapped size rounded up to a power of two,
 * 2^c; it touches at most two aligned blocks of 2^c bytes and is chained in the bucket of each
 * (key: class and block). A block holds at most three buffers of its class, since they do not
 * overlap and each is more than half a block. What holds an address is found by probing the
 * address's block in each class with buffers: a probe is a bucket and a short chain, so a lookup
 * costs two misses a class in use, whatever the count. With many classes and few buffers the tree
 * is cheaper, and it answers wide ranges; the table picks per lookup. */
#include "buffer_table.h"

static int compare_starts(const struct cdm_placed *a, const struct cdm_placed *b)
{
    return a->start < b->start ? -1 : a->start > b->start;
}

/* RB_GENERATE_STATIC's attribute, __unused, is one libbsd leaves undefined on Linux. */
RB_GENERATE_INTERNAL(cdm_buffers_by_start, cdm_placed, by_start, compare_starts,
                     __attribute__((unused)) static)

/* ------------------------------------------------------------------ the hash */

#define MIN_CLASS 12        /* a page */
#define FIRST_BUCKET_BITS 9 /* a page of chain heads */
/* A range touching more blocks of a class than this is looked up in the tree. */
#define MAX_PROBED_BLOCKS 4

static unsigned size_class(size_t mapped)
{
    unsigned c = mapped > 1 ? 64 - (unsigned)__builtin_clzl(mapped - 1) : 0;
    return c < MIN_CLASS ? MIN_CLASS : c;
}

/* The block of slot 0 is the one holding the first byte, slot 1 the one holding the last. */
static uintptr_t block_of(const struct cdm_placed *p, unsigned slot)
{
    return (slot ? p->start + p->mapped - 1 : p->start) >> size_class(p->mapped);
}

static unsigned slots_of(const struct cdm_placed *p)
{
    return block_of(p, 1) != block_of(p, 0) ? 2 : 1;
}

static uintptr_t *bucket(uintptr_t *buckets, unsigned bits, unsigned c, uintptr_t block)
{
    uint64_t key = (uint64_t)block << 6 | c;
    return &buckets[(key * 0x9E3779B97F4A7C15ull) >> (64 - bits)];
}

static struct cdm_placed *entry_of(uintptr_t link)
{
    return (struct cdm_placed *)(link & ~(uintptr_t)1);
}

static void chain(uintptr_t *buckets, unsigned bits, struct cdm_placed *p)
{
    for (unsigned slot = 0; slot < slots_of(p); slot++) {
        uintptr_t *head = bucket(buckets, bits, size_class(p->mapped), block_of(p, slot));
        p->same_block[slot] = *head;
        *head = (uintptr_t)p | slot;
    }
}

static void unchain(struct cdm_buffer_table *t, struct cdm_placed *p)
{
    for (unsigned slot = 0; slot < slots_of(p); slot++) {
        uintptr_t *link =
            bucket(t->buckets, t->bucket_bits, size_class(p->mapped), block_of(p, slot));
        while (*link != ((uintptr_t)p | slot))
            link = &entry_of(*link)->same_block[*link & 1];
        *link = p->same_block[slot];
    }
}

/* Twice the chain heads when the entries may outnumber them; the chains are built again from the
 * tree, so whether it grew is returned. Without memory the chains grow longer, and lookups stay
 * right. */
static bool grow_buckets(struct cdm_buffer_table *t)
{
    unsigned bits = t->buckets ? t->bucket_bits + 1 : FIRST_BUCKET_BITS;
    uintptr_t *buckets = cdm__arena_map(sizeof *buckets << bits);
    if (!buckets)
        return false;
    struct cdm_placed *p;
    RB_FOREACH(p, cdm_buffers_by_start, &t->by_start)
    chain(buckets, bits, p);
    if (t->buckets)
        cdm__arena_unmap(t->buckets, sizeof *t->buckets << t->bucket_bits);
    t->buckets = buckets;
    t->bucket_bits = bits;
    return true;
}

/* p is in the tree already. */
static void index_add(struct cdm_buffer_table *t, struct cdm_placed *p)
{
    unsigned c = size_class(p->mapped);
    t->in_class[c]++;
    t->classes |= 1ull << c;
    bool crowded = !t->buckets || 2 * t->count > (size_t)1 << t->bucket_bits;
    if (crowded && grow_buckets(t))
        return;
    if (t->buckets)
        chain(t->buckets, t->bucket_bits, p);
}

static void index_del(struct cdm_buffer_table *t, struct cdm_placed *p)
{
    if (t->buckets)
        unchain(t, p);
    unsigned c = size_class(p->mapped);
    if (--t->in_class[c] == 0)
        t->classes &= ~(1ull << c);
}

/* The hash when a lookup there costs fewer misses than a descent: two a class in use against one a
 * level of the tree. */
static bool hash_pays(const struct cdm_buffer_table *t)
{
    unsigned depth = 63 - (unsigned)__builtin_clzl(t->count | 1);
    return t->buckets && 2 * (unsigned)__builtin_popcountll(t->classes) <= depth;
}

/* ------------------------------------------------------------------ lookups */

static struct cdm_placed *tree_first_overlapping(struct cdm_buffer_table *t, uintptr_t start,
                                                 uintptr_t end)
{
    struct cdm_placed *floor = NULL;
    for (struct cdm_placed *p = RB_ROOT(&t->by_start); p;)
        if (p->start <= start) {
            floor = p;
            p = RB_RIGHT(p, by_start);
        } else {
            p = RB_LEFT(p, by_start);
        }
    if (floor && floor->start + floor->mapped > start)
        return floor;
    struct cdm_placed *next = floor ? RB_NEXT(cdm_buffers_by_start, &t->by_start, floor)
                                    : RB_MIN(cdm_buffers_by_start, &t->by_start);
    return next && next->start < end ? next : NULL;
}

/* Every overlapping buffer is chained in a block of its class that the range touches, so the first
 * among those probed is the first of all. One holding `start` is the first outright: no other can
 * start before it and reach past `start`. */
static struct cdm_placed *hash_first_overlapping(struct cdm_buffer_table *t, uintptr_t start,
                                                 uintptr_t end)
{
    struct cdm_placed *first = NULL;
    for (uint64_t classes = t->classes; classes; classes &= classes - 1) {
        unsigned c = (unsigned)__builtin_ctzll(classes);
        uintptr_t from = start >> c, to = (end - 1) >> c;
        if (to - from >= MAX_PROBED_BLOCKS)
            return tree_first_overlapping(t, start, end);
        for (uintptr_t block = from; block <= to; block++)
            for (uintptr_t link = *bucket(t->buckets, t->bucket_bits, c, block); link;) {
                struct cdm_placed *p = entry_of(link);
                if (size_class(p->mapped) == c && block_of(p, link & 1) == block &&
                    p->start < end && p->start + p->mapped > start) {
                    if (p->start <= start)
                        return p;
                    if (!first || p->start < first->start)
                        first = p;
                }
                link = p->same_block[link & 1];
            }
    }
    return first;
}

struct cdm_placed *cdm__buffers_first_overlapping(struct cdm_buffer_table *t, uintptr_t start,
                                                  uintptr_t end)
{
    if (end <= start)
        end = start + 1;
    return hash_pays(t) ? hash_first_overlapping(t, start, end)
                        : tree_first_overlapping(t, start, end);
}

struct cdm_placed *cdm__buffers_at(struct cdm_buffer_table *t, uintptr_t start)
{
    struct cdm_placed *p = cdm__buffers_first_overlapping(t, start, start + 1);
    return p && p->start == start ? p : NULL;
}

struct cdm_placed *cdm__buffers_first(struct cdm_buffer_table *t)
{
    return RB_MIN(cdm_buffers_by_start, &t->by_start);
}

struct cdm_placed *cdm__buffers_next(struct cdm_placed *p)
{
    return RB_NEXT(cdm_buffers_by_start, NULL, p);
}

/* ------------------------------------------------------------------ changes */

struct cdm_placed *cdm__buffers_put(struct cdm_buffer_table *t, const struct cdm_placed *entry)
{
    struct cdm_placed *p = cdm__slab_alloc(&t->slab);
    if (!p)
        return NULL;
    *p = *entry;
    if (RB_INSERT(cdm_buffers_by_start, &t->by_start, p)) {
        cdm__slab_free(&t->slab, p);
        return NULL;
    }
    t->count++;
    index_add(t, p);
    return p;
}

void cdm__buffers_del(struct cdm_buffer_table *t, struct cdm_placed *p)
{
    index_del(t, p);
    RB_REMOVE(cdm_buffers_by_start, &t->by_start, p);
    t->count--;
    cdm__slab_free(&t->slab, p);
}

/* The tree's order holds: a cut leaves a buffer within its old range, which no other entry
 * overlaps. */
void cdm__buffers_move(struct cdm_buffer_table *t, struct cdm_placed *p, uintptr_t start,
                       size_t mapped)
{
    index_del(t, p);
    p->start = start;
    p->mapped = mapped;
    index_add(t, p);
}
