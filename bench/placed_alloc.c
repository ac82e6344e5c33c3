/* SPDX-License-Identifier: MIT */
/* bench/placed_alloc.c: what one placed allocation costs, against doing the same by hand.
 *
 * Placed path: malloc(size), write one byte per page, free -- with the library preloaded and
 * a rule that matches this program's placed_malloc frame, so the library maps the buffer,
 * binds it and tracks it. Raw path (the baseline): mmap, mbind(MPOL_BIND) to the nodes with
 * CPUs (what `bind dram` resolves to), the same touch, munmap. The raw path calls the
 * syscalls through syscall(2), so the library's mmap hook never sees it: it is the cost
 * without the library, measured in the same process, interleaved with the placed path.
 *
 * Without the preload only the raw path runs. With it, every placed buffer is checked with
 * cdm_query (outside the timed region): a buffer the library did not place, or placed without
 * applying the policy, stops the benchmark with an error, since its numbers would mean
 * nothing.
 *
 * Usage: placed_alloc [ITERATIONS_1M [ITERATIONS_64M]]   (default 2000 and 60) */
#include "cdmplace.h"

#include <dlfcn.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*query_fn)(const void *addr, struct cdm_buffer_info *info);

static size_t page_size;
static unsigned long dram_mask; /* nodes with CPUs, the nodes `bind dram` names */
static query_fn query;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void touch(unsigned char *buffer, size_t size)
{
    for (size_t offset = 0; offset < size; offset += page_size)
        ((volatile unsigned char *)buffer)[offset] = 1;
    /* The buffer escapes: the compiler may not drop the stores or the malloc/free pair. */
    __asm__ volatile("" : : "r"(buffer) : "memory");
}

/* The frame the config's caller rule names (`caller = *placed_alloc:placed_malloc`). */
static __attribute__((noinline)) void *placed_malloc(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" : : "r"(buffer) : "memory");
    return buffer;
}

static void die(const char *what, size_t size)
{
    fprintf(stderr, "placed_alloc: %zu bytes: %s\n", size, what);
    exit(1);
}

/* The node holding the buffer's first page, as move_pages(2) reports it. */
static int node_of(void *buffer)
{
    int status = -1;
    void *pages[1] = {buffer};
    if (move_pages(0, 1, pages, NULL, &status, 0) != 0)
        return -errno;
    return status;
}

/* One placed operation; returns its time in ns, the cdm_query check excluded. */
static uint64_t placed_op(size_t size, int touching, int check_node)
{
    uint64_t start = now_ns();
    unsigned char *buffer = placed_malloc(size);
    if (!buffer)
        die("malloc failed", size);
    if (touching)
        touch(buffer, size);
    uint64_t touched = now_ns();

    struct cdm_buffer_info info;
    if (query(buffer, &info) != 0)
        die("malloc was NOT placed by the library: cdm_query found no placed buffer; the "
            "config needs a rule with caller = *placed_alloc:placed_malloc and size = 1M-",
            size);
    if (!info.applied || info.start != buffer || info.size != size)
        die("the library placed the buffer but did not apply the policy (or reported another "
            "buffer)", size);
    if (check_node && touching) {
        int node = node_of(buffer);
        if (node < 0 || node >= 64 || !(dram_mask & (1ul << node)))
            die("the placed buffer's first page is not on a node with CPUs", size);
    }

    uint64_t freeing = now_ns();
    free(buffer);
    return touched - start + now_ns() - freeing;
}

/* One raw operation: mmap + mbind + touch + munmap, straight to the kernel. */
static uint64_t raw_op(size_t size, int touching, int check_node)
{
    uint64_t start = now_ns();
    long mapped = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == -1)
        die("mmap failed", size);
    unsigned char *buffer = (unsigned char *)mapped;
    if (syscall(SYS_mbind, buffer, size, MPOL_BIND, &dram_mask, sizeof dram_mask * 8 + 1, 0))
        die("mbind failed", size);
    if (touching)
        touch(buffer, size);
    if (check_node && touching) {
        int node = node_of(buffer);
        if (node < 0 || node >= 64 || !(dram_mask & (1ul << node)))
            die("the raw buffer's first page is not on a node with CPUs", size);
    }
    if (syscall(SYS_munmap, buffer, size))
        die("munmap failed", size);
    return now_ns() - start;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct summary {
    double mean;
    double median;
};

