/* SPDX-License-Identifier: MIT */
/* bench/tier_accuracy.c: how closely a tiering mechanism keeps a shifting hot set on DRAM,
 * over time. The workload and its sampler; bench/tier_guest.sh runs it
 * under cdmplace's `migrate = tier`, the kernel's NUMA-balancing tiering and DAMON's
 * migrate_hot / migrate_cold schemes in one guest of the `tiers` topology.
 *
 * A buffer from malloc (4 KiB pages: MADV_NOHUGEPAGE) is filled, then moved whole to the
 * slowest node with move_pages, so that every mechanism starts from the same state whatever
 * placed it. After the runner's go (a file appearing: the runner sets its mechanism up
 * meanwhile) and a quiet 2 s, a hot window is kept busy for SECONDS, then the next one,
 * SHIFTS + 1 windows in all: window 0 starts from a buffer where nothing is hot, each later
 * one is a shift away from the last. A pass writes (or with -r reads) one word per 64-byte
 * line of the window and ends with a TLB flush: DAMON and the accessed bits it reads see an
 * access only when a page walk sets the bit, which an emulated CPU (QEMU's TCG) does only
 * after a flush. Every contender gets the same passes, flushes included.
 *
 * Every 100 ms (a slot: cdmplace's epoch and DAMON's aggregation in the runner's setups) a
 * move_pages query, which touches nothing, counts the window's pages on DRAM and the buffer's
 * pages on DRAM outside the window: a mechanism that promotes everything it ever saw is fast
 * and not tiering, and this shows it.
 *
 * Output, one line each, KEY=VALUE after the first word:
 *   sample     every slot of every window: its share of the window on DRAM
 *   window     per window: its share on DRAM when it became hot, slots and ms until 50% and
 *              95% of it were on DRAM (-1: never), the share at its end and its mean over its
 *              last second, DRAM pages outside it at the end and at most, passes made
 *   data       after the last window: every word checked against what was written
 * Under the library, `sample` and `window` also give the tracker's epochs (cdm_query), which
 * run late when the emulated machine is busy.
 *
 * Usage: tier_accuracy [-r] [-m BUFFER_MIB] [-w WINDOW_MIB] [-k SHIFTS] [-s SECONDS] [-g FILE]
 * (defaults: write-hot, 64 MiB, 8 MiB, 5 shifts (6 windows), 3 s, start at once). */
/* By path: the build line in bench/tier_guest.sh's header has no -Iinclude. */
#include "../include/cdmplace.h"

#include <dlfcn.h>
#include <errno.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define DRAM_NODE 0 /* the tiers topology: node 0 has the CPUs */
#define SLOW_NODE 2 /* and node 2 is its lowest tier */
#define SLOT_MS 100
#define LINE 64
#define QUIET_MS 2000
#define FLUSH_PAGES 64 /* above the kernel's 33-page ceiling: a full TLB flush */

static size_t page_size;
static uint64_t *words;      /* the page-aligned part of the buffer */
static size_t n_pages;
static void **pages;         /* one address per page, for move_pages */
static int *status;
static int (*query)(const void *, struct cdm_buffer_info *);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("tier_accuracy: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec wait = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
    while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
        ;
}

static uint64_t filled(size_t word)
{
    return word * 0x9e3779b97f4a7c15ull;
}

static uint64_t written(size_t word, unsigned pass)
{
    return word + ((uint64_t)pass << 40);
}

/* The tracker's epochs so far, or 0 without the library. */
static unsigned epochs_now(void)
{
    struct cdm_buffer_info info;
    return query && query(words, &info) == 0 ? info.epochs : 0;
}

/* DAMON sees a page accessed when a page walk set its accessed bit; an emulated CPU keeps
 * translations cached until a flush, so each pass ends with one: discarding more scratch
 * pages than the kernel flushes one by one flushes the whole TLB. */
