/* SPDX-License-Identifier: MIT */
/* bench/soft_dirty.c: what soft-dirty bits would cost as a write tracker, and what they see.
 *
 * Soft-dirty is the one write tracker an ordinary user has on Linux 6.1 (no async
 * write-protect, no PAGEMAP_SCAN, no full userfaultfd, no DAMON): writing "4" to
 * /proc/self/clear_refs write-protects every page of the process and clears its soft-dirty
 * bit; the next write to a page faults and sets it again (bit 55 of its /proc/self/pagemap
 * entry; PAGE_IS_SOFT_DIRTY of PAGEMAP_SCAN where that exists). Nothing here changes the
 * library: this program is a tracker of that kind alone, beside a workload.
 *
 * Workloads (each mapping aligned to 2 MiB so that THP can back all of it):
 *   random  one mapping advised MADV_HUGEPAGE, filled, then ROUNDS rounds of random 8-byte
 *           updates, one per word a round (as bench/thp_random.c)
 *   triad   STREAM's a[i] = b[i] + s * c[i] over three mappings, filled, then ROUNDS passes
 *           (as bench/track_loop.c; huge pages as the system gives them)
 * Modes:
 *   plain     the workload alone
 *   pagemap   a second thread, each epoch (100 ms, the library's default): reads the
 *             buffers' pagemap entries (bit 55), then clears the whole process's bits
 *   scan      the same, reading with PAGEMAP_SCAN and PAGE_IS_SOFT_DIRTY instead
 *   accessed  the control of the clear's walk alone: each epoch "1" to clear_refs (accessed
 *             bits: the same walk of the whole process, but no write-protection, so no
 *             fault after it, and no TLB flush on x86), nothing read
 *   flush     the control of the TLB flush alone: each epoch a side mapping of FLUSH_PAGES
 *             pages made read-only and writable again, a range wide enough that x86 flushes
 *             each CPU's whole TLB (tlb_single_page_flush_ceiling, 33 pages); no clear_refs
 *   check     no workload: whether this kernel has soft-dirty bits and the scan category
 *
 * Accuracy needs the truth: the workload marks a byte per 4 KiB page before it writes the
 * page (an update: its page; the triad: each page of `a` before its 512 elements), in every
 * mode, so that plain pays the same. Each epoch the tracker reads the bits, then takes and
 * resets the marks, then clears the bits: a page marked but not reported was written in the
 * window between its entry's read and the clear, and the clear lost it (missed); a page
 * reported but not marked was not written that epoch (extra: the rest of a huge page, whose
 * soft-dirty bit is one for 2 MiB). The first clear is done before the fill, since a new
 * mapping reads as soft-dirty throughout until then.
 *
 * Checked untimed: the buffer's sum (random) or every element of `a` (triad).
 *
 * Usage: soft_dirty WORKLOAD MODE [MIB [ROUNDS]]   (default 256 MiB a mapping, 2 rounds)
 *        soft_dirty check
 * Prints one line of NAME=VALUE: times in ms (fill, rounds, total), the share of the buffers
 * in huge pages after the fill and at the end, the epochs, the median cost of a read and of
 * a clear in us, the pages tracked, and per epoch on average the pages written (marked),
 * reported, missed and extra. */
#include "thp.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ARRAYS_MAX 3
#define ROUNDS_MAX 64
#define EPOCH_NS (100 * 1000000ull) /* the library's default epoch (preload/config.c) */
#define EPOCHS_MAX 100000           /* 10,000 s of epochs: the medians' storage */
#define PAGE 4096ul
#define HUGE_PAGE (2ul << 20)
#define PAGEMAP_SOFT_DIRTY (1ull << 55) /* Documentation/admin-guide/mm/soft-dirty.rst */

