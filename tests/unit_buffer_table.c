/* SPDX-License-Identifier: MIT */
/* preload/buffer_table.c, the table of placed buffers: every lookup checked against a plain list of
 * the live ranges, through random puts, deletes and cuts, with one size class (the hash answers), a
 * few (still the hash), many (the tree) and ranges wide or empty. The addresses are never touched:
 * the table only compares them. Also the arena it takes its memory from (preload/arena.c). */
#include "buffer_table.h"
#include "testutil.h"

#include <stdio.h>
#include <sys/mman.h>

#define PAGE 4096ul
#define BASE 0x100000000000ul

struct live {
    uintptr_t start;
    size_t mapped;
};

struct model {
    struct cdm_buffer_table table;
    struct live *live;
    size_t n, cap;
    uint64_t rng;
};

static uint64_t next_random(struct model *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static void model_init(struct model *m, size_t cap, uint64_t seed)
{
    *m = (struct model){.table = CDM_BUFFER_TABLE_INIT(m->table), .cap = cap, .rng = seed};
    m->live = calloc(cap, sizeof *m->live);
    cr_assert_not_null(m->live);
}

/* The lowest-starting live range overlapping [start, end) (end <= start: holding start). */
static const struct live *model_first(const struct model *m, uintptr_t start, uintptr_t end)
{
    if (end <= start)
        end = start + 1;
    const struct live *first = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->live[i].start < end && m->live[i].start + m->live[i].mapped > start &&
            (!first || m->live[i].start < first->start))
            first = &m->live[i];
    return first;
}

static bool model_free(const struct model *m, uintptr_t start, size_t mapped)
{
    return !model_first(m, start, start + mapped);
}

static void put(struct model *m, uintptr_t start, size_t mapped)
{
    struct cdm_placed entry = {.start = start, .mapped = mapped, .size = mapped, .rule = 7};
    struct cdm_placed *p = cdm__buffers_put(&m->table, &entry);
    cr_assert_not_null(p, "put 0x%lx + %zu", (unsigned long)start, mapped);
    cr_assert_eq(p->start, start);
    cr_assert_eq(p->rule, 7);
    cr_assert_lt(m->n, m->cap);
    m->live[m->n++] = (struct live){start, mapped};
}

static void check_lookup(struct model *m, uintptr_t start, uintptr_t end)
{
    const struct live *want = model_first(m, start, end);
    struct cdm_placed *got = cdm__buffers_first_overlapping(&m->table, start, end);
    if (!want) {
        cr_assert_null(got, "[0x%lx, 0x%lx): found 0x%lx, none live there", (unsigned long)start,
                       (unsigned long)end, got ? (unsigned long)got->start : 0ul);
        return;
    }
    cr_assert_not_null(got, "[0x%lx, 0x%lx): none found, 0x%lx + %zu is live", (unsigned long)start,
                       (unsigned long)end, (unsigned long)want->start, want->mapped);
    cr_assert(got->start == want->start && got->mapped == want->mapped,
              "[0x%lx, 0x%lx): found 0x%lx + %zu, first is 0x%lx + %zu", (unsigned long)start,
              (unsigned long)end, (unsigned long)got->start, got->mapped,
              (unsigned long)want->start, want->mapped);
    struct cdm_placed *at = cdm__buffers_at(&m->table, want->start);
    cr_assert_eq(at, got, "at(0x%lx) is not the entry found", (unsigned long)want->start);
}

/* Queries around live ranges and at random: inside, across edges, in gaps, wide. */
static void check_lookups(struct model *m, size_t span, int count)
{
    for (int q = 0; q < count; q++) {
        uintptr_t start, end;
        uint64_t r = next_random(m);
        if (m->n && r % 3 == 0) { /* near a live range's edges */
            const struct live *l = &m->live[next_random(m) % m->n];
            start = l->start + (next_random(m) % 5) * PAGE - 2 * PAGE;
            end = start + (next_random(m) % 4) * PAGE;
        } else if (r % 3 == 1) { /* anywhere, a page to a few blocks */
            start = BASE + next_random(m) % span / PAGE * PAGE;
            end = start + (1 + next_random(m) % 1024) * PAGE;
        } else { /* anywhere, wide */
            start = BASE + next_random(m) % span;
            end = start + next_random(m) % (span / 4);
        }
        check_lookup(m, start, end);
    }
}

static void check_order(struct model *m)
{
    size_t seen = 0;
    uintptr_t last = 0;
    for (struct cdm_placed *p = cdm__buffers_first(&m->table); p; p = cdm__buffers_next(p)) {
        cr_assert_gt(p->start, last, "out of order at 0x%lx", (unsigned long)p->start);
        last = p->start;
        seen++;
    }
    cr_assert_eq(seen, m->n);
    cr_assert_eq(m->table.count, m->n);
}

static size_t random_size(struct model *m, int classes)
{
    /* pages, up to 2^(12 + classes) bytes, some just over a power of two */
    unsigned c = (unsigned)(next_random(m) % (unsigned)classes);
    size_t pages = ((size_t)1 << c) + (next_random(m) % 2 ? 1 : 0);
    return pages * PAGE;
}

/* Fills `span` bytes from BASE with up to `n` buffers of `classes` size classes, deleting and
 * cutting some as it goes, checking lookups all along. */