static void flush_tlb(void)
{
    static unsigned char *scratch;
    if (!scratch) {
        scratch = mmap(NULL, FLUSH_PAGES * page_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (scratch == MAP_FAILED)
            die("mmap: %s", strerror(errno));
    }
    for (size_t i = 0; i < FLUSH_PAGES; i++)
        scratch[i * page_size] = 1;
    madvise(scratch, FLUSH_PAGES * page_size, MADV_DONTNEED);
}

static volatile uint64_t sink;

static void pass(size_t first_word, size_t n_words, unsigned number, int reading)
{
    if (reading) {
        uint64_t sum = 0;
        for (size_t w = first_word; w < first_word + n_words; w += LINE / sizeof(uint64_t))
            sum += words[w];
        sink = sum;
    } else {
        for (size_t w = first_word; w < first_word + n_words; w += LINE / sizeof(uint64_t))
            words[w] = written(w, number);
    }
    flush_tlb();
}

/* Where every page is now: status[] holds each page's node. */
static void locate(void)
{
    if (move_pages(0, n_pages, pages, NULL, status, 0) != 0)
        die("move_pages query: %s", strerror(errno));
}

/* Every page to the slow node; retried for pages the kernel found busy. */
static void start_on_slow_node(void)
{
    int *nodes = malloc(n_pages * sizeof *nodes);
    if (!nodes)
        die("out of memory");
    for (size_t i = 0; i < n_pages; i++)
        nodes[i] = SLOW_NODE;
    size_t off = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        if (move_pages(0, n_pages, pages, nodes, status, MPOL_MF_MOVE) < 0)
            die("move_pages to node %d: %s", SLOW_NODE, strerror(errno));
        locate();
        off = 0;
        for (size_t i = 0; i < n_pages; i++)
            off += status[i] != SLOW_NODE;
        if (off == 0)
            break;
        sleep_ms(100);
    }
    free(nodes);
    if (off)
        die("%zu of %zu pages would not move to node %d", off, n_pages, SLOW_NODE);
}

static void wait_for(const char *go)
{
    while (access(go, F_OK) != 0)
        sleep_ms(10);
}

struct window_result {
    double at_shift;          /* the share on DRAM when the window became hot */
    int slot50, slot95;       /* first slot with >= 50% / 95% of the window on DRAM */
    double ms50, ms95;
    int epochs95;             /* the tracker's epochs until then (under the library) */
    unsigned epochs;          /* and during the whole window */
    double end_share, last_second_share;
    size_t outside_end, outside_max;
    unsigned passes;
};

/* One sample: the window's share on DRAM (percent) and DRAM pages outside the window. */
static double sample(size_t first_page, size_t window_pages, size_t *outside)
{
    locate();
    size_t in = 0, out = 0;
    for (size_t i = 0; i < n_pages; i++) {
        if (status[i] != DRAM_NODE)
            continue;
        if (i >= first_page && i < first_page + window_pages)
            in++;
        else
            out++;
    }
    *outside = out;
    return 100.0 * (double)in / (double)window_pages;
}

static struct window_result run_window(int index, size_t window_pages, unsigned seconds,
                                       int reading, unsigned *passes)
{
    struct window_result r = {.slot50 = -1, .slot95 = -1, .ms50 = -1, .ms95 = -1,
                              .epochs95 = -1};
    size_t first_page = (size_t)index * window_pages;
    size_t first_word = first_page * page_size / sizeof(uint64_t);
    size_t n_words = window_pages * page_size / sizeof(uint64_t);
    unsigned slots = seconds * 1000 / SLOT_MS, last_second = 1000 / SLOT_MS, counted = 0;
    unsigned first_epoch = epochs_now(), made = 0;
    double start = now_ms(), last_sum = 0;
    for (unsigned slot = 0; slot <= slots; slot++) {
        /* Busy until the slot is due; a slot already gone by (a slow pass) is skipped. */
        while (now_ms() - start < (double)slot * SLOT_MS) {
            pass(first_word, n_words, ++*passes, reading);
            made++;
        }
        unsigned due = (unsigned)((now_ms() - start) / SLOT_MS);
        if (due > slot)
            slot = due < slots ? due : slots;
        size_t outside;
        double t = now_ms() - start, share = sample(first_page, window_pages, &outside);
        unsigned epochs = epochs_now() - first_epoch;
        printf("sample window=%d slot=%u t_ms=%.0f hot_on_dram=%.1f outside_on_dram=%zu", index,
               slot, t, share, outside);
        if (query)
            printf(" epochs=%u", epochs);
        putchar('\n');
        if (slot == 0)
            r.at_shift = share;
        if (r.slot50 < 0 && share >= 50) {
            r.slot50 = (int)slot;
            r.ms50 = t;
        }
        if (r.slot95 < 0 && share >= 95) {
            r.slot95 = (int)slot;
            r.ms95 = t;
            r.epochs95 = (int)epochs;
        }
        if (slot + last_second > slots) {
            last_sum += share;
            counted++;
        }
        if (outside > r.outside_max)
            r.outside_max = outside;
        r.end_share = share;
        r.outside_end = outside;
        r.epochs = epochs;
    }
    r.last_second_share = last_sum / counted;
    r.passes = made;
    return r;
}

/* Every word as the fill and the last write of its window left it. */
static void check(const unsigned *last_pass, int windows, size_t window_pages, int reading)
{
    size_t n_words = n_pages * page_size / sizeof(uint64_t);
    size_t window_words = window_pages * page_size / sizeof(uint64_t);
    for (size_t w = 0; w < n_words; w++) {
        size_t window = w / window_words;
        int rewritten = !reading && window < (size_t)windows && w % (LINE / sizeof(uint64_t)) == 0;
        uint64_t want = rewritten ? written(w, last_pass[window]) : filled(w);
        if (words[w] != want)
            die("data lost: word %zu holds %#llx, not %#llx", w, (unsigned long long)words[w],
                (unsigned long long)want);
    }
}