/* PAGEMAP_SCAN (Linux 6.7) and PAGE_IS_SOFT_DIRTY, from include/uapi/linux/fs.h: Debian 12's
 * headers are 6.1's and have neither. */
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct page_region {
    uint64_t start, end, categories;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_SOFT_DIRTY (1ull << 7)
#define SCAN_REGIONS 4096
#define FLUSH_PAGES 64

enum workload { WORKLOAD_RANDOM, WORKLOAD_TRIAD, WORKLOAD_COUNT };
static const char *const workload_names[WORKLOAD_COUNT] = {"random", "triad"};
static const int workload_arrays[WORKLOAD_COUNT] = {1, 3};

enum mode { MODE_PLAIN, MODE_PAGEMAP, MODE_SCAN, MODE_ACCESSED, MODE_FLUSH, MODE_CHECK,
            MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"plain", "pagemap", "scan", "accessed",
                                                   "flush", "check"};

/* The tracked buffers, the workload's marks and the tracker's findings. */
struct tracking {
    enum mode mode;
    int arrays;
    char *starts[ARRAYS_MAX];
    size_t size, pages_per_array, pages;
    uint8_t *written;  /* the workload's marks, one byte a page of all arrays */
    uint8_t *reported; /* this epoch's soft-dirty pages, likewise */
    int clear_refs_fd, pagemap_fd;
    uint64_t *entries; /* one array's pagemap entries */
    char *flushed;     /* MODE_FLUSH: FLUSH_PAGES populated pages, apart from the buffers */
    struct page_region regions[SCAN_REGIONS];
    volatile int stop;
    size_t epochs;
    uint64_t *read_ns, *clear_ns;
    uint64_t marked, seen, missed, extra; /* page counts summed over the epochs */
    int error;                            /* errno of a failed read or clear, then stop */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int name_index(const char *const *names, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

static int compare_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return (p > q) - (p < q);
}

static uint64_t median_u64(uint64_t *values, size_t n)
{
    if (n == 0)
        return 0;
    qsort(values, n, sizeof values[0], compare_u64);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* An anonymous mapping of `size` bytes starting on a 2 MiB boundary: the kernel aligns large
 * anonymous mappings itself only from 6.7 on, and an unaligned one has a huge page fewer. The
 * slack stays mapped and untouched. */
static char *map_aligned(size_t size)
{
    char *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    return (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
}

static void mark(struct tracking *t, size_t page)
{
    __atomic_store_n(&t->written[page], 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ soft-dirty bits */

static int clear_refs(struct tracking *t)
{
    /* "4": soft-dirty only (fs/proc/task_mmu.c, CLEAR_REFS_SOFT_DIRTY), over every VMA of
     * the process: there is no per-range clear. "1": accessed bits (CLEAR_REFS_ALL). */
    return write(t->clear_refs_fd, t->mode == MODE_ACCESSED ? "1" : "4", 1) == 1 ? 0 : errno;
}

/* Two protection changes over more than 33 pages: two whole-TLB flushes on every CPU the
 * process runs on (arch/x86/mm/tlb.c), as a clear_refs of soft-dirty ends with one. */
static int flush_tlb(struct tracking *t)
{
    if (mprotect(t->flushed, FLUSH_PAGES * PAGE, PROT_READ) != 0 ||
        mprotect(t->flushed, FLUSH_PAGES * PAGE, PROT_READ | PROT_WRITE) != 0)
        return errno;
    return 0;
}

static int read_pagemap(struct tracking *t)
{
    size_t bytes = t->pages_per_array * sizeof(uint64_t);
    for (int k = 0; k < t->arrays; k++) {
        off_t offset = (off_t)((uintptr_t)t->starts[k] / PAGE * sizeof(uint64_t));
        for (size_t done = 0; done < bytes;) {
            ssize_t n = pread(t->pagemap_fd, (char *)t->entries + done, bytes - done,
                              offset + (off_t)done);
            if (n <= 0)
                return n < 0 ? errno : EIO;
            done += (size_t)n;
        }
        uint8_t *reported = t->reported + (size_t)k * t->pages_per_array;
        for (size_t p = 0; p < t->pages_per_array; p++)
            reported[p] = (t->entries[p] & PAGEMAP_SOFT_DIRTY) != 0;
    }
    return 0;
}

static int read_scan(struct tracking *t)
{
    memset(t->reported, 0, t->pages);
    for (int k = 0; k < t->arrays; k++) {
        uintptr_t start = (uintptr_t)t->starts[k], end = start + t->size;
        uint8_t *reported = t->reported + (size_t)k * t->pages_per_array;
        while (start < end) {
            struct pm_scan_arg arg = {
                .size = sizeof arg,
                .start = start,
                .end = end,
                .vec = (uintptr_t)t->regions,
                .vec_len = SCAN_REGIONS,
                .category_mask = PAGE_IS_SOFT_DIRTY,
                .return_mask = PAGE_IS_SOFT_DIRTY,
            };
            long n = ioctl(t->pagemap_fd, PAGEMAP_SCAN, &arg);
            if (n < 0)
                return errno;
            for (long r = 0; r < n; r++) {
                size_t first = (t->regions[r].start - (uintptr_t)t->starts[k]) / PAGE;
                size_t last = (t->regions[r].end - (uintptr_t)t->starts[k]) / PAGE;
                memset(reported + first, 1, last - first);
            }
            start = arg.walk_end; /* short of `end` when the regions filled up */
        }
    }
    return 0;
}

/* One epoch's end: read what was written, take the workload's marks, clear. The marks are
 * taken between the two so that a page is missed only when its write fell between its read
 * and the clear, which is what soft-dirty loses. */
static void epoch_end(struct tracking *t)
{
    uint64_t start = now_ns();
    int error = t->mode == MODE_SCAN       ? read_scan(t)
                : t->mode == MODE_PAGEMAP ? read_pagemap(t)
                                          : 0;
    uint64_t read_ns = now_ns() - start;
    uint64_t marked = 0, seen = 0, missed = 0, extra = 0;
    bool reads = t->mode == MODE_PAGEMAP || t->mode == MODE_SCAN;
    for (size_t p = 0; p < t->pages && !error && reads; p++) {
        bool written = __atomic_load_n(&t->written[p], __ATOMIC_RELAXED) &&
                       __atomic_exchange_n(&t->written[p], 0, __ATOMIC_RELAXED);
        marked += written;
        seen += t->reported[p];
        missed += written && !t->reported[p];
        extra += !written && t->reported[p];
    }
    start = now_ns();
    if (!error)
        error = t->mode == MODE_FLUSH ? flush_tlb(t) : clear_refs(t);
    uint64_t clear_ns = now_ns() - start;
    if (error) {
        t->error = error;
        t->stop = 1;
        return;
    }
    if (t->epochs < EPOCHS_MAX) {
        t->read_ns[t->epochs] = read_ns;
        t->clear_ns[t->epochs] = clear_ns;
    }
    t->epochs++;
    t->marked += marked;
    t->seen += seen;
    t->missed += missed;
    t->extra += extra;
}

static void *tracker(void *arg)
{
    struct tracking *t = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
        uint64_t ns = (uint64_t)next.tv_nsec + EPOCH_NS;
        next.tv_sec += (time_t)(ns / 1000000000u);
        next.tv_nsec = (long)(ns % 1000000000u);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        if (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED))
            epoch_end(t);
    }
    return NULL;
}

/* check: 16 pages, bits cleared, pages 3 and 7 written; both readers must report exactly
 * those. Prints "pagemap=yes|no scan=yes|no|absent" and says why on stderr. */
static int check(void)
{
    enum { PAGES = 16 };
    struct tracking t = {.arrays = 1, .size = PAGES * PAGE, .pages_per_array = PAGES,
                         .pages = PAGES};
    uint8_t reported[PAGES];
    uint64_t entries[PAGES];
    t.reported = reported;
    t.entries = entries;
    t.starts[0] = mmap(NULL, t.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    t.clear_refs_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    t.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (t.starts[0] == MAP_FAILED || t.clear_refs_fd < 0 || t.pagemap_fd < 0) {
        perror("soft_dirty: check");
        return 1;
    }
    memset(t.starts[0], 1, t.size);
    int error = clear_refs(&t);
    if (error) {
        fprintf(stderr, "soft_dirty: check: clear_refs: %s\n", strerror(error));
        printf("pagemap=no scan=no\n");
        return 0;
    }
    t.starts[0][3 * PAGE] = 2;
    t.starts[0][7 * PAGE] = 2;
    const char *verdict[2];
    for (int reader = 0; reader < 2; reader++) {
        error = reader ? read_scan(&t) : read_pagemap(&t);
        bool exact = !error;
        for (int p = 0; p < PAGES; p++)
            exact &= reported[p] == (p == 3 || p == 7);
        /* Before 6.7 the ioctl is unknown (ENOTTY); a kernel with PAGEMAP_SCAN but not the
         * soft-dirty category refuses the mask (EINVAL). */
        bool unknown = reader && (error == ENOTTY || error == EINVAL);
        verdict[reader] = exact ? "yes" : unknown ? "absent" : "no";
        if (error)
            fprintf(stderr, "soft_dirty: check: %s: %s\n", reader ? "PAGEMAP_SCAN" : "pagemap",
                    strerror(error));
        else if (!exact)
            fprintf(stderr, "soft_dirty: check: %s did not report exactly pages 3 and 7 written "
                            "after a clear (no CONFIG_MEM_SOFT_DIRTY?)\n",
                    reader ? "PAGEMAP_SCAN" : "pagemap");
    }
    printf("pagemap=%s scan=%s\n", verdict[0], verdict[1]);
    return 0;
}

/* ------------------------------------------------------------------ the workloads */

static void random_fill(struct tracking *t)
{
    uint64_t *a = (uint64_t *)t->starts[0];
    for (size_t p = 0; p < t->pages; p++) {
        mark(t, p);
        memset(a + p * (PAGE / sizeof a[0]), 0, PAGE);
    }
}

static void random_round(struct tracking *t, uint64_t *x)
{
    uint64_t *a = (uint64_t *)t->starts[0];
    size_t n = t->size / sizeof a[0];
    for (size_t u = 0; u < n; u++) {
        *x ^= *x << 13; /* xorshift64 */
        *x ^= *x >> 7;
        *x ^= *x << 17;
        size_t i = *x % n;
        mark(t, i / (PAGE / sizeof a[0]));
        a[i] += 1;
    }
}

static bool random_intact(struct tracking *t, int rounds)
{
    const uint64_t *a = (const uint64_t *)t->starts[0];
    size_t n = t->size / sizeof a[0];
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += a[i];
    return sum == (uint64_t)n * (uint64_t)rounds;
}

static void triad_fill(struct tracking *t)
{
    double *a = (double *)t->starts[0], *b = (double *)t->starts[1], *c = (double *)t->starts[2];
    size_t per_page = PAGE / sizeof(double);
    for (size_t p = 0; p < t->pages_per_array; p++) {
        for (int k = 0; k < 3; k++)
            mark(t, (size_t)k * t->pages_per_array + p);
        for (size_t i = p * per_page; i < (p + 1) * per_page; i++) {
            a[i] = 0;
            b[i] = (double)(i & 1023);
            c[i] = (double)(i >> 10 & 1023);
        }
    }
}

static void triad_pass(struct tracking *t)
{
    double *restrict a = (double *)t->starts[0];
    const double *restrict b = (const double *)t->starts[1];
    const double *restrict c = (const double *)t->starts[2];
    size_t per_page = PAGE / sizeof(double);
    for (size_t p = 0; p < t->pages_per_array; p++) {
        mark(t, p);
        for (size_t i = p * per_page; i < (p + 1) * per_page; i++)
            a[i] = b[i] + 3.0 * c[i];
    }
    /* `a` escapes: each pass's stores happen, none merged with the next one's. */
    __asm__ volatile("" : : "r"(a) : "memory");
}

static bool triad_intact(struct tracking *t)
{
    const double *a = (const double *)t->starts[0];
    for (size_t i = 0; i < t->size / sizeof(double); i++)
        if (a[i] != (double)(i & 1023) + 3.0 * (double)(i >> 10 & 1023))
            return false;
    return true;
}

/* ------------------------------------------------------------------ main */

static int usage(void)
{
    fprintf(stderr, "usage: soft_dirty random|triad plain|pagemap|scan|accessed|flush [MIB (>= 2) "
                    "[ROUNDS (1-%d)]]\n       soft_dirty check\n", ROUNDS_MAX);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "check") == 0)
        return check();
    if (argc < 3)
        return usage();
    int workload = name_index(workload_names, WORKLOAD_COUNT, argv[1]);
    int mode = name_index(mode_names, MODE_COUNT, argv[2]);
    size_t mib = argc > 3 ? strtoul(argv[3], NULL, 10) : 256;
    int rounds = argc > 4 ? atoi(argv[4]) : 2;
    if (workload < 0 || mode < 0 || mode == MODE_CHECK || mib < 2 || rounds < 1 ||
        rounds > ROUNDS_MAX)
        return usage();

    static struct tracking t;
    t.mode = (enum mode)mode;
    t.arrays = workload_arrays[workload];
    t.size = mib << 20;
    t.pages_per_array = t.size / PAGE;
    t.pages = t.pages_per_array * (size_t)t.arrays;
    for (int k = 0; k < t.arrays; k++) {
        if (!(t.starts[k] = map_aligned(t.size))) {
            perror("soft_dirty: mmap");
            return 1;
        }
        if (workload == WORKLOAD_RANDOM && madvise(t.starts[k], t.size, MADV_HUGEPAGE) != 0)
            perror("soft_dirty: madvise(MADV_HUGEPAGE)");
    }
    t.written = calloc(t.pages, 1);
    t.reported = calloc(t.pages, 1);
    t.entries = malloc(t.pages_per_array * sizeof t.entries[0]);
    t.read_ns = malloc(EPOCHS_MAX * sizeof t.read_ns[0]);
    t.clear_ns = malloc(EPOCHS_MAX * sizeof t.clear_ns[0]);
    if (!t.written || !t.reported || !t.entries || !t.read_ns || !t.clear_ns) {
        fprintf(stderr, "soft_dirty: out of memory\n");
        return 1;
    }

    pthread_t thread;
    bool tracked = t.mode != MODE_PLAIN;
    if (tracked) {
        t.clear_refs_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        t.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        if (t.clear_refs_fd < 0 || t.pagemap_fd < 0) {
            perror("soft_dirty: /proc/self/clear_refs or pagemap");
            return 1;
        }
        t.flushed = mmap(NULL, FLUSH_PAGES * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (t.flushed == MAP_FAILED) {
            perror("soft_dirty: mmap");
            return 1;
        }
        int error = t.mode == MODE_FLUSH ? 0 : clear_refs(&t);
        if (error || (error = pthread_create(&thread, NULL, tracker, &t)) != 0) {
            fprintf(stderr, "soft_dirty: starting the tracker: %s\n", strerror(error));
            return 1;
        }
    }

    uint64_t start = now_ns();
    if (workload == WORKLOAD_RANDOM)
        random_fill(&t);
    else
        triad_fill(&t);
    uint64_t fill_ns = now_ns() - start;
    int huge_filled = huge_percent((void *const *)t.starts, t.arrays, t.size);
    uint64_t x = 88172645463325252u;
    start = now_ns();
    for (int r = 0; r < rounds; r++) {
        if (workload == WORKLOAD_RANDOM)
            random_round(&t, &x);
        else
            triad_pass(&t);
    }
    uint64_t rounds_ns = now_ns() - start;
    int huge_end = huge_percent((void *const *)t.starts, t.arrays, t.size);

    if (tracked) {
        __atomic_store_n(&t.stop, 1, __ATOMIC_RELAXED);
        pthread_join(thread, NULL);
        if (t.error) {
            fprintf(stderr, "soft_dirty: %s: %s\n", t.mode == MODE_SCAN ? "PAGEMAP_SCAN" :
                            "reading pagemap or clearing", strerror(t.error));
            return 1;
        }
    }
    if (workload == WORKLOAD_RANDOM ? !random_intact(&t, rounds) : !triad_intact(&t)) {
        fprintf(stderr, "soft_dirty: the %s workload's data is wrong\n", workload_names[workload]);
        return 1;
    }
    size_t stored = t.epochs < EPOCHS_MAX ? t.epochs : EPOCHS_MAX;
    double epochs = t.epochs ? (double)t.epochs : 1;
    printf("soft_dirty: workload=%s mode=%s mib=%zu arrays=%d rounds=%d fill_ms=%.1f "
           "rounds_ms=%.1f total_ms=%.1f huge=%d,%d epochs=%zu read_us=%.1f clear_us=%.1f "
           "pages=%zu written=%.1f reported=%.1f missed=%.1f extra=%.1f\n",
           workload_names[workload], mode_names[mode], mib, t.arrays, rounds, fill_ns / 1e6,
           rounds_ns / 1e6, (fill_ns + rounds_ns) / 1e6, huge_filled, huge_end, t.epochs,
           median_u64(t.read_ns, stored) / 1e3, median_u64(t.clear_ns, stored) / 1e3, t.pages,
           t.marked / epochs, t.seen / epochs, t.missed / epochs, t.extra / epochs);
    return 0;
}
