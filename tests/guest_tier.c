/* SPDX-License-Identifier: MIT */
/* `migrate = tier` in the guest's `tiers` topology (node 0: CPUs and DRAM; nodes 1 and 2:
 * CPU-less lower tiers), with CDMPLACE_CONFIG=tests/guest_tier.conf: a 24 MiB buffer bound
 * to node 2 whose hot set (4 MiB, the rule's hot_set) is known and shifts. After each shift
 * at least 95% of the new hot set must be on DRAM within 3 epochs, and the pages it left
 * must go back to node 2, since hot_set caps what DRAM holds.
 * TIER_ACCESS=read makes the hot set read-hot (with tests/guest_tier_damon.conf: DAMON sees
 * reads); else it is written (wp-async, wp). Where the kernel has no async write-protect
 * (6.1) the goal is 10 epochs, since auto tracks with synchronous faults (wp), served one
 * round trip at a time, which under TCG on a busy machine takes longer than an epoch for a
 * 4 MiB hot set; TIER_EPOCHS replaces the goal. Epochs are counted by the library, so the
 * test also holds the library to its configured pace in wall-clock time: at least half the
 * epochs TIER_EPOCH_MS (default 100, the configs' `epoch`) would make in the test's time (a
 * tracker once ran its epochs at a third of the rate, and its counts still looked right). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kernel_features.h"
#include "preload_util.h"

#define BUFFER (24 * MiB)
#define HOT (4 * MiB)
#define PAGE 4096

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Percent of [start, start + size) on `node`. */
static int share_on(unsigned char *start, size_t size, int node)
{
    return (int)(100 * pages_seen_on_node(start, size, node) / (size / PAGE));
}

static bool reading(void)
{
    const char *access = getenv("TIER_ACCESS");
    return access && !strcmp(access, "read");
}

/* DAMON sees a page accessed when a page walk sets its accessed bit; an emulated CPU (TCG)
 * keeps translations cached until a flush, so each pass ends with one: discarding a few
 * scratch pages flushes the TLB. Real CPUs evict on their own. */
static void flush_tlb(void)
{
    static unsigned char *scratch;
    if (!scratch)
        scratch = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < 64 * PAGE; i += PAGE)
        scratch[i] = 1;
    madvise(scratch, 64 * PAGE, MADV_DONTNEED);
}

static volatile unsigned sink;

static void write_pass(unsigned char *hot, unsigned pass)
{
    if (reading()) {
        unsigned sum = 0;
        for (size_t i = 0; i < HOT; i += 64)
            sum += hot[i];
        sink = sum;
        flush_tlb();
        return;
    }
    for (size_t i = 0; i < HOT; i += 64)
        hot[i] = (unsigned char)(i / 64 + pass);
}

/* The tracker's epochs so far (cdm_query). */
static unsigned epochs_now(void *buffer)
{
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert(info.tracked, "the buffer is not tracked");
    return info.epochs;
}

/* Use the hot window until 95% of it is on node 0 or `limit_ms` passes; returns the
 * tracker's epochs it took, or -1. Epochs, not milliseconds: an emulated guest's epochs run
 * late when the machine is busy, and DAMON's read-back makes them longer. */
static int use_until_on_dram(unsigned char *hot, unsigned *pass, double limit_ms, double *ms)
{
    double start = now_ms(), next_check = start;
    unsigned first = epochs_now(hot);
    while (now_ms() - start < limit_ms) {
        write_pass(hot, ++*pass);
        if (now_ms() >= next_check) {
            if (share_on(hot, HOT, 0) >= 95) {
                *ms = now_ms() - start;
                return (int)(epochs_now(hot) - first);
            }
            next_check = now_ms() + 20;
        }
    }
    return -1;
}

/* The epochs a shift may take (the header comment), and why. */
static int epochs_allowed(void)
{
    const char *allowed = getenv("TIER_EPOCHS");
    if (allowed)
        return atoi(allowed);
    const char *said;
    int goal = kernel_has_wp_async(&said) ? 3 : 10;
    printf("%s: a shift may take %d epochs\n", said, goal);
    return goal;
}

Test(tier, the_hot_set_follows_its_shifts_onto_dram, .timeout = 240)
{
    int allowed = epochs_allowed();
    unsigned char *buffer = malloc(BUFFER);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "not placed");
    cr_assert(info.applied, "the policy was not applied (errno %d)", info.error);
    /* Base pages: a huge page would move, and be counted, as a whole. */
    cr_assert_eq(madvise(buffer, BUFFER, MADV_NOHUGEPAGE), 0);
    memset(buffer, 0x5a, BUFFER);
    cr_assert_geq(share_on(buffer, BUFFER, 2), 95, "placement put the buffer on node 2");

    double began = now_ms();
    unsigned epochs_began = epochs_now(buffer);
    unsigned pass = 0;
    /* The first window starts from pages all equally warm (the fill touched every one):
     * give it time to settle; the shifts after it are what is measured. */
    double ms;
    cr_assert_geq(use_until_on_dram(buffer, &pass, 10000, &ms), 0,
                  "the first hot set never reached DRAM");
    /* Then a steady second: DAMON splits its regions finer aggregation after aggregation. */
    for (double until = now_ms() + 1000; now_ms() < until;)
        write_pass(buffer, ++pass);
    for (int shift = 1; shift <= 4; shift++) {
        unsigned char *hot = buffer + (size_t)shift * HOT;
        unsigned char *left = hot - HOT;
        int epochs = use_until_on_dram(hot, &pass, 10000, &ms);
        cr_assert_geq(epochs, 0, "shift %d: the hot set did not reach DRAM in 10 s", shift);
        printf("shift %d: 95%% of the hot set on DRAM after %d epochs (%.0f ms)\n", shift,
               epochs, ms);
        cr_expect_leq(epochs, allowed, "shift %d: %d epochs", shift, epochs);
        /* hot_set caps DRAM: what the hot set left goes back to node 2 while the new
         * one stays hot. */
        double start = now_ms();
        while (share_on(left, HOT, 2) < 95 && now_ms() - start < 3000)
            write_pass(hot, ++pass);
        cr_expect_geq(share_on(left, HOT, 2), 95, "shift %d: the old hot set stayed on DRAM", shift);
        cr_expect_leq(share_on(buffer, BUFFER, 0), 100 * HOT / BUFFER + 5,
                      "shift %d: DRAM holds more than hot_set", shift);
    }
    for (size_t i = 0; i < HOT; i += 64)
        cr_assert_eq(buffer[4 * HOT + i], reading() ? 0x5a : (unsigned char)(i / 64 + pass),
                     "data lost at %zu", i);
    const char *epoch_ms = getenv("TIER_EPOCH_MS");
    double elapsed = now_ms() - began, nominal = elapsed / (epoch_ms ? atof(epoch_ms) : 100);
    unsigned counted = epochs_now(buffer) - epochs_began;
    printf("%u epochs in %.0f ms: %.0f%% of the configured pace\n", counted, elapsed,
           100 * counted / nominal);
    cr_expect_geq(counted, nominal / 2, "%u epochs in %.0f ms, where the configured epoch makes "
                  "%.0f: the tracker runs at %.0f%% of its pace", counted, elapsed, nominal,
                  100 * counted / nominal);
    free(buffer);
}
