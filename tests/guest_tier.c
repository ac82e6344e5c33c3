/* `migrate = tier` in the guest's `tiers` topology (node 0: CPUs and DRAM; nodes 1 and 2:
 * CPU-less lower tiers), with CDMPLACE_CONFIG=tests/guest_tier.conf: a 24 MiB buffer bound
 * to node 2 whose write-hot set (4 MiB, the rule's hot_set) is known and shifts. After each
 * shift at least 95% of the new hot set must be on DRAM within 3 epochs, and the pages it
 * left must go back to node 2, since hot_set caps what DRAM holds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "preload_util.h"

#define BUFFER (24 * MiB)
#define HOT (4 * MiB)
#define EPOCH_MS 100
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
    size_t n = size / PAGE, on = 0;
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    for (size_t i = 0; i < n; i++)
        pages[i] = start + i * PAGE;
    cr_assert_eq(move_pages(0, n, pages, NULL, status, 0), 0);
    for (size_t i = 0; i < n; i++)
        on += status[i] == node;
    free(pages);
    free(status);
    return (int)(100 * on / n);
}

static void write_pass(unsigned char *hot, unsigned pass)
{
    for (size_t i = 0; i < HOT; i += 64)
        hot[i] = (unsigned char)(i / 64 + pass);
}

/* Write the hot window until 95% of it is on node 0 or `limit_ms` passes; returns the
 * milliseconds it took, or -1. */
static double write_until_on_dram(unsigned char *hot, unsigned *pass, double limit_ms)
{
    double start = now_ms(), next_check = start;
    while (now_ms() - start < limit_ms) {
        write_pass(hot, ++*pass);
        if (now_ms() >= next_check) {
            if (share_on(hot, HOT, 0) >= 95)
                return now_ms() - start;
            next_check = now_ms() + 20;
        }
    }
    return -1;
}

Test(tier, the_hot_set_follows_its_shifts_onto_dram, .timeout = 240)
{
    unsigned char *buffer = malloc(BUFFER);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "not placed");
    cr_assert(info.applied, "the policy was not applied (errno %d)", info.error);
    /* Base pages: a huge page would move, and be counted, as a whole. */
    cr_assert_eq(madvise(buffer, BUFFER, MADV_NOHUGEPAGE), 0);
    memset(buffer, 0x5a, BUFFER);
    cr_assert_geq(share_on(buffer, BUFFER, 2), 95, "placement put the buffer on node 2");

    unsigned pass = 0;
    /* The first window starts from pages all equally warm (the fill touched every one):
     * give it time to settle; the shifts after it are what is measured. */
    cr_assert_geq(write_until_on_dram(buffer, &pass, 10000), 0, "the first hot set never reached DRAM");
    for (int shift = 1; shift <= 4; shift++) {
        unsigned char *hot = buffer + (size_t)shift * HOT;
        unsigned char *left = hot - HOT;
        double ms = write_until_on_dram(hot, &pass, 5000);
        cr_assert_geq(ms, 0, "shift %d: the hot set did not reach DRAM in 5 s", shift);
        double epochs = ms / EPOCH_MS;
        printf("shift %d: 95%% of the hot set on DRAM after %.0f ms (%.1f epochs)\n", shift, ms, epochs);
        cr_expect_leq(epochs, 3.0, "shift %d: %.0f ms is more than 3 epochs", shift, ms);
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
        cr_assert_eq(buffer[4 * HOT + i], (unsigned char)(i / 64 + pass), "data lost at %zu", i);
    free(buffer);
}
