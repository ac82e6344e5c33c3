/* SPDX-License-Identifier: MIT */
/* bench/track_loop.c: what access tracking costs a program that streams through its memory.
 *
 * STREAM's triad, a[i] = b[i] + s * c[i], over three arrays from malloc, so that under the
 * library a rule places them. bench/guest.sh runs it with a rule that binds them to DRAM with
 * `migrate = follow-cpu`: the tracker runs (every epoch it collects the writes to `a`, and the
 * wp backend takes a fault per 64 KiB written since it protected them again), but DRAM is
 * both the policy's side and the CPU's, so no page ever moves. What differs between
 * `track = off` and a tracker is then the tracking alone.
 *
 * The arrays are filled first (the fill is timed apart: it is where the write-protect
 * backends see each page's first write), then the triad runs ITERATIONS times, each timed.
 * The first pass is reported apart from the rest, as STREAM does: where the fill took longer
 * than half the rule's `idle`, the pages of `a` it wrote early sat unwritten that long, so a
 * tracker watches them whole again and the first pass takes a write-protect fault on each;
 * what tracking costs a loop that keeps running is in the later passes.
 * Checked untimed: under the library every array must be placed with its policy applied, and
 * after the loop every page must still be on a node with CPUs; every element of `a` must be
 * exact (the values are small integers, so the sums are exact in double).
 *
 * Usage: track_loop [MIB_PER_ARRAY [ITERATIONS [profile]]]   (default 320 MiB, 5 iterations, at
 * least 2; `profile`: under a config of no rule, which places nothing and tracks every array)
 * Prints one line: the library it ran under ("none" without the preload), in ns the fill,
 * the first pass, the median, fastest and slowest of the later passes and all passes
 * together, and the share of the arrays in huge pages after the fill and after the loop. */
#include "cdmplace.h"

#include "thp.h"
#include <dlfcn.h>
#include <numa.h>
#include <numaif.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ARRAYS 3
#define ITERATIONS_MAX 100

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void triad(double *restrict a, const double *restrict b, const double *restrict c,
                  size_t n, double s)
{
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] + s * c[i];
    /* `a` escapes: each iteration's stores happen, none merged with the next one's. */
    __asm__ volatile("" : : "r"(a) : "memory");
}

static int compare_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return (p > q) - (p < q);
}

/* Tracking can cost the program its huge pages (a write-protected range may get none, a
 * write-protect fault may split one), which weighs on it beyond the faults: printed. */
/* Pages of [start, start + size) on nodes without CPUs or on no node. */
static size_t pages_off_dram(const void *start, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = size / page, off = 0;
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    if (!pages || !status)
        return n;
    for (size_t i = 0; i < n; i++)
        pages[i] = (char *)start + i * page;
    struct bitmask *cpus = numa_allocate_cpumask();
    if (move_pages(0, n, pages, NULL, status, 0) != 0)
        off = n;
    for (size_t i = 0; i < n && off < n; i++)
        off += status[i] < 0 || numa_node_to_cpus(status[i], cpus) != 0 ||
               numa_bitmask_weight(cpus) == 0;
    numa_free_cpumask(cpus);
    free(pages);
    free(status);
    return off;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 320;
    int iterations = argc > 2 ? atoi(argv[2]) : 5;
    bool profile = argc > 3 && strcmp(argv[3], "profile") == 0;
    if (mib == 0 || iterations < 2 || iterations > ITERATIONS_MAX) {
        fprintf(stderr, "usage: track_loop [MIB_PER_ARRAY [ITERATIONS (2-%d) [profile]]]\n",
                ITERATIONS_MAX);
        return 2;
    }
    size_t size = mib << 20, n = size / sizeof(double);
    int (*query)(const void *, struct cdm_buffer_info *) =
        (int (*)(const void *, struct cdm_buffer_info *))dlsym(RTLD_DEFAULT, "cdm_query");
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "cdm_version");

    double *arrays[ARRAYS];
    for (int k = 0; k < ARRAYS; k++) {
        struct cdm_buffer_info info;
        if (!(arrays[k] = malloc(size))) {
            fprintf(stderr, "track_loop: malloc of %zu MiB failed\n", mib);
            return 1;
        }
        if (query && !profile && (query(arrays[k], &info) != 0 || !info.applied)) {
            fprintf(stderr, "track_loop: array %d was not placed with its policy applied: the "
                            "config needs a rule with size = 1M- or less, policy = bind dram\n", k);
            return 1;
        }
    }
    double *a = arrays[0], *b = arrays[1], *c = arrays[2];

    uint64_t start = now_ns();
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = (double)(i & 1023);
        c[i] = (double)(i >> 10 & 1023);
    }
    uint64_t fill_ns = now_ns() - start;
    int huge_filled = huge_percent((void *const *)arrays, ARRAYS, size), huge_after;

    uint64_t ns[ITERATIONS_MAX], total_ns = 0;
    for (int it = 0; it < iterations; it++) {
        start = now_ns();
        triad(a, b, c, n, 3.0);
        ns[it] = now_ns() - start;
        total_ns += ns[it];
    }
    huge_after = huge_percent((void *const *)arrays, ARRAYS, size);

    for (size_t i = 0; i < n; i++)
        if (a[i] != (double)(i & 1023) + 3.0 * (double)(i >> 10 & 1023)) {
            fprintf(stderr, "track_loop: a[%zu] = %g is wrong\n", i, a[i]);
            return 1;
        }
    for (int k = 0; k < ARRAYS; k++) {
        size_t off = pages_off_dram(arrays[k], size);
        if (off) {
            fprintf(stderr, "track_loop: array %d has %zu pages off the nodes with CPUs\n", k, off);
            return 1;
        }
    }
    /* The later passes: sorted, their median. */
    uint64_t *later = ns + 1;
    int count = iterations - 1;
    qsort(later, (size_t)count, sizeof later[0], compare_u64);
    uint64_t median = count % 2 ? later[count / 2] : (later[count / 2 - 1] + later[count / 2]) / 2;
    printf("track_loop: library=%s arrays=%dx%zuMiB iterations=%d fill_ns=%llu first_ns=%llu "
           "median_ns=%llu min_ns=%llu max_ns=%llu total_ns=%llu huge=%d%%,%d%%\n",
           version ? version() : "none", ARRAYS, mib, iterations, (unsigned long long)fill_ns,
           (unsigned long long)ns[0], (unsigned long long)median,
           (unsigned long long)later[0], (unsigned long long)later[count - 1],
           (unsigned long long)total_ns, huge_filled, huge_after);
    for (int k = 0; k < ARRAYS; k++)
        free(arrays[k]);
    return 0;
}
