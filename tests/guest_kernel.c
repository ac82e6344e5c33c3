/* SPDX-License-Identifier: MIT */
/* `migrate = kernel` in the guest's `tiers` topology (node 0: CPUs and DRAM; node 2 the
 * slowest tier, by HMAT), with CDMPLACE_CONFIG=tests/guest_kernel.conf. Two buffers with the
 * same policy (bind 0,2) are moved to node 2 and then read hot: with MPOL_F_NUMA_BALANCING
 * the kernel's tiering (numa_balancing = 2) promotes the hot pages to node 0; without it an
 * mbind-placed range is left where it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "preload_util.h"

#define PAGE 4096
#ifndef MPOL_F_NUMA_BALANCING
#define MPOL_F_NUMA_BALANCING (1 << 13) /* Linux 5.15 */
#endif

static void set_numa_balancing(const char *mode)
{
    FILE *file = fopen("/proc/sys/kernel/numa_balancing", "w");
    cr_assert_not_null(file, "numa_balancing: %s", strerror(errno));
    fputs(mode, file);
    cr_assert_eq(fclose(file), 0, "numa_balancing = %s refused", mode);
}

static unsigned char *on_node_2(size_t size, int rule)
{
    unsigned char *buffer = malloc(size);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "not placed");
    cr_assert_eq(info.rule, rule);
    cr_assert(info.applied, "the kernel refused the policy (errno %d)", info.error);
    cr_assert_eq(madvise(buffer, size, MADV_NOHUGEPAGE), 0);
    fill(buffer, size, 7);
    size_t n = size / PAGE;
    void **pages = malloc(n * sizeof *pages);
    int *nodes = malloc(n * sizeof *nodes), *status = malloc(n * sizeof *status);
    for (size_t i = 0; i < n; i++) {
        pages[i] = buffer + i * PAGE;
        nodes[i] = 2;
    }
    cr_assert_eq(move_pages(0, n, pages, nodes, status, MPOL_MF_MOVE), 0);
    free(pages);
    free(nodes);
    free(status);
    cr_assert_eq(pages_seen_on_node(buffer, size, 2), n, "the test could not move the buffer to node 2");
    return buffer;
}

/* Read the first `hot` bytes of both buffers for up to `seconds`, until the handed one's
 * hot pages are on node 0. Returns the handed buffer's hot pages on node 0. */
static size_t read_hot(unsigned char *handed, unsigned char *kept, size_t hot, double seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned sum = 0;
    size_t promoted = 0;
    do {
        for (int round = 0; round < 20; round++)
            for (size_t i = 0; i < hot; i += 64)
                sum += handed[i] + kept[i];
        promoted = pages_seen_on_node(handed, hot, 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (promoted < hot / PAGE * 95 / 100 &&
             (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return promoted;
}

Test(kernel, numa_balancing_promotes_the_handed_buffer_only, .timeout = 240)
{
    set_numa_balancing("2");
    size_t hot = 4 * MiB;
    unsigned char *handed = on_node_2(16 * MiB, 0);
    unsigned char *kept = on_node_2(17 * MiB, 1);
    int mode;
    unsigned long nodes;
    mode = policy_of(handed, &nodes);
    cr_assert_eq(mode, MPOL_BIND | MPOL_F_NUMA_BALANCING, "handed to NUMA balancing: 0x%x", mode);
    cr_assert_eq(policy_of(kept, &nodes), MPOL_BIND, "the kept buffer is plainly bound");
    size_t promoted = read_hot(handed, kept, hot, 60);
    printf("migrate = kernel: %zu of %zu hot pages promoted to node 0\n", promoted, hot / PAGE);
    cr_expect_geq(promoted, hot / PAGE * 95 / 100, "the kernel did not promote the hot pages");
    cr_expect_eq(pages_seen_on_node(kept, hot, 0), 0, "a plain mbind range was promoted");
    cr_expect_eq(pages_seen_on_node(handed + hot, 16 * MiB - hot, 0), 0, "cold pages were promoted");
    cr_assert(intact(handed, 16 * MiB, 7) && intact(kept, 17 * MiB, 7), "data changed");
    set_numa_balancing("0");
}