static unsigned number(const char *text, const char *what)
{
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value == 0 || value > 4096)
        die("%s takes a number from 1 to 4096, not '%s'", what, text);
    return (unsigned)value;
}

int main(int argc, char **argv)
{
    unsigned buffer_mib = 64, window_mib = 8, shifts = 5, seconds = 3;
    int reading = 0, option;
    const char *go = NULL;
    while ((option = getopt(argc, argv, "rm:w:k:s:g:")) != -1) {
        switch (option) {
        case 'r': reading = 1; break;
        case 'm': buffer_mib = number(optarg, "-m"); break;
        case 'w': window_mib = number(optarg, "-w"); break;
        case 'k': shifts = number(optarg, "-k"); break;
        case 's': seconds = number(optarg, "-s"); break;
        case 'g': go = optarg; break;
        default:
            fprintf(stderr, "usage: tier_accuracy [-r] [-m BUFFER_MIB] [-w WINDOW_MIB] "
                            "[-k SHIFTS] [-s SECONDS] [-g FILE]\n");
            return 2;
        }
    }
    int windows = (int)shifts + 1;
    /* The buffer less a page holds the windows: malloc's own mappings start past a header. */
    if ((size_t)window_mib * (size_t)windows >= buffer_mib)
        die("%d windows of %u MiB do not fit in a %u MiB buffer", windows, window_mib,
            buffer_mib);
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    query = (int (*)(const void *, struct cdm_buffer_info *))dlsym(RTLD_DEFAULT, "cdm_query");
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "cdm_version");

    size_t size = (size_t)buffer_mib << 20;
    unsigned char *buffer = malloc(size);
    if (!buffer)
        die("malloc of %u MiB failed", buffer_mib);
    uintptr_t first = ((uintptr_t)buffer + page_size - 1) & ~(uintptr_t)(page_size - 1);
    uintptr_t end = ((uintptr_t)buffer + size) & ~(uintptr_t)(page_size - 1);
    words = (uint64_t *)first;
    n_pages = (end - first) / page_size;
    size_t window_pages = ((size_t)window_mib << 20) / page_size;
    pages = malloc(n_pages * sizeof *pages);
    status = malloc(n_pages * sizeof *status);
    unsigned *last_pass = calloc((size_t)windows, sizeof *last_pass);
    if (!pages || !status || !last_pass)
        die("out of memory");
    for (size_t i = 0; i < n_pages; i++)
        pages[i] = (char *)words + i * page_size;
    /* Base pages: a huge page moves, and is counted, as a whole. */
    if (madvise(words, n_pages * page_size, MADV_NOHUGEPAGE) != 0)
        die("madvise: %s", strerror(errno));
    for (size_t w = 0; w < n_pages * page_size / sizeof(uint64_t); w++)
        words[w] = filled(w);
    start_on_slow_node();

    struct cdm_buffer_info info = {0};
    int placed = query && query(words, &info) == 0;
    printf("start pid=%d library=%s placed=%d tracked=%d buffer_pages=%zu window_pages=%zu "
           "windows=%d seconds=%u access=%s on_node%d=%zu\n",
           (int)getpid(), version ? version() : "none", placed, placed && info.tracked, n_pages,
           window_pages, windows, seconds, reading ? "read" : "write", SLOW_NODE, n_pages);
    printf("ready pid=%d\n", (int)getpid());
    fflush(stdout);
    if (go)
        wait_for(go);
    sleep_ms(QUIET_MS);

    unsigned passes = 0;
    for (int index = 0; index < windows; index++) {
        struct window_result r = run_window(index, window_pages, seconds, reading, &passes);
        last_pass[index] = passes;
        printf("window %d %s at_shift=%.1f slot50=%d ms50=%.0f slot95=%d ms95=%.0f end=%.1f "
               "last_second=%.1f outside_end=%zu outside_max=%zu passes=%u",
               index, index ? "shift" : "start", r.at_shift, r.slot50, r.ms50, r.slot95, r.ms95,
               r.end_share, r.last_second_share, r.outside_end, r.outside_max, r.passes);
        if (query)
            printf(" epochs95=%d epochs=%u", r.epochs95, r.epochs);
        putchar('\n');
        fflush(stdout);
    }
    check(last_pass, windows, window_pages, reading);
    printf("data intact words=%zu\n", n_pages * page_size / sizeof(uint64_t));
    free(last_pass);
    free(status);
    free(pages);
    free(buffer);
    return 0;
}
