/* SPDX-License-Identifier: MIT */
/* A CDM node that fills up: on_full and budget where they matter, in the guest's
 * `small-cdm` topology (node 1: 48M, no CPUs), with CDMPLACE_CONFIG=tests/guest_budget.conf.
 * Each test runs in its own process, one at a time (-j1), so each starts with node 1 empty. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "preload_util.h"

enum { RULE_SPILL, RULE_STRICT, RULE_CAPPED };

static unsigned char *take(size_t size)
{
    unsigned char *buffer = malloc(size);
    if (buffer)
        madvise(buffer, size, MADV_NOHUGEPAGE);
    return buffer;
}

Test(small_cdm, fallback_spills_to_dram_when_the_node_is_full)
{
    unsigned char *buffers[4];
    size_t on_cdm = 0;
    for (int i = 0; i < 4; i++) {
        buffers[i] = take(16 * MiB);
        cr_assert_not_null(buffers[i], "fallback never fails");
        cr_assert(placed(buffers[i]));
        on_cdm += pages_on_node(buffers[i], 16 * MiB, 1);
    }
    struct cdm_buffer_info last;
    cr_assert_eq(query(buffers[3], &last), 0);
    cr_assert_not(last.applied, "64M does not fit in the 35M free: the last buffer spilled");
    cr_assert_eq(pages_on_node(buffers[3], 16 * MiB, 0), 16 * MiB / 4096, "spilled to DRAM");
    cr_assert_geq(on_cdm, 16 * MiB / 4096, "the first one is on the CDM node");
    struct cdm_buffer_info first;
    cr_assert_eq(query(buffers[0], &first), 0);
    cr_assert(first.applied);
    for (int i = 0; i < 4; i++) {
        fill(buffers[i], 16 * MiB, (unsigned)i);
        cr_assert(intact(buffers[i], 16 * MiB, (unsigned)i));
        free(buffers[i]);
    }
}

Test(small_cdm, fail_returns_enomem_when_the_node_is_full)
{
    unsigned char *first = take(14 * MiB), *second = take(14 * MiB);
    cr_assert(placed(first) && placed(second));
    pages_on_node(first, 14 * MiB, 1);
    pages_on_node(second, 14 * MiB, 1);
    errno = 0;
    unsigned char *third = take(14 * MiB);
    cr_assert_null(third, "42M does not fit in the 35M free");
    cr_assert_eq(errno, ENOMEM);
    free(first);
    unsigned char *again = NULL;
    for (int tries = 0; tries < 50 && !again; tries++) { /* free memory is re-read every 20 ms */
        again = take(14 * MiB);
        if (!again)
            usleep(10000);
    }
    cr_assert_not_null(again, "room again after a free");
    free(second);
    free(again);
}

Test(small_cdm, budget_caps_the_rule_before_the_node_fills)
{
    unsigned char *a = take(4 * MiB), *b = take(4 * MiB), *c = take(4 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(c, &info), 0);
    cr_assert_not(info.applied, "8M of a 10M budget used: the third 4M spills");
    cr_assert_eq(pages_on_node(a, 4 * MiB, 1), 4 * MiB / 4096);
    cr_assert_eq(pages_on_node(c, 4 * MiB, 0), 4 * MiB / 4096);
    free(a);
    free(b);
    free(c);
}
