/* SPDX-License-Identifier: MIT */
/* follow-cpu on two sockets (tests/guest/run.sh --topology sockets: CPU 0 on node 0, CPU 1 on node
 * 1, device node 2 near node 0 and 3 near node 1), under tests/guest_sockets.conf: 16 MiB heap
 * buffers bound to node 2, 8 MiB ones to nodes 2 and 3, 12 MiB ones to node 2 under tier. A page
 * the CPU uses goes to the DRAM of the CPU that used it, not to the DRAM nearest the rule's node: a
 * writer pinned to CPU 1 pulls its buffer to node 1. Where the pages are comes from the kernel
 * (move_pages with no target).
 *
 * The tracker the library chose is read from the process's own trace (`start` event): one that sees
 * which thread wrote (wp, missing; wp-async in huge pages) can split one buffer between two
 * writers; one that does not (DAMON) can only tell which socket the program's threads ran on in
 * an epoch, so that test needs the former. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "preload_util.h"
#include "smaps.h"
#include "testutil.h"

#define PAGE 4096ul
#define SIZE (16 * MiB)
#define NEAR_SIZE (8 * MiB) /* the `near` rule's: bound to nodes 2 and 3 */
#define TIER_SIZE (12 * MiB) /* the `tiered` rule's: hot_set 4M */
#define HOT (2 * MiB)
#define IDLE_S 30.0         /* left alone until back: idle (1 s) plus a few epochs */
#define HALF (SIZE / 2)
#define SHARE 0.95
#define FOLLOW_S 30.0 /* written until there: a few epochs, plus 6.1's faults under TCG */
#define BURST_S 0.3   /* a pausing writer's: three epochs writing, four resting (well within */
#define PAUSE_S 0.4   /* `idle`, 1 s), in which the other writer is the process's one user */
#define KEEP_S 8.0    /* how long the halves are watched once both are there */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The share of [start, start + size)'s pages on `node`. Each writer asks for its own part at
 * once: the arrays are the caller's thread's (shared, one writer's query read the other's
 * pages). */
