/* SPDX-License-Identifier: MIT */
/* bench/migrate_rate.c: how fast pages move from a CDM node (memory, no CPUs) to DRAM, five
 * ways, in one process: should the library move whole ranges with mbind rather than batches of
 * move_pages?
 *
 *   batch+query what preload/migrate.c does to pages whose node it does not know yet: per
 *               batch of 256 pages, a move_pages status query (drop_already_there), then
 *               move_pages(MPOL_MF_MOVE) of the pages not already on the target (flush)
 *   batch-only  the same without the query: the library's move of pages whose node an
 *               earlier epoch recorded (follow-cpu with a write-protect tracker: the epoch
 *               that saw a page's first write asked where it was); what the trace's `ns` times
 *   move_pages  one move_pages(MPOL_MF_MOVE) call over every page of the buffer
 *   mbind       mbind(MPOL_BIND, target, MPOL_MF_MOVE) over the whole buffer
 *   memcpy      the same bytes copied into a buffer already faulted in on the target: the
 *               copy every migration makes, without the rest
 * Each trial maps a fresh buffer bound to the CDM node and fills it with a pattern that
 * depends on the trial, so no trial inherits another's pages. Untimed after each one: every
 * page must be on the target node (move_pages query) and every byte must hold the pattern,
 * else the benchmark fails, since its number would mean nothing. The methods run in an order
 * rotated each round, so drift on a shared machine spreads over all of them.
 *
 * Every size runs twice: "4k" buffers with MADV_NOHUGEPAGE, "thp" buffers with MADV_HUGEPAGE
 * (2 MiB aligned), where the kernel moves each huge page as a whole. The huge share of the
 * buffer before and after the move (the smallest over the rounds) is printed from
 * /proc/self/smaps, so a run where THP did not happen shows it.
 *
 * Then the fixed cost of one call, measured on a page that need not move (call_costs()).
 *
 * Usage: migrate_rate [ROUNDS [MIB...]]       (default 5 rounds, 64 and 256 MiB)
 *        migrate_rate --preloaded MIB 4k|thp  (the library's own moves, see preloaded())
 *        migrate_rate --call-costs            (only the fixed cost of a call; any machine)
 * GB/s are 1e9 bytes per second; ratios are of median GB/s (above 1: the first is faster). */
#include "cdmplace.h"

#include "thp.h"
#include <dlfcn.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256 /* preload/migrate.c's batch */
#define HUGE ((size_t)2 << 20)
#define ROUNDS_MAX 15

enum method { BATCH_QUERY, BATCH_ONLY, MOVE_PAGES, MBIND, MEMCPY, METHODS };
static const char *const method_names[METHODS] = {"batch+query", "batch-only", "move_pages",
                                                  "mbind", "memcpy"};

static size_t page_size;
static int source, target; /* the CDM node, the DRAM node */

