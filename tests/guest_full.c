/* SPDX-License-Identifier: MIT */
/* A CDM node that fills up while pages are away from it, in the guest's `small-cdm` topology (node
 * 1: 48M, no CPUs), with CDMPLACE_CONFIG=tests/guest_full.conf: a followed buffer's pages are on
 * DRAM when another mapping takes node 1's memory; when they go idle they cannot go back. The
 * program goes on with its data intact, one message names the node and the fix, the trace counts
 * the refused pages, and once node 1 has room again they go back. Where the pages are comes from
 * the kernel (move_pages with no target). */
#include <errno.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "preload_util.h"
#include "testutil.h"

#include <criterion/redirect.h>

#define PAGE 4096ul
#define SIZE (12 * MiB)
#define FILLER (40 * MiB) /* more than node 1 has */
#define SHARE 0.95
#define WAIT_S 30.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
    nanosleep(&pause, NULL);
}

/* "node 0: N, node 1: N, absent: N" (one at a time), for assertion messages. */
static const char *census(const unsigned char *start, size_t size)
{
    static void *pages[SIZE / PAGE];
    static int status[SIZE / PAGE];
    static char text[128];
    size_t n = size / PAGE, on[2] = {0}, other = 0;
    for (size_t i = 0; i < n; i++)
        pages[i] = (void *)(start + i * PAGE);
    if (move_pages(0, n, pages, NULL, status, 0) != 0)
        return "move_pages failed";
    for (size_t i = 0; i < n; i++)
        if (status[i] == 0 || status[i] == 1)
            on[status[i]]++;
        else
            other++;
    snprintf(text, sizeof text, "node 0: %zu, node 1: %zu, neither: %zu (status %d of the last)",
             on[0], on[1], other, status[n - 1]);
    return text;
}

static double share_on(unsigned char *start, size_t size, int node)
{
    return (double)pages_seen_on_node(start, size, node) / (double)(size / PAGE);
}

/* This process's trace: the pages its `migrate` events say could not move ("failed"), and how many
 * of its messages hold `words`. */
static unsigned long from_trace(const char *words, unsigned long *messages)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/tmp/guest_full.%d.jsonl", (int)getpid());
    FILE *trace = fopen(path, "r");
    cr_assert_not_null(trace, "%s: %s", path, strerror(errno));
    unsigned long failed = 0;
    *messages = 0;
    while (fgets(line, sizeof line, trace)) {
        const char *at = strstr(line, "\"ev\":\"migrate\"") ? strstr(line, "\"failed\":") : NULL;
        if (at)
            failed += strtoul(at + strlen("\"failed\":"), NULL, 10);
        *messages += strstr(line, "\"message\":") && strstr(line, words);
    }
    fclose(trace);
    return failed;
}

/* Criterion's redirection makes fd 2 another file than the one the process started with, so the
 * library says its messages in the trace (preload/log.c), where they are counted. */
Test(full, idle_pages_wait_for_room_on_a_full_node, .init = cr_redirect_stderr)
{
    unsigned char *buffer = malloc(SIZE);
    cr_assert_not_null(buffer);
    struct cdm_buffer_info info;
    cr_assert(query(buffer, &info) == 0 && info.applied && info.tracked, "placed and tracked");
    fill(buffer, SIZE, 1);
    double start = now_s();
    for (unsigned char round = 2; share_on(buffer, SIZE, 0) < SHARE; round++) {
        cr_assert_lt(now_s() - start, WAIT_S, "the CPU's writes not followed: %s",
                     census(buffer, SIZE));
        fill(buffer, SIZE, 7);
        pause_ms(50);
    }

    /* Node 1 taken behind the library's back: preferred, so that the kernel spills the rest to node
     * 0 rather than killing the test. */
    unsigned long node1 = 1ul << 1;
    unsigned char *filler = mmap(NULL, FILLER, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(filler, MAP_FAILED);
    cr_assert_eq(mbind(filler, FILLER, MPOL_PREFERRED, &node1, 64, 0), 0, "%s", strerror(errno));
    fill(filler, FILLER, 3);

    /* Idle (1 s) and then some: what node 1's last free pages (down to its watermarks) did not take
     * stays on node 0, and the program goes on. */
    pause_ms(3000);
    double stayed = share_on(buffer, SIZE, 0);
    cr_assert_gt(stayed, 0.1, "%.1f%% still on node 0: node 1 was not full", 100 * stayed);
    cr_assert(intact(buffer, SIZE, 7), "the buffer's data changed");
    unsigned long messages;
    cr_assert_gt(from_trace("node 1 is full", &messages), 0, "the trace counts no refused page");
    cr_assert_eq(messages, 1, "%lu messages name the full node, not one", messages);

    /* Room again: they go back. */
    munmap(filler, FILLER);
    start = now_s();
    while (share_on(buffer, SIZE, 1) < SHARE && now_s() - start < WAIT_S)
        pause_ms(200);
    cr_assert_geq(share_on(buffer, SIZE, 1), SHARE, "%.1f%% back on node 1 once it had room (%s)",
                  100 * share_on(buffer, SIZE, 1), census(buffer, SIZE));
    cr_assert(intact(buffer, SIZE, 7), "the buffer's data changed");
    free(buffer);
}