static struct summary summarize(uint64_t *ns, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += (double)ns[i];
    qsort(ns, (size_t)n, sizeof *ns, compare_u64);
    double median = n % 2 ? (double)ns[n / 2] : ((double)ns[n / 2 - 1] + (double)ns[n / 2]) / 2;
    return (struct summary){total / n, median};
}

/* `touching` 0 leaves the pages alone: what remains is the library's own path (deciding,
 * mapping, binding, recording, releasing) against two bare syscalls and a munmap, a figure
 * that the page-fault cost of the touched runs does not hide. */
static void bench(const char *label, size_t size, int iterations, int touching)
{
    uint64_t *placed = calloc((size_t)iterations, sizeof *placed);
    uint64_t *raw = calloc((size_t)iterations, sizeof *raw);
    if (!placed || !raw)
        die("no memory for the samples", size);
    /* Warm up both paths (and check the nodes once), then alternate their order. */
    for (int i = 0; i < 3; i++) {
        raw_op(size, touching, i == 0);
        if (query)
            placed_op(size, touching, i == 0);
    }
    for (int i = 0; i < iterations; i++) {
        if (query && i % 2)
            placed[i] = placed_op(size, touching, 0);
        raw[i] = raw_op(size, touching, 0);
        if (query && !(i % 2))
            placed[i] = placed_op(size, touching, 0);
    }
    struct summary r = summarize(raw, iterations);
    printf("%-8s %-7s %6d %12.0f %12.0f %9.1f\n", label, "raw", iterations, r.mean, r.median,
           r.median / (double)(size / page_size));
    if (query) {
        struct summary p = summarize(placed, iterations);
        printf("%-8s %-7s %6d %12.0f %12.0f %9.1f\n", label, "placed", iterations, p.mean,
               p.median, p.median / (double)(size / page_size));
        printf("%-8s ratio placed/raw: mean %.3f, median %.3f%s\n", label, p.mean / r.mean,
               p.median / r.median, touching ? " (goal <= 1.2)" : "");
    }
    free(placed);
    free(raw);
}

int main(int argc, char **argv)
{
    int iterations_1m = argc > 1 ? atoi(argv[1]) : 2000;
    int iterations_64m = argc > 2 ? atoi(argv[2]) : 60;
    if (iterations_1m <= 0 || iterations_64m <= 0) {
        fprintf(stderr, "usage: placed_alloc [ITERATIONS_1M [ITERATIONS_64M]]\n");
        return 2;
    }
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    if (numa_available() < 0) {
        fprintf(stderr, "placed_alloc: no NUMA support in this kernel\n");
        return 1;
    }
    for (int node = 0; node <= numa_max_node() && node < 64; node++) {
        struct bitmask *cpus = numa_allocate_cpumask();
        if (numa_node_to_cpus(node, cpus) == 0 && numa_bitmask_weight(cpus) > 0)
            dram_mask |= 1ul << node;
        numa_free_cpumask(cpus);
    }
    if (!dram_mask)
        dram_mask = 1; /* node 0, as on a machine without NUMA */

    query = (query_fn)dlsym(RTLD_DEFAULT, "cdm_query");
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "cdm_version");
    printf("placed_alloc: %s; dram nodes mask 0x%lx\n",
           query ? "library preloaded: placed path vs raw path"
                 : "no library: raw path only (mmap + mbind + touch + munmap)",
           dram_mask);
    if (query && version)
        printf("placed_alloc: libcdmplace %s\n", version());
    printf("%-8s %-7s %6s %12s %12s %9s\n", "size", "path", "iters", "mean ns", "median ns",
           "ns/page");
    bench("1 MiB", (size_t)1 << 20, iterations_1m, 1);
    bench("64 MiB", (size_t)64 << 20, iterations_64m, 1);
    printf("bare: the same without the touch (the library's own path vs mmap + mbind + munmap)\n");
    bench("1M bare", (size_t)1 << 20, iterations_1m, 0);
    bench("64M bare", (size_t)64 << 20, iterations_1m, 0);
    return 0;
}