/* What a move reported page by page, when it was not simply the target node. */
struct odd {
    unsigned long busy;  /* -EBUSY */
    unsigned long other; /* any other error or node */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(size_t mib, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(size_t mib, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "migrate_rate: %zu MiB: ", mib);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

/* A buffer of `size` bytes bound to `node`, not yet faulted in; 2 MiB aligned, so that with
 * `huge` every one of its huge pages can be a THP. */
static unsigned char *map_on(int node, size_t size, int huge)
{
    unsigned char *raw = mmap(NULL, size + HUGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        die(size >> 20, "mmap failed: %s", strerror(errno));
    unsigned char *buffer = (unsigned char *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
    if (buffer > raw)
        munmap(raw, (size_t)(buffer - raw));
    munmap(buffer + size, (size_t)(raw + HUGE - buffer));
    unsigned long mask = 1ul << node;
    if (madvise(buffer, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        die(size >> 20, "madvise failed: %s", strerror(errno));
    /* An explicit policy also keeps the kernel's NUMA balancing off the buffer. */
    if (mbind(buffer, size, MPOL_BIND, &mask, sizeof mask * 8 + 1, 0) != 0)
        die(size >> 20, "mbind failed: %s", strerror(errno));
    return buffer;
}

static uint64_t word_of(size_t i, uint64_t seed)
{
    return (uint64_t)i * 0x9e3779b97f4a7c15u ^ seed;
}

static void fill(unsigned char *buffer, size_t size, uint64_t seed)
{
    uint64_t *words = (uint64_t *)buffer;
    for (size_t i = 0; i < size / sizeof *words; i++)
        words[i] = word_of(i, seed);
}

static int intact(const unsigned char *buffer, size_t size, uint64_t seed)
{
    const uint64_t *words = (const uint64_t *)buffer;
    for (size_t i = 0; i < size / sizeof *words; i++)
        if (words[i] != word_of(i, seed))
            return 0;
    return 1;
}

/* Pages of the buffer on `node`, by a move_pages query (no move). */
static size_t pages_on(void **pages, size_t n, int node, int *status)
{
    if (move_pages(0, n, pages, NULL, status, 0) != 0)
        return 0;
    size_t on = 0;
    for (size_t i = 0; i < n; i++)
        on += status[i] == node;
    return on;
}

static void note_status(const int *status, size_t n, struct odd *odd)
{
    for (size_t i = 0; i < n; i++) {
        if (status[i] == -EBUSY)
            odd->busy++;
        else if (status[i] != target)
            odd->other++;
    }
}

/* preload/migrate.c's way, batch by batch: drop_already_there() when `query`, then flush(). */
static int move_batched(void **pages, size_t n, int query, struct odd *odd)
{
    static int nodes[BATCH], status[BATCH];
    static void *moving[BATCH];
    for (int i = 0; i < BATCH; i++)
        nodes[i] = target;
    for (size_t first = 0; first < n; first += BATCH) {
        size_t count = n - first < BATCH ? n - first : BATCH, kept = 0;
        if (query && move_pages(0, count, pages + first, NULL, status, 0) != 0)
            return -1;
        for (size_t i = 0; i < count; i++)
            if (!query || status[i] != target)
                moving[kept++] = pages[first + i];
        if (kept && move_pages(0, kept, moving, nodes, status, MPOL_MF_MOVE) < 0)
            return -1;
        note_status(status, kept, odd);
    }
    return 0;
}

struct trial {
    double seconds;
    int huge_before, huge_after;
    struct odd odd;
};

/* One timed move (or copy) of a fresh buffer, checked afterwards. */
static struct trial run(enum method method, size_t size, int huge, uint64_t seed, void **pages,
                        int *nodes, int *status)
{
    size_t mib = size >> 20, n = size / page_size;
    struct trial t = {0};
    unsigned char *buffer = map_on(source, size, huge);
    fill(buffer, size, seed);
    for (size_t i = 0; i < n; i++)
        pages[i] = buffer + i * page_size;
    if (pages_on(pages, n, source, status) != n)
        die(mib, "the filled buffer is not all on the CDM node (%s): is the node full?",
            method_names[method]);
    t.huge_before = huge_percent((void *[]){buffer}, 1, size);

    unsigned char *copy = NULL;
    if (method == MEMCPY) {
        copy = map_on(target, size, huge);
        for (size_t i = 0; i < size; i += page_size)
            copy[i] = 0; /* faulted in: the copy alone is timed */
    }
    unsigned long mask = 1ul << target;
    uint64_t start = now_ns();
    int failed = 0;
    switch (method) {
    case BATCH_QUERY: failed = move_batched(pages, n, 1, &t.odd); break;
    case BATCH_ONLY: failed = move_batched(pages, n, 0, &t.odd); break;
    case MOVE_PAGES: failed = move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE) < 0; break;
    case MBIND:
        failed = mbind(buffer, size, MPOL_BIND, &mask, sizeof mask * 8 + 1, MPOL_MF_MOVE);
        break;
    case MEMCPY: memcpy(copy, buffer, size); break;
    case METHODS: break;
    }
    t.seconds = (double)(now_ns() - start) / 1e9;
    if (failed)
        die(mib, "%s failed", method_names[method]);
    if (method == MOVE_PAGES)
        note_status(status, n, &t.odd);

    unsigned char *result = copy ? copy : buffer;
    for (size_t i = 0; i < n; i++)
        pages[i] = result + i * page_size;
    size_t on = pages_on(pages, n, target, status);
    if (on != n) {
        fprintf(stderr, "migrate_rate: %s: %zu of %zu pages on node %d\n", method_names[method],
                on, n, target);
        die(mib, "%s left pages off the target node", method_names[method]);
    }
    if (!intact(result, size, seed))
        die(mib, "%s: the data changed", method_names[method]);
    t.huge_after = huge_percent((void *[]){result}, 1, size);
    munmap(buffer, size);
    if (copy)
        munmap(copy, size);
    return t;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* All methods, `rounds` times each in rotated order; prints a row per method and the ratios. */
static void bench(size_t mib, int huge, int rounds)
{
    size_t size = mib << 20, n = size / page_size;
    void **pages = malloc(n * sizeof *pages);
    int *nodes = malloc(n * sizeof *nodes), *status = malloc(n * sizeof *status);
    if (!pages || !nodes || !status)
        die(mib, "no memory for the page arrays");
    for (size_t i = 0; i < n; i++)
        nodes[i] = target;
    double seconds[METHODS][ROUNDS_MAX];
    struct odd odd[METHODS] = {{0}};
    int huge_min[METHODS], huge_after_min[METHODS]; /* the smallest shares over the rounds */
    for (int m = 0; m < METHODS; m++)
        huge_min[m] = huge_after_min[m] = 100;
    for (int round = 0; round < rounds; round++)
        for (int k = 0; k < METHODS; k++) {
            enum method m = (enum method)((round + k) % METHODS);
            uint64_t seed = (uint64_t)round << 32 | (uint64_t)m << 16 | mib;
            struct trial t = run(m, size, huge, seed, pages, nodes, status);
            seconds[m][round] = t.seconds;
            odd[m].busy += t.odd.busy;
            odd[m].other += t.odd.other;
            if (t.huge_before < huge_min[m])
                huge_min[m] = t.huge_before;
            if (t.huge_after < huge_after_min[m])
                huge_after_min[m] = t.huge_after;
        }
    double rate[METHODS];
    const char *pages_name = huge ? "thp" : "4k";
    for (int m = 0; m < METHODS; m++) {
        qsort(seconds[m], (size_t)rounds, sizeof seconds[m][0], compare_double);
        double median = rounds % 2 ? seconds[m][rounds / 2]
                                   : (seconds[m][rounds / 2 - 1] + seconds[m][rounds / 2]) / 2;
        rate[m] = (double)size / median / 1e9;
        printf("%4zu MiB %-4s %-11s %10.1f %8.3f %8.3f %8.3f %6d %6d", mib, pages_name,
               method_names[m], median * 1e3, rate[m], (double)size / seconds[m][rounds - 1] / 1e9,
               (double)size / seconds[m][0] / 1e9, huge_min[m], huge_after_min[m]);
        if (odd[m].busy || odd[m].other)
            printf("   statuses: %lu -EBUSY, %lu other, over %d moves", odd[m].busy,
                   odd[m].other, rounds);
        printf("\n");
    }
    /* Medians, the project's figure; fastest runs too, since on a shared machine noise only
     * ever slows a run down. */
    for (int pick = 0; pick < 2; pick++) {
        double r[METHODS];
        for (int m = 0; m < METHODS; m++)
            r[m] = pick ? (double)size / seconds[m][0] / 1e9 : rate[m];
        printf("%4zu MiB %-4s ratios (%s): batch+query/move_pages %.3f  batch+query/memcpy "
               "%.3f  mbind/move_pages %.3f  mbind/batch+query %.3f  mbind/batch-only %.3f  "
               "batch-only/move_pages %.3f\n",
               mib, pages_name, pick ? "fastest" : "medians", r[BATCH_QUERY] / r[MOVE_PAGES],
               r[BATCH_QUERY] / r[MEMCPY], r[MBIND] / r[MOVE_PAGES], r[MBIND] / r[BATCH_QUERY],
               r[MBIND] / r[BATCH_ONLY], r[BATCH_ONLY] / r[MOVE_PAGES]);
    }
    fflush(stdout);
    free(pages);
    free(nodes);
    free(status);
}

/* What one call costs when it moves nothing: move_pages(MPOL_MF_MOVE) and mbind(MPOL_MF_MOVE)
 * on a page already on the target, and a move_pages query. A call that may move starts by
 * draining every CPU's LRU caches (lru_cache_disable(): an expedited RCU grace period and a
 * work item flushed on each online CPU), so this fixed cost is paid once per call: batches of
 * 256 pages pay it 256 times per GiB, one call over the range once. */
static void call_costs(void)
{
    enum { CALLS = 101 };
    static const char *const names[] = {"move_pages(MPOL_MF_MOVE)", "mbind(MPOL_MF_MOVE)",
                                        "move_pages query"};
    unsigned char *page = map_on(target, page_size, 0);
    page[0] = 1;
    void *pages[1] = {page};
    int nodes[1] = {target}, status[1];
    unsigned long mask = 1ul << target;
    for (int kind = 0; kind < 3; kind++) {
        double us[CALLS];
        for (int i = 0; i < CALLS; i++) {
            uint64_t start = now_ns();
            long rc = kind == 0 ? move_pages(0, 1, pages, nodes, status, MPOL_MF_MOVE)
                      : kind == 1 ? mbind(page, page_size, MPOL_BIND, &mask, sizeof mask * 8 + 1,
                                          MPOL_MF_MOVE)
                                  : move_pages(0, 1, pages, NULL, status, 0);
            us[i] = (double)(now_ns() - start) / 1e3;
            if (rc != 0 || (kind != 1 && status[0] != target))
                die(0, "%s on a page already on node %d failed", names[kind], target);
        }
        qsort(us, CALLS, sizeof us[0], compare_double);
        printf("one call moving nothing, %-24s median %8.1f us, fastest %8.1f, slowest %8.1f "
               "(%d calls)\n", names[kind], us[CALLS / 2], us[0], us[CALLS - 1], CALLS);
    }
    munmap(page, page_size);
}

/* --preloaded: the library's own moves, run with a follow-cpu rule that places this buffer on
 * the CDM node (bench/guest.sh writes the config, with a long `idle` so nothing goes back).
 * The buffer is filled (a first write: the library should leave the page where it is), left
 * alone for a second so the tracker sees the fill in an epoch of its own, then written again:
 * now the pages are in use, and the tracker moves them to DRAM while the writes go on. The
 * trace's `migrate` events time each move_pages call; this prints how many pages had moved
 * before the second write (none should have) and how long until every page was on DRAM,
 * counted from the start of the second write. */
static int preloaded(size_t mib, int huge)
{
    size_t size = mib << 20, n = size / page_size;
    int (*query)(const void *, struct cdm_buffer_info *) =
        (int (*)(const void *, struct cdm_buffer_info *))dlsym(RTLD_DEFAULT, "cdm_query");
    if (!query)
        die(mib, "--preloaded needs the library preloaded");
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    unsigned char *buffer = malloc(size);
    struct cdm_buffer_info info;
    if (!pages || !status || !buffer)
        die(mib, "malloc failed");
    if (query(buffer, &info) != 0 || !info.applied)
        die(mib, "the buffer was not placed: the config needs a follow-cpu rule with policy = bind "
            "cdm");
    if (madvise(buffer, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        die(mib, "madvise failed: %s", strerror(errno));
    for (size_t i = 0; i < n; i++)
        pages[i] = buffer + i * page_size;
    fill(buffer, size, 1);
    int huge_before = huge_percent((void *[]){buffer}, 1, size);
    sleep(1);
    /* Pages the library moved before any second write took a first write for use: counted
     * and printed, since the rate below is about the pages moved after it. */
    size_t early = n - pages_on(pages, n, source, status);

    uint64_t start = now_ns();
    fill(buffer, size, 2);
    uint64_t written = now_ns();
    size_t on = 0;
    while ((on = pages_on(pages, n, target, status)) != n && now_ns() - start < 300000000000u)
        usleep(10000);
    uint64_t moved = now_ns();
    if (on != n) {
        fprintf(stderr, "migrate_rate: %zu of %zu pages on node %d after 300 s\n", on, n, target);
        die(mib, "the library did not move the buffer to DRAM");
    }
    if (!intact(buffer, size, 2))
        die(mib, "the data changed while the library moved it");
    printf("preloaded %zu MiB %s: huge %d%% before, %d%% after; pages moved before the "
           "second write: %zu; second write %.1f ms; every page on node %d %.1f ms after it "
           "began; data intact\n",
           mib, huge ? "thp" : "4k", huge_before, huge_percent((void *[]){buffer}, 1, size), early,
           (double)(written - start) / 1e6, target, (double)(moved - start) / 1e6);
    free(buffer);
    free(pages);
    free(status);
    return 0;
}

/* The first node with memory and no CPUs, and the first with CPUs. */
static void find_nodes(void)
{
    source = target = -1;
    struct bitmask *cpus = numa_allocate_cpumask();
    for (int node = 0; node <= numa_max_node() && node < 64; node++) {
        long long free_bytes;
        if (numa_node_size64(node, &free_bytes) <= 0 || numa_node_to_cpus(node, cpus) != 0)
            continue;
        if (numa_bitmask_weight(cpus) == 0 && source < 0)
            source = node;
        else if (numa_bitmask_weight(cpus) > 0 && target < 0)
            target = node;
    }
    numa_free_cpumask(cpus);
}

int main(int argc, char **argv)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    if (numa_available() < 0) {
        fprintf(stderr, "migrate_rate: no NUMA support in this kernel\n");
        return 1;
    }
    find_nodes();
    if (argc == 2 && strcmp(argv[1], "--call-costs") == 0 && target >= 0) {
        call_costs(); /* needs no CDM node: it runs on any machine */
        return 0;
    }
    if (source < 0 || target < 0) {
        fprintf(stderr, "migrate_rate: needs a node with memory and no CPUs and one with CPUs "
                        "(run it in the cdm guest: bench/guest.sh)\n");
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "--preloaded") == 0) {
        long mib = argc == 4 ? atol(argv[2]) : 0;
        if (mib <= 0 || (strcmp(argv[3], "4k") != 0 && strcmp(argv[3], "thp") != 0)) {
            fprintf(stderr, "usage: migrate_rate --preloaded MIB 4k|thp\n");
            return 2;
        }
        return preloaded((size_t)mib, strcmp(argv[3], "thp") == 0);
    }
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "usage: migrate_rate [ROUNDS (1-%d) [MIB...]]\n", ROUNDS_MAX);
        return 2;
    }
    size_t sizes[16] = {64, 256};
    int n_sizes = 2;
    if (argc > 2) {
        for (n_sizes = 0; n_sizes < argc - 2 && n_sizes < 16; n_sizes++)
            if ((sizes[n_sizes] = strtoul(argv[n_sizes + 2], NULL, 10)) == 0) {
                fprintf(stderr, "migrate_rate: %s: a size in MiB\n", argv[n_sizes + 2]);
                return 2;
            }
    }
    printf("migrate_rate: node %d (no CPUs) -> node %d, %d rounds, methods alternated; "
           "median, then slowest and fastest\n", source, target, rounds);
    printf("%8s %-4s %-11s %10s %8s %8s %8s %6s %6s\n", "size", "page", "method", "median ms",
           "GB/s", "min", "max", "huge%", "after");
    for (int s = 0; s < n_sizes; s++)
        for (int huge = 0; huge <= 1; huge++)
            bench(sizes[s], huge, rounds);
    call_costs();
    return 0;
}