static double share_on(const unsigned char *start, size_t size, int node)
{
    static __thread void *pages[SIZE / PAGE];
    static __thread int status[SIZE / PAGE];
    size_t n = size / PAGE, on = 0;
    for (size_t i = 0; i < n; i++)
        pages[i] = (void *)(start + i * PAGE);
    if (move_pages(0, n, pages, NULL, status, 0) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        on += status[i] == node;
    return (double)on / (double)n;
}

struct writer {
    int cpu;
    unsigned char *buffer;
    size_t size;
    double reached_s; /* seconds until SHARE of it was on the CPU's node; < 0:
                         never */
    double share;     /* on the CPU's node at the end */
    bool pausing;     /* writes in bursts of BURST_S, each followed by a pause of PAUSE_S */
    bool keeps;       /* goes on writing KEEP_S once every writer's part is there */
    double lowest;    /* the lowest share on the CPU's node once SHARE was reached */
};

/* Writers running, and those whose part is where it should be. */
static int writers_running, writers_there;

/* Pinned to its CPU, writes its part until SHARE of it is on that CPU's node and every other
 * writer's is too: writers that stopped early would leave the others writing alone, which
 * any tracker can attribute. */
static void *write_until_there(void *arg)
{
    struct writer *w = arg;
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(w->cpu, &cpus);
    w->reached_s = -1;
    if (sched_setaffinity(0, sizeof cpus, &cpus) != 0)
        return NULL;
    double start = now_s(), burst = start, all_there = -1;
    w->lowest = 1;
    for (unsigned round = 0; all_there >= 0 || now_s() - start < FOLLOW_S; round++) {
        for (size_t off = 0; off < w->size; off += PAGE / 2)
            w->buffer[off] = (unsigned char)round;
        w->share = share_on(w->buffer, w->size, w->cpu);
        if (w->share >= SHARE && w->reached_s < 0) {
            w->reached_s = now_s() - start;
            __atomic_add_fetch(&writers_there, 1, __ATOMIC_RELAXED);
        }
        if (w->reached_s >= 0 && w->share < w->lowest)
            w->lowest = w->share;
        if (__atomic_load_n(&writers_there, __ATOMIC_RELAXED) == writers_running) {
            all_there = all_there < 0 ? now_s() : all_there;
            if (!w->keeps || now_s() - all_there >= KEEP_S)
                break;
        }
        double pause_s = 0.02;
        if (w->pausing && now_s() - burst >= BURST_S) {
            pause_s = PAUSE_S;
            burst = now_s() + PAUSE_S;
        }
        struct timespec pause = {.tv_sec = (time_t)pause_s,
                                 .tv_nsec = (long)((pause_s - (time_t)pause_s) * 1e9)};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void run_writers(struct writer *writers, int n)
{
    writers_running = n;
    writers_there = 0;
    pthread_t threads[2];
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, write_until_there, &writers[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

/* Aligned to a huge page, so that its halves part on a huge page's boundary and a span's
 * (spans start at the buffer): a huge page written by both writers, or a span, has no right
 * node. The kernel aligns no 16 MiB heap buffer and its spare page by itself. */
static unsigned char *placed_buffer_of(size_t size)
{
    unsigned char *buffer = aligned_alloc(2 * MiB, size);
    cr_assert_not_null(buffer);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "the %zu MiB buffer is not placed", size / MiB);
    cr_assert(info.applied && info.tracked, "placed on node 2 and tracked");
    return buffer;
}

static unsigned char *placed_buffer(void)
{
    return placed_buffer_of(SIZE);
}

/* The tracker named in this process's trace. */
static void tracker_of_this_run(char *name, size_t size)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/tmp/guest_sockets.%d.jsonl", (int)getpid());
    FILE *trace = fopen(path, "r");
    cr_assert_not_null(trace, "%s: %s", path, strerror(errno));
    const char *at = NULL;
    while (!at && fgets(line, sizeof line, trace))
        at = strstr(line, "\"tracker\":\"");
    fclose(trace);
    cr_assert_not_null(at, "no start event with the tracker in %s", path);
    at += strlen("\"tracker\":\"");
    snprintf(name, size, "%.*s", (int)strcspn(at, "\""), at);
}

/* A writer on each socket, one after the other, each with a buffer of its own bound to node 2 (near
 * socket 0): each buffer ends on its writer's DRAM. */
Test(sockets, a_buffer_follows_its_writer_to_its_socket)
{
    for (int cpu = 1; cpu >= 0; cpu--) {
        struct writer w = {.cpu = cpu, .buffer = placed_buffer(), .size = SIZE};
        run_writers(&w, 1);
        cr_assert(w.reached_s >= 0, "CPU %d's buffer: %.1f%% on node %d after %.0f s", cpu,
                  100 * w.share, cpu, FOLLOW_S);
        free(w.buffer);
    }
}

/* The two halves of `buffer` (placed_buffer_of), the first for CPU 0, the second for CPU 1. */
static void halves_of(unsigned char *buffer, struct writer halves[2])
{
    halves[0] = (struct writer){.cpu = 0, .buffer = buffer, .size = HALF};
    halves[1] = (struct writer){.cpu = 1, .buffer = buffer + HALF, .size = HALF};
}

/* Two writers at once, one a socket, each on half of `buffer`: each half ends on its writer's
 * DRAM. */
static void split_between_two_writers(unsigned char *buffer)
{
    struct writer halves[2];
    halves_of(buffer, halves);
    run_writers(halves, 2);
    for (int i = 0; i < 2; i++)
        cr_assert(halves[i].reached_s >= 0, "half %d: %.1f%% on node %d after %.0f s", i,
                  100 * halves[i].share, i, FOLLOW_S);
}

/* In huge pages (THP is `always` in these guests): wp and missing name the faulting thread;
 * so does wp-async, which watches a buffer in huge pages through a synchronous userfaultfd.
 * Whether the tracker is wp-async; skips the test (freeing `buffer`) under one that names no
 * thread. */
static bool writers_told_apart_in_huge_pages(unsigned char *buffer)
{
    char tracker[32];
    tracker_of_this_run(tracker, sizeof tracker);
    bool in_huge_pages = strcmp(tracker, "wp-async") == 0;
    if (!in_huge_pages && strcmp(tracker, "wp") != 0 && strcmp(tracker, "missing") != 0) {
        free(buffer);
        cr_skip_test("tracker %s does not see which thread wrote a page (wp and missing do)",
                     tracker);
    }
    return in_huge_pages;
}

Test(sockets, two_writers_split_one_buffer)
{
    unsigned char *buffer = placed_buffer();
    bool in_huge_pages = writers_told_apart_in_huge_pages(buffer);
    split_between_two_writers(buffer);
    if (in_huge_pages)
        cr_assert_gt(smaps_huge_kib(buffer + 2 * MiB), 0, "wp-async tells the writers apart in "
                     "huge pages, and the buffer has none");
    free(buffer);
}

/* Both halves' writers at once, until each half is on its writer's DRAM and KEEP_S after: each
 * gets there, and stays at 80% or more. */
static void halves_stay_with_their_writers(struct writer halves[2])
{
    halves[0].keeps = halves[1].keeps = true;
    run_writers(halves, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert(halves[i].reached_s >= 0, "half %d: %.1f%% on node %d after %.0f s", i,
                  100 * halves[i].share, i, FOLLOW_S);
        cr_assert_geq(halves[i].lowest, 0.8, "half %d: down to %.1f%% on node %d in the %.0f s "
                      "after it was there", i, 100 * halves[i].lowest, i, KEEP_S);
    }
}

/* The same, the writer on CPU 0 in bursts: in its pauses the other is the process's one user,
 * and each half stays on its writer's DRAM. Huge blocks of both halves once shared one probe,
 * and a write to it in such a pause counted the paused half as the other socket's. */
Test(sockets, a_pausing_writer_keeps_its_half)
{
    unsigned char *buffer = placed_buffer();
    writers_told_apart_in_huge_pages(buffer);
    struct writer halves[2];
    halves_of(buffer, halves);
    halves[0].pausing = true;
    halves_stay_with_their_writers(halves);
    free(buffer);
}

/* A buffer as malloc gives it, not on a huge page's boundary, its halves parted at the huge page
 * boundary nearest its middle: wp-async watches it in blocks that start at huge pages, not at
 * the buffer, and keeps each block's writer. Writers kept by span from the buffer's start
 * once named one writer for the parts of two huge pages in a span, and moved some of half 0
 * to socket 1. wp keeps writers by block only in a range its smaps pass found in huge pages
 * before a fault split one, missing never: by span otherwise, whose boundary is not this one's. */
Test(sockets, two_writers_split_an_unaligned_buffer_in_huge_pages)
{
    unsigned char *buffer = malloc(SIZE);
    cr_assert_not_null(buffer);
    cr_assert_neq((uintptr_t)buffer % (2 * MiB), 0, "malloc gave a buffer on a huge page");
    struct cdm_buffer_info info;
    cr_assert(query(buffer, &info) == 0 && info.applied && info.tracked,
              "placed on node 2 and tracked");
    char tracker[32];
    tracker_of_this_run(tracker, sizeof tracker);
    if (strcmp(tracker, "wp-async") != 0) {
        free(buffer);
        cr_skip_test("tracker %s keeps writers by span from the buffer's start unless it "
                     "found the range in huge pages in time", tracker);
    }
    unsigned char *middle = (unsigned char *)((uintptr_t)(buffer + HALF) & ~(2 * MiB - 1));
    struct writer halves[2] = {
        {.cpu = 0, .buffer = buffer, .size = (size_t)(middle - buffer)},
        {.cpu = 1, .buffer = middle, .size = (size_t)(buffer + SIZE - middle)},
    };
    halves_stay_with_their_writers(halves);
    cr_assert_gt(smaps_huge_kib(middle), 0, "the buffer has no huge page");
    free(buffer);
}

/* On 4 KiB pages: wp-async's scans name no thread, and each 2 MiB block's writer is the CPU of
 * the page faults sampled there (perf_event_open, as root here). */
Test(sockets, two_writers_split_one_buffer_in_small_pages)
{
    char tracker[32];
    unsigned char *buffer = placed_buffer();
    cr_assert_eq(madvise(buffer, SIZE, MADV_NOHUGEPAGE), 0, "%s", strerror(errno));
    tracker_of_this_run(tracker, sizeof tracker);
    if (strcmp(tracker, "damon") == 0) {
        free(buffer);
        cr_skip_test("tracker damon takes no fault that could name the writer");
    }
    split_between_two_writers(buffer);
    cr_assert_eq(smaps_huge_kib(buffer + 2 * MiB), 0, "the buffer is in 4 KiB pages");
    free(buffer);
}

/* A buffer bound to both device nodes, written from socket 1 and then left alone: it goes back to
 * node 3, the rule's node nearest its writer, not spread over nodes 2 and 3. */
Test(sockets, an_idle_buffer_goes_back_to_the_device_node_near_its_writer)
{
    struct writer w = {.cpu = 1, .buffer = placed_buffer_of(NEAR_SIZE), .size = NEAR_SIZE};
    run_writers(&w, 1);
    cr_assert(w.reached_s >= 0, "%.1f%% on node 1 after %.0f s", 100 * w.share, FOLLOW_S);
    double start = now_s(), back = 0;
    while (now_s() - start < IDLE_S && (back = share_on(w.buffer, NEAR_SIZE, 3)) < SHARE) {
        struct timespec pause = {.tv_nsec = 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    cr_assert_geq(back, SHARE, "%.1f%% back on node 3 (%.1f%% on node 2) after %.0f s", 100 * back,
                  100 * share_on(w.buffer, NEAR_SIZE, 2), IDLE_S);
    free(w.buffer);
}

/* tier from socket 1: the 2 MiB written over and over is the hot set, and it lives on node 1, the
 * DRAM of the CPU that writes it, within the 4M hot_set. */
Test(sockets, a_hot_set_lives_on_the_dram_of_its_writer)
{
    struct writer w = {.cpu = 1, .buffer = placed_buffer_of(TIER_SIZE), .size = HOT};
    run_writers(&w, 1);
    cr_assert(w.reached_s >= 0, "%.1f%% of the hot 2 MiB on node 1 after %.0f s", 100 * w.share,
              FOLLOW_S);
    free(w.buffer);
}

/* tier from both sockets at once: each writer's 2 MiB is a hot set of its own, and both fit
 * the 4M hot_set; each lives on its writer's DRAM. */
Test(sockets, two_hot_sets_live_on_the_dram_of_their_writers)
{
    unsigned char *buffer = placed_buffer_of(TIER_SIZE);
    struct writer hot[2] = {{.cpu = 0, .buffer = buffer, .size = HOT},
                            {.cpu = 1, .buffer = buffer + TIER_SIZE / 2, .size = HOT}};
    run_writers(hot, 2);
    for (int i = 0; i < 2; i++)
        cr_assert(hot[i].reached_s >= 0, "writer %d's hot 2 MiB: %.1f%% on node %d after %.0f s",
                  i, 100 * hot[i].share, i, FOLLOW_S);
    free(buffer);
}