static void churn(uint64_t seed, size_t n, int classes, size_t span)
{
    struct model m;
    model_init(&m, n + n / 2, seed);
    for (size_t made = 0; made < n; made++) {
        size_t mapped = random_size(&m, classes);
        uintptr_t start = BASE + next_random(&m) % (span / PAGE) * PAGE;
        if (model_free(&m, start, mapped))
            put(&m, start, mapped);
        uint64_t r = next_random(&m) % 16;
        if (m.n && r == 0) { /* delete one */
            size_t i = next_random(&m) % m.n;
            struct cdm_placed *p = cdm__buffers_at(&m.table, m.live[i].start);
            cr_assert_not_null(p);
            cdm__buffers_del(&m.table, p);
            m.live[i] = m.live[--m.n];
        } else if (m.n && r == 1) { /* cut a head or a tail off one */
            size_t i = next_random(&m) % m.n;
            struct live *l = &m.live[i];
            size_t pages = l->mapped / PAGE;
            if (pages > 1) {
                size_t keep = (1 + next_random(&m) % (pages - 1)) * PAGE;
                struct cdm_placed *p = cdm__buffers_at(&m.table, l->start);
                cr_assert_not_null(p);
                if (next_random(&m) % 2)
                    l->start += l->mapped - keep;
                l->mapped = keep;
                cdm__buffers_move(&m.table, p, l->start, l->mapped);
            }
        }
        if (made % 64 == 0)
            check_lookups(&m, span, 32);
    }
    check_order(&m);
    check_lookups(&m, span, 4000);
    while (m.n) {
        struct cdm_placed *p = cdm__buffers_at(&m.table, m.live[m.n - 1].start);
        cr_assert_not_null(p);
        cdm__buffers_del(&m.table, p);
        m.n--;
        if (m.n % 256 == 0)
            check_lookups(&m, span, 16);
    }
    cr_assert_null(cdm__buffers_first(&m.table));
    cr_assert_eq(m.table.classes, 0, "classes left: 0x%lx", (unsigned long)m.table.classes);
    free(m.live);
}

Test(buffer_table, one_size_class_many_buffers)
{
    churn(0x9e3779b97f4a7c15ull, 20000, 1, 20000 * 4 * PAGE);
}

Test(buffer_table, a_few_size_classes) { churn(0x2545f4914f6cdd1dull, 8000, 3, 8000 * 16 * PAGE); }

Test(buffer_table, many_size_classes) { churn(0x123456789abcdefull, 3000, 20, (size_t)1 << 44); }

Test(buffer_table, few_buffers)
{
    for (uint64_t seed = 1; seed <= 50; seed++)
        churn(seed * 0x9e3779b97f4a7c15ull, 12, 4, 64 * PAGE);
}

Test(buffer_table, a_second_start_is_refused)
{
    struct model m;
    model_init(&m, 4, 1);
    put(&m, BASE, PAGE);
    struct cdm_placed again = {.start = BASE, .mapped = 2 * PAGE};
    cr_assert_null(cdm__buffers_put(&m.table, &again));
    cr_assert_eq(m.table.count, 1);
    cr_assert_eq(cdm__buffers_at(&m.table, BASE)->mapped, PAGE);
    free(m.live);
}

/* Buffers of one class side by side, each straddling two blocks: every page of each finds it, and
 * the pages between find nothing. */
Test(buffer_table, straddling_neighbours)
{
    struct model m;
    model_init(&m, 4096, 3);
    size_t mapped = 513 * PAGE; /* 2 MiB + a page: class 2^22 */
    for (size_t i = 0; i < 4096; i++)
        put(&m, BASE + PAGE + i * (mapped + PAGE), mapped);
    static const size_t pages[] = {0, 1, 255, 511, 512, 513}; /* 513: the gap after it */
    for (size_t i = 0; i < 4096; i += 97)
        for (size_t k = 0; k < sizeof pages / sizeof *pages; k++) {
            size_t page = pages[k];
            uintptr_t at = BASE + PAGE + i * (mapped + PAGE) + page * PAGE;
            struct cdm_placed *p = cdm__buffers_first_overlapping(&m.table, at, at + PAGE);
            if (page == mapped / PAGE)
                cr_assert_null(p, "the gap after buffer %zu", i);
            else
                cr_assert(p && p->start == BASE + PAGE + i * (mapped + PAGE),
                          "buffer %zu, page %zu", i, page);
        }
    free(m.live);
}

/* The bounds of the mapping that holds `address`, from /proc/self/maps. */
static void mapping_of(uintptr_t address, uintptr_t *start, uintptr_t *end)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    cr_assert_not_null(maps);
    unsigned long from, to;
    char rest[512];
    *start = *end = 0;
    while (!*end && fscanf(maps, "%lx-%lx%511[^\n]", &from, &to, rest) == 3)
        if (from <= address && address < to) {
            *start = from;
            *end = to;
        }
    fclose(maps);
}

/* The arena's memory is kept apart from the program's: a mapping the program makes right next
 * to one of its blocks is not merged with it, so the program's mbind or munmap there splits
 * nothing of ours (a placed 1 MiB buffer between two blocks of ours cost half again as much). */
Test(arena, blocks_are_not_merged_with_the_programs_mappings)
{
    size_t size = 16 * PAGE;
    unsigned char *ours = cdm__arena_map(size);
    cr_assert_not_null(ours);
    unsigned char *theirs = ours - PAGE; /* below: mappings are made top-down */
    if (mmap(theirs, PAGE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != theirs) {
        theirs = ours + size;
        cr_assert_eq(mmap(theirs, PAGE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
                     theirs, "no free page next to the arena's block");
    }
    uintptr_t start, end;
    mapping_of((uintptr_t)ours, &start, &end);
    cr_assert(start == (uintptr_t)ours && end == (uintptr_t)(ours + size),
              "the arena's block %p-%p is in the mapping %#lx-%#lx with the program's page at %p",
              (void *)ours, (void *)(ours + size), (unsigned long)start, (unsigned long)end,
              (void *)theirs);
    munmap(theirs, PAGE);
    cdm__arena_unmap(ours, size);
}
